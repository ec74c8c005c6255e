//! `/v1/admin/*`: admins manage agent accounts.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use spur_core::accounts::{Account, AccountId, Role};

use crate::auth::AdminUser;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// An account as admins and the account's owner see it (never the hash).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub id: String,
    pub email: String,
    pub name: String,
    /// `agent` or `admin`.
    pub role: String,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.to_string(),
            email: a.email.clone(),
            name: a.name.clone(),
            role: a.role.as_str().into(),
            disabled: a.disabled,
            created_at: a.created_at,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgentBody {
    #[schema(example = "sam@shop.example")]
    pub email: String,
    #[serde(default)]
    pub name: String,
    /// At least 8 characters.
    pub password: String,
    /// `agent` (default) or `admin`.
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentPatch {
    /// Disabling signs the account out everywhere.
    pub disabled: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountView>,
}

/// Every agent and admin account, oldest first.
#[utoipa::path(get, path = "/v1/admin/agents", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AccountList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_agents(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<AccountList>, ApiError> {
    let accounts = state
        .auth
        .accounts()
        .accounts()
        .await
        .map_err(crate::auth::AuthError::from)?;
    Ok(Json(AccountList {
        accounts: accounts.iter().map(AccountView::from).collect(),
    }))
}

/// Creates an agent (or another admin).
#[utoipa::path(post, path = "/v1/admin/agents", tag = "admin", security(("bearer" = [])),
    request_body = NewAgentBody,
    responses((status = 201, body = AccountView),
        (status = 400, body = ErrorBody, description = "invalid email, short password, unknown role"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the email is taken")))]
pub async fn create_agent(
    State(state): State<AppState>,
    _admin: AdminUser,
    json: Result<Json<NewAgentBody>, JsonRejection>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let Json(body) = json?;
    let role = match body.role.as_deref() {
        None => Role::Agent,
        Some(name) => Role::parse(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_role",
                "role must be agent or admin",
            )
        })?,
    };
    let account = state
        .auth
        .create_account(&body.email, &body.name, &body.password, role)
        .await?;
    tracing::info!(account = %account.id, role = role.as_str(), "account created");
    Ok((StatusCode::CREATED, Json(AccountView::from(&account))))
}

/// Disables (signing out everywhere) or enables an account.
#[utoipa::path(patch, path = "/v1/admin/agents/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AgentPatch,
    responses((status = 200, body = AccountView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "an admin cannot disable themself")))]
pub async fn update_agent(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    json: Result<Json<AgentPatch>, JsonRejection>,
) -> Result<Json<AccountView>, ApiError> {
    let Json(body) = json?;
    let id = id
        .trim()
        .parse::<uuid::Uuid>()
        .map(AccountId)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", "not an account id"))?;
    if id == admin.account.id && body.disabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cannot_disable_self",
            "an admin cannot disable their own account",
        ));
    }
    let account = state.auth.set_disabled(id, body.disabled).await?;
    tracing::info!(account = %account.id, disabled = account.disabled, "account updated");
    Ok(Json(AccountView::from(&account)))
}
