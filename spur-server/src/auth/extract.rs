//! Handler arguments that admit only signed-in agents (or admins) and only
//! admins: 401 without a valid token, 403 with the wrong role.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use spur_core::accounts::Role;

use super::{AuthError, Principal};
use crate::error::ApiError;
use crate::state::AppState;

/// An agent or an admin (admins can do what agents do).
#[derive(Clone, Debug)]
pub struct AgentUser(pub Principal);

/// An admin.
#[derive(Clone, Debug)]
pub struct AdminUser(pub Principal);

impl FromRequestParts<AppState> for AgentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(state.auth.authenticate(&parts.headers).await?))
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = state.auth.authenticate(&parts.headers).await?;
        if principal.account.role != Role::Admin {
            return Err(AuthError::Forbidden("admin").into());
        }
        Ok(Self(principal))
    }
}
