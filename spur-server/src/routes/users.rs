//! `/v1/users` (and the seed's `/users`): the people who file tickets.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use spur_core::tickets::{TicketError, User, UserId};
use time::OffsetDateTime;

use super::fields::{id, invalid, next_cursor, page_cursor, page_limit, required};
use crate::auth::AgentUser;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

const NAME_MAX: usize = 200;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    #[schema(example = "01964a4e-7c1d-7d2e-9a51-0d0b8ad1c001")]
    pub id: String,
    #[schema(example = "Ana Lima")]
    pub name: String,
    #[schema(example = "ana@example.com")]
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            name: u.name.clone(),
            email: u.email.clone(),
            created_at: u.created_at,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    #[schema(
        example = "Ana Lima",
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub name: String,
    #[schema(
        example = "ana@example.com",
        max_length = 254,
        pattern = "^[^@\\x00-\\x20]+@[^@\\x00-\\x20]+\\.[^@\\x00-\\x20]+$"
    )]
    pub email: String,
}

/// Adds someone who files tickets. Emails are unique (case-insensitive).
#[utoipa::path(post, path = "/v1/users", tag = "tickets", security(("bearer" = [])),
    request_body = NewUserBody,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody, description = "malformed JSON"),
        (status = 401, body = ErrorBody), (status = 409, body = ErrorBody, description = "email_taken"),
        (status = 422, body = ErrorBody, description = "invalid_field: empty name, not an email")))]
pub async fn create_user(
    State(state): State<AppState>,
    _agent: AgentUser,
    json: Result<Json<NewUserBody>, JsonRejection>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let Json(body) = json?;
    let name = required("name", &body.name, NAME_MAX)?;
    let email = required("email", &body.email, 254)?;
    if !crate::auth::valid_email(&email) {
        return Err(invalid("email is not an email address"));
    }
    let user = User::new(&name, &email, OffsetDateTime::now_utc());
    state.tickets.desk.store().create_user(&user).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

#[utoipa::path(get, path = "/v1/users/{id}", tag = "tickets", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn user(
    State(state): State<AppState>,
    _agent: AgentUser,
    Path(user_id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let user = state
        .tickets
        .desk
        .store()
        .user(id::<UserId>(&user_id, "user")?)
        .await?
        .ok_or(TicketError::NotFound)?;
    Ok(Json(UserView::from(&user)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// A `nextCursor` from the page before.
    #[param(
        pattern = "^([0-9]{1,18}\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$"
    )]
    pub cursor: Option<String>,
    /// 1 to 100 (default 25).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPage {
    pub users: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent at the end.
    pub next_cursor: Option<String>,
}

/// Users, newest first, keyset-paginated.
#[utoipa::path(get, path = "/v1/users", tag = "tickets", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn users(
    State(state): State<AppState>,
    _agent: AgentUser,
    Query(query): Query<PageQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let page = state
        .tickets
        .desk
        .store()
        .users(
            page_cursor(query.cursor.as_deref())?,
            page_limit(query.limit, 25, 100)?,
        )
        .await?;
    Ok(Json(UserPage {
        users: page.items.iter().map(UserView::from).collect(),
        next_cursor: next_cursor(page.next),
    }))
}

/// Removes a user; their tickets stay, with `createdBy` null.
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "tickets", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_user(
    State(state): State<AppState>,
    _agent: AgentUser,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user_id = id::<UserId>(&user_id, "user")?;
    state.tickets.desk.store().delete_user(user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
