//! PostgreSQL's shortcut for the hot path: a customer's message or a reply
//! added to an existing conversation in one statement.

use std::sync::LazyLock;

use super::PostgresStore;
use crate::conversation::{Conversation, Message};
use crate::store::sql::{
    ConversationRow, OptionalMessageRow, SqlTime, UPDATE_CONVERSATION, backend as db_error,
    optional_message_columns,
};
use crate::store::{Applied, Change, StoreError as Error, page_from_newest};

/// The conversation as updated, and (when asked for) one of the messages
/// stored before the change's, newest first: one row per earlier message.
#[derive(sqlx::FromRow)]
struct AppliedRow {
    #[sqlx(flatten)]
    conversation: ConversationRow,
    #[sqlx(flatten)]
    earlier: OptionalMessageRow,
}

impl PostgresStore {
    /// A change to an existing conversation in one statement, so one round
    /// trip (the transaction in `sql_store!` takes four for one message:
    /// BEGIN, UPDATE, INSERT, COMMIT), with the history page asked for
    /// read in it too (the statement's snapshot has none of its own
    /// inserts, so what it reads is what came before them). A message whose idempotency key is
    /// stored already fails the whole statement, which then changed nothing.
    /// `Err(change)`: a new conversation, or one whose replies go to the
    /// outbox, left to the transaction.
    pub(super) async fn apply_in_one_statement(
        &self,
        change: Change,
    ) -> Result<Result<Applied, Error>, Change> {
        if change.create.is_some() || change.deliver.is_some() {
            return Err(change);
        }
        Ok(self.apply_to_existing(change).await)
    }

    async fn apply_to_existing(&self, change: Change) -> Result<Applied, Error> {
        let mut messages = change.messages;
        let count = messages.len();
        let mut columns = MessageColumns::with_capacity(count);
        for message in &messages {
            columns
                .push(message)
                .map_err(|e| Error::Backend(Box::new(e)))?;
        }
        // One more than the page, to know whether there are older ones.
        let read = match change.history {
            0 => 0,
            n => i64::try_from(n).map_or(i64::MAX, |n| n.saturating_add(1)),
        };
        let rows = sqlx::query_as::<_, AppliedRow>(sqlx::AssertSqlSafe(APPLY_TO_EXISTING.as_str()))
            .bind(change.status.as_str())
            .bind(&change.assignee)
            .bind(SqlTime(change.updated_at))
            .bind(count as i64)
            .bind(change.conversation_id.as_uuid())
            .bind(change.expected_version)
            .bind(change.metadata.as_ref().map(sqlx::types::Json))
            .bind(columns.id)
            .bind(columns.sender)
            .bind(columns.text)
            .bind(columns.key)
            .bind(columns.reply_to)
            .bind(columns.meta)
            .bind(columns.created_at)
            .bind(read)
            .fetch_all(&self.writer)
            .await;
        let rows = match rows {
            Ok(rows) if rows.is_empty() => {
                return Err(self.not_updated(change.conversation_id).await);
            }
            Ok(rows) => rows,
            Err(error) if is_stored_key(&error) => {
                for key in messages.iter().filter_map(|m| m.idempotency_key.as_deref()) {
                    if let Some(duplicate) = self.duplicate_of(key).await? {
                        return Ok(duplicate);
                    }
                }
                return Err(db_error(error));
            }
            Err(error) => return Err(db_error(error)),
        };
        // Every row carries the same conversation; the first is kept.
        let mut updated = None;
        let mut earlier = Vec::with_capacity(rows.len());
        for row in rows {
            updated.get_or_insert(row.conversation);
            earlier.extend(Option::<Message>::try_from(row.earlier)?);
        }
        let conversation =
            Conversation::try_from(updated.ok_or_else(|| Error::Corrupt("no row".into()))?)?;
        let history = (change.history > 0).then(|| page_from_newest(earlier, change.history));
        let first_seq = conversation.last_seq - count as i64;
        for (i, message) in messages.iter_mut().enumerate() {
            message.seq = first_seq + i as i64 + 1;
            message.conversation_id = conversation.id;
        }
        Ok(Applied::Stored {
            conversation,
            messages,
            history,
        })
    }
}

/// `UPDATE_CONVERSATION` ($1-$7), then its messages from arrays ($8-$14),
/// numbered after the conversation's new `last_seq`; the updated row joined
/// to the newest $15 messages stored before (none: one row of nulls).
static APPLY_TO_EXISTING: LazyLock<String> = LazyLock::new(|| {
    let earlier = optional_message_columns("h");
    format!(
        "WITH updated AS ({UPDATE_CONVERSATION}), \
         inserted AS (INSERT INTO messages \
           (id, conversation_id, seq, sender, text, idempotency_key, reply_to, meta, created_at) \
           SELECT m.id, u.id, u.last_seq - $4 + m.ord, m.sender, m.text, m.key, m.reply_to, m.meta::jsonb, m.created_at \
           FROM updated u, unnest($8::uuid[], $9::text[], $10::text[], $11::text[], $12::uuid[], $13::text[], $14::timestamptz[]) \
             WITH ORDINALITY AS m(id, sender, text, key, reply_to, meta, created_at, ord)) \
         SELECT u.*, {earlier} FROM updated u \
         LEFT JOIN LATERAL (SELECT * FROM messages WHERE conversation_id = u.id ORDER BY seq DESC LIMIT $15) h ON true \
         ORDER BY h.seq DESC"
    )
});

/// A change's messages as one array per column.
struct MessageColumns<'a> {
    id: Vec<uuid::Uuid>,
    sender: Vec<&'static str>,
    text: Vec<&'a str>,
    key: Vec<Option<&'a str>>,
    reply_to: Vec<Option<uuid::Uuid>>,
    meta: Vec<String>,
    created_at: Vec<time::OffsetDateTime>,
}

impl<'a> MessageColumns<'a> {
    fn with_capacity(n: usize) -> Self {
        Self {
            id: Vec::with_capacity(n),
            sender: Vec::with_capacity(n),
            text: Vec::with_capacity(n),
            key: Vec::with_capacity(n),
            reply_to: Vec::with_capacity(n),
            meta: Vec::with_capacity(n),
            created_at: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, message: &'a Message) -> Result<(), serde_json::Error> {
        self.meta.push(serde_json::to_string(&message.meta)?);
        self.id.push(message.id.as_uuid());
        self.sender.push(message.sender.as_str());
        self.text.push(&message.text);
        self.key.push(message.idempotency_key.as_deref());
        self.reply_to.push(message.reply_to.map(|id| id.as_uuid()));
        self.created_at.push(message.created_at);
        Ok(())
    }
}

/// Whether `error` is a message's idempotency key stored already.
fn is_stored_key(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|e| {
        e.is_unique_violation() && e.constraint() == Some("messages_idempotency_key_key")
    })
}
