//! Support tickets and the people who file them: the records, the storage
//! seam (SQLite and PostgreSQL, one SQL text) and [`TicketDesk`], which
//! files a ticket and classifies it (in the request or from a job queue).
//!
//! A ticket is stored `pending` before anything can fail; classification
//! then records `done` or `fallback` exactly once (a second attempt, say a
//! job run twice, changes nothing), and never overwrites a category or
//! priority an agent set by hand.

#[cfg(feature = "runtime")]
mod desk;
#[cfg(feature = "runtime")]
mod summary;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod sql;

#[cfg(all(any(test, feature = "test-util"), feature = "runtime"))]
pub mod conformance;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounts::AccountId;
use crate::classify::Classification;
use crate::conversation::ConversationId;

#[cfg(feature = "runtime")]
pub use desk::{ClassifyOutcome, TicketClassifier, TicketDesk};
#[cfg(feature = "runtime")]
pub use summary::summarize;

use crate::conversation::ids::uuid_id;

uuid_id!(
    /// A user id (UUID v7).
    UserId
);
uuid_id!(
    /// A ticket id (UUID v7).
    TicketId
);

/// Someone who files tickets (a customer or colleague; not an agent account).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub name: String,
    /// Stored lowercased and trimmed: one user per address.
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl User {
    pub fn new(name: &str, email: &str, now: OffsetDateTime) -> Self {
        Self {
            id: UserId(Uuid::now_v7()),
            name: name.trim().to_string(),
            email: crate::accounts::normalize_email(email),
            created_at: to_micros(now),
        }
    }
}

/// PostgreSQL keeps microseconds: what a call returns must equal what a
/// later read shows, so times are cut to microseconds before storing.
pub fn to_micros(time: OffsetDateTime) -> OffsetDateTime {
    let nanos = time.nanosecond();
    time.replace_nanosecond(nanos - nanos % 1_000)
        .unwrap_or(time)
}

/// Where a ticket's classification stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AiStatus {
    /// Stored, not classified yet.
    Pending,
    /// Classified by the model (or the local classifier when no model is set).
    Done,
    /// Classification failed: the safe default, with the reason recorded.
    Fallback,
}

/// Open until someone closes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    Open,
    Closed,
}

macro_rules! str_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}
str_enum!(AiStatus { Pending => "pending", Done => "done", Fallback => "fallback" });
str_enum!(TicketStatus { Open => "open", Closed => "closed" });

/// A support ticket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: TicketId,
    pub title: String,
    pub description: String,
    /// `None` while pending.
    pub category: Option<String>,
    pub priority: Option<String>,
    pub ai_confidence: Option<f32>,
    pub ai_status: AiStatus,
    /// `llm` or `local`: who classified it.
    pub ai_source: Option<String>,
    /// Why classification fell back (an error code), when it did.
    pub ai_reason: Option<String>,
    /// Set by an agent: classification will not change it.
    pub category_overridden: bool,
    pub priority_overridden: bool,
    pub overridden_by: Option<AccountId>,
    pub status: TicketStatus,
    /// `None` when filed anonymously or the user was deleted.
    pub created_by: Option<UserId>,
    pub conversation_id: Option<ConversationId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What a caller supplies to file a ticket.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewTicket {
    pub title: String,
    pub description: String,
    pub created_by: Option<UserId>,
    pub conversation_id: Option<ConversationId>,
}

impl Ticket {
    /// A new, unclassified, open ticket.
    pub fn pending(new: NewTicket, now: OffsetDateTime) -> Self {
        let now = to_micros(now);
        Self {
            id: TicketId(Uuid::now_v7()),
            title: new.title.trim().to_string(),
            description: new.description.trim().to_string(),
            category: None,
            priority: None,
            ai_confidence: None,
            ai_status: AiStatus::Pending,
            ai_source: None,
            ai_reason: None,
            category_overridden: false,
            priority_overridden: false,
            overridden_by: None,
            status: TicketStatus::Open,
            created_by: new.created_by,
            conversation_id: new.conversation_id,
            created_at: now,
            updated_at: now,
        }
    }

