use serde::{Deserialize, Serialize};

use crate::channels::{ExternalThread, MessageKind};
use crate::conversation::{Conversation, Message, SessionId};
use crate::escalation::EscalationReason;

/// An inbound customer message, from any channel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    pub text: String,
    /// `None` starts a new conversation.
    pub session: Option<SessionId>,
    /// Retries with the same key are answered from storage, never stored twice.
    pub idempotency_key: Option<String>,
    /// Where it came from ("web", "whatsapp"...); the engine's default if `None`.
    pub channel: Option<String>,
    /// Attached to a new conversation (customer name, page, locale...).
    pub metadata: Option<serde_json::Value>,
    /// The customer's id in the shop's systems, as the host verified it
    /// (a signed identity, never what the customer typed). Tools that act
    /// for a customer are offered only with it, and read it from their
    /// context, never from the model's arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_customer: Option<String>,
    /// The other channel's thread it came from: a new conversation is
    /// bound to it and its replies go out through the outbox. Set by
    /// [`crate::SupportEngine::receive`], never from a client's input.
    #[serde(skip)]
    pub thread: Option<ExternalThread>,
    /// What came instead of text the assistant can read (a photo without a
    /// caption, a voice note): answered with `unsupported_kind_reply`.
    #[serde(skip)]
    pub unreadable: Option<MessageKind>,
    /// The files that came with it on its channel, recorded on the stored
    /// message (and fetched after, when the engine has [`crate::channels::media::Media`]).
    #[serde(skip)]
    pub attachments: Vec<crate::channels::Attachment>,
}

impl Inbound {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    pub fn in_session(mut self, session: SessionId) -> Self {
        self.session = Some(session);
        self
    }

    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// See [`Self::verified_customer`].
    pub fn as_verified_customer(mut self, customer: impl Into<String>) -> Self {
        self.verified_customer = Some(customer.into());
        self
    }
}

/// The outcome of one customer message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// The conversation after the turn.
    pub conversation: Conversation,
    /// The stored customer message.
    pub message: Message,
    /// The assistant's reply; `None` while a person holds the conversation.
    pub reply: Option<Message>,
    /// The engine's notice when this turn handed the conversation to a person
    /// ("connecting you with our team", with support hours when closed).
    pub notice: Option<Message>,
    /// Set when this turn handed the conversation to a person.
    pub escalation: Option<EscalationReason>,
    /// The idempotency key was seen before: this is the earlier outcome.
    pub duplicate: bool,
}

impl Turn {
    pub fn used_fallback(&self) -> bool {
        self.reply.as_ref().is_some_and(|r| r.meta.used_fallback)
    }

    /// The reply holds a change for the customer's yes (a client shows
    /// Confirm / Cancel, sending "yes" / "no").
    pub fn asks_to_confirm(&self) -> bool {
        self.reply
            .as_ref()
            .is_some_and(|r| r.meta.confirm.is_some())
    }

    /// What to show the customer in one string: the reply, then the notice.
    pub fn reply_text(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.reply, &self.notice]
            .into_iter()
            .flatten()
            .map(|m| m.text.as_str())
            .collect();
        (!parts.is_empty()).then(|| parts.join("\n\n"))
    }
}

/// What a streamed turn yields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The customer message is stored.
    Started {
        conversation: Box<Conversation>,
        message: Box<Message>,
    },
    Delta {
        text: String,
    },
    /// The turn is complete and stored. If the provider failed mid-stream,
    /// the reply is the fallback and replaces the partial text.
    Done(Box<Turn>),
}
