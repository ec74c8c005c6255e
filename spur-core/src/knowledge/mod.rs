//! The operator's knowledge: Markdown articles and FAQ pairs, the shop's
//! facts, and retrieval over them (BM25 ranking, coverage of the question's
//! ideas, customers' wording, places).

mod base;
mod excerpt;
pub mod gaps;
mod load;
#[cfg(feature = "places")]
mod places;
mod search;
mod synonyms;

pub use base::{Article, FACTS_ARTICLE_ID, KnowledgeBase, Passage};
pub use load::KnowledgeError;
