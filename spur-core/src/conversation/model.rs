use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ConversationId, MessageId, SessionId};
use crate::classify::Classification;

/// Where a conversation is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The assistant answers.
    Automated,
    /// A human agent holds (or is about to hold) the conversation; the bot is silent.
    Agent,
    /// Finished. A customer writing again reopens it.
    Closed,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Automated, Status::Agent, Status::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Automated => "automated",
            Status::Agent => "agent",
            Status::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sender {
    Customer,
    Assistant,
    Agent,
    /// Notices from the engine itself ("connecting you to a person").
    System,
}

impl Sender {
    pub const ALL: [Sender; 4] = [
        Sender::Customer,
        Sender::Assistant,
        Sender::Agent,
        Sender::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sender::Customer => "customer",
            Sender::Assistant => "assistant",
            Sender::Agent => "agent",
            Sender::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sender| sender.as_str() == s)
    }
}

/// One conversation between a customer and the shop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: ConversationId,
    pub session_id: SessionId,
    /// Where the customer writes from: "web", "whatsapp", an API client...
    pub channel: String,
    pub status: Status,
    /// The agent holding the conversation, if any.
    pub assignee: Option<String>,
    /// Free-form data the host attaches (customer name, page, locale...).
    pub metadata: serde_json::Value,
    /// Sequence number of the newest message (0 when empty).
    pub last_seq: i64,
    /// Bumped by every stored change; the store's compare-and-swap key.
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Where a conversation keeps the external thread it lives on
/// ([`crate::channels::ExternalThread::address`]); only the engine writes it.
pub(crate) const CHANNEL_THREAD: &str = "channel_thread";

impl Conversation {
    /// The other channel's thread this conversation lives on (a WhatsApp
    /// number and the customer's id there), if any.
    pub fn channel_thread(&self) -> Option<crate::channels::ExternalThread> {
        self.metadata[CHANNEL_THREAD]
            .as_str()
            .and_then(crate::channels::ExternalThread::parse)
    }

    pub fn state(&self) -> super::ConversationState {
        super::ConversationState {
            status: self.status,
            assignee: self.assignee.clone(),
        }
    }

    /// Where the customer asked to be answered: `metadata.contact.email`,
    /// left in the chat ([`crate::SupportEngine::leave_email`]) or given by
    /// the host when the conversation started.
    pub fn contact_email(&self) -> Option<&str> {
        self.metadata
            .get(CONTACT)?
            .get("email")?
            .as_str()
            .filter(|e| !e.is_empty())
    }

    /// The metadata with `email` as the contact address (other keys kept).
    pub fn metadata_with_email(&self, email: &str) -> serde_json::Value {
        let mut metadata = match &self.metadata {
            serde_json::Value::Object(map) => map.clone(),
            _ => serde_json::Map::new(),
        };
        let mut contact = match metadata.remove(CONTACT) {
            Some(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        contact.insert("email".into(), email.into());
        metadata.insert(CONTACT.into(), contact.into());
        metadata.into()
    }
}

/// The metadata key holding how to reach the customer.
pub(crate) const CONTACT: &str = "contact";

/// One message in a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// Position in the conversation, assigned by the store (1, 2, 3...).
    pub seq: i64,
    pub sender: Sender,
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Set on inbound customer messages so that a retried request is not
    /// stored twice; scoped to the conversation by the engine. A credential
    /// of sorts (a retry without a session replays the turn): never serialised.
    #[serde(default, skip_serializing)]
    pub idempotency_key: Option<String>,
    /// For replies: the customer message this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    #[serde(default)]
    pub meta: MessageMeta,
}

/// What happened while producing a message: the provider, tokens, latency,
/// whether it is a fallback, the error behind it, what knowledge it used.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_in: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_out: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// The text is the polite fallback, not a real answer: never fed back into a prompt.
    pub used_fallback: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Ids of the knowledge articles given to the provider for this reply.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passages: Vec<String>,
    /// The passages the reply draws on (citations), best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
    /// For assistant replies that did not answer: why, and the question
    /// (the admins' knowledge-gaps report reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<Gap>,
    /// For assistant replies: what the grounding guard found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grounding: Option<crate::grounding::Grounding>,
    /// For assistant replies: the tools called on the way, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolRecord>,
    /// A call awaiting the customer's confirmation (this reply asks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<PendingAction>,
    /// For assistant replies: a spent LLM budget had the offline
    /// responder answer instead of the model.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub over_budget: bool,
    /// For customer messages: how the local classifier read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// For system notices: why the conversation was handed to a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation: Option<String>,
    /// For handoff notices when nobody may be there to answer in the chat:
    /// the customer is offered to leave an email address (a widget shows a form).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ask_email: bool,
    /// For the notice confirming the address the customer left.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub email_left: bool,
    /// For agent messages: who wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// For agent messages: the name the customer sees (as it was when written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// The text's token count, counted once when the message is created so
    /// that trimming a long history adds integers instead of re-tokenizing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_tokens: Option<TextTokens>,
    /// For customer messages from a channel: the files sent with it
    /// (photos, voice notes, documents) and whether each was kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::channels::Attachment>,
}

/// One tool call made while producing a reply, as the agents and the
/// admin log see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolRecord {
    pub tool: String,
    /// The arguments as the model sent them (parsed when they parse), the
    /// tool's secret fields replaced by `"[redacted]"`.
    pub arguments: serde_json::Value,
    /// `ok`, or why not: `invalid_arguments`, `unknown_tool`, `not_allowed`,
    /// `timeout`, `too_large`, `failed`; for a `writes` tool also
    /// `awaiting_confirmation` (held), `declined`, `not_run` (a second
    /// change asked in the same turn).
    pub outcome: String,
    /// The start of the result, or the error.
    pub summary: String,
    pub latency_ms: u64,
}

/// A call to a tool that changes things (`writes`), held until the
/// customer confirms it: the reply carrying it asks them, and their next
/// message says yes (the call runs, with `id` as its idempotency key) or
/// anything else (it does not).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingAction {
    pub id: String,
    pub tool: String,
    /// The arguments the call will run with.
    pub arguments: serde_json::Value,
    /// The same, the tool's secret fields redacted: what people are shown.
    pub shown: serde_json::Value,
}

/// A question the assistant could not answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// `no_answer` (nothing in the knowledge), `ungrounded` (the guard
    /// stopped the reply) or `fallback` (the provider failed).
    pub kind: String,
    pub question: String,
}

/// A knowledge passage a reply cites.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub id: String,
    pub title: String,
    /// The passage's confidence for the question (0..1).
    pub score: f32,
}

/// A token count and the encoding it was counted with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextTokens {
    pub encoding: String,
    pub tokens: u32,
}

/// An agent's internal note on a conversation: for agents only. Stored
/// apart from the messages, so no customer view, feed or prompt reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: uuid::Uuid,
    pub conversation_id: ConversationId,
    /// The writing agent's account id.
    pub author: String,
    /// Their name as it was when written.
    pub author_name: String,
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A saved answer agents insert by its shortcut (`/returns`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CannedReply {
    /// 1 to 32 of a-z, 0-9 and `-`: what follows the `/`.
    pub shortcut: String,
    pub text: String,
    /// The account id of whoever saved it last.
    pub author: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl CannedReply {
    /// A shortcut as stored, or `None` when it is not 1 to 32 of a-z, 0-9, `-`.
    pub fn shortcut(text: &str) -> Option<String> {
        let s = text.trim().trim_start_matches('/').to_lowercase();
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then_some(s)
    }
}
