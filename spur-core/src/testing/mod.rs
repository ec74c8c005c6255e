//! Test support for hosts (feature `test-util`): a fake OpenAI-compatible
//! server, fresh PostgreSQL databases on the real server, a tiny
//! static embedding model and small PDFs.

#[cfg(feature = "meta")]
pub mod fake_graph;
pub mod fake_openai;
pub mod mcp;
mod pdf;
pub use pdf::pdf_with_pages;
#[cfg(feature = "embeddings")]
mod tiny_model;
#[cfg(feature = "embeddings")]
pub use tiny_model::write_tiny_model;
#[cfg(feature = "postgres")]
pub mod postgres;

/// Reads a streamed turn to its end: every delta joined, and the outcome.
///
/// # Panics
/// When the stream ends without `Done` (a test's failure).
pub async fn streamed(
    rx: &mut tokio::sync::mpsc::Receiver<crate::StreamEvent>,
) -> (String, Box<crate::Turn>) {
    let mut text = String::new();
    let mut done = None;
    while let Some(event) = rx.recv().await {
        match event {
            crate::StreamEvent::Delta { text: piece } => text.push_str(&piece),
            crate::StreamEvent::Done(turn) => done = Some(turn),
            crate::StreamEvent::Started { .. } => {}
        }
    }
    #[allow(clippy::expect_used)]
    let turn = done.expect("the stream ended without done");
    (text, turn)
}
