//! Agent and admin sign-in: argon2 password hashes, short-lived signed
//! tokens, each tied to a stored sign-in so that logout and disabling an
//! account take effect at once. Failed guessing is slowed per client IP.

mod error;
mod extract;
pub mod password;
mod token;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use spur_core::accounts::{
    Account, AccountError, AccountId, AccountStore, AuthSession, Role, normalize_email,
};
use time::OffsetDateTime;
use tokio::sync::OnceCell;
use uuid::Uuid;

pub use error::AuthError;
pub use extract::{AdminUser, AgentUser};
use token::Claims;
pub use token::TokenKeys;

/// Who made a request: a signed-in, enabled account and its sign-in.
#[derive(Clone, Debug)]
pub struct Principal {
    pub account: Account,
    pub session: Uuid,
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
    attempts: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Verified against when the email is unknown, so that a miss takes as
    /// long as a wrong password.
    decoy: OnceCell<String>,
}

const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

impl Auth {
    /// `attempts_per_window`: sign-in attempts per IP per 15 minutes (0 = off).
    pub fn new(
        accounts: Arc<dyn AccountStore>,
        keys: TokenKeys,
        ttl: Duration,
        attempts_per_window: u32,
    ) -> Self {
        let attempts = NonZeroU32::new(attempts_per_window).and_then(|burst| {
            Quota::with_period(LOGIN_WINDOW / burst.get())
                .map(|q| RateLimiter::keyed(q.allow_burst(burst)))
        });
        Self {
            accounts,
            keys,
            ttl,
            attempts,
            decoy: OnceCell::new(),
        }
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
        if let Some(limiter) = &self.attempts
            && let Err(not_until) = limiter.check_key(&ip)
        {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(AuthError::TooManyAttempts(wait));
        }
        let found = self.accounts.credentials(email).await?;
        let Some((account, stored)) = found else {
            let decoy = self
                .decoy
                .get_or_try_init(|| password::hash(Uuid::new_v4().to_string()))
                .await?;
            password::verify(password.to_string(), decoy.clone()).await;
            return Err(AuthError::InvalidCredentials);
        };
        if !password::verify(password.to_string(), stored).await || account.disabled {
            return Err(AuthError::InvalidCredentials);
        }
        let now = OffsetDateTime::now_utc();
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
            .verify(token)
            .map_err(|_| AuthError::InvalidToken)?;
        let (session, account) = self
            .accounts
            .session(claims.sid)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if session.account_id.0 != claims.sub
            || !session.is_live(OffsetDateTime::now_utc())
            || account.disabled
        {
            return Err(AuthError::InvalidToken);
        }
        Ok(Principal {
            account,
            session: session.id,
        })
    }

    /// Revokes the sign-in behind the principal's token.
    pub async fn logout(&self, principal: &Principal) -> Result<(), AuthError> {
        self.accounts
            .revoke_session(principal.session, OffsetDateTime::now_utc())
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
        let account = Account::new(&email, name, role, OffsetDateTime::now_utc());
        let hash = password::hash(password.to_string()).await?;
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
                let hash = password::hash(password.to_string()).await?;
                self.accounts.set_password(account.id, &hash).await?;
                let now = OffsetDateTime::now_utc();
                Ok(self.accounts.set_disabled(account.id, false, now).await?)
            }
        }
    }

    pub async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<Account, AuthError> {
        match self
            .accounts
            .set_disabled(id, disabled, OffsetDateTime::now_utc())
            .await
        {
            Err(AccountError::NotFound) => Err(AuthError::NoSuchAccount),
            other => Ok(other?),
        }
    }

    /// Forgets IPs whose attempts are whole again (call periodically).
    pub fn retain_recent(&self) {
        if let Some(limiter) = &self.attempts {
            limiter.retain_recent();
        }
    }
}

/// One `@` with something before it, a dot in the domain, no spaces, at
/// most 254 characters (agent accounts and ticket users alike).
pub(crate) fn valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(user), Some(domain), None)
            if !user.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
    ) && email.len() <= 254
}

fn check_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < password::MIN_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword);
    }
    Ok(())
}
