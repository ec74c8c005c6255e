//! Users and tickets in SQL: rows, conversions and one SQL text for SQLite
//! and PostgreSQL, instantiated per backend by [`sql_tickets!`].

use time::OffsetDateTime;
use uuid::Uuid;

use super::{AiStatus, Ticket, TicketError, TicketId, TicketStatus, User, UserId};
use crate::accounts::AccountId;
use crate::conversation::ConversationId;

pub(crate) fn backend(error: sqlx::Error) -> TicketError {
    TicketError::Backend(Box::new(error))
}

pub(crate) fn is_unique(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(crate) fn is_foreign_key(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    name: String,
    email: String,
    created_at: OffsetDateTime,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: UserId(row.id),
            name: row.name,
            email: row.email,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TicketRow {
    id: Uuid,
    title: String,
    description: String,
    category: Option<String>,
    priority: Option<String>,
    ai_confidence: Option<f32>,
    ai_status: String,
    ai_source: Option<String>,
    ai_reason: Option<String>,
    category_overridden: bool,
    priority_overridden: bool,
    overridden_by: Option<Uuid>,
    status: String,
    created_by: Option<Uuid>,
    conversation_id: Option<Uuid>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl TryFrom<TicketRow> for Ticket {
    type Error = TicketError;

    fn try_from(row: TicketRow) -> Result<Self, TicketError> {
        let corrupt = |what: &str, value: &str| TicketError::Corrupt(format!("{what} {value:?}"));
        Ok(Ticket {
            id: TicketId(row.id),
            ai_status: AiStatus::parse(&row.ai_status)
                .ok_or_else(|| corrupt("ai_status", &row.ai_status))?,
            status: TicketStatus::parse(&row.status)
                .ok_or_else(|| corrupt("status", &row.status))?,
            title: row.title,
            description: row.description,
            category: row.category,
            priority: row.priority,
            ai_confidence: row.ai_confidence,
            ai_source: row.ai_source,
            ai_reason: row.ai_reason,
            category_overridden: row.category_overridden,
            priority_overridden: row.priority_overridden,
            overridden_by: row.overridden_by.map(AccountId),
            created_by: row.created_by.map(UserId),
            conversation_id: row.conversation_id.map(ConversationId::from),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub(crate) fn tickets(rows: Vec<TicketRow>) -> Result<Vec<Ticket>, TicketError> {
    rows.into_iter().map(Ticket::try_from).collect()
}

pub(crate) const TICKET_COLUMNS: &str = "id, title, description, category, priority, ai_confidence, \
     ai_status, ai_source, ai_reason, category_overridden, priority_overridden, overridden_by, \
     status, created_by, conversation_id, created_at, updated_at";

/// The list filter; `$1..$6` are the filter, `$7/$8` the cursor.
pub(crate) const TICKET_WHERE: &str = "($1 IS NULL OR category = $1) \
     AND ($2 IS NULL OR priority = $2) \
     AND ($3 IS NULL OR status = $3) \
     AND ($4 IS NULL OR ai_status = $4) \
     AND ($5 IS NULL OR created_by = $5) \
     AND ($6 IS NULL OR LOWER(title) LIKE $6 ESCAPE '!' OR LOWER(description) LIKE $6 ESCAPE '!')";

/// Implements [`crate::tickets::TicketStore`] for a sqlx-backed store.
macro_rules! sql_tickets {
    ($store:ident) => {
        use $crate::tickets::sql::{
            backend as ticket_backend, is_foreign_key, is_unique, tickets as ticket_rows,
            TicketRow, UserRow, TICKET_COLUMNS, TICKET_WHERE,
        };
        use $crate::tickets::{
            AiResult, Cursor, Page, Ticket, TicketError, TicketFilter, TicketId, TicketPatch,
            TicketStore, User, UserId,
        };

        impl $store {
            /// The one ticket whose `column` is `id`.
            async fn ticket_where(
                &self,
                column: &str,
                id: uuid::Uuid,
            ) -> Result<Option<Ticket>, TicketError> {
                let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE {column} = $1");
                sqlx::query_as::<_, TicketRow>(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(ticket_backend)?
                    .map(Ticket::try_from)
                    .transpose()
            }

            /// Which reference a foreign-key failure on a new ticket was about.
            async fn missing_reference(&self, ticket: &Ticket) -> TicketError {
                if let Some(user) = ticket.created_by {
                    if let Ok(None) = TicketStore::user(self, user).await {
                        return TicketError::UnknownUser;
                    }
                }
                TicketError::UnknownConversation
            }
        }

        #[async_trait::async_trait]
        impl TicketStore for $store {
            async fn create_user(&self, user: &User) -> Result<(), TicketError> {
                sqlx::query("INSERT INTO users (id, name, email, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(user.id.0)
                    .bind(&user.name)
                    .bind(&user.email)
                    .bind(SqlTime(user.created_at))
                    .execute(&self.writer)
                    .await
                    .map_err(|e| if is_unique(&e) { TicketError::EmailTaken } else { ticket_backend(e) })?;
                Ok(())
            }

            async fn user(&self, id: UserId) -> Result<Option<User>, TicketError> {
                Ok(sqlx::query_as::<_, UserRow>(
                    "SELECT id, name, email, created_at FROM users WHERE id = $1",
                )
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(ticket_backend)?
                .map(User::from))
            }

            async fn users(
                &self,
                cursor: Option<Cursor>,
                limit: usize,
            ) -> Result<Page<User>, TicketError> {
                let rows = sqlx::query_as::<_, UserRow>(
                    "SELECT id, name, email, created_at FROM users \
                     WHERE ($1 IS NULL OR created_at < $1 OR (created_at = $1 AND id < $2)) \
                     ORDER BY created_at DESC, id DESC LIMIT $3",
                )
                .bind(cursor.map(|c| SqlTime(c.created_at)))
                .bind(cursor.map(|c| c.id))
                .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(ticket_backend)?;
                let users = rows.into_iter().map(User::from).collect();
                Ok($crate::tickets::sql_page(users, limit, |u: &User| (u.created_at, u.id.0), None))
            }

            async fn delete_user(&self, id: UserId) -> Result<(), TicketError> {
                // Explicit rather than relying on ON DELETE SET NULL alone:
                // SQLite enforces it only with foreign keys switched on.
                let mut tx = self.writer.begin().await.map_err(ticket_backend)?;
                sqlx::query("UPDATE tickets SET created_by = NULL WHERE created_by = $1")
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(ticket_backend)?;
                let done = sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(ticket_backend)?;
                if done.rows_affected() == 0 {
                    return Err(TicketError::NotFound);
                }
                tx.commit().await.map_err(ticket_backend)
            }

            async fn create_ticket(&self, ticket: &Ticket) -> Result<(), TicketError> {
                let result = sqlx::query(
                    "INSERT INTO tickets (id, title, description, category, priority, ai_confidence, \
                       ai_status, ai_source, ai_reason, category_overridden, priority_overridden, \
                       overridden_by, status, created_by, conversation_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                )
                .bind(ticket.id.0)
                .bind(&ticket.title)
                .bind(&ticket.description)
                .bind(ticket.category.as_deref())
                .bind(ticket.priority.as_deref())
                .bind(ticket.ai_confidence)
                .bind(ticket.ai_status.as_str())
                .bind(ticket.ai_source.as_deref())
                .bind(ticket.ai_reason.as_deref())
                .bind(ticket.category_overridden)
                .bind(ticket.priority_overridden)
                .bind(ticket.overridden_by.map(|a| a.0))
                .bind(ticket.status.as_str())
                .bind(ticket.created_by.map(|u| u.0))
                .bind(ticket.conversation_id.map(|c| c.as_uuid()))
                .bind(SqlTime(ticket.created_at))
                .bind(SqlTime(ticket.updated_at))
                .execute(&self.writer)
                .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(e) if is_unique(&e) => Err(TicketError::ConversationHasTicket),
                    Err(e) if is_foreign_key(&e) => Err(self.missing_reference(ticket).await),
                    Err(e) => Err(ticket_backend(e)),
                }
            }

            async fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, TicketError> {
                self.ticket_where("id", id.0).await
            }

            async fn tickets(
                &self,
                filter: &TicketFilter,
                cursor: Option<Cursor>,
                limit: usize,
                count: bool,
            ) -> Result<Page<Ticket>, TicketError> {
                let sql = format!(
                    "SELECT {TICKET_COLUMNS} FROM tickets WHERE {TICKET_WHERE} \
                       AND ($7 IS NULL OR created_at < $7 OR (created_at = $7 AND id < $8)) \
                     ORDER BY created_at DESC, id DESC LIMIT $9"
                );
                let text = filter.text.as_deref().map($crate::store::sql::like_pattern);
                // `$1..$6` of TICKET_WHERE, for the page and the count.
                macro_rules! bind_filter {
                    ($query:expr) => {
                        $query
                            .bind(filter.category.as_deref())
                            .bind(filter.priority.as_deref())
                            .bind(filter.status.map(|s| s.as_str()))
                            .bind(filter.ai_status.map(|s| s.as_str()))
                            .bind(filter.created_by.map(|u| u.0))
                            .bind(text.as_deref())
                    };
                }
                let rows = bind_filter!(sqlx::query_as::<_, TicketRow>(sqlx::AssertSqlSafe(sql)))
                    .bind(cursor.map(|c| SqlTime(c.created_at)))
                    .bind(cursor.map(|c| c.id))
                    .bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(ticket_backend)?;
                let total = if count {
                    let sql = format!("SELECT COUNT(*) FROM tickets WHERE {TICKET_WHERE}");
                    let n: i64 = bind_filter!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(ticket_backend)?;
                    Some(u64::try_from(n).unwrap_or(0))
                } else {
                    None
                };
                Ok($crate::tickets::sql_page(
                    ticket_rows(rows)?,
                    limit,
                    |t: &Ticket| (t.created_at, t.id.0),
                    total,
                ))
            }

            async fn ticket_for_conversation(
                &self,
                id: $crate::conversation::ConversationId,
            ) -> Result<Option<Ticket>, TicketError> {
                self.ticket_where("conversation_id", id.as_uuid()).await
            }

            async fn update_ticket(
                &self,
                id: TicketId,
                patch: &TicketPatch,
                now: time::OffsetDateTime,
            ) -> Result<Ticket, TicketError> {
                let sql = format!(
                    "UPDATE tickets SET \
                       status = COALESCE($2, status), \
                       category = COALESCE($3, category), \
                       category_overridden = category_overridden OR $3 IS NOT NULL, \
                       priority = COALESCE($4, priority), \
                       priority_overridden = priority_overridden OR $4 IS NOT NULL, \
                       overridden_by = CASE WHEN $3 IS NULL AND $4 IS NULL THEN overridden_by ELSE $5 END, \
                       updated_at = $6 \
                     WHERE id = $1 RETURNING {TICKET_COLUMNS}"
                );
                sqlx::query_as::<_, TicketRow>(sqlx::AssertSqlSafe(sql))
                    .bind(id.0)
                    .bind(patch.status.map(|s| s.as_str()))
                    .bind(patch.category.as_deref())
                    .bind(patch.priority.as_deref())
                    .bind(patch.by.map(|a| a.0))
                    .bind(SqlTime(now))
                    .fetch_optional(&self.writer)
                    .await
                    .map_err(ticket_backend)?
                    .ok_or(TicketError::NotFound)
                    .and_then(Ticket::try_from)
            }

            async fn record_classification(
                &self,
                id: TicketId,
                result: &AiResult,
                now: time::OffsetDateTime,
            ) -> Result<Option<Ticket>, TicketError> {
                let c = &result.classification;
                let sql = format!(
                    "UPDATE tickets SET \
                       category = CASE WHEN category_overridden THEN category ELSE $2 END, \
                       priority = CASE WHEN priority_overridden THEN priority ELSE $3 END, \
                       ai_confidence = $4, ai_status = $5, ai_source = $6, ai_reason = $7, updated_at = $8 \
                     WHERE id = $1 AND ai_status = 'pending' RETURNING {TICKET_COLUMNS}"
                );
                sqlx::query_as::<_, TicketRow>(sqlx::AssertSqlSafe(sql))
                    .bind(id.0)
                    .bind(&c.category)
                    .bind(&c.priority)
                    .bind(c.confidence)
                    .bind(result.status.as_str())
                    .bind(c.source.as_str())
                    .bind(result.reason.as_deref())
                    .bind(SqlTime(now))
                    .fetch_optional(&self.writer)
                    .await
                    .map_err(ticket_backend)?
                    .map(Ticket::try_from)
                    .transpose()
            }

            async fn claim_stale_pending(
                &self,
                stale_before: time::OffsetDateTime,
                now: time::OffsetDateTime,
                limit: usize,
            ) -> Result<Vec<TicketId>, TicketError> {
                // The outer condition is checked again on a row a concurrent
                // sweeper just claimed (PostgreSQL re-reads it), so it is skipped.
                const STALE: &str = "ai_status = 'pending' AND COALESCE(enqueued_at, created_at) < $1";
                let sql = format!(
                    "UPDATE tickets SET enqueued_at = $2 WHERE {STALE} AND id IN \
                       (SELECT id FROM tickets WHERE {STALE} ORDER BY created_at, id LIMIT $3) \
                     RETURNING id"
                );
                let rows: Vec<(uuid::Uuid,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(SqlTime(stale_before))
                    .bind(SqlTime(now))
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.writer)
                    .await
                    .map_err(ticket_backend)?;
                Ok(rows.into_iter().map(|(id,)| TicketId(id)).collect())
            }
        }
    };
}

pub(crate) use sql_tickets;
