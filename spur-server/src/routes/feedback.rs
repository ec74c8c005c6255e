//! Customers rating what they were told: `POST /v1/chat/feedback` (a thumbs
//! up or down on one answer) and `POST /v1/chat/csat` (1-5 for the
//! conversation). The session id is the customer's credential; both count
//! against the chat's rate limits.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use spur_core::conversation::MessageId;
use spur_core::insight::Rating;
use spur_core::validate::parse_session_id;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Thumbs up or down.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RatingValue {
    Up,
    Down,
}

impl From<RatingValue> for Rating {
    fn from(value: RatingValue) -> Self {
        match value {
            RatingValue::Up => Rating::Up,
            RatingValue::Down => Rating::Down,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackBody {
    #[schema(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub session_id: String,
    /// The answer rated: a message of the assistant or an agent in this
    /// session's conversation (its `id`).
    #[schema(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub message_id: String,
    pub rating: RatingValue,
    /// Why (optional; up to 1,000 characters).
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CsatBody {
    #[schema(format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub session_id: String,
    /// 1 (very unhappy) to 5 (very happy).
    /// (JSON's `4.0` is 4, as JSON Schema counts it.)
    #[schema(value_type = i64, minimum = 1, maximum = 5)]
    pub score: f64,
    /// Why (optional; up to 1,000 characters).
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
}

/// Rates one answer; a second rating of the same answer replaces the first.
#[utoipa::path(post, path = "/v1/chat/feedback", tag = "chat", request_body = FeedbackBody,
    responses((status = 204, description = "recorded"),
        (status = 400, body = ErrorBody, description = "malformed ids, comment too long"),
        (status = 404, body = ErrorBody, description = "session_not_found; message_not_found: no answer with this id in the session's conversation"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn feedback(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    json: Result<Json<FeedbackBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = json?;
    let session = parse_session_id(&body.session_id)?;
    let message: MessageId = super::fields::id(&body.message_id, "message")?;
    let limit_headers = super::chat::admit(&state, peer, &headers, Some(session)).await?;
    let rating = Rating::from(body.rating);
    state
        .engine
        .rate_reply(session, message, rating, body.comment.as_deref())
        .await?;
    metrics::counter!("spur_feedback_total", "rating" => rating.as_str()).increment(1);
    Ok((limit_headers, StatusCode::NO_CONTENT).into_response())
}

/// Scores the conversation (once someone has answered in it); a second
/// score replaces the first.
#[utoipa::path(post, path = "/v1/chat/csat", tag = "chat", request_body = CsatBody,
    responses((status = 204, description = "recorded"),
        (status = 400, body = ErrorBody, description = "malformed session id, score outside 1-5, comment too long"),
        (status = 404, body = ErrorBody, description = "session_not_found"),
        (status = 409, body = ErrorBody, description = "nothing_to_rate: nobody has answered yet"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn csat(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    json: Result<Json<CsatBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = json?;
    let session = parse_session_id(&body.session_id)?;
    // A whole number within range, else the core's invalid_score.
    let score = if body.score.fract() == 0.0 && body.score.abs() < 1e6 {
        body.score as i64
    } else {
        0
    };
    let limit_headers = super::chat::admit(&state, peer, &headers, Some(session)).await?;
    state
        .engine
        .rate_conversation(session, score, body.comment.as_deref())
        .await?;
    let score = score.to_string();
    metrics::counter!("spur_csat_total", "score" => score).increment(1);
    Ok((limit_headers, StatusCode::NO_CONTENT).into_response())
}
