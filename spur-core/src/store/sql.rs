//! What the SQLite and PostgreSQL stores share: rows, conversions and the
//! SQL itself (written once, in the dialect both accept), instantiated per
//! backend by [`sql_store!`].

use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;
use crate::classify::Classification;
use crate::conversation::{CannedReply, Conversation, Message, MessageMeta, Note, Sender, Status};

/// A timestamp as bound into SQL. PostgreSQL stores `timestamptz`; SQLite
/// stores text, which sorts and compares correctly only when every value
/// has the same shape, so it gets fixed-width UTC with nine fraction digits
/// (sqlx's own RFC 3339 drops trailing zeros: `…:22.5Z` would sort after
/// `…:22.50001Z`). Reading back accepts either form.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SqlTime(pub OffsetDateTime);

#[cfg(feature = "sqlite")]
mod sqlite_time {
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::sqlite::{Sqlite, SqliteArgumentsBuffer, SqliteTypeInfo};
    use sqlx::{Encode, Type};
    use time::format_description::BorrowedFormatItem;
    use time::macros::format_description;

    const FIXED: &[BorrowedFormatItem<'_>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");

    impl Type<Sqlite> for super::SqlTime {
        fn type_info() -> SqliteTypeInfo {
            <time::OffsetDateTime as Type<Sqlite>>::type_info()
        }
    }

    impl Encode<'_, Sqlite> for super::SqlTime {
        fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
            let text = self.0.to_offset(time::UtcOffset::UTC).format(FIXED)?;
            Encode::<Sqlite>::encode(text, buf)
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres_time {
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, Postgres};
    use sqlx::{Encode, Type};

    impl Type<Postgres> for super::SqlTime {
        fn type_info() -> PgTypeInfo {
            <time::OffsetDateTime as Type<Postgres>>::type_info()
        }
    }

    impl Encode<'_, Postgres> for super::SqlTime {
        fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
            Encode::<Postgres>::encode_by_ref(&self.0, buf)
        }
    }
}

pub(crate) fn backend(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        other => StoreError::Backend(Box::new(other)),
    }
}

pub(crate) fn migrate_error(error: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Backend(Box::new(error))
}

