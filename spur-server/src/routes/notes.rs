//! Agents' internal notes on a conversation: any agent writes one; only
//! agents read them (the conversation detail lists them). They live in
//! their own table, never among the messages a customer or a prompt sees.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use spur_core::conversation::Note;
use time::OffsetDateTime;

use super::agent::{ReplyBody, conversation_id};
use crate::auth::AgentUser;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// An agent's internal note, as agents see it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoteView {
    pub id: String,
    /// The writing agent's account id.
    pub author: String,
    pub author_name: String,
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<&Note> for NoteView {
    fn from(n: &Note) -> Self {
        Self {
            id: n.id.to_string(),
            author: n.author.clone(),
            author_name: n.author_name.clone(),
            text: n.text.clone(),
            created_at: n.created_at,
        }
    }
}

/// Any agent adds an internal note to a conversation (any state): for
/// agents only, never shown to the customer, never in a prompt.
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/notes", tag = "agent", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = ReplyBody,
    responses((status = 201, body = NoteView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_note(
    State(state): State<AppState>,
    AgentUser(agent): AgentUser,
    Path(id): Path<String>,
    json: Result<Json<ReplyBody>, JsonRejection>,
) -> Result<(StatusCode, Json<NoteView>), ApiError> {
    let Json(body) = json?;
    let note = state
        .engine
        .add_note(
            conversation_id(&id)?,
            &agent.account.id.to_string(),
            &agent.account.name,
            &body.text,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(NoteView::from(&note))))
}
