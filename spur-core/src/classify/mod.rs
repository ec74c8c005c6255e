//! Ticket classification: category, priority and confidence, with a safe fallback.
//!
//! Two classifiers sit behind [`Classifier`]: [`LocalClassifier`] (a weighted
//! phrase lexicon, offline, microseconds per ticket) and [`LlmClassifier`]
//! (structured JSON from any [`crate::llm::LlmProvider`], falling back to the
//! local one whenever the model's answer is missing or invalid).

pub mod eval;
pub(crate) mod lexicon;
mod llm;
mod local;
mod taxonomy;
mod urgency;

use serde::{Deserialize, Serialize};

pub use lexicon::{Lexicon, Match};
pub use llm::{ClassifyError, LlmClassifier};
pub use local::LocalClassifier;
pub use taxonomy::{Label, Taxonomy, TaxonomyError};
pub use urgency::{Cue, Level, Reading, UrgencyReader};

/// Who produced a classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassificationSource {
    Llm,
    Local,
    /// Nothing could be read: the safe default.
    Fallback,
}

impl ClassificationSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Llm => "llm",
            Self::Local => "local",
            Self::Fallback => "fallback",
        }
    }
}

/// How a ticket or message reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub category: String,
    pub priority: String,
    /// 0.0 to 1.0.
    pub confidence: f32,
    pub source: ClassificationSource,
}

impl Classification {
    /// The safe answer when nothing better is known: `general / medium / 0`
    /// (or the taxonomy's own default labels).
    pub fn fallback(taxonomy: &Taxonomy) -> Self {
        Self {
            category: taxonomy.default_category().to_string(),
            priority: taxonomy.default_priority().to_string(),
            confidence: 0.0,
            source: ClassificationSource::Fallback,
        }
    }
}

/// Anything that can classify text. Never fails: a classifier that cannot
/// decide returns [`Classification::fallback`].
#[cfg_attr(not(target_family = "wasm"), async_trait::async_trait)]
#[cfg_attr(target_family = "wasm", async_trait::async_trait(?Send))]
pub trait Classifier: Send + Sync {
    async fn classify(&self, text: &str) -> Classification;
}
