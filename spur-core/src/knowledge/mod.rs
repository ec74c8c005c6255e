//! The operator's knowledge: Markdown articles and FAQ pairs, searched with BM25.

mod base;
mod load;

pub use base::{Article, KnowledgeBase, Passage};
pub use load::KnowledgeError;
