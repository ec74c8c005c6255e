//! What the engine tells subscribers (the server's SSE feeds and inboxes).

use serde::{Deserialize, Serialize};

use crate::conversation::{ConversationId, Message, MessageId, Sender, SessionId, Status};
use crate::escalation::EscalationReason;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    MessageStored {
        conversation: ConversationId,
        session: SessionId,
        message: Box<Message>,
    },
    StatusChanged {
        conversation: ConversationId,
        session: SessionId,
        from: Status,
        to: Status,
        assignee: Option<String>,
    },
    /// A piece of a reply being streamed (the message is stored when done).
    ReplyDelta {
        conversation: ConversationId,
        session: SessionId,
        reply: MessageId,
        text: String,
    },
    Escalated {
        conversation: ConversationId,
        session: SessionId,
        reason: EscalationReason,
    },
    /// Someone is writing (customer or agent); never stored.
    Typing {
        conversation: ConversationId,
        session: SessionId,
        sender: Sender,
    },
}

impl EngineEvent {
    pub fn conversation(&self) -> ConversationId {
        match self {
            Self::MessageStored { conversation, .. }
            | Self::StatusChanged { conversation, .. }
            | Self::ReplyDelta { conversation, .. }
            | Self::Escalated { conversation, .. }
            | Self::Typing { conversation, .. } => *conversation,
        }
    }
}

/// Receives engine events. Must not block: hosts forward to a channel.
pub trait EventSink: Send + Sync {
    fn publish(&self, event: EngineEvent);
}

/// Drops every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn publish(&self, _event: EngineEvent) {}
}

/// A subscriber fell behind and these many events were dropped for it: it
/// should re-read what it shows from the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the subscriber fell behind and missed {0} events")]
pub struct Missed(pub u64);

/// Events as a subscriber receives them; ends when the bus closes.
pub type EventStream = futures::stream::BoxStream<'static, Result<EngineEvent, Missed>>;

/// The seam live feeds read from: what the engine publishes, fanned out to
/// every subscriber. [`BroadcastEvents`] is the in-process bus; a bus shared
/// by several server instances (Redis Streams, NATS) implements the same
/// trait, and the feeds do not change.
pub trait EventBus: EventSink {
    /// Every event published from now on.
    fn subscribe(&self) -> EventStream;
}

/// In-process fan-out over a tokio broadcast channel.
#[cfg(feature = "runtime")]
#[derive(Clone, Debug)]
pub struct BroadcastEvents {
    sender: tokio::sync::broadcast::Sender<EngineEvent>,
}

#[cfg(feature = "runtime")]
impl BroadcastEvents {
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: tokio::sync::broadcast::channel(capacity.max(1)).0,
        }
    }

    /// The raw receiver (tests that want `recv` directly).
    pub fn receiver(&self) -> tokio::sync::broadcast::Receiver<EngineEvent> {
        self.sender.subscribe()
    }
}

#[cfg(feature = "runtime")]
impl EventSink for BroadcastEvents {
    fn publish(&self, event: EngineEvent) {
        // No subscriber is not an error.
        let _ = self.sender.send(event);
    }
}

#[cfg(feature = "runtime")]
impl EventBus for BroadcastEvents {
    fn subscribe(&self) -> EventStream {
        use futures::StreamExt;
        use tokio::sync::broadcast::error::RecvError;
        futures::stream::unfold(self.receiver(), |mut rx| async move {
            match rx.recv().await {
                Ok(event) => Some((Ok(event), rx)),
                Err(RecvError::Lagged(n)) => Some((Err(Missed(n)), rx)),
                Err(RecvError::Closed) => None,
            }
        })
        .boxed()
    }
}
