#![doc = include_str!("../README.md")]

pub mod accounts;
#[cfg(feature = "media")]
pub mod blobs;
pub mod channels;
pub mod classify;
pub mod clock;
pub mod conversation;
#[cfg(feature = "runtime")]
pub mod engine;
mod error;
pub mod escalation;
pub mod events;
pub mod facts;
pub mod grounding;
pub mod insight;
pub mod knowledge;
pub mod llm;
#[cfg(feature = "runtime")]
mod millis;
pub mod prompt;
pub mod smalltalk;
pub mod store;
#[cfg(all(feature = "test-util", feature = "runtime"))]
pub mod testing;
pub mod tickets;
#[cfg(feature = "runtime")]
pub mod tools;
pub mod validate;

pub use error::{Error, Result};

#[cfg(feature = "runtime")]
pub use engine::{
    EngineBuilder, EngineConfig, EngineError, Inbound, StreamEvent, SupportEngine, Turn,
};
pub use knowledge::KnowledgeBase;
