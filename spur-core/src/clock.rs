//! Time and ids, injected so that tests (and wasm) control them.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::conversation::{ConversationId, MessageId, SessionId};

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock (not on wasm32-unknown-unknown, where it would panic).
#[cfg(not(target_family = "wasm"))]
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[cfg(not(target_family = "wasm"))]
impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that always says the same time (tests).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

/// A clock that stands still until moved (tests of expiry without sleeping).
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        Self(std::sync::Mutex::new(start))
    }

    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub trait IdGenerator: Send + Sync {
    fn conversation_id(&self) -> ConversationId;
    fn message_id(&self) -> MessageId;
    /// Must be unguessable: it is the customer's only credential.
    fn session_id(&self) -> SessionId;
    /// An agent's internal note.
    fn note_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// Time-ordered v7 ids for conversations and messages, random v4 for sessions.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn conversation_id(&self) -> ConversationId {
        ConversationId(Uuid::now_v7())
    }

    fn message_id(&self) -> MessageId {
        MessageId(Uuid::now_v7())
    }

    fn session_id(&self) -> SessionId {
        SessionId(Uuid::new_v4())
    }
}
