//! A support engine in a few lines: knowledge from a directory, two messages.
//! `cargo run -p spur-example-quickstart -- [knowledge-dir]`
use spur_core::store::SqliteStore;
use spur_core::{Inbound, KnowledgeBase, SupportEngine};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "spur-core/knowledge/demo".into());
    let engine = SupportEngine::builder()
        .knowledge(KnowledgeBase::from_dir(&dir)?)
        .store(Arc::new(SqliteStore::connect("sqlite::memory:").await?))
        .build();
    let first = engine
        .send_message(Inbound::new("Do you ship to India?"))
        .await?;
    println!("> {}", first.reply_text().unwrap_or_default());
    let session = first.conversation.session_id;
    let second = engine
        .send_message(Inbound::new("How long does delivery take?").in_session(session))
        .await?;
    println!("> {}", second.reply_text().unwrap_or_default());
    Ok(())
}
