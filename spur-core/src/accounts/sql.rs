//! Accounts in SQL: rows, conversions and one SQL text for SQLite and
//! PostgreSQL, instantiated per backend by [`sql_accounts!`].

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Account, AccountError, AccountId, AuthSession, Role};

pub(crate) fn backend(error: sqlx::Error) -> AccountError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => AccountError::EmailTaken,
        _ => AccountError::Backend(Box::new(error)),
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    id: Uuid,
    email: String,
    name: String,
    role: String,
    disabled: bool,
    created_at: OffsetDateTime,
}

impl TryFrom<AccountRow> for Account {
    type Error = AccountError;

    fn try_from(row: AccountRow) -> Result<Self, AccountError> {
        Ok(Account {
            id: AccountId(row.id),
            role: Role::parse(&row.role)
                .ok_or_else(|| AccountError::Corrupt(format!("role {:?}", row.role)))?,
            email: row.email,
            name: row.name,
            disabled: row.disabled,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialsRow {
    #[sqlx(flatten)]
    pub account: AccountRow,
    pub password_hash: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    session_id: Uuid,
    session_created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    revoked_at: Option<OffsetDateTime>,
    #[sqlx(flatten)]
    account: AccountRow,
}

impl TryFrom<SessionRow> for (AuthSession, Account) {
    type Error = AccountError;

    fn try_from(row: SessionRow) -> Result<Self, AccountError> {
        let account = Account::try_from(row.account)?;
        Ok((
            AuthSession {
                id: row.session_id,
                account_id: account.id,
                created_at: row.session_created_at,
                expires_at: row.expires_at,
                revoked_at: row.revoked_at,
            },
            account,
        ))
    }
}

pub(crate) const ACCOUNT_COLUMNS: &str = "id, email, name, role, disabled, created_at";

pub(crate) const SESSION_WITH_ACCOUNT: &str = "SELECT s.id AS session_id, s.created_at AS session_created_at, \
     s.expires_at, s.revoked_at, a.id, a.email, a.name, a.role, a.disabled, a.created_at \
     FROM auth_sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id = $1";

/// Implements [`crate::accounts::AccountStore`] for a sqlx-backed store.
macro_rules! sql_accounts {
    ($store:ident) => {
        use $crate::accounts::sql::{
            backend as account_backend, AccountRow, CredentialsRow, SessionRow, ACCOUNT_COLUMNS,
            SESSION_WITH_ACCOUNT,
        };
        use $crate::accounts::{Account, AccountError, AccountId, AccountStore, AuthSession};

        #[async_trait::async_trait]
        impl AccountStore for $store {
            async fn create_account(
                &self,
                account: &Account,
                password_hash: &str,
            ) -> Result<(), AccountError> {
                sqlx::query(
                    "INSERT INTO accounts (id, email, name, role, password_hash, disabled, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(account.id.0)
                .bind(&account.email)
                .bind(&account.name)
                .bind(account.role.as_str())
                .bind(password_hash)
                .bind(account.disabled)
                .bind($crate::store::sql::SqlTime(account.created_at))
                .execute(&self.writer)
                .await
                .map_err(account_backend)?;
                Ok(())
            }

            async fn account(&self, id: AccountId) -> Result<Option<Account>, AccountError> {
                let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
                sqlx::query_as::<_, AccountRow>(sqlx::AssertSqlSafe(sql))
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(account_backend)?
                    .map(Account::try_from)
                    .transpose()
            }

            async fn credentials(
                &self,
                email: &str,
            ) -> Result<Option<(Account, String)>, AccountError> {
                let sql =
                    format!("SELECT {ACCOUNT_COLUMNS}, password_hash FROM accounts WHERE email = $1");
                sqlx::query_as::<_, CredentialsRow>(sqlx::AssertSqlSafe(sql))
                    .bind($crate::accounts::normalize_email(email))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(account_backend)?
                    .map(|row| Ok((Account::try_from(row.account)?, row.password_hash)))
                    .transpose()
            }

            async fn accounts(&self) -> Result<Vec<Account>, AccountError> {
                let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, id");
                sqlx::query_as::<_, AccountRow>(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(account_backend)?
                    .into_iter()
                    .map(Account::try_from)
                    .collect()
            }

            async fn set_disabled(
                &self,
                id: AccountId,
                disabled: bool,
                now: time::OffsetDateTime,
            ) -> Result<Account, AccountError> {
                let mut tx = self.writer.begin().await.map_err(account_backend)?;
                let sql = format!(
                    "UPDATE accounts SET disabled = $1 WHERE id = $2 RETURNING {ACCOUNT_COLUMNS}"
                );
                let row = sqlx::query_as::<_, AccountRow>(sqlx::AssertSqlSafe(sql))
                    .bind(disabled)
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(account_backend)?
                    .ok_or(AccountError::NotFound)?;
                if disabled {
                    sqlx::query(
                        "UPDATE auth_sessions SET revoked_at = $1 \
                         WHERE account_id = $2 AND revoked_at IS NULL",
                    )
                    .bind($crate::store::sql::SqlTime(now))
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(account_backend)?;
                }
                tx.commit().await.map_err(account_backend)?;
                Account::try_from(row)
            }

            async fn set_password(
                &self,
                id: AccountId,
                password_hash: &str,
            ) -> Result<(), AccountError> {
                let done = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(id.0)
                    .execute(&self.writer)
                    .await
                    .map_err(account_backend)?;
                if done.rows_affected() == 0 {
                    return Err(AccountError::NotFound);
                }
                Ok(())
            }

            async fn create_session(&self, session: &AuthSession) -> Result<(), AccountError> {
                sqlx::query(
                    "INSERT INTO auth_sessions (id, account_id, created_at, expires_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(session.id)
                .bind(session.account_id.0)
                .bind($crate::store::sql::SqlTime(session.created_at))
                .bind($crate::store::sql::SqlTime(session.expires_at))
                .bind(session.revoked_at.map($crate::store::sql::SqlTime))
                .execute(&self.writer)
                .await
                .map_err(account_backend)?;
                Ok(())
            }

            async fn session(
                &self,
                id: uuid::Uuid,
            ) -> Result<Option<(AuthSession, Account)>, AccountError> {
                sqlx::query_as::<_, SessionRow>(SESSION_WITH_ACCOUNT)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(account_backend)?
                    .map(<(AuthSession, Account)>::try_from)
                    .transpose()
            }

            async fn revoke_session(
                &self,
                id: uuid::Uuid,
                now: time::OffsetDateTime,
            ) -> Result<(), AccountError> {
                sqlx::query(
                    "UPDATE auth_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind($crate::store::sql::SqlTime(now))
                .bind(id)
                .execute(&self.writer)
                .await
                .map_err(account_backend)?;
                Ok(())
            }
        }
    };
}

pub(crate) use sql_accounts;