    /// The text a classifier reads.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.title, self.description)
    }
}

/// A classification result to record on a pending ticket.
#[derive(Clone, Debug, PartialEq)]
pub struct AiResult {
    pub classification: Classification,
    pub status: AiStatus,
    pub reason: Option<String>,
}

/// A change an agent makes. `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TicketPatch {
    pub status: Option<TicketStatus>,
    /// An override: kept over any later classification.
    pub category: Option<String>,
    pub priority: Option<String>,
    pub by: Option<AccountId>,
}

/// Filters for listing tickets; every `Some` must match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TicketFilter {
    pub category: Option<String>,
    pub priority: Option<String>,
    pub status: Option<TicketStatus>,
    pub ai_status: Option<AiStatus>,
    pub created_by: Option<UserId>,
    /// Case-insensitive substring of the title or description.
    pub text: Option<String>,
}

/// Where a newest-first page of tickets or users continues.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cursor {
    pub created_at: OffsetDateTime,
    pub id: Uuid,
}

/// One page, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
    /// How many match the filter, when asked for.
    pub total: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("a user with this email already exists")]
    EmailTaken,
    #[error("no such ticket or user")]
    NotFound,
    #[error("createdBy names no user")]
    UnknownUser,
    #[error("conversationId names no conversation")]
    UnknownConversation,
    #[error("not a label of the taxonomy: {0}")]
    UnknownLabel(String),
    #[error("this conversation already has a ticket")]
    ConversationHasTicket,
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("storage backend: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

/// Where users and tickets live (the SQLite and PostgreSQL stores).
#[async_trait::async_trait]
pub trait TicketStore: Send + Sync {
    /// Fails with [`TicketError::EmailTaken`] when the email is in use.
    async fn create_user(&self, user: &User) -> Result<(), TicketError>;
    async fn user(&self, id: UserId) -> Result<Option<User>, TicketError>;
    /// Newest first.
    async fn users(&self, cursor: Option<Cursor>, limit: usize) -> Result<Page<User>, TicketError>;
    /// Their tickets stay, with `created_by` cleared.
    async fn delete_user(&self, id: UserId) -> Result<(), TicketError>;

    /// Fails with `UnknownUser`, `UnknownConversation` or `ConversationHasTicket`.
    async fn create_ticket(&self, ticket: &Ticket) -> Result<(), TicketError>;
    async fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, TicketError>;
    /// Newest first; keyset paging on (created_at, id), stable under inserts.
    async fn tickets(
        &self,
        filter: &TicketFilter,
        cursor: Option<Cursor>,
        limit: usize,
        count: bool,
    ) -> Result<Page<Ticket>, TicketError>;
    async fn ticket_for_conversation(
        &self,
        id: ConversationId,
    ) -> Result<Option<Ticket>, TicketError>;
    async fn update_ticket(
        &self,
        id: TicketId,
        patch: &TicketPatch,
        now: OffsetDateTime,
    ) -> Result<Ticket, TicketError>;
    /// Records a classification if the ticket is still pending; `None` when
    /// it was not (already classified: the call changed nothing). Fields an
    /// agent overrode keep their values.
    async fn record_classification(
        &self,
        id: TicketId,
        result: &AiResult,
        now: OffsetDateTime,
    ) -> Result<Option<Ticket>, TicketError>;
    /// Claims up to `limit` pending tickets last queued (or filed) before
    /// `stale_before`, oldest first, marking them queued at `now` in the
    /// same statement: concurrent sweepers never claim the same ticket, and
    /// a claimed ticket is not stale again until a whole period has passed.
    async fn claim_stale_pending(
        &self,
        stale_before: OffsetDateTime,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<TicketId>, TicketError>;
}

/// A newest-first page from `limit + 1` fetched rows.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn sql_page<T>(
    rows: Vec<T>,
    limit: usize,
    key: impl Fn(&T) -> (OffsetDateTime, Uuid),
    total: Option<u64>,
) -> Page<T> {
    let (items, next) = crate::store::keyset(rows, limit, |row| {
        let (created_at, id) = key(row);
        Cursor { created_at, id }
    });
    Page { items, next, total }
}
