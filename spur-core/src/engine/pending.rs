//! Channel messages a crash left unanswered. A webhook is acknowledged once
//! the message is stored and the reply follows on a task; a process killed
//! in between (not shut down: a shutdown waits for its replies) leaves a
//! stored message nobody will deliver again. The web chat's clients retry
//! with their idempotency key; for channels the engine looks itself.

use std::time::Duration;

use super::{Inbound, SupportEngine};
use crate::channels::MessageKind;
use crate::conversation::{ConversationId, Sender};
use crate::engine::EngineError;

/// How far back unanswered messages are looked for: older ones are not
/// answered out of the blue.
const HORIZON: time::Duration = time::Duration::hours(24);

/// The most answered in one look (the next look takes the rest).
const PAGE: usize = 100;

/// Kinds a stored `[kind]` stands for (what [`SupportEngine::receive`]
/// stores for a message without text).
const UNREADABLE: [MessageKind; 8] = [
    MessageKind::Text,
    MessageKind::Image,
    MessageKind::Audio,
    MessageKind::Video,
    MessageKind::Document,
    MessageKind::Location,
    MessageKind::Sticker,
    MessageKind::Unsupported,
];

impl SupportEngine {
    /// Answers channel messages stored but never answered, in conversations
    /// the assistant holds that were active in the last day, whose newest
    /// message is the customer's and at least `min_age` old (a younger one
    /// may be being answered by another instance). Each is answered as a
    /// redelivery would be, so a message answered meanwhile is not answered
    /// twice by this process. How many were answered.
    pub async fn answer_pending(&self, min_age: Duration) -> Result<usize, EngineError> {
        let now = self.now();
        let waiting = self
            .inner
            .store
            .awaiting_reply(now - HORIZON, now - min_age, PAGE)
            .await?;
        let mut answered = 0;
        for id in waiting {
            if self.answer_newest(id).await? {
                answered += 1;
            }
        }
        Ok(answered)
    }

    /// Answers the conversation's newest message if it is an unanswered
    /// customer message; whether it did.
    async fn answer_newest(&self, id: ConversationId) -> Result<bool, EngineError> {
        let conversation = self.conversation_by_id(id).await?;
        let page = self.inner.store.history(id, None, 1).await?;
        let Some(message) = page.messages.last() else {
            return Ok(false);
        };
        let key = message.idempotency_key.as_deref().and_then(unscoped_key);
        let (Some(key), Sender::Customer) = (key, message.sender) else {
            return Ok(false);
        };
        if message.seq != conversation.last_seq
            || self.inner.store.reply_to(message.id).await?.is_some()
        {
            return Ok(false);
        }
        let unreadable = UNREADABLE
            .into_iter()
            .find(|kind| message.text == format!("[{}]", kind.as_str()));
        tracing::info!(conversation = %id, message = %message.id, "answering a message left unanswered");
        let turn = self
            .turn(
                Inbound {
                    text: message.text.clone(),
                    session: Some(conversation.session_id),
                    idempotency_key: Some(key.to_string()),
                    channel: Some(conversation.channel.clone()),
                    metadata: None,
                    verified_customer: None,
                    thread: conversation.channel_thread(),
                    unreadable,
                    attachments: Vec::new(),
                },
                None,
            )
            .await?;
        Ok(turn.reply.is_some() || turn.notice.is_some())
    }
}

/// The key a message was sent with, from the form it is stored in
/// (`c:<conversation>:<key>` or `n:<key>`).
fn unscoped_key(stored: &str) -> Option<&str> {
    if let Some(key) = stored.strip_prefix("n:") {
        return Some(key);
    }
    let rest = stored.strip_prefix("c:")?;
    rest.split_once(':').map(|(_, key)| key)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::channels::{ExternalThread, InboundEvent, OutboxStore};
    use crate::llm::{Completion, CompletionRequest, LlmProvider, ProviderError};
    use crate::store::{ConversationStore, MemoryStore};

    /// A provider that never answers: the process "dies" while it thinks.
    struct Stuck;

    #[async_trait::async_trait]
    impl LlmProvider for Stuck {
        fn name(&self) -> &str {
            "stuck"
        }
        fn model(&self) -> &str {
            "stuck"
        }
        async fn complete(&self, _: &CompletionRequest) -> Result<Completion, ProviderError> {
            std::future::pending().await
        }
    }

    fn event(id: &str, text: Option<&str>, kind: MessageKind) -> InboundEvent {
        InboundEvent {
            thread: ExternalThread::new("whatsapp", "1065", format!("1631555{id}")),
            external_id: format!("wamid.{id}"),
            sender_name: None,
            kind,
            text: text.map(Into::into),
            sender_email: None,
            subject: None,
            attachments: Vec::new(),
        }
    }

    /// A redelivery is acknowledged once found stored, not after the reply
    /// under way (which can take the model's whole timeout).
    #[tokio::test]
    async fn a_redelivery_is_acknowledged_without_waiting_for_the_reply() {
        let engine = SupportEngine::builder()
            .store(Arc::new(MemoryStore::new()))
            .provider(Arc::new(Stuck))
            .build();
        let question = event("0003", Some("Do you ship to India?"), MessageKind::Text);
        let first = engine.receive_stored(question.clone()).await.unwrap();
        let again = tokio::time::timeout(Duration::from_secs(5), engine.receive_stored(question))
            .await
            .expect("acknowledged while the reply is still under way")
            .unwrap();
        assert_eq!(again.id, first.id);
    }

    #[test]
    fn stored_keys_unscope() {
        assert_eq!(unscoped_key("n:abc"), Some("abc"));
        assert_eq!(unscoped_key("c:0f-1:ab:c"), Some("ab:c"));
        assert_eq!(unscoped_key("abc"), None);
    }

    #[tokio::test]
    async fn a_message_a_crash_left_unanswered_is_answered_once_after_a_restart() {
        let store = Arc::new(MemoryStore::new());
        let crashed = SupportEngine::builder()
            .store(store.clone())
            .provider(Arc::new(Stuck))
            .build();
        let question = crashed
            .receive_stored(event(
                "0001",
                Some("Do you ship to India?"),
                MessageKind::Text,
            ))
            .await
            .unwrap();
        let voice = crashed
            .receive_stored(event("0002", None, MessageKind::Audio))
            .await
            .unwrap();
        // The restarted process (the crashed one's tasks never finish).
        let restarted = SupportEngine::builder().store(store.clone()).build();
        assert_eq!(
            restarted
                .answer_pending(Duration::from_secs(3_600))
                .await
                .unwrap(),
            0,
            "nothing is old enough yet"
        );
        // The voice note's fixed reply needed no model: only the question waits.
        assert_eq!(restarted.answer_pending(Duration::ZERO).await.unwrap(), 1);
        let reply = store.reply_to(question.id).await.unwrap().unwrap();
        assert!(reply.text.contains("India"), "{}", reply.text);
        let voice_thread = store
            .history(voice.conversation_id, None, 10)
            .await
            .unwrap();
        assert_eq!(voice_thread.messages.len(), 2, "one note, one reply");
        let queued = store.deliveries(question.conversation_id).await.unwrap();
        assert_eq!(queued.len(), 1, "the reply goes out through the outbox");
        // Answered now: a second look answers nothing.
        assert_eq!(restarted.answer_pending(Duration::ZERO).await.unwrap(), 0);
    }
}
