//! `spur-server`: the standalone support-chat server.
//!
//! Starts with embedded defaults: a SQLite file, the offline knowledge-base
//! responder and the demo knowledge base. `PORT`, `HOST`, `DATABASE_URL`
//! (`sqlite://…` or `postgres://…`) and `SPUR_KNOWLEDGE` (a directory)
//! change them.

mod error;
mod router;
mod routes;

use std::sync::Arc;

use spur_core::store::{ConversationStore, PostgresStore, SqliteStore};
use spur_core::{KnowledgeBase, SupportEngine};

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let url = setting("DATABASE_URL", "sqlite://spur.db");
    let store: Arc<dyn ConversationStore> = if url.starts_with("postgres") {
        Arc::new(
            PostgresStore::connect(&url)
                .await
                .map_err(|e| format!("DATABASE_URL: {e}"))?,
        )
    } else if url.starts_with("sqlite") {
        Arc::new(
            SqliteStore::connect(&url)
                .await
                .map_err(|e| format!("DATABASE_URL: {e}"))?,
        )
    } else {
        return Err("DATABASE_URL must start with sqlite:// or postgres://".into());
    };
    let knowledge = match std::env::var("SPUR_KNOWLEDGE") {
        Ok(dir) => KnowledgeBase::from_dir(&dir).map_err(|e| format!("SPUR_KNOWLEDGE: {e}"))?,
        Err(_) => KnowledgeBase::demo(),
    };
    let engine = SupportEngine::builder()
        .store(store)
        .knowledge(knowledge)
        .build();
    let addr = format!(
        "{}:{}",
        setting("HOST", "127.0.0.1"),
        setting("PORT", "3001")
    );
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("HOST/PORT {addr}: {e}"))?;
    tracing::info!(%addr, database = %url.split('?').next().unwrap_or_default(), "spur-server listening");
    axum::serve(listener, router::app(engine))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
