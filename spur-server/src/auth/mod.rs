//! Agent and admin sign-in: argon2 password hashes (a bounded number at a
//! time), short-lived signed tokens, each tied to a stored sign-in so that
//! logout and disabling an account take effect at once, also on open
//! feeds. Guessing is slowed per client IP and per account, across
//! instances when `REDIS_URL` is set.

mod error;
mod extract;
pub mod password;
mod token;

pub(crate) use spur_core::validate::valid_email;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use spur_core::accounts::{
    Account, AccountError, AccountId, AccountStore, AuthSession, Role, normalize_email,
};
use spur_core::clock::{Clock, SystemClock};
use time::OffsetDateTime;
use tokio::sync::OnceCell;
use uuid::Uuid;

pub use error::AuthError;
pub use extract::{AdminUser, AgentUser};
use token::Claims;
pub use token::TokenKeys;

use crate::limit::KeyedLimit;
use password::Hasher;

/// Who made a request: a signed-in, enabled account and its sign-in.
#[derive(Clone, Debug)]
pub struct Principal {
    pub account: Account,
    pub session: Uuid,
    /// When the sign-in (and its token) ends.
    pub expires_at: OffsetDateTime,
}

/// Why an open feed must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Logged out, disabled, or expired.
    Revoked,
    /// The store could not confirm the sign-in.
    Unconfirmed,
}

/// A successful sign-in.
#[derive(Debug)]
pub struct SignedIn {
    pub token: String,
    pub expires_at: OffsetDateTime,
    pub account: Account,
}

pub struct Auth {
    accounts: Arc<dyn AccountStore>,
    keys: TokenKeys,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    hasher: Hasher,
    per_ip: Option<KeyedLimit>,
    per_account: Option<KeyedLimit>,
    /// Verified against when the email is unknown, so that a miss takes as
    /// long as a wrong password.
    decoy: OnceCell<String>,
}

pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// How often an open feed checks that its sign-in still holds.
pub const FEED_RECHECK: Duration = Duration::from_millis(500);

impl Auth {
    /// `attempts_per_window`: sign-in attempts per IP, and per account, per
    /// 15 minutes (0 = off).
    pub fn new(
        accounts: Arc<dyn AccountStore>,
        keys: TokenKeys,
        ttl: Duration,
        attempts_per_window: u32,
    ) -> Self {
        Self {
            accounts,
            keys,
            ttl,
            clock: Arc::new(SystemClock),
            hasher: Hasher::for_this_machine(),
            per_ip: KeyedLimit::new(attempts_per_window, LOGIN_WINDOW),
            per_account: KeyedLimit::new(attempts_per_window, LOGIN_WINDOW),
            decoy: OnceCell::new(),
        }
    }

    /// Tests move time instead of sleeping.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Counts sign-in attempts in Redis, so every instance counts together.
    pub fn with_shared_limits(mut self, redis: &crate::redis_link::RedisLink) -> Self {
        self.per_ip = self
            .per_ip
            .map(|l| l.shared(redis.clone(), "spur:login:ip"));
        self.per_account = self
            .per_account
            .map(|l| l.shared(redis.clone(), "spur:login:account"));
        self
    }

    /// The server's clock (sign-ins, customer tokens).
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn accounts(&self) -> &dyn AccountStore {
        self.accounts.as_ref()
    }

