//! `/v1/admin/*`: admins manage agent accounts.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use spur_core::accounts::{Account, AccountId, Role};
use spur_core::conversation::ConversationId;
use spur_core::store::{ReplyCursor, ReplyFilter};

use crate::auth::AdminUser;
use crate::cursor;
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
    #[schema(
        example = "sam@shop.example",
        max_length = 254,
        pattern = "^[^@\\x00-\\x20]+@[^@\\x00-\\x20]+\\.[^@\\x00-\\x20]+$"
    )]
    pub email: String,
    #[serde(default)]
    pub name: String,
    /// At least 8 characters.
    #[schema(min_length = 8)]
    pub password: String,
    /// `agent` (default) or `admin`.
    #[serde(default)]
    #[schema(pattern = "^(agent|admin)$")]
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
    params(("id" = uuid::Uuid, Path)), request_body = AgentPatch,
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Only this conversation (its totals are the conversation's).
    #[param(format = Uuid, pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$")]
    pub conversation: Option<String>,
    /// RFC 3339 (`2026-11-28T09:00:00Z`); created at or after.
    #[param(
        pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
    )]
    pub since: Option<String>,
    /// RFC 3339; created before.
    #[param(
        pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
    )]
    pub until: Option<String>,
    /// Only fallbacks (failed or timed-out calls).
    pub fallbacks: Option<bool>,
    /// A `nextCursor` from the page before.
    #[param(
        pattern = "^([0-9]{1,18}\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$"
    )]
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
}

/// One assistant reply: an LLM call or an offline answer.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub id: String,
    pub conversation_id: String,
    /// The customer message it answers.
    pub reply_to: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub latency_ms: Option<u64>,
    pub tokens_in: Option<u32>,
    pub tokens_out: Option<u32>,
    pub used_fallback: bool,
    pub error_code: Option<String>,
    /// Knowledge articles given to the provider.
    pub passages: Vec<String>,
    /// The tools called on the way to this reply, in order.
    pub tools: Vec<LogToolCall>,
    pub text: String,
}

/// One tool call behind a reply.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogToolCall {
    pub tool: String,
    /// As the model sent them (an object; text when they were not JSON);
    /// the tool's secret fields read `[redacted]`.
    pub arguments: serde_json::Value,
    /// `ok`, `invalid_arguments`, `unknown_tool`, `not_allowed`, `timeout`, `too_large` or `failed`.
    pub outcome: String,
    /// The start of the result, or the error.
    pub summary: String,
    pub latency_ms: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogTotals {
    pub replies: i64,
    pub fallbacks: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    /// From LLM_PRICE_INPUT_PER_MTOK / LLM_PRICE_OUTPUT_PER_MTOK; null when not configured.
    pub cost_usd: Option<f64>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogPage {
    pub entries: Vec<LogEntry>,
    pub next_cursor: Option<String>,
    /// Over everything the filter selects, not just this page.
    pub totals: LogTotals,
}

fn instant(text: Option<&str>, name: &str) -> Result<Option<time::OffsetDateTime>, ApiError> {
    text.map(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|_| ApiError::invalid_query(&format!("{name} must be an RFC 3339 time")))
    })
    .transpose()
}

/// What the assistant did and why: every reply with its provider, model,
/// latency, tokens, fallback and error, and the passages it was given;
/// newest first, with totals (and cost, when prices are configured).
#[utoipa::path(get, path = "/v1/admin/logs", tag = "admin", security(("bearer" = [])),
    params(LogQuery),
    responses((status = 200, body = LogPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn logs(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(query): Query<LogQuery>,
) -> Result<Json<LogPage>, ApiError> {
    let conversation = match query.conversation.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => Some(
            text.parse::<ConversationId>()
                .map_err(|_| ApiError::invalid_query("conversation must be a conversation id"))?,
        ),
        None => None,
    };
    let filter = ReplyFilter {
        conversation,
        since: instant(query.since.as_deref(), "since")?,
        until: instant(query.until.as_deref(), "until")?,
        fallbacks_only: query.fallbacks.unwrap_or(false),
    };
    let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => Some(
            cursor::decode(text)
                .map(|(created_at, id)| ReplyCursor { created_at, id })
                .ok_or_else(|| ApiError::invalid_query("malformed cursor"))?,
        ),
        None => None,
    };
    let limit = super::fields::page_limit(query.limit, 50, 200)?;
    let store = state.engine.store();
    let page = store.replies(&filter, cursor.as_ref(), limit).await?;
    let totals = store.reply_totals(&filter).await?;
    let cost_usd = state.prices.map(|(input, output)| {
        (totals.tokens_in as f64 * input + totals.tokens_out as f64 * output) / 1e6
    });
    Ok(Json(LogPage {
        entries: page
            .replies
            .into_iter()
            .map(|m| LogEntry {
                id: m.id.to_string(),
                conversation_id: m.conversation_id.to_string(),
                reply_to: m.reply_to.map(|r| r.to_string()),
                created_at: m.created_at,
                provider: m.meta.provider,
                model: m.meta.model,
                latency_ms: m.meta.latency_ms,
                tokens_in: m.meta.tokens_in,
                tokens_out: m.meta.tokens_out,
                used_fallback: m.meta.used_fallback,
                error_code: m.meta.error_code,
                passages: m.meta.passages,
                tools: m
                    .meta
                    .tools
                    .into_iter()
                    .map(|t| LogToolCall {
                        tool: t.tool,
                        arguments: t.arguments,
                        outcome: t.outcome,
                        summary: t.summary,
                        latency_ms: t.latency_ms,
                    })
                    .collect(),
                text: m.text,
            })
            .collect(),
        next_cursor: page
            .next
            .as_ref()
            .map(|c| cursor::encode(c.created_at, c.id)),
        totals: LogTotals {
            replies: totals.replies,
            fallbacks: totals.fallbacks,
            tokens_in: totals.tokens_in,
            tokens_out: totals.tokens_out,
            cost_usd,
        },
    }))
}
