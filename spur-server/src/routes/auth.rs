//! `/v1/auth/*`: agents and admins sign in for a short-lived bearer token,
//! and sign out (the token is revoked at once).

use std::net::SocketAddr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::admin::AccountView;
use crate::auth::AgentUser;
use crate::client_ip::client_ip;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[schema(example = "agent@shop.example")]
    pub email: String,
    pub password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginReply {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: time::OffsetDateTime,
    /// `agent` or `admin`.
    pub role: String,
    pub account: AccountView,
}

/// Signs in. Failed attempts are limited per client IP.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = LoginReply),
        (status = 401, body = ErrorBody, description = "wrong email or password, or a disabled account"),
        (status = 429, body = ErrorBody, description = "too many attempts from this address; see Retry-After")))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    json: Result<Json<LoginBody>, JsonRejection>,
) -> Result<Json<LoginReply>, ApiError> {
    let Json(body) = json?;
    let ip = client_ip(peer.ip(), &headers, &state.http.trusted_proxies);
    let signed = state.auth.login(ip, &body.email, &body.password).await?;
    Ok(Json(LoginReply {
        token: signed.token,
        expires_at: signed.expires_at,
        role: signed.account.role.as_str().into(),
        account: AccountView::from(&signed.account),
    }))
}

/// Revokes the token this request carries.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    AgentUser(principal): AgentUser,
) -> Result<StatusCode, ApiError> {
    state.auth.logout(&principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(get, path = "/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody)))]
pub async fn me(AgentUser(principal): AgentUser) -> Json<AccountView> {
    Json(AccountView::from(&principal.account))
}
