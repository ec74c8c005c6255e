//! Handing a conversation to a colleague, and the colleagues to pick from.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::agent::{ConversationSummary, conversation_id};
use crate::auth::AgentUser;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// A colleague a conversation can be handed to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Colleague {
    pub id: String,
    pub name: String,
}

/// The enabled agents and admins, by name: whom a conversation can go to.
#[utoipa::path(get, path = "/v1/agent/agents", tag = "agent", security(("bearer" = [])),
    responses((status = 200, body = [Colleague]), (status = 401, body = ErrorBody)))]
pub async fn colleagues(
    State(state): State<AppState>,
    _agent: AgentUser,
) -> Result<Json<Vec<Colleague>>, ApiError> {
    let mut accounts = state
        .auth
        .accounts()
        .accounts()
        .await
        .map_err(crate::auth::AuthError::from)?;
    accounts.retain(|a| !a.disabled);
    accounts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(
        accounts
            .into_iter()
            .map(|a| Colleague {
                id: a.id.to_string(),
                name: a.name,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssignBody {
    /// The account to hand the conversation to (see `GET /v1/agent/agents`).
    #[schema(format = Uuid)]
    pub agent_id: String,
}

/// Hands the conversation to a colleague: its owner may, or an admin.
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/assign", tag = "agent", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = AssignBody,
    responses((status = 200, body = ConversationSummary), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such conversation, or no such enabled agent"),
        (status = 409, body = ErrorBody, description = "held by someone else, not claimed, or closed")))]
pub async fn assign(
    State(state): State<AppState>,
    AgentUser(agent): AgentUser,
    Path(id): Path<String>,
    json: Result<Json<AssignBody>, JsonRejection>,
) -> Result<Json<ConversationSummary>, ApiError> {
    let Json(body) = json?;
    let id = conversation_id(&id)?;
    let to = body
        .agent_id
        .parse::<uuid::Uuid>()
        .map(spur_core::accounts::AccountId)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", "not an account id"))?;
    let target = state
        .auth
        .accounts()
        .account(to)
        .await
        .map_err(crate::auth::AuthError::from)?
        .filter(|a| !a.disabled)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "agent_not_found",
                "no enabled agent has this id",
            )
        })?;
    let conversation = state
        .engine
        .reassign(
            id,
            &agent.account.id.to_string(),
            agent.account.role == spur_core::accounts::Role::Admin,
            &target.id.to_string(),
        )
        .await?;
    Ok(Json(ConversationSummary::from(&conversation)))
}
