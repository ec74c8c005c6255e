//! The outbox on SQLite and PostgreSQL: the same statements, but for how a
//! deliverer's claim keeps others off the row it takes (PostgreSQL: `FOR
//! UPDATE SKIP LOCKED`, so several deliverers each take a different one;
//! SQLite has one writer, so a claim is never concurrent).

use time::OffsetDateTime;
use uuid::Uuid;

use crate::channels::{Delivery, DeliveryState, ExternalThread, OutboxItem};
use crate::conversation::Sender;
use crate::store::StoreError;

/// Queues one stored message (`sql_store!`'s apply, in its transaction).
pub(crate) const QUEUE: &str = "INSERT INTO outbox \
     (message_id, conversation_id, seq, address, state, attempts, due_at, updated_at) \
     VALUES ($1, $2, $3, $4, 'queued', 0, $5, $5)";

/// Leases the oldest due item whose thread has nothing pending before it.
/// `{lock}`: how the backend keeps other deliverers off the row.
pub(crate) fn claim(lock: &str) -> String {
    format!(
        "UPDATE outbox SET state = 'sending', attempts = attempts + 1, due_at = $2, updated_at = $1 \
         WHERE message_id = (SELECT o.message_id FROM outbox o \
             WHERE o.state IN ('queued', 'sending') AND o.due_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.conversation_id = o.conversation_id \
                 AND e.seq < o.seq AND e.state IN ('queued', 'sending')) \
             ORDER BY o.due_at LIMIT 1 {lock}) \
         RETURNING message_id"
    )
}

pub(crate) const CLAIMED: &str = "SELECT o.message_id, o.conversation_id, o.address, o.attempts, \
     m.sender, m.text FROM outbox o JOIN messages m ON m.id = o.message_id WHERE o.message_id = $1";

/// A send went through; a status update that came first is kept.
pub(crate) const SENT: &str = "UPDATE outbox SET provider_id = $2, updated_at = $3, \
     state = CASE WHEN state IN ('queued', 'sending') THEN 'sent' ELSE state END \
     WHERE message_id = $1";

pub(crate) const RETRY: &str =
    "UPDATE outbox SET state = 'queued', error = $2, due_at = $3 WHERE message_id = $1";

pub(crate) const FAILED: &str =
    "UPDATE outbox SET state = 'failed', error = $2, updated_at = $3 WHERE message_id = $1";

/// Moves a message forward only ([`DeliveryState`]'s rank, as SQL).
pub(crate) const STATUS: &str = "UPDATE outbox SET state = $2, error = COALESCE($3, error), \
     updated_at = $4 WHERE provider_id = $1 AND (CASE state WHEN 'sent' THEN 1 \
     WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 WHEN 'failed' THEN 4 ELSE 0 END) < $5";

pub(crate) const DELIVERIES: &str = "SELECT message_id, state, attempts, error, updated_at \
     FROM outbox WHERE conversation_id = $1 ORDER BY seq";

#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    message_id: Uuid,
    conversation_id: Uuid,
    address: String,
    attempts: i64,
    sender: String,
    text: String,
}

impl TryFrom<ClaimedRow> for OutboxItem {
    type Error = StoreError;

