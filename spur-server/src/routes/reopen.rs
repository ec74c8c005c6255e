//! An admin takes a closed conversation up again (to follow up with the
//! customer); agents wait for the customer to write.

use axum::Json;
use axum::extract::{Path, State};

use super::agent::{ConversationSummary, conversation_id};
use crate::auth::AdminUser;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Reopens a closed conversation, held by the admin who reopened it.
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/reopen", tag = "agent", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ConversationSummary), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "not an admin"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not closed (invalid_state)")))]
pub async fn reopen(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<ConversationSummary>, ApiError> {
    let conversation = state
        .engine
        .reopen(conversation_id(&id)?, &admin.account.id.to_string())
        .await?;
    Ok(Json(ConversationSummary::from(&conversation)))
}
