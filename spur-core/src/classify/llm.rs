use std::fmt::Write as _;
use std::sync::Arc;

use serde::Deserialize;

use super::{Classification, ClassificationSource, Classifier, LocalClassifier, Taxonomy};
use crate::llm::{CompletionRequest, LlmProvider, ProviderError};
use crate::prompt::{PromptMessage, Role};

/// What the model must answer.
#[derive(Deserialize)]
struct Answer {
    category: String,
    priority: String,
    confidence: f32,
}

/// Classifies with an LLM's structured JSON answer, validated with serde
/// against the taxonomy. Any failure (network, timeout, invalid JSON, a
/// label not in the taxonomy) falls back to the local classifier: the caller
/// never sees an error.
pub struct LlmClassifier {
    provider: Arc<dyn LlmProvider>,
    local: LocalClassifier,
}

impl LlmClassifier {
    pub fn new(provider: Arc<dyn LlmProvider>, local: LocalClassifier) -> Self {
        Self { provider, local }
    }

    fn instructions(taxonomy: &Taxonomy) -> String {
        let mut out = String::from(
            "You classify customer support tickets. Answer with one JSON object: \
             {\"category\": string, \"priority\": string, \"confidence\": number from 0 to 1}.\n\nCategories:",
        );
        for label in &taxonomy.categories {
            let _ = write!(out, "\n- {}: {}", label.name, label.description);
            for example in &label.examples {
                let _ = write!(out, "\n  example: {example}");
            }
        }
        out.push_str("\n\nPriorities:");
        for label in &taxonomy.priorities {
            let _ = write!(out, "\n- {}: {}", label.name, label.description);
        }
        out
    }

    /// Parses and validates a model answer; `None` when unusable.
    fn parse(taxonomy: &Taxonomy, text: &str) -> Option<Classification> {
        let text = text
            .trim()
            .trim_start_matches("```json")
            .trim_matches('`')
            .trim();
        let answer: Answer = serde_json::from_str(text).ok()?;
        let category = taxonomy.category(answer.category.trim())?.name.clone();
        let priority = taxonomy.priority(answer.priority.trim())?.name.clone();
        (0.0..=1.0)
            .contains(&answer.confidence)
            .then_some(Classification {
                category,
                priority,
                confidence: answer.confidence,
                source: ClassificationSource::Llm,
            })
    }
}

impl LlmClassifier {
    /// One attempt, no fallback: the error says why there is no answer
    /// (for callers that retry, such as a job queue).
    pub async fn try_classify(&self, text: &str) -> Result<Classification, ClassifyError> {
        let taxonomy = self.local.taxonomy();
        let mut request = CompletionRequest::new(vec![
            PromptMessage::new(Role::System, Self::instructions(taxonomy)),
            PromptMessage::new(Role::User, text),
        ]);
        request.json = true;
        request.max_output_tokens = 60;
        request.temperature = Some(0.0);
        let completion = self.provider.complete(&request).await?;
        Self::parse(taxonomy, &completion.text).ok_or(ClassifyError::InvalidAnswer)
    }

    pub fn local(&self) -> &LocalClassifier {
        &self.local
    }
}

/// Why a model gave no usable classification.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("the model's answer was not valid JSON for the taxonomy")]
    InvalidAnswer,
}

impl ClassifyError {
    /// A stable code, recorded as a fallback's reason.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Provider(error) => error.code(),
            Self::InvalidAnswer => "llm_invalid_answer",
        }
    }
}

#[cfg_attr(not(target_family = "wasm"), async_trait::async_trait)]
#[cfg_attr(target_family = "wasm", async_trait::async_trait(?Send))]
impl Classifier for LlmClassifier {
    async fn classify(&self, text: &str) -> Classification {
        self.try_classify(text).await.unwrap_or_else(|error| {
            tracing::warn!(
                code = error.code(),
                "LLM classification failed; using the local classifier"
            );
            self.local.classify_text(text)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{Script, ScriptedProvider};

    #[tokio::test]
    async fn valid_answers_are_used_and_anything_else_falls_back() {
        let provider = Arc::new(ScriptedProvider::new([
            Script::Reply(r#"{"category":"billing","priority":"high","confidence":0.9}"#.into()),
            Script::Reply("not json".into()),
            Script::Reply(r#"{"category":"astrology","priority":"high","confidence":0.9}"#.into()),
            Script::Reply(r#"{"category":"billing","priority":"high","confidence":7}"#.into()),
            Script::Fail(ProviderError::RateLimited),
        ]));
        let classifier = LlmClassifier::new(provider.clone(), LocalClassifier::default());
        let first = classifier.classify("my card was charged twice").await;
        assert_eq!(first.source, ClassificationSource::Llm);
        assert_eq!(
            (first.category.as_str(), first.priority.as_str()),
            ("billing", "high")
        );
        for _ in 0..4 {
            let c = classifier.classify("my card was charged twice").await;
            assert_eq!(c.source, ClassificationSource::Local);
            assert_eq!(c.category, "billing");
        }
        let request = &provider.requests()[0];
        assert!(request.json);
        assert!(request.messages[0].content.contains("technical"));
    }
}