    fn try_from(row: ClaimedRow) -> Result<Self, StoreError> {
        Ok(OutboxItem {
            message_id: row.message_id.into(),
            conversation_id: row.conversation_id.into(),
            thread: ExternalThread::parse(&row.address)
                .ok_or_else(|| StoreError::Corrupt(format!("thread address {:?}", row.address)))?,
            sender: Sender::parse(&row.sender)
                .ok_or_else(|| StoreError::Corrupt(format!("sender {:?}", row.sender)))?,
            text: row.text,
            attempts: row.attempts,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    message_id: Uuid,
    state: String,
    attempts: i64,
    error: Option<String>,
    updated_at: OffsetDateTime,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Delivery {
            message_id: row.message_id.into(),
            state: DeliveryState::parse(&row.state)
                .ok_or_else(|| StoreError::Corrupt(format!("delivery state {:?}", row.state)))?,
            attempts: row.attempts,
            error: row.error,
            updated_at: row.updated_at,
        })
    }
}

/// Implements [`crate::channels::OutboxStore`] for a sqlx store;
/// `$lock` ends the claim's row choice.
macro_rules! sql_outbox {
    ($store:ident, $lock:literal) => {
        #[async_trait::async_trait]
        impl $crate::channels::OutboxStore for $store {
            async fn claim_outbound(
                &self,
                now: time::OffsetDateTime,
                lease_until: time::OffsetDateTime,
            ) -> Result<Option<$crate::channels::OutboxItem>, $crate::store::StoreError> {
                use $crate::store::outbox_sql::{CLAIMED, ClaimedRow, claim};
                use $crate::store::sql::{SqlTime, backend};
                static CLAIM: std::sync::LazyLock<String> =
                    std::sync::LazyLock::new(|| claim($lock));
                let claimed: Option<(uuid::Uuid,)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(CLAIM.as_str()))
                        .bind(SqlTime(now))
                        .bind(SqlTime(lease_until))
                        .fetch_optional(&self.writer)
                        .await
                        .map_err(backend)?;
                let Some((id,)) = claimed else {
                    return Ok(None);
                };
                sqlx::query_as::<_, ClaimedRow>(CLAIMED)
                    .bind(id)
                    .fetch_optional(&self.writer)
                    .await
                    .map_err(backend)?
                    .map($crate::channels::OutboxItem::try_from)
                    .transpose()
            }

            async fn outbound_sent(
                &self,
                message: $crate::conversation::MessageId,
                provider_id: &str,
                now: time::OffsetDateTime,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::sql::{SqlTime, backend};
                sqlx::query($crate::store::outbox_sql::SENT)
                    .bind(message.as_uuid())
                    .bind(provider_id)
                    .bind(SqlTime(now))
                    .execute(&self.writer)
                    .await
                    .map_err(backend)?;
                Ok(())
            }

            async fn outbound_retry(
                &self,
                message: $crate::conversation::MessageId,
                error: &str,
                due: time::OffsetDateTime,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::sql::{SqlTime, backend};
                sqlx::query($crate::store::outbox_sql::RETRY)
                    .bind(message.as_uuid())
                    .bind(error)
                    .bind(SqlTime(due))
                    .execute(&self.writer)
                    .await
                    .map_err(backend)?;
                Ok(())
            }

            async fn outbound_failed(
                &self,
                message: $crate::conversation::MessageId,
                error: &str,
                now: time::OffsetDateTime,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::sql::{SqlTime, backend};
                sqlx::query($crate::store::outbox_sql::FAILED)
                    .bind(message.as_uuid())
                    .bind(error)
                    .bind(SqlTime(now))
                    .execute(&self.writer)
                    .await
                    .map_err(backend)?;
                Ok(())
            }

            async fn record_status(
                &self,
                update: &$crate::channels::StatusUpdate,
                now: time::OffsetDateTime,
            ) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::sql::{SqlTime, backend};
                let moved = sqlx::query($crate::store::outbox_sql::STATUS)
                    .bind(&update.provider_id)
                    .bind(update.state.as_str())
                    .bind(&update.error)
                    .bind(SqlTime(now))
                    .bind(i64::from(update.state.rank()))
                    .execute(&self.writer)
                    .await
                    .map_err(backend)?;
                Ok(moved.rows_affected() > 0)
            }

            async fn deliveries(
                &self,
                conversation: $crate::conversation::ConversationId,
            ) -> Result<Vec<$crate::channels::Delivery>, $crate::store::StoreError> {
                use $crate::store::outbox_sql::{DELIVERIES, DeliveryRow};
                use $crate::store::sql::{backend, convert};
                let rows = sqlx::query_as::<_, DeliveryRow>(DELIVERIES)
                    .bind(conversation.as_uuid())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                convert(rows)
            }
        }
    };
}
pub(crate) use sql_outbox;
