//! spur-core against real backends: SQLite files, PostgreSQL on loopback,
//! and an OpenAI-compatible HTTP server faked locally.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod embeddings;
mod http_tools;
mod mcp;
mod openai;
mod stores;
mod web;
