//! The JSON customers see. Engine internals (passages, error codes,
//! classification, token counts) stay inside.

use serde::{Deserialize, Serialize};
use spur_core::Turn;
use spur_core::conversation::{Message, Status};
use utoipa::ToSchema;

/// `POST /v1/chat/message` and `/v1/chat/stream` bodies.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendBody {
    /// 1 to 5,000 characters after trimming (configurable).
    #[schema(example = "Do you ship to India?")]
    pub message: String,
    /// The conversation's secret; omit to start a new conversation.
    pub session_id: Option<String>,
    /// Retries with the same key are answered from storage, never stored twice.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    pub session_id: String,
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
    pub message_id: String,
    pub used_fallback: bool,
}

impl From<&Turn> for SendReply {
    fn from(turn: &Turn) -> Self {
        Self {
            reply: turn.reply_text(),
            session_id: turn.conversation.session_id.to_string(),
            status: turn.conversation.status,
            message_id: turn.message.id.to_string(),
            used_fallback: turn.used_fallback(),
        }
    }
}

/// What the seed apps' frontends expect from `POST /chat/message`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeedReply {
    pub reply: String,
    pub session_id: String,
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
