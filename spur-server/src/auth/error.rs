use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use spur_core::accounts::AccountError;

use super::password::HashError;
use crate::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("sign in first: no bearer token")]
    MissingToken,
    #[error("the token is malformed, expired or revoked; sign in again")]
    InvalidToken,
    #[error("this needs the {0} role")]
    Forbidden(&'static str),
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("too many sign-in attempts; try again later")]
    TooManyAttempts(Duration),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("not a valid email address")]
    InvalidEmail,
    #[error(
        "passwords need at least {} characters",
        super::password::MIN_PASSWORD_CHARS
    )]
    WeakPassword,
    #[error("no such account")]
    NoSuchAccount,
    #[error("the account exists and is not an admin")]
    NotAdmin,
    #[error(transparent)]
    Storage(AccountError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("token signing: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

impl From<AccountError> for AuthError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::EmailTaken => AuthError::EmailTaken,
            AccountError::NotFound => AuthError::NoSuchAccount,
            other => AuthError::Storage(other),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let message = error.to_string();
        let (status, code) = match &error {
            AuthError::MissingToken => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            AuthError::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
            AuthError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            AuthError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AuthError::TooManyAttempts(wait) => {
                let mut headers = HeaderMap::new();
                let secs = wait.as_secs().max(1);
                headers.insert("retry-after", HeaderValue::from(secs));
                return ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
                    .with_headers(headers);
            }
            AuthError::EmailTaken => (StatusCode::CONFLICT, "email_taken"),
            AuthError::InvalidEmail => (StatusCode::BAD_REQUEST, "invalid_email"),
            AuthError::WeakPassword => (StatusCode::BAD_REQUEST, "weak_password"),
            AuthError::NoSuchAccount => (StatusCode::NOT_FOUND, "account_not_found"),
            AuthError::NotAdmin => (StatusCode::CONFLICT, "not_admin"),
            AuthError::Hash(HashError::Busy) => {
                let mut headers = HeaderMap::new();
                headers.insert("retry-after", HeaderValue::from(1));
                return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
                    .with_headers(headers);
            }
            AuthError::Storage(_) | AuthError::Hash(_) | AuthError::Signing(_) => {
                tracing::error!(%error, "authentication backend failure");
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "storage is unavailable, try again",
                );
            }
        };
        ApiError::new(status, code, message)
    }
}
