//! The storage seam: coarse, transactional operations over conversations
//! and messages. Implementations: in-memory, SQLite and PostgreSQL (sqlx).

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod insight_sql;
mod memory;
mod memory_outbox;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod outbox_sql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(all(any(test, feature = "test-util"), feature = "runtime"))]
pub mod conformance;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::conversation::{
    CannedReply, Conversation, ConversationId, Message, MessageId, Note, SessionId, Status,
};

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such conversation")]
    NotFound,
    /// The conversation changed since it was read (compare-and-swap failed).
    #[error("the conversation was changed concurrently")]
    Conflict,
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("storage backend: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

/// One atomic change: create or update a conversation and append messages.
#[derive(Clone, Debug)]
pub struct Change {
    pub conversation_id: ConversationId,
    /// Insert this conversation first, in the same transaction.
    pub create: Option<Conversation>,
    /// The [`Conversation::version`] the change was computed from; the change
    /// fails with [`StoreError::Conflict`] if it moved.
    pub expected_version: i64,
    pub status: Status,
    pub assignee: Option<String>,
    pub updated_at: OffsetDateTime,
    /// Replaces the conversation's metadata; `None` leaves it as stored.
    pub metadata: Option<serde_json::Value>,
    /// Appended in order; the store assigns their `seq`.
    pub messages: Vec<Message>,
    /// Up to this many of the messages stored before this change's, read
    /// with it where a store can do so without another round trip
    /// ([`Applied::Stored`]'s `history`); 0 reads none.
    pub history: usize,
    /// The conversation lives on another channel's thread (this
    /// [`crate::channels::ExternalThread::address`]): a new conversation is
    /// bound to it, and every message not from the customer is queued in
    /// the outbox, in the same transaction.
    pub deliver: Option<String>,
}

/// Of a delivering change's messages as stored, those the outbox takes:
/// everything the customer did not write.
pub(crate) fn outbound(stored: &[Message]) -> impl Iterator<Item = &Message> {
    stored
        .iter()
        .filter(|m| m.sender != crate::conversation::Sender::Customer)
}

/// What [`ConversationStore::apply`] did. One per store call: not worth boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    Stored {
        conversation: Conversation,
        messages: Vec<Message>,
        /// The page [`Change::history`] asked for, as
        /// [`ConversationStore::history`] before the first new message
        /// would give it; `None` when the store did not read it (the
        /// caller reads it).
        history: Option<HistoryPage>,
    },
    /// A message's idempotency key was already stored: nothing was written,
    /// and this is the earlier message.
    Duplicate {
        conversation: Conversation,
        message: Message,
    },
}

/// One page of a conversation's messages, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub messages: Vec<Message>,
    /// Pass as `before` to get the page of older messages; `None` at the start.
    pub next_before: Option<i64>,
}

/// Position in a list of conversations ordered by newest activity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationCursor {
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub id: ConversationId,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConversationFilter {
    pub status: Option<Status>,
    /// Leave out conversations in this status (an inbox's "active" view).
    pub not_status: Option<Status>,
    /// The newest customer message was classified in this category.
    pub category: Option<String>,
    /// ... with this priority.
    pub priority: Option<String>,
    /// Some message contains this text (case-insensitive; ASCII case on SQLite).
    pub text: Option<String>,
    /// Who holds it: this agent, or nobody.
    pub assignee: Option<AssigneeFilter>,
    /// The customer left or was given this address
    /// ([`Conversation::contact_email`]); ASCII case is ignored.
    pub contact_email: Option<String>,
}

/// An inbox's "mine" and "unassigned" views.
#[derive(Clone, Debug, PartialEq)]
pub enum AssigneeFilter {
    Nobody,
    Agent(String),
}

impl AssigneeFilter {
    pub fn matches(&self, assignee: Option<&str>) -> bool {
        match self {
            Self::Nobody => assignee.is_none(),
            Self::Agent(agent) => assignee == Some(agent.as_str()),
        }
    }
}

/// How long an inbox row's preview of the newest message is, at most.
pub const PREVIEW_CHARS: usize = 140;

/// The start of `text` for an inbox row (a whole character boundary).
pub fn preview(text: &str) -> String {
    match text.char_indices().nth(PREVIEW_CHARS) {
        Some((end, _)) => format!("{}…", text[..end].trim_end()),
        None => text.to_string(),
    }
}

/// A conversation as an inbox lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedConversation {
    pub conversation: Conversation,
    /// How the newest customer message was classified.
    pub category: Option<String>,
    pub priority: Option<String>,
    /// Customer messages since the last answer (assistant or agent): the
    /// inbox's unread count.
    pub unanswered: i64,
    /// The oldest of those: how long the customer has been waiting.
    pub waiting_since: Option<OffsetDateTime>,
    /// The newest message's text, cut to [`PREVIEW_CHARS`].
    pub preview: Option<String>,
}