    /// Checks the password and issues a token. Every failure looks the same
    /// to the caller (unknown email, wrong password, disabled account).
    pub async fn login(
        &self,
        ip: IpAddr,
        email: &str,
        password: &str,
    ) -> Result<SignedIn, AuthError> {
        if let Some(limit) = &self.per_ip {
            limit
                .check(&ip.to_string())
                .await
                .map_err(AuthError::TooManyAttempts)?;
        }
        // Per account too: many addresses guessing one password count together.
        if let Some(limit) = &self.per_account {
            limit
                .check(&normalize_email(email))
                .await
                .map_err(AuthError::TooManyAttempts)?;
        }
        let found = self.accounts.credentials(email).await?;
        let Some((account, stored)) = found else {
            let decoy = self
                .decoy
                .get_or_try_init(|| self.hasher.hash(Uuid::new_v4().to_string()))
                .await?;
            self.hasher
                .verify(password.to_string(), decoy.clone())
                .await?;
            return Err(AuthError::InvalidCredentials);
        };
        if !self.hasher.verify(password.to_string(), stored).await? || account.disabled {
            return Err(AuthError::InvalidCredentials);
        }
        let now = self.now();
        let expires_at = now + self.ttl;
        let session = AuthSession {
            id: Uuid::new_v4(),
            account_id: account.id,
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        self.accounts.create_session(&session).await?;
        let token = self.keys.sign(&Claims {
            sub: account.id.0,
            sid: session.id,
            role: account.role.as_str().into(),
            iat: now.unix_timestamp(),
            exp: expires_at.unix_timestamp(),
        })?;
        tracing::info!(account = %account.id, role = account.role.as_str(), "signed in");
        Ok(SignedIn {
            token,
            expires_at,
            account,
        })
    }

    /// The principal behind `Authorization: Bearer <token>`: a valid
    /// signature, not expired, its sign-in not revoked, the account enabled.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(AuthError::MissingToken)?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::InvalidToken)?;
        let claims = self
            .keys
            .verify(token, self.now())
            .map_err(|_| AuthError::InvalidToken)?;
        let (session, account) = self
            .accounts
            .session(claims.sid)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if session.account_id.0 != claims.sub || !session.is_live(self.now()) || account.disabled {
            return Err(AuthError::InvalidToken);
        }
        Ok(Principal {
            account,
            session: session.id,
            expires_at: session.expires_at,
        })
    }

    /// Whether the principal's sign-in still holds now: not expired, not
    /// logged out, the account not disabled (read from the shared store, so
    /// a revocation on any instance counts).
    pub async fn still_valid(&self, principal: &Principal) -> Result<bool, AuthError> {
        if self.now() >= principal.expires_at {
            return Ok(false);
        }
        Ok(matches!(
            self.accounts.session(principal.session).await?,
            Some((session, account)) if session.is_live(self.now()) && !account.disabled
        ))
    }

    /// Resolves when the principal's sign-in ends (checked every
    /// [`FEED_RECHECK`]): what ends an open feed.
    pub async fn ended(&self, principal: &Principal) -> Ended {
        let mut tick = tokio::time::interval(FEED_RECHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.still_valid(principal).await {
                Ok(true) => {}
                Ok(false) => return Ended::Revoked,
                Err(error) => {
                    tracing::warn!(%error, "could not confirm a feed's sign-in; ending the feed");
                    return Ended::Unconfirmed;
                }
            }
        }
    }

    /// Revokes the sign-in behind the principal's token.
    pub async fn logout(&self, principal: &Principal) -> Result<(), AuthError> {
        self.accounts
            .revoke_session(principal.session, self.now())
            .await?;
        Ok(())
    }

    pub async fn create_account(
        &self,
        email: &str,
        name: &str,
        password: &str,
        role: Role,
    ) -> Result<Account, AuthError> {
        let email = normalize_email(email);
        if !valid_email(&email) {
            return Err(AuthError::InvalidEmail);
        }
        check_password(password)?;
        let name = if name.trim().is_empty() {
            email.split('@').next().unwrap_or_default()
        } else {
            name
        };
        let account = Account::new(&email, name, role, self.now());
        let hash = self.hasher.hash(password.to_string()).await?;
        self.accounts.create_account(&account, &hash).await?;
        Ok(account)
    }

    /// The seed's admin: created, or given this password and the admin role
    /// back if the email exists.
    pub async fn ensure_admin(&self, email: &str, password: &str) -> Result<Account, AuthError> {
        match self.accounts.credentials(email).await? {
            None => {
                self.create_account(email, "Admin", password, Role::Admin)
                    .await
            }
            Some((account, _)) => {
                check_password(password)?;
                if account.role != Role::Admin {
                    return Err(AuthError::NotAdmin);
                }
                let hash = self.hasher.hash(password.to_string()).await?;
                self.accounts.set_password(account.id, &hash).await?;
                let now = self.now();
                Ok(self.accounts.set_disabled(account.id, false, now).await?)
            }
        }
    }

    pub async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<Account, AuthError> {
        match self.accounts.set_disabled(id, disabled, self.now()).await {
            Err(AccountError::NotFound) => Err(AuthError::NoSuchAccount),
            other => Ok(other?),
        }
    }

    /// Forgets keys whose attempts are whole again (call periodically).
    pub fn retain_recent(&self) {
        for limit in [&self.per_ip, &self.per_account].into_iter().flatten() {
            limit.retain_recent();
        }
    }
}

fn check_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < password::MIN_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword);
    }
    Ok(())
}