#[derive(sqlx::FromRow)]
pub(crate) struct ConversationRow {
    id: Uuid,
    session_id: Uuid,
    channel: String,
    status: String,
    assignee: Option<String>,
    metadata: Json<Value>,
    last_seq: i64,
    version: i64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl TryFrom<ConversationRow> for Conversation {
    type Error = StoreError;

    fn try_from(row: ConversationRow) -> Result<Self, StoreError> {
        Ok(Conversation {
            id: row.id.into(),
            session_id: row.session_id.into(),
            channel: row.channel,
            status: Status::parse(&row.status)
                .ok_or_else(|| StoreError::Corrupt(format!("status {:?}", row.status)))?,
            assignee: row.assignee,
            metadata: row.metadata.0,
            last_seq: row.last_seq,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    id: Uuid,
    conversation_id: Uuid,
    seq: i64,
    sender: String,
    text: String,
    idempotency_key: Option<String>,
    reply_to: Option<Uuid>,
    meta: Json<MessageMeta>,
    created_at: OffsetDateTime,
}

/// A message's columns as `m_*`, all null in a row that carries none
/// (a left join's miss): beside another row's columns.
#[derive(sqlx::FromRow)]
pub(crate) struct OptionalMessageRow {
    m_id: Option<Uuid>,
    m_conversation_id: Option<Uuid>,
    m_seq: Option<i64>,
    m_sender: Option<String>,
    m_text: Option<String>,
    m_idempotency_key: Option<String>,
    m_reply_to: Option<Uuid>,
    m_meta: Option<Json<MessageMeta>>,
    m_created_at: Option<OffsetDateTime>,
}

/// [`MESSAGE_COLUMNS`] of `alias` as [`OptionalMessageRow`] reads them.
#[cfg(feature = "postgres")]
pub(crate) fn optional_message_columns(alias: &str) -> String {
    MESSAGE_COLUMNS
        .split(", ")
        .map(|column| format!("{alias}.{column} AS m_{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl TryFrom<OptionalMessageRow> for Option<Message> {
    type Error = StoreError;

    fn try_from(row: OptionalMessageRow) -> Result<Self, StoreError> {
        let Some(id) = row.m_id else { return Ok(None) };
        let missing = || StoreError::Corrupt(format!("message {id}: a column is null"));
        let row = MessageRow {
            id,
            conversation_id: row.m_conversation_id.ok_or_else(missing)?,
            seq: row.m_seq.ok_or_else(missing)?,
            sender: row.m_sender.ok_or_else(missing)?,
            text: row.m_text.ok_or_else(missing)?,
            idempotency_key: row.m_idempotency_key,
            reply_to: row.m_reply_to,
            meta: row.m_meta.ok_or_else(missing)?,
            created_at: row.m_created_at.ok_or_else(missing)?,
        };
        Message::try_from(row).map(Some)
    }
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;

    fn try_from(row: MessageRow) -> Result<Self, StoreError> {
        Ok(Message {
            id: row.id.into(),
            conversation_id: row.conversation_id.into(),
            seq: row.seq,
            sender: Sender::parse(&row.sender)
                .ok_or_else(|| StoreError::Corrupt(format!("sender {:?}", row.sender)))?,
            text: row.text,
            created_at: row.created_at,
            idempotency_key: row.idempotency_key,
            reply_to: row.reply_to.map(Into::into),
            meta: row.meta.0,
        })
    }
}

pub(crate) fn convert<R, T: TryFrom<R, Error = StoreError>>(
    rows: Vec<R>,
) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

pub(crate) const CONVERSATION_COLUMNS: &str = "id, session_id, channel, status, assignee, metadata, last_seq, version, created_at, updated_at";

pub(crate) const INSERT_CONVERSATION: &str = "INSERT INTO conversations \
     (id, session_id, channel, status, assignee, metadata, last_seq, version, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $8)";

pub(crate) const UPDATE_CONVERSATION: &str = "UPDATE conversations \
     SET status = $1, assignee = $2, updated_at = $3, last_seq = last_seq + $4, version = version + 1, \
         metadata = COALESCE($7, metadata) \
     WHERE id = $5 AND version = $6 \
     RETURNING id, session_id, channel, status, assignee, metadata, last_seq, version, created_at, updated_at";

pub(crate) const INSERT_MESSAGE: &str = "INSERT INTO messages \
     (id, conversation_id, seq, sender, text, idempotency_key, reply_to, meta, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (idempotency_key) DO NOTHING";

pub(crate) const MESSAGE_COLUMNS: &str =
    "id, conversation_id, seq, sender, text, idempotency_key, reply_to, meta, created_at";

/// An inbox row's extra columns over `conversations c`: the newest customer
/// message's classification (read once; the filters look inside it), and
/// the customer messages since the last answer.
pub(crate) const LISTED_COLUMNS: &str = "\
     (SELECT m.meta->'classification' FROM messages m \
       WHERE m.conversation_id = c.id AND m.sender = 'customer' ORDER BY m.seq DESC LIMIT 1) AS classification, \
     (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id AND m.sender = 'customer' \
       AND m.seq > COALESCE((SELECT MAX(a.seq) FROM messages a \
         WHERE a.conversation_id = c.id AND a.sender IN ('assistant', 'agent')), 0)) AS unanswered, \
     (SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = c.id AND m.sender = 'customer' \
       AND m.seq > COALESCE((SELECT MAX(a.seq) FROM messages a \
         WHERE a.conversation_id = c.id AND a.sender IN ('assistant', 'agent')), 0)) AS waiting_since, \
     (SELECT m.text FROM messages m WHERE m.conversation_id = c.id ORDER BY m.seq DESC LIMIT 1) AS last_text";

/// `text` as a case-insensitive LIKE pattern matching it anywhere (`!` escapes).
pub(crate) fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

#[derive(sqlx::FromRow)]
pub(crate) struct ListedRow {
    #[sqlx(flatten)]
    conversation: ConversationRow,
    classification: Option<Json<Classification>>,
    unanswered: i64,
    waiting_since: Option<OffsetDateTime>,
    last_text: Option<String>,
}

impl TryFrom<ListedRow> for super::ListedConversation {
    type Error = StoreError;

    fn try_from(row: ListedRow) -> Result<Self, StoreError> {
        let classification = row.classification.map(|c| c.0);
        Ok(Self {
            conversation: Conversation::try_from(row.conversation)?,
            category: classification.as_ref().map(|c| c.category.clone()),
            priority: classification.map(|c| c.priority),
            unanswered: row.unanswered,
            waiting_since: row.waiting_since,
            preview: row.last_text.as_deref().map(super::preview),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct NoteRow {
    id: Uuid,
    conversation_id: Uuid,
    author: String,
    author_name: String,
    text: String,
    created_at: OffsetDateTime,
}

impl From<NoteRow> for Note {
    fn from(row: NoteRow) -> Self {
        Note {
            id: row.id,
            conversation_id: row.conversation_id.into(),
            author: row.author,
            author_name: row.author_name,
            text: row.text,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CannedRow {
    shortcut: String,
    text: String,
    author: String,
    updated_at: OffsetDateTime,
}

impl From<CannedRow> for CannedReply {
    fn from(row: CannedRow) -> Self {
        CannedReply {
            shortcut: row.shortcut,
            text: row.text,
            author: row.author,
            updated_at: row.updated_at,
        }
    }
}

/// What [`super::ReplyFilter`] selects, as SQL over `messages` with the
/// binds `$1` conversation, `$2` since, `$3` until, `$4` fallbacks only.
/// `->>` reads JSON in both dialects; the cast makes SQLite's `1` and
/// PostgreSQL's `'true'` comparable.
pub(crate) const REPLY_WHERE: &str = "sender = 'assistant' \
     AND ($1 IS NULL OR conversation_id = $1) \
     AND ($2 IS NULL OR created_at >= $2) \
     AND ($3 IS NULL OR created_at < $3) \
     AND ($4 = FALSE OR CAST(meta->>'usedFallback' AS TEXT) IN ('true', '1'))";

#[derive(sqlx::FromRow)]
pub(crate) struct TotalsRow {
    pub replies: i64,
    pub fallbacks: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
}

/// Implements [`super::ConversationStore`] for a sqlx backend. The SQL is
/// the same for both; only the pool type differs.
macro_rules! sql_store {
    ($store:ident, $db:ty) => {
        use sqlx::types::Json;

        use $crate::conversation::{CannedReply, Conversation, ConversationId, Message, MessageId, Note, SessionId};
        use $crate::store::sql::{
            backend, convert, like_pattern, CannedRow, ConversationRow, ListedRow, MessageRow, NoteRow, SqlTime, TotalsRow, CONVERSATION_COLUMNS,
            INSERT_CONVERSATION, INSERT_MESSAGE, LISTED_COLUMNS, MESSAGE_COLUMNS, REPLY_WHERE, UPDATE_CONVERSATION,
        };
        use $crate::store::{
            conversation_page, page_from_newest, reply_page, Applied, AssigneeFilter, Change, ConversationCursor, ConversationFilter,
            ConversationPage, ConversationStore, HistoryPage, ReplyCursor, ReplyFilter, ReplyPage,
            ReplyTotals, StoreError,
        };

        impl $store {
            async fn fetch_conversation(
                &self,
                column: &'static str,
                value: uuid::Uuid,
            ) -> Result<Option<Conversation>, StoreError> {
                let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE {column} = $1");
                sqlx::query_as::<_, ConversationRow>(sqlx::AssertSqlSafe(sql))
                    .bind(value)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?
                    .map(Conversation::try_from)
                    .transpose()
            }

            /// The stored message holding `key` and its conversation, if any.
            async fn duplicate_of(&self, key: &str) -> Result<Option<Applied>, StoreError> {
                let Some(original) = self.message_by_idempotency_key(key).await? else {
                    return Ok(None);
                };
                let owner = self
                    .conversation(original.conversation_id)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                Ok(Some(Applied::Duplicate {
                    conversation: owner,
                    message: original,
                }))
            }

            /// Why a conversation's update matched no row: another writer
            /// moved its version on, or it does not exist.
            async fn not_updated(&self, id: ConversationId) -> StoreError {
                match self.conversation(id).await {
                    Ok(Some(_)) => StoreError::Conflict,
                    Ok(None) => StoreError::NotFound,
                    Err(error) => error,
                }
            }

            async fn fetch_message(
                &self,
                condition: &'static str,
                bind: impl for<'q> sqlx::Encode<'q, $db> + sqlx::Type<$db> + Send,
            ) -> Result<Option<Message>, StoreError> {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE {condition} ORDER BY seq LIMIT 1"
                );
                sqlx::query_as::<_, MessageRow>(sqlx::AssertSqlSafe(sql))
                    .bind(bind)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?
                    .map(Message::try_from)
                    .transpose()
            }
        }

        $crate::store::insight_sql::sql_insight!($store);

        #[async_trait::async_trait]
        impl ConversationStore for $store {
            async fn rate_reply(&self, rating: &$crate::insight::ReplyRating) -> Result<bool, StoreError> {
                self.insight_rate_reply(rating).await
            }

            async fn rate_conversation(&self, csat: &$crate::insight::Csat) -> Result<bool, StoreError> {
                self.insight_rate_conversation(csat).await
            }

            async fn conversation_facts(
                &self,
                query: &$crate::insight::FactsQuery,
            ) -> Result<Vec<$crate::insight::ConversationFacts>, StoreError> {
                self.insight_facts(query).await
            }

            async fn reply_breakdown(
                &self,
                query: &$crate::insight::FactsQuery,
            ) -> Result<$crate::insight::Breakdown, StoreError> {
                self.insight_breakdown(query).await
            }

            async fn awaiting_reply(
                &self,
                since: time::OffsetDateTime,
                until: time::OffsetDateTime,
                limit: usize,
            ) -> Result<Vec<ConversationId>, StoreError> {
                // From the (few) channel threads, not all conversations.
                let rows = sqlx::query_as::<_, (uuid::Uuid,)>(
                    "SELECT c.id FROM channel_threads t \
                     JOIN conversations c ON c.id = t.conversation_id \
                     JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_seq \
                     WHERE c.status = 'automated' AND m.sender = 'customer' \
                       AND c.updated_at >= $1 AND c.updated_at <= $2 \
                     ORDER BY c.updated_at, c.id LIMIT $3",
                )
                .bind(SqlTime(since))
                .bind(SqlTime(until))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
                Ok(rows.into_iter().map(|(id,)| ConversationId(id)).collect())
            }

            async fn set_message_meta(
                &self,
                conversation: ConversationId,
                message: MessageId,
                meta: &crate::conversation::MessageMeta,
            ) -> Result<(), StoreError> {
                let updated = sqlx::query(
                    "UPDATE messages SET meta = $1 WHERE id = $2 AND conversation_id = $3",
                )
                .bind(Json(meta))
                .bind(message.as_uuid())
                .bind(conversation.as_uuid())
                .execute(&self.writer)
                .await
                .map_err(backend)?;
                if updated.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn apply(&self, change: Change) -> Result<Applied, StoreError> {
                let change = match self.apply_in_one_statement(change).await {
                    Ok(applied) => return applied,
                    Err(change) => change,
                };
                let mut tx = self.writer.begin().await.map_err(backend)?;
                if let Some(new) = &change.create {
                    sqlx::query(INSERT_CONVERSATION)
                        .bind(new.id.as_uuid())
                        .bind(new.session_id.as_uuid())
                        .bind(&new.channel)
                        .bind(new.status.as_str())
                        .bind(&new.assignee)
                        .bind(Json(&new.metadata))
                        .bind(SqlTime(new.created_at))
                        .bind(SqlTime(new.updated_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    if let Some(address) = &change.deliver {
                        // Unique: a second conversation for the thread fails here.
                        sqlx::query("INSERT INTO channel_threads (address, conversation_id) VALUES ($1, $2)")
                            .bind(address)
                            .bind(new.id.as_uuid())
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                    }
                }
                let updated = sqlx::query_as::<_, ConversationRow>(UPDATE_CONVERSATION)
                    .bind(change.status.as_str())
                    .bind(&change.assignee)
                    .bind(SqlTime(change.updated_at))
                    .bind(change.messages.len() as i64)
                    .bind(change.conversation_id.as_uuid())
                    .bind(change.expected_version)
                    .bind(change.metadata.as_ref().map(Json))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                let Some(row) = updated else {
                    drop(tx);
                    return Err(self.not_updated(change.conversation_id).await);
                };
                let conversation = Conversation::try_from(row)?;
                let first_seq = conversation.last_seq - change.messages.len() as i64;
                let mut messages = change.messages;
                for (i, message) in messages.iter_mut().enumerate() {
                    message.seq = first_seq + i as i64 + 1;
                    message.conversation_id = conversation.id;
                    let inserted = sqlx::query(INSERT_MESSAGE)
                        .bind(message.id.as_uuid())
                        .bind(conversation.id.as_uuid())
                        .bind(message.seq)
                        .bind(message.sender.as_str())
                        .bind(&message.text)
                        .bind(&message.idempotency_key)
                        .bind(message.reply_to.map(|id| id.as_uuid()))
                        .bind(Json(&message.meta))
                        .bind(SqlTime(message.created_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    if inserted.rows_affected() == 0 {
                        // The key is already stored: undo everything, report the original.
                        tx.rollback().await.map_err(backend)?;
                        let key = message.idempotency_key.clone().unwrap_or_default();
                        return self
                            .duplicate_of(&key)
                            .await?
                            .ok_or_else(|| StoreError::Corrupt("duplicate key vanished".into()));
                    }
                }
                if let Some(address) = &change.deliver {
                    for message in $crate::store::outbound(&messages) {
                        sqlx::query($crate::store::outbox_sql::QUEUE)
                            .bind(message.id.as_uuid())
                            .bind(conversation.id.as_uuid())
                            .bind(message.seq)
                            .bind(address)
                            .bind(SqlTime(message.created_at))
                            .execute(&mut *tx)
                            .await
                            .map_err(backend)?;
                    }
                }
                tx.commit().await.map_err(backend)?;
                // A new conversation has no history; an existing one's is
                // read by the caller (another statement either way).
                let history = (change.history > 0 && change.create.is_some())
                    .then(|| page_from_newest(Vec::new(), change.history));
                Ok(Applied::Stored {
                    conversation,
                    messages,
                    history,
                })
            }

            async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, StoreError> {
                self.fetch_conversation("id", id.as_uuid()).await
            }

            async fn conversation_by_session(
                &self,
                session: SessionId,
            ) -> Result<Option<Conversation>, StoreError> {
                self.fetch_conversation("session_id", session.as_uuid()).await
            }

            async fn message_by_idempotency_key(&self, key: &str) -> Result<Option<Message>, StoreError> {
                self.fetch_message("idempotency_key = $1", key.to_string()).await
            }

            async fn conversation_by_thread(
                &self,
                address: &str,
            ) -> Result<Option<Conversation>, StoreError> {
                let columns = CONVERSATION_COLUMNS
                    .split(", ")
                    .map(|column| format!("c.{column}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT {columns} FROM channel_threads t \
                     JOIN conversations c ON c.id = t.conversation_id WHERE t.address = $1"
                );
                sqlx::query_as::<_, ConversationRow>(sqlx::AssertSqlSafe(sql))
                    .bind(address)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(backend)?
                    .map(Conversation::try_from)
                    .transpose()
            }

            async fn reply_to(&self, message: MessageId) -> Result<Option<Message>, StoreError> {
                self.fetch_message("reply_to = $1", message.as_uuid()).await
            }

            async fn history(
                &self,
                conversation: ConversationId,
                before: Option<i64>,
                limit: usize,
            ) -> Result<HistoryPage, StoreError> {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages \
                     WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
                );
                let rows = sqlx::query_as::<_, MessageRow>(sqlx::AssertSqlSafe(sql))
                    .bind(conversation.as_uuid())
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(page_from_newest(convert(rows)?, limit))
            }

            async fn messages_after(
                &self,
                conversation: ConversationId,
                after: i64,
                limit: usize,
            ) -> Result<Vec<Message>, StoreError> {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages \
                     WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
                );
                let rows = sqlx::query_as::<_, MessageRow>(sqlx::AssertSqlSafe(sql))
                    .bind(conversation.as_uuid())
                    .bind(after)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                convert(rows)
            }

            async fn ping(&self) -> Result<(), StoreError> {
                // Fails when unreachable or when the migrations have not run.
                sqlx::query("SELECT 1 FROM conversations LIMIT 1")
                    .fetch_optional(&self.pool)
                    .await
                    .map(|_| ())
                    .map_err(backend)
            }

            async fn replies(
                &self,
                filter: &ReplyFilter,
                cursor: Option<&ReplyCursor>,
                limit: usize,
            ) -> Result<ReplyPage, StoreError> {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE {REPLY_WHERE} \
                       AND ($5 IS NULL OR created_at < $5 OR (created_at = $5 AND id < $6)) \
                     ORDER BY created_at DESC, id DESC LIMIT $7"
                );
                let rows = sqlx::query_as::<_, MessageRow>(sqlx::AssertSqlSafe(sql))
                    .bind(filter.conversation.map(|c| c.as_uuid()))
                    .bind(filter.since.map(SqlTime))
                    .bind(filter.until.map(SqlTime))
                    .bind(filter.fallbacks_only)
                    .bind(cursor.map(|c| SqlTime(c.created_at)))
                    .bind(cursor.map(|c| c.id.as_uuid()))
                    .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(reply_page(convert(rows)?, limit))
            }

            async fn reply_totals(&self, filter: &ReplyFilter) -> Result<ReplyTotals, StoreError> {
                let sql = format!(
                    "SELECT CAST(COUNT(*) AS BIGINT) AS replies, \
                       CAST(COALESCE(SUM(CASE WHEN CAST(meta->>'usedFallback' AS TEXT) IN ('true', '1') \
                         THEN 1 ELSE 0 END), 0) AS BIGINT) AS fallbacks, \
                       CAST(COALESCE(SUM(CAST(meta->>'tokensIn' AS BIGINT)), 0) AS BIGINT) AS tokens_in, \
                       CAST(COALESCE(SUM(CAST(meta->>'tokensOut' AS BIGINT)), 0) AS BIGINT) AS tokens_out \
                     FROM messages WHERE {REPLY_WHERE}"
                );
                let row = sqlx::query_as::<_, TotalsRow>(sqlx::AssertSqlSafe(sql))
                    .bind(filter.conversation.map(|c| c.as_uuid()))
                    .bind(filter.since.map(SqlTime))
                    .bind(filter.until.map(SqlTime))
                    .bind(filter.fallbacks_only)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(ReplyTotals {
                    replies: row.replies,
                    fallbacks: row.fallbacks,
                    tokens_in: row.tokens_in,
                    tokens_out: row.tokens_out,
                })
            }

            async fn add_note(&self, note: &Note) -> Result<(), StoreError> {
                let stored = sqlx::query(
                    "INSERT INTO notes (id, conversation_id, author, author_name, text, created_at) \
                     SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM conversations WHERE id = $2)",
                )
                .bind(note.id)
                .bind(note.conversation_id.as_uuid())
                .bind(&note.author)
                .bind(&note.author_name)
                .bind(&note.text)
                .bind(SqlTime(note.created_at))
                .execute(&self.writer)
                .await
                .map_err(backend)?;
                if stored.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn notes(
                &self,
                conversation: ConversationId,
                limit: usize,
            ) -> Result<Vec<Note>, StoreError> {
                let mut rows = sqlx::query_as::<_, NoteRow>(
                    "SELECT id, conversation_id, author, author_name, text, created_at FROM notes \
                     WHERE conversation_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
                )
                .bind(conversation.as_uuid())
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
                rows.reverse();
                Ok(rows.into_iter().map(Note::from).collect())
            }

            async fn canned_replies(&self) -> Result<Vec<CannedReply>, StoreError> {
                let rows = sqlx::query_as::<_, CannedRow>(
                    "SELECT shortcut, text, author, updated_at FROM canned_replies ORDER BY shortcut",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
                Ok(rows.into_iter().map(CannedReply::from).collect())
            }

            async fn save_canned_reply(&self, reply: &CannedReply) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO canned_replies (shortcut, text, author, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (shortcut) DO UPDATE SET text = excluded.text, author = excluded.author, \
                     updated_at = excluded.updated_at",
                )
                .bind(&reply.shortcut)
                .bind(&reply.text)
                .bind(&reply.author)
                .bind(SqlTime(reply.updated_at))
                .execute(&self.writer)
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn delete_canned_reply(&self, shortcut: &str, author: Option<&str>) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM canned_replies WHERE shortcut = $1 AND author = COALESCE($2, author)")
                    .bind(shortcut)
                    .bind(author)
                    .execute(&self.writer)
                    .await
                    .map_err(backend)?;
                Ok(done.rows_affected() > 0)
            }

            async fn list_conversations(
                &self,
                filter: &ConversationFilter,
                cursor: Option<&ConversationCursor>,
                limit: usize,
            ) -> Result<ConversationPage, StoreError> {
                // Keyset pagination on (updated_at, id): stable under inserts.
                let sql = format!(
                    "SELECT * FROM (SELECT {CONVERSATION_COLUMNS}, {LISTED_COLUMNS} FROM conversations c \
                       WHERE ($1 IS NULL OR status = $1) \
                         AND ($5 IS NULL OR status <> $5) \
                         AND ($9 = 0 OR ($9 = 1 AND assignee IS NULL) OR ($9 = 2 AND assignee = $10)) \
                         AND ($2 IS NULL OR updated_at < $2 OR (updated_at = $2 AND id < $3)) \
                         AND ($11 IS NULL OR LOWER(c.metadata->'contact'->>'email') = LOWER($11)) \
                         AND ($8 IS NULL OR EXISTS (SELECT 1 FROM messages t \
                           WHERE t.conversation_id = c.id AND LOWER(t.text) LIKE $8 ESCAPE '!'))) listed \
                     WHERE ($6 IS NULL OR classification->>'category' = $6) \
                       AND ($7 IS NULL OR classification->>'priority' = $7) \
                     ORDER BY updated_at DESC, id DESC LIMIT $4"
                );
                let rows = sqlx::query_as::<_, ListedRow>(sqlx::AssertSqlSafe(sql))
                    .bind(filter.status.map(|s| s.as_str()))
                    .bind(cursor.map(|c| SqlTime(c.updated_at)))
                    .bind(cursor.map(|c| c.id.as_uuid()))
                    .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
                    .bind(filter.not_status.map(|s| s.as_str()))
                    .bind(filter.category.as_deref())
                    .bind(filter.priority.as_deref())
                    .bind(filter.text.as_deref().map(like_pattern))
                    .bind(match &filter.assignee {
                        None => 0_i64,
                        Some(AssigneeFilter::Nobody) => 1,
                        Some(AssigneeFilter::Agent(_)) => 2,
                    })
                    .bind(match &filter.assignee {
                        Some(AssigneeFilter::Agent(agent)) => Some(agent.as_str()),
                        _ => None,
                    })
                    .bind(filter.contact_email.as_deref())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(backend)?;
                Ok(conversation_page(convert(rows)?, limit))
            }
        }
    };
}

pub(crate) use sql_store;
