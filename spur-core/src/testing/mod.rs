//! Test support for hosts (feature `test-util`): a fake OpenAI-compatible
//! server, fresh PostgreSQL databases on the real server, a tiny
//! static embedding model and small PDFs.

pub mod fake_openai;
mod pdf;
pub use pdf::pdf_with_pages;
#[cfg(feature = "embeddings")]
mod tiny_model;
#[cfg(feature = "embeddings")]
pub use tiny_model::write_tiny_model;
#[cfg(feature = "postgres")]
pub mod postgres;
