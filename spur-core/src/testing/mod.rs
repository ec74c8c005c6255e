//! Test support for hosts (feature `test-util`): a fake OpenAI-compatible
//! server and fresh PostgreSQL databases on the real server.

pub mod fake_openai;
#[cfg(feature = "postgres")]
pub mod postgres;
