//! The JSON customers and agents see, never the core types themselves.
//! Customers see no engine internals (passages, error codes,
//! classification, token counts); agents see those but never a
//! credential (a sessionId or an idempotency key).

use serde::{Deserialize, Serialize};
use spur_core::Turn;
use spur_core::conversation::{ConversationId, Message, MessageId, MessageMeta, Sender, Status};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// `POST /v1/chat/message` and `/v1/chat/stream` bodies.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendBody {
    /// 1 to 5,000 characters after trimming (configurable), no NUL.
    #[schema(
        example = "Do you ship to India?",
        min_length = 1,
        max_length = 5000,
        pattern = r"\S"
    )]
    pub message: String,
    /// The conversation's secret; omit (or send empty) to start a new conversation.
    #[schema(format = Uuid, pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$")]
    pub session_id: Option<String>,
    /// Retries with the same key are answered from storage, never stored
    /// twice. Unguessable (a UUID): 32 to 200 of `A-Z a-z 0-9 _ -`.
    #[schema(
        pattern = "^[A-Za-z0-9_-]{32,200}$",
        example = "0b5e1a4c-7d2f-4e8a-9c3b-6f1d2e3a4b5c"
    )]
    pub idempotency_key: Option<String>,
    /// The customer's id in the shop's systems, vouched for by
    /// `customerHash` (needs `IDENTITY_SECRET`): tools then act for this
    /// customer. A conversation stays with the customer it started for.
    #[schema(min_length = 1, max_length = 200, example = "cus_7")]
    pub customer_id: Option<String>,
    /// Hex HMAC-SHA256 of `customerId` under `IDENTITY_SECRET`, computed
    /// by the shop's backend (never in the page's code).
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub customer_hash: Option<String>,
    /// Instead of `customerId` and `customerHash`: a JWT (HS256 under
    /// `IDENTITY_SECRET`) whose `sub` is the customer's id; `exp` required.
    #[schema(max_length = 4096)]
    pub customer_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    #[schema(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub session_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailBody {
    #[schema(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub session_id: String,
    /// Where the answer should go.
    #[schema(
        max_length = 254,
        pattern = "^[^@\\x00-\\x20]+@[^@\\x00-\\x20]+\\.[^@\\x00-\\x20]+$",
        example = "ana@example.com"
    )]
    pub email: String,
}

/// What a chat client shows before anything is said: who answers, whether
/// people are there, and the operator's suggested first questions. Public.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatConfig {
    /// The shop's name.
    pub shop: String,
    /// `open` (people are there now), `closed` or `unknown` (no hours configured).
    #[schema(example = "closed")]
    pub availability: String,
    /// When people are back, if closed: "on Monday at 09:00 (Berlin time)".
    pub back: Option<String>,
    /// The support hours as a customer reads them.
    pub hours: Option<String>,
    /// Questions to offer before the conversation starts.
    pub suggestions: Vec<String>,
}

/// The outcome of one customer message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendReply {
    /// Null while a human agent holds the conversation.
    pub reply: Option<String>,
    pub session_id: String,
    #[schema(value_type = String, example = "automated")]
    pub status: Status,
    /// The customer's stored message.
    pub message_id: String,
    /// The reply's id (what `POST /v1/chat/feedback` rates); null with no reply.
    pub reply_id: Option<String>,
    pub used_fallback: bool,
    /// The reply asks the customer to confirm a change: answer "yes" to
    /// go ahead, anything else to leave it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
}

impl From<&Turn> for SendReply {
    fn from(turn: &Turn) -> Self {
        Self {
            reply: turn.reply_text(),
            session_id: turn.conversation.session_id.to_string(),
            status: turn.conversation.status,
            message_id: turn.message.id.to_string(),
            reply_id: turn.reply.as_ref().map(|r| r.id.to_string()),
            used_fallback: turn.used_fallback(),
            confirm: turn.asks_to_confirm(),
        }
    }
}

/// What the seed apps' frontends expect from `POST /chat/message`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeedReply {
    /// Never empty: while a person holds the conversation (no automatic
    /// reply), a line saying so; the person's answer comes on the live feed.
    pub reply: String,
    pub session_id: String,
    /// automated, agent or closed.
    #[schema(value_type = String, example = "automated")]
    pub status: Status,
}

/// One message as the customer sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
    /// Position in the conversation (the live feed's event id).
    pub seq: i64,
    /// customer, assistant, agent or system.
    #[schema(example = "assistant")]
    pub sender: String,
    pub text: String,
    /// RFC 3339.
    pub created_at: String,
    pub used_fallback: bool,
    /// Titles of the knowledge sections the reply draws on (only when the
    /// operator shows sources: `SHOW_SOURCES`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// A handoff notice when nobody may be there: the customer can leave an
    /// email address (`POST /v1/chat/email`) for the answer.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ask_email: bool,
    /// The notice confirming the address the customer left.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub email_left: bool,
    /// For an agent's message: their name, as the customer sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// The reply asks the customer to confirm a change (cancel an order...):
    /// a client shows Confirm / Cancel, sending "yes" / "no". Only the
    /// newest message's question is still open.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
}

impl MessageView {
    /// The customer's view; `show_sources` adds the cited section titles.
    pub fn new(m: &Message, show_sources: bool) -> Self {
        let mut view = Self::from(m);
        if show_sources {
            view.sources = m.meta.sources.iter().map(|s| s.title.clone()).collect();
        }
        view
    }
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id.to_string(),
            seq: m.seq,
            sender: m.sender.as_str().to_string(),
            text: m.text.clone(),
            created_at: m
                .created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            used_fallback: m.meta.used_fallback,
            sources: Vec::new(),
            ask_email: m.meta.ask_email,
            email_left: m.meta.email_left,
            agent_name: m.meta.agent_name.clone(),
            confirm: m.meta.confirm.is_some(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryReply {
    pub session_id: String,
    #[schema(value_type = String)]
    pub status: Status,
    /// Oldest first.
    pub messages: Vec<MessageView>,
    /// Pass as `before` for the page of older messages; null at the start.
    pub next_cursor: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusReply {
    pub session_id: String,
    #[schema(value_type = String)]
    pub status: Status,
    /// The notice shown to the customer, if this call changed anything.
    pub notice: Option<String>,
}

/// One message as agents see it: with how it was produced, without any
/// credential. Every agent view and feed goes through this type.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentMessage {
    #[schema(value_type = String)]
    pub id: MessageId,
    #[schema(value_type = String)]
    pub conversation_id: ConversationId,
    pub seq: i64,
    #[schema(value_type = String, example = "customer")]
    pub sender: Sender,
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub reply_to: Option<MessageId>,
    /// Provider, model, tokens, latency, fallback and error code, passages,
    /// classification, handoff reason, the writing agent's id.
    #[schema(value_type = Object)]
    pub meta: MessageMeta,
}

impl From<&Message> for AgentMessage {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            seq: m.seq,
            sender: m.sender,
            text: m.text.clone(),
            created_at: m.created_at,
            reply_to: m.reply_to,
            meta: for_agents(&m.meta),
        }
    }
}

/// A message's metadata as agents see it: a held action's arguments only
/// as the tool lets them be shown (its secret fields redacted).
fn for_agents(meta: &MessageMeta) -> MessageMeta {
    let mut meta = meta.clone();
    if let Some(action) = &mut meta.confirm {
        action.arguments = action.shown.clone();
    }
    // Where the channel keeps a file (a Messenger URL is itself the key to
    // it): agents get the kept copy, through the files route.
    for attachment in &mut meta.attachments {
        attachment.source = None;
    }
    meta
}
