//! Test support for hosts (feature `test-util`): a fake OpenAI-compatible
//! server, fresh PostgreSQL databases on the real server, and a tiny
//! static embedding model.

pub mod fake_openai;
#[cfg(feature = "embeddings")]
mod tiny_model;
#[cfg(feature = "embeddings")]
pub use tiny_model::write_tiny_model;
#[cfg(feature = "postgres")]
pub mod postgres;