impl ListedConversation {
    /// What every backend computes, here over messages in memory (oldest first).
    pub fn from_messages(conversation: Conversation, messages: &[Message]) -> Self {
        use crate::conversation::Sender;
        let classification = messages
            .iter()
            .rev()
            .find(|m| m.sender == Sender::Customer)
            .and_then(|m| m.meta.classification.as_ref());
        let unanswered: Vec<&Message> = messages
            .iter()
            .rev()
            .take_while(|m| !matches!(m.sender, Sender::Assistant | Sender::Agent))
            .filter(|m| m.sender == Sender::Customer)
            .collect();
        Self {
            conversation,
            category: classification.map(|c| c.category.clone()),
            priority: classification.map(|c| c.priority.clone()),
            unanswered: unanswered.len() as i64,
            waiting_since: unanswered.last().map(|m| m.created_at),
            preview: messages.last().map(|m| preview(&m.text)),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConversationPage {
    pub conversations: Vec<ListedConversation>,
    pub next: Option<ConversationCursor>,
}

/// Which assistant replies (LLM calls and offline answers) to list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplyFilter {
    pub conversation: Option<ConversationId>,
    /// Created at or after.
    pub since: Option<OffsetDateTime>,
    /// Created before.
    pub until: Option<OffsetDateTime>,
    /// Only fallbacks (the provider failed or timed out).
    pub fallbacks_only: bool,
}

/// Position in the reply log, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplyCursor {
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub id: MessageId,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReplyPage {
    pub replies: Vec<Message>,
    pub next: Option<ReplyCursor>,
}

/// Sums over the replies a [`ReplyFilter`] selects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyTotals {
    pub replies: i64,
    pub fallbacks: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
}

/// Where conversations live.
#[async_trait::async_trait]
pub trait ConversationStore: Send + Sync {
    /// Applies a change atomically (see [`Change`]).
    async fn apply(&self, change: Change) -> Result<Applied, StoreError>;

    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, StoreError>;

    async fn conversation_by_session(
        &self,
        session: SessionId,
    ) -> Result<Option<Conversation>, StoreError>;

    async fn message_by_idempotency_key(&self, key: &str) -> Result<Option<Message>, StoreError>;

    /// The conversation bound to an external thread
    /// ([`crate::channels::ExternalThread::address`]), if any.
    async fn conversation_by_thread(
        &self,
        address: &str,
    ) -> Result<Option<Conversation>, StoreError>;

    /// The first stored reply to `message`.
    async fn reply_to(&self, message: MessageId) -> Result<Option<Message>, StoreError>;

    /// Replaces a stored message's metadata (what was learnt after it was
    /// stored: its attachments once fetched). [`StoreError::NotFound`] when
    /// the conversation holds no such message.
    async fn set_message_meta(
        &self,
        conversation: ConversationId,
        message: MessageId,
        meta: &crate::conversation::MessageMeta,
    ) -> Result<(), StoreError>;

    /// Up to `limit` messages older than seq `before` (newest when `None`),
    /// returned oldest first.
    async fn history(
        &self,
        conversation: ConversationId,
        before: Option<i64>,
        limit: usize,
    ) -> Result<HistoryPage, StoreError>;

