//! The server over real TCP: SQLite files, PostgreSQL and Redis on loopback,
//! a fake OpenAI-compatible server. PostgreSQL and Redis are required: the
//! tests fail (never skip) without them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agents;
mod balanced;
mod bus;
mod chat;
mod connections;
mod dashboards;
mod email;
mod errors;
mod feed;
mod insight;
mod knowledge;
mod limits;
mod logs;
mod messenger;
mod ops;
mod provider;
mod queue;
mod shutdown;
mod support;
mod telemetry;
mod tickets;
mod whatsapp;
