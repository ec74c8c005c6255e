//! `POST /v1/classify`: a classification without storing anything.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::fields::required;
use crate::auth::AgentUser;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

const CLASSIFY_MAX: usize = 10_000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifyBody {
    #[schema(
        example = "The app crashes every time I open my invoices",
        min_length = 1,
        max_length = 10000,
        pattern = r"\S"
    )]
    pub text: String,
}

/// Classifies text without storing anything. Limited per agent
/// (`CLASSIFY_RATE_LIMIT` per minute).
#[utoipa::path(post, path = "/v1/classify", tag = "tickets", security(("bearer" = [])),
    request_body = ClassifyBody,
    responses((status = 200, description = "the classification", body = Object,
            example = json!({"category": "technical", "priority": "medium", "confidence": 0.71, "source": "local"})),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn classify(
    State(state): State<AppState>,
    AgentUser(agent): AgentUser,
    json: Result<Json<ClassifyBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    if let Some(limiter) = &state.tickets.classify_limiter
        && let Err(wait) = limiter.check(&agent.account.id.to_string()).await
    {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "retry-after",
            axum::http::HeaderValue::from(wait.as_secs().max(1)),
        );
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many classifications; try again in {} s",
                wait.as_secs().max(1)
            ),
        )
        .with_headers(headers));
    }
    let Json(body) = json?;
    let text = required("text", &body.text, CLASSIFY_MAX)?;
    let c = state.tickets.desk.classify_text(&text).await;
    Ok(Json(json!({
        "category": c.category,
        "priority": c.priority,
        "confidence": c.confidence,
        "source": c.source.as_str(),
    })))
}