    /// Up to `limit` messages with seq greater than `after`, oldest first
    /// (the live feed's replay after a reconnect).
    async fn messages_after(
        &self,
        conversation: ConversationId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;

    /// Reachable, with the schema in place (readiness probes).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Assistant replies, newest first, after `cursor` (the admin log).
    async fn replies(
        &self,
        filter: &ReplyFilter,
        cursor: Option<&ReplyCursor>,
        limit: usize,
    ) -> Result<ReplyPage, StoreError>;

    async fn reply_totals(&self, filter: &ReplyFilter) -> Result<ReplyTotals, StoreError>;

    /// Stores an agent's internal note ([`StoreError::NotFound`] without the
    /// conversation).
    async fn add_note(&self, note: &Note) -> Result<(), StoreError>;

    /// A conversation's newest `limit` notes, oldest first.
    async fn notes(
        &self,
        conversation: ConversationId,
        limit: usize,
    ) -> Result<Vec<Note>, StoreError>;

    /// The saved answers, by shortcut.
    async fn canned_replies(&self) -> Result<Vec<CannedReply>, StoreError>;

    /// Saves an answer, replacing the one with the same shortcut.
    async fn save_canned_reply(&self, reply: &CannedReply) -> Result<(), StoreError>;

    /// Deletes the answer with this shortcut, if `author` saved it last
    /// (`None`: whoever did); `false` if nothing was deleted. One
    /// statement, so a reply saved meanwhile by someone else is kept.
    async fn delete_canned_reply(
        &self,
        shortcut: &str,
        author: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Conversations by newest activity, after `cursor`.
    async fn list_conversations(
        &self,
        filter: &ConversationFilter,
        cursor: Option<&ConversationCursor>,
        limit: usize,
    ) -> Result<ConversationPage, StoreError>;

    /// Stores a customer's rating of an answer (an assistant's or an agent's
    /// message) in its conversation, replacing an earlier one; false when
    /// the conversation holds no such answer.
    async fn rate_reply(&self, rating: &crate::insight::ReplyRating) -> Result<bool, StoreError>;

    /// Stores a conversation's CSAT, replacing an earlier one, attributed to
    /// an agent if one wrote in it; false when nobody has answered in it.
    async fn rate_conversation(&self, csat: &crate::insight::Csat) -> Result<bool, StoreError>;

    /// The facts of each conversation the query selects, oldest first.
    async fn conversation_facts(
        &self,
        query: &crate::insight::FactsQuery,
    ) -> Result<Vec<crate::insight::ConversationFacts>, StoreError>;

    /// Their replies by fallback code and grounding verdict.
    async fn reply_breakdown(
        &self,
        query: &crate::insight::FactsQuery,
    ) -> Result<crate::insight::Breakdown, StoreError>;

    /// Conversations on another channel (bound to an external thread) that
    /// the assistant holds, last changed between `since` and `until`, whose
    /// newest message is the customer's: up to `limit`, least recently
    /// changed first. What a crash may have left unanswered.
    async fn awaiting_reply(
        &self,
        since: OffsetDateTime,
        until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ConversationId>, StoreError>;
}

/// Fills `seq`, bumps the version and applies the new state: the part of a
/// change every backend computes the same way.
pub(crate) fn stamp(conversation: &mut Conversation, change: &Change, messages: &mut [Message]) {
    for message in messages.iter_mut() {
        conversation.last_seq += 1;
        message.seq = conversation.last_seq;
        message.conversation_id = conversation.id;
    }
    conversation.version += 1;
    conversation.status = change.status;
    conversation.assignee = change.assignee.clone();
    conversation.updated_at = change.updated_at;
    if let Some(metadata) = &change.metadata {
        conversation.metadata = metadata.clone();
    }
}

impl ReplyFilter {
    /// The rule every backend applies (memory directly, SQL in its WHERE).
    pub fn matches(&self, m: &Message) -> bool {
        m.sender == crate::conversation::Sender::Assistant
            && self.conversation.is_none_or(|c| m.conversation_id == c)
            && self.since.is_none_or(|t| m.created_at >= t)
            && self.until.is_none_or(|t| m.created_at < t)
            && (!self.fallbacks_only || m.meta.used_fallback)
    }
}

impl ReplyTotals {
    pub fn add(&mut self, m: &Message) {
        self.replies += 1;
        self.fallbacks += i64::from(m.meta.used_fallback);
        self.tokens_in += i64::from(m.meta.tokens_in.unwrap_or(0));
        self.tokens_out += i64::from(m.meta.tokens_out.unwrap_or(0));
    }
}

/// Keyset paging: `rows` were fetched with one more than `limit`; keeps
/// `limit` of them and, when there was more, the cursor of the last kept.
pub(crate) fn keyset<T, C>(
    mut rows: Vec<T>,
    limit: usize,
    cursor: impl Fn(&T) -> C,
) -> (Vec<T>, Option<C>) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(cursor) } else { None };
    (rows, next)
}

pub(crate) fn reply_page(newest_first: Vec<Message>, limit: usize) -> ReplyPage {
    let (replies, next) = keyset(newest_first, limit, |m| ReplyCursor {
        created_at: m.created_at,
        id: m.id,
    });
    ReplyPage { replies, next }
}

pub(crate) fn conversation_page(
    newest_first: Vec<ListedConversation>,
    limit: usize,
) -> ConversationPage {
    let (conversations, next) = keyset(newest_first, limit, |l| ConversationCursor {
        updated_at: l.conversation.updated_at,
        id: l.conversation.id,
    });
    ConversationPage {
        conversations,
        next,
    }
}

pub(crate) fn page_from_newest(mut newest_first: Vec<Message>, limit: usize) -> HistoryPage {
    let more = newest_first.len() > limit;
    newest_first.truncate(limit);
    newest_first.reverse();
    let next_before = if more {
        newest_first.first().map(|m| m.seq)
    } else {
        None
    };
    HistoryPage {
        messages: newest_first,
        next_before,
    }
}
