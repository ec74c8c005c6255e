//! The operator's knowledge: Markdown articles and FAQ pairs, the shop's
//! facts, and retrieval over them (BM25 ranking, coverage of the question's
//! ideas, customers' wording, places; dense vectors from an embedding model,
//! fused with the lexical ranking).

mod base;
mod dense;
mod derived;
mod excerpt;
mod fusion;
pub mod gaps;
mod load;
#[cfg(feature = "places")]
mod places;
#[cfg(feature = "openai")]
mod remote;
mod search;
mod synonyms;
#[cfg(feature = "transformer")]
mod transformer;
pub mod vector_cache;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod vector_cache_sql;
#[cfg(feature = "web")]
pub mod web;

pub use base::{Article, FACTS_ARTICLE_ID, KnowledgeBase, Passage};
pub use dense::{Calibration, EmbeddingError, RemoteEmbedder, TextEmbedder};
#[cfg(feature = "embeddings")]
pub use dense::{StaticEmbedder, local_model};
pub use load::{KnowledgeError, check_file, is_knowledge_file, save_file};
#[cfg(feature = "openai")]
pub use remote::OpenAiEmbedder;
#[cfg(feature = "transformer")]
pub use transformer::TransformerEmbedder;
pub use vector_cache::{VectorCache, VectorCacheError, VectorSpace};
