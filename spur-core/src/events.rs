//! What the engine tells subscribers (the server's SSE feeds and inboxes).

use serde::{Deserialize, Serialize};

use crate::conversation::{ConversationId, Message, MessageId, SessionId, Status};
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
}

impl EngineEvent {
    pub fn conversation(&self) -> ConversationId {
        match self {
            Self::MessageStored { conversation, .. }
            | Self::StatusChanged { conversation, .. }
            | Self::ReplyDelta { conversation, .. }
            | Self::Escalated { conversation, .. } => *conversation,
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

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<EngineEvent> {
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
