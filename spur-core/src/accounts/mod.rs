//! Agent and admin accounts and their sign-ins: the storage seam the
//! hosts' authentication sits on. Password hashing and token signing are
//! the host's (spur-server uses argon2 and JWTs); the core only stores
//! hashes and session rows.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod sql;

#[cfg(any(test, feature = "test-util"))]
pub mod conformance;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// An account id (UUID v7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub Uuid);

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What an account may do. Admins can do everything agents can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Role::Agent),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A person who works the inbox (agent) or runs it (admin).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: AccountId,
    /// Stored lowercased and trimmed: one account per address.
    pub email: String,
    pub name: String,
    pub role: Role,
    /// A disabled account cannot sign in, and its tokens stop working.
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Account {
    pub fn new(email: &str, name: &str, role: Role, now: OffsetDateTime) -> Self {
        Self {
            id: AccountId(Uuid::now_v7()),
            email: normalize_email(email),
            name: name.trim().to_string(),
            role,
            disabled: false,
            created_at: now,
        }
    }
}

/// The form emails are stored and looked up in.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// One sign-in: the id a token carries, so that logout can revoke it.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthSession {
    pub id: Uuid,
    pub account_id: AccountId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

impl AuthSession {
    /// Usable now: neither expired nor revoked.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("no such account")]
    NotFound,
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("storage backend: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

/// Where accounts and sign-ins live (the SQLite and PostgreSQL stores).
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    /// Fails with [`AccountError::EmailTaken`] when the email is in use.
    async fn create_account(
        &self,
        account: &Account,
        password_hash: &str,
    ) -> Result<(), AccountError>;

    async fn account(&self, id: AccountId) -> Result<Option<Account>, AccountError>;

    /// The account and its password hash, for signing in.
    async fn credentials(&self, email: &str) -> Result<Option<(Account, String)>, AccountError>;

    /// Every account, oldest first.
    async fn accounts(&self) -> Result<Vec<Account>, AccountError>;

    /// Disabling also revokes every sign-in of the account.
    async fn set_disabled(
        &self,
        id: AccountId,
        disabled: bool,
        now: OffsetDateTime,
    ) -> Result<Account, AccountError>;

    async fn set_password(&self, id: AccountId, password_hash: &str) -> Result<(), AccountError>;

    async fn create_session(&self, session: &AuthSession) -> Result<(), AccountError>;

    /// A sign-in with its account, live or not (the caller decides).
    async fn session(&self, id: Uuid) -> Result<Option<(AuthSession, Account)>, AccountError>;

    async fn revoke_session(&self, id: Uuid, now: OffsetDateTime) -> Result<(), AccountError>;
}
