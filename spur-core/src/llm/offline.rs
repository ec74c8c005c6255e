//! The embedded default: answers from the knowledge base, never invents.

use serde::{Deserialize, Serialize};

use super::{Completion, CompletionRequest, Delta, DeltaStream, LlmProvider, ProviderError};
use crate::facts::ShopFacts;
use crate::knowledge::Calibration;
use crate::prompt::PromptTexts;
use crate::smalltalk::{self, SmallTalk};

/// When the offline responder trusts a passage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfflineConfig {
    /// Minimum passage confidence (query coverage, 0..1) to quote it.
    pub min_confidence: f32,
    /// Minimum confidence for a passage whose title covers nothing of the question.
    pub min_untitled_confidence: f32,
    /// With an embedding model: a passage at least this similar to the
    /// question (cosine) is trusted with `min_similar_confidence` coverage.
    pub min_similarity: f32,
    /// The coverage a similar passage still needs: similarity alone is not
    /// enough ("can I get it tomorrow?" is close to any delivery text).
    pub min_similar_confidence: f32,
    /// With an embedding model: a best passage whose closest sentence is at
    /// least this similar to the question (`Passage::focus`) answers even
    /// when the question's words are not the knowledge's. Off unless the
    /// model is calibrated for it.
    pub min_focus: Option<f32>,
    pub texts: PromptTexts,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        Self {
            min_confidence: 0.5,
            min_untitled_confidence: 0.8,
            min_similarity: 0.6,
            min_similar_confidence: 0.4,
            min_focus: None,
            texts: PromptTexts::default(),
        }
    }
}

impl OfflineConfig {
    /// The similarity thresholds of the embedding model in use: each model
    /// has its own scale of cosines.
    pub fn calibrated(mut self, calibration: Calibration) -> Self {
        self.min_similarity = calibration.min_similarity;
        self.min_focus = calibration.min_focus;
        self
    }
}

/// Answers with the sentences of the best passage that address the
/// question when retrieval covers the question's ideas, answers small talk
/// briefly, and otherwise says it is handing over to a person
/// (`handoff: true`). It never writes a fact that is not in the knowledge
/// (or, for places, in its geographic data).
#[derive(Clone, Debug)]
pub struct OfflineResponder {
    config: OfflineConfig,
    /// The shop's name for `{shop}` (from the operator's facts).
    shop: String,
}

impl Default for OfflineResponder {
    fn default() -> Self {
        Self::new(OfflineConfig::default())
    }
}

impl OfflineResponder {
    pub fn new(config: OfflineConfig) -> Self {
        Self {
            config,
            shop: ShopFacts::default().display_name().to_string(),
        }
    }

    /// Names the shop in greetings (`ShopFacts::display_name`).
    pub fn with_shop(mut self, name: &str) -> Self {
        self.shop = name.to_string();
        self
    }

