//! The customer chat API (`/v1/chat/*`) and the seed apps' aliases.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use spur_core::conversation::{Message, Status};
use spur_core::validate::parse_session_id;
use spur_core::{Inbound, SupportEngine, Turn};

use crate::error::ApiError;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendBody {
    message: String,
    session_id: Option<String>,
    idempotency_key: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendReply {
    reply: Option<String>,
    session_id: String,
    status: Status,
    message_id: String,
    used_fallback: bool,
}

fn body(json: Result<Json<SendBody>, JsonRejection>) -> Result<SendBody, ApiError> {
    json.map(|Json(b)| b).map_err(|rejection| {
        let status = rejection.status();
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
            _ => "malformed_json",
        };
        ApiError::new(status, code, rejection.body_text())
    })
}

async fn send(engine: &SupportEngine, body: SendBody) -> Result<Turn, ApiError> {
    let session = body
        .session_id
        .as_deref()
        .map(parse_session_id)
        .transpose()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    let inbound = Inbound {
        text: body.message,
        session,
        idempotency_key: body.idempotency_key,
        ..Inbound::default()
    };
    Ok(engine.send_message(inbound).await?)
}

/// `POST /v1/chat/message`
pub async fn message(
    State(engine): State<SupportEngine>,
    json: Result<Json<SendBody>, JsonRejection>,
) -> Result<Json<SendReply>, ApiError> {
    let turn = send(&engine, body(json)?).await?;
    Ok(Json(SendReply {
        reply: turn.reply_text(),
        session_id: turn.conversation.session_id.to_string(),
        status: turn.conversation.status,
        message_id: turn.message.id.to_string(),
        used_fallback: turn.used_fallback(),
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedReply {
    reply: String,
    session_id: String,
}

/// `POST /chat/message`: exactly what the seed apps' frontends expect.
pub async fn seed_message(
    State(engine): State<SupportEngine>,
    json: Result<Json<SendBody>, JsonRejection>,
) -> Result<Json<SeedReply>, ApiError> {
    let turn = send(&engine, body(json)?).await?;
    Ok(Json(SeedReply {
        reply: turn.reply_text().unwrap_or_default(),
        session_id: turn.conversation.session_id.to_string(),
    }))
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    before: Option<i64>,
    limit: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryReply {
    session_id: String,
    messages: Vec<Message>,
    next_cursor: Option<i64>,
}

/// `GET /v1/chat/history/{sessionId}?before=&limit=`
pub async fn history(
    State(engine): State<SupportEngine>,
    Path(session): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<HistoryReply>, ApiError> {
    let session = parse_session_id(&session)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let page = engine.history(session, query.before, limit).await?;
    Ok(Json(HistoryReply {
        session_id: session.to_string(),
        messages: page.messages,
        next_cursor: page.next_before,
    }))
}
