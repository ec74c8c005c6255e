//! Canned replies: answers agents save once and insert with `/shortcut`.
//! Any agent lists and saves them; an admin or whoever saved one last
//! deletes it.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use spur_core::accounts::Role;
use spur_core::conversation::CannedReply;
use time::OffsetDateTime;

use crate::auth::AgentUser;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CannedView {
    pub shortcut: String,
    pub text: String,
    /// The account id of whoever saved it last.
    pub author: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<&CannedReply> for CannedView {
    fn from(c: &CannedReply) -> Self {
        Self {
            shortcut: c.shortcut.clone(),
            text: c.text.clone(),
            author: c.author.clone(),
            updated_at: c.updated_at,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedBody {
    #[schema(min_length = 1, max_length = 5000, pattern = r"\S")]
    pub text: String,
}

/// The saved answers, by shortcut.
#[utoipa::path(get, path = "/v1/agent/canned", tag = "agent", security(("bearer" = [])),
    responses((status = 200, body = [CannedView]), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _agent: AgentUser,
) -> Result<Json<Vec<CannedView>>, ApiError> {
    let all = state.engine.store().canned_replies().await?;
    Ok(Json(all.iter().map(CannedView::from).collect()))
}

/// Saves an answer under a shortcut (replacing the one there).
#[utoipa::path(put, path = "/v1/agent/canned/{shortcut}", tag = "agent", security(("bearer" = [])),
    params(("shortcut" = String, Path, pattern = "^[a-z0-9-]{1,32}$")), request_body = CannedBody,
    responses((status = 200, body = CannedView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn save(
    State(state): State<AppState>,
    AgentUser(agent): AgentUser,
    Path(shortcut): Path<String>,
    json: Result<Json<CannedBody>, JsonRejection>,
) -> Result<Json<CannedView>, ApiError> {
    let Json(body) = json?;
    let saved = state
        .engine
        .save_canned_reply(&shortcut, &body.text, &agent.account.id.to_string())
        .await?;
    Ok(Json(CannedView::from(&saved)))
}

/// Deletes an answer: an admin, or whoever saved it last.
#[utoipa::path(delete, path = "/v1/agent/canned/{shortcut}", tag = "agent", security(("bearer" = [])),
    params(("shortcut" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    AgentUser(agent): AgentUser,
    Path(shortcut): Path<String>,
) -> Result<StatusCode, ApiError> {
    let admin = agent.account.role == Role::Admin;
    state
        .engine
        .delete_canned_reply(&shortcut, &agent.account.id.to_string(), admin)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
