//! The embedded default: answers from the knowledge base, never invents.

use serde::{Deserialize, Serialize};

use super::{Completion, CompletionRequest, Delta, DeltaStream, LlmProvider, ProviderError};
use crate::classify::lexicon::normalize;
use crate::prompt::PromptTexts;

/// When the offline responder trusts a passage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfflineConfig {
    /// Minimum passage confidence (query coverage, 0..1) to quote it.
    pub min_confidence: f32,
    pub texts: PromptTexts,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        Self {
            min_confidence: 0.5,
            texts: PromptTexts::default(),
        }
    }
}

/// Answers with the best retrieved passage when retrieval is confident,
/// greets back, and otherwise says it is handing over to a person
/// (`handoff: true`). It never writes a fact that is not in the knowledge.
#[derive(Clone, Debug, Default)]
pub struct OfflineResponder {
    config: OfflineConfig,
}

const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "yo",
    "hola",
    "namaste",
    "bonjour",
    "hallo",
    "ola",
    "good morning",
    "good afternoon",
    "good evening",
    "thanks",
    "thank you",
    "thx",
    "ok",
    "okay",
    "cool",
    "great",
];

fn is_greeting(text: &str) -> bool {
    let normalized = normalize(text);
    let words: Vec<&str> = normalized.split_whitespace().collect();
    let joined = words.join(" ");
    words.len() <= 4
        && GREETINGS
            .iter()
            .any(|g| joined == *g || joined.starts_with(&format!("{g} ")))
}

impl OfflineResponder {
    pub fn new(config: OfflineConfig) -> Self {
        Self { config }
    }

    fn answer(&self, request: &CompletionRequest) -> Completion {
        let texts = &self.config.texts;
        let question = request.last_user_message();
        let best = request
            .passages
            .first()
            .filter(|p| p.confidence >= self.config.min_confidence);
        let (text, handoff) = match best {
            Some(passage) => {
                let intro = texts
                    .offline_answer_intro
                    .replace("{title}", &passage.title);
                let answer = passage.text.trim();
                let text = if intro.is_empty() {
                    answer.to_string()
                } else {
                    format!("{}\n\n{answer}", texts.render(&intro))
                };
                (text, false)
            }
            None if is_greeting(question) => (texts.render(&texts.greeting_reply), false),
            None => (texts.render(&texts.offline_no_answer), true),
        };
        Completion {
            text,
            model: "knowledge-base".into(),
            usage: None,
            handoff,
        }
    }
}

#[cfg_attr(not(target_family = "wasm"), async_trait::async_trait)]
#[cfg_attr(target_family = "wasm", async_trait::async_trait(?Send))]
impl LlmProvider for OfflineResponder {
    fn name(&self) -> &str {
        "offline"
    }

    fn model(&self) -> &str {
        "knowledge-base"
    }

    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        Ok(self.answer(request))
    }

    /// Streams word by word, so the widget's streaming path is the same with
    /// or without an LLM.
    async fn stream(&self, request: &CompletionRequest) -> Result<DeltaStream, ProviderError> {
        let completion = self.answer(request);
        let mut deltas: Vec<Result<Delta, ProviderError>> = completion
            .text
            .split_inclusive(' ')
            .map(|word| {
                Ok(Delta {
                    text: word.to_string(),
                    ..Delta::default()
                })
            })
            .collect();
        if let Some(Ok(last)) = deltas.last_mut() {
            last.handoff = completion.handoff;
        }
        Ok(Box::pin(futures::stream::iter(deltas)))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::knowledge::KnowledgeBase;
    use crate::prompt::{PromptMessage, Role};

    fn request(kb: &KnowledgeBase, question: &str) -> CompletionRequest {
        let mut request = CompletionRequest::new(vec![PromptMessage::new(Role::User, question)]);
        request.passages = kb.search(question, 3);
        request
    }

    #[tokio::test]
    async fn quotes_confident_passages_and_hands_off_otherwise() {
        let kb = KnowledgeBase::demo();
        let responder = OfflineResponder::default();
        let answer = responder
            .complete(&request(&kb, "Do you ship to Europe?"))
            .await
            .unwrap();
        assert!(
            answer.text.contains("USA, India and Europe"),
            "{}",
            answer.text
        );
        assert!(!answer.handoff);

        let unknown = responder
            .complete(&request(&kb, "Can you recommend a wine for fish?"))
            .await
            .unwrap();
        assert!(unknown.handoff);
        assert!(unknown.text.contains("not sure"));

        let hello = responder.complete(&request(&kb, "Hello!")).await.unwrap();
        assert!(!hello.handoff);
        assert!(hello.text.contains("Spur Shop"));
    }

    #[tokio::test]
    async fn streams_the_same_text() {
        let kb = KnowledgeBase::demo();
        let responder = OfflineResponder::default();
        let req = request(&kb, "how long does delivery take?");
        let whole = responder.complete(&req).await.unwrap().text;
        let deltas: Vec<Delta> = responder
            .stream(&req)
            .await
            .unwrap()
            .map(|d| d.unwrap())
            .collect()
            .await;
        assert!(deltas.len() > 3);
        let joined: String = deltas.iter().map(|d| d.text.as_str()).collect();
        assert_eq!(joined, whole);
    }
}