    fn answer(&self, request: &CompletionRequest) -> Completion {
        let texts = &self.config.texts;
        let shop = request.shop.as_deref().unwrap_or(&self.shop);
        let render = |text: &str| texts.render(text, shop);
        let question = request.last_user_message();
        let small_talk = smalltalk::detect(question).map(|kind| match kind {
            SmallTalk::Greeting => render(&texts.greeting_reply),
            SmallTalk::Thanks => render(&texts.thanks_reply),
            SmallTalk::Acknowledgement => render(&texts.ack_reply),
            SmallTalk::Goodbye => render(&texts.goodbye_reply),
            SmallTalk::AreYouABot => render(&texts.bot_reply),
        });
        // A passage whose heading names none of the question's ideas must
        // cover nearly all of them: a body mentioning the words in passing
        // ("refunds go to the original payment method") is not an answer
        // to "which payment methods do you take?".
        let config = &self.config;
        let best = request.passages.first().filter(|p| {
            let lexical = p.confidence >= config.min_confidence
                && (p.title_coverage > 0.0 || p.confidence >= config.min_untitled_confidence);
            let similar = p.similarity.is_some_and(|s| s >= config.min_similarity)
                && p.confidence >= config.min_similar_confidence;
            let focused = p
                .focus
                .zip(config.min_focus)
                .is_some_and(|(f, min)| f >= min);
            lexical || similar || focused
        });
        let (text, handoff) = match (small_talk, best) {
            (Some(reply), _) => (reply, false),
            (None, Some(passage)) => {
                let intro = texts
                    .offline_answer_intro
                    .replace("{title}", &passage.title);
                let quoted = if passage.excerpt.trim().is_empty() {
                    passage.text.trim()
                } else {
                    passage.excerpt.trim()
                };
                let mut answer = passage.notes.join(" ");
                if !answer.is_empty() {
                    answer.push(' ');
                }
                answer.push_str(quoted);
                let text = if intro.is_empty() {
                    answer
                } else {
                    format!("{}\n\n{answer}", render(&intro))
                };
                (text, false)
            }
            (None, None) => (render(&texts.offline_no_answer), true),
        };
        Completion {
            text,
            model: "knowledge-base".into(),
            usage: None,
            handoff,
            // The offline responder answers from passages and calls no tools.
            tool_calls: Vec::new(),
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
    use crate::knowledge::{KnowledgeBase, Passage};
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
        assert!(hello.text.contains("our shop"), "{}", hello.text);
        let named = OfflineResponder::default().with_shop("Nordlicht");
        let hello = named.complete(&request(&kb, "Hello!")).await.unwrap();
        assert!(hello.text.contains("Nordlicht"), "{}", hello.text);
        // The turn's shop wins: the knowledge may have been replaced since.
        let mut renamed = request(&kb, "Hello!");
        renamed.shop = Some("Koala Kitchenware".into());
        let hello = named.complete(&renamed).await.unwrap();
        assert!(hello.text.contains("Koala Kitchenware"), "{}", hello.text);
        for (text, expect) in [
            ("thanks!", "welcome"),
            ("ok bye", "good day"),
            ("are you a bot?", "virtual assistant"),
        ] {
            let reply = responder.complete(&request(&kb, text)).await.unwrap();
            assert!(!reply.handoff, "{text}");
            assert!(reply.text.contains(expect), "{text} -> {}", reply.text);
        }
    }

    #[tokio::test]
    async fn similarity_lowers_the_coverage_needed_but_never_replaces_it() {
        let passage = |confidence: f32, similarity: Option<f32>| Passage {
            article_id: "policies/returns".into(),
            title: "Change of mind".into(),
            text: "Items can be returned within 30 days.".into(),
            score: 1.0,
            confidence,
            title_coverage: 0.0,
            excerpt: String::new(),
            notes: Vec::new(),
            similarity,
            focus: None,
        };
        let responder = OfflineResponder::default();
        let ask = |p: Passage| {
            let mut request =
                CompletionRequest::new(vec![PromptMessage::new(Role::User, "can I return it?")]);
            request.passages = vec![p];
            request
        };
        for (confidence, similarity, answers) in [
            (0.45, None, false),      // lexical alone: too little, untitled
            (0.45, Some(0.7), true),  // a close passage with some coverage
            (0.45, Some(0.5), false), // not close enough
            (0.0, Some(0.95), false), // closeness alone never answers
            (0.9, None, true),        // nearly full coverage
        ] {
            let reply = responder
                .complete(&ask(passage(confidence, similarity)))
                .await
                .unwrap();
            assert_eq!(!reply.handoff, answers, "{confidence} {similarity:?}");
            if answers {
                assert!(reply.text.contains("30 days"), "{}", reply.text);
            }
        }
    }

    #[tokio::test]
    async fn a_sentence_saying_what_was_asked_answers_only_for_a_calibrated_model() {
        let passage = |focus: Option<f32>| Passage {
            article_id: "policies/collection".into(),
            title: "Collection".into(),
            text: "Collect your order from our Leeds warehouse on weekdays.".into(),
            score: 1.0,
            confidence: 0.2,
            title_coverage: 0.0,
            excerpt: String::new(),
            notes: Vec::new(),
            similarity: Some(0.3),
            focus,
        };
        let ask = |p: Passage| {
            let mut request = CompletionRequest::new(vec![PromptMessage::new(
                Role::User,
                "can I pick it up myself?",
            )]);
            request.passages = vec![p];
            request
        };
        let calibrated = OfflineResponder::new(OfflineConfig::default().calibrated(Calibration {
            min_similarity: 0.7,
            min_focus: Some(0.66),
        }));
        let uncalibrated = OfflineResponder::default();
        for (responder, focus, answers) in [
            (&calibrated, Some(0.7), true),
            (&calibrated, Some(0.6), false),
            (&calibrated, None, false),
            // A model without a focus threshold (a static one): never.
            (&uncalibrated, Some(0.95), false),
        ] {
            let reply = responder.complete(&ask(passage(focus))).await.unwrap();
            assert_eq!(!reply.handoff, answers, "{focus:?}");
        }
        // The calibration replaces the similarity threshold too.
        let close = Passage {
            confidence: 0.45,
            similarity: Some(0.65),
            focus: None,
            ..passage(None)
        };
        assert!(
            !uncalibrated
                .complete(&ask(close.clone()))
                .await
                .unwrap()
                .handoff
        );
        assert!(calibrated.complete(&ask(close)).await.unwrap().handoff);
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
