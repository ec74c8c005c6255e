//! The customer chat API (`/v1/chat/*`) and the seed apps' aliases.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use spur_core::conversation::SessionId;
use spur_core::validate::parse_session_id;
use spur_core::{Inbound, StreamEvent};

use crate::client_ip::client_ip;
use crate::error::{ApiError, ErrorBody};
use crate::limit::Decision;
use crate::metrics;
use crate::state::AppState;
use crate::views::{
    ChatConfig, EmailBody, HistoryReply, MessageView, SeedReply, SendBody, SendReply, SessionBody,
    StatusReply,
};

/// The request's session, if it names one (malformed is 400).
fn session(text: Option<&str>) -> Result<Option<SessionId>, ApiError> {
    // Empty is absent, like every optional id in this API.
    Ok(text
        .filter(|t| !t.is_empty())
        .map(parse_session_id)
        .transpose()?)
}

/// Checks the rate limits; the decision's headers go on the response.
/// A limiter that cannot answer lets the request through (and says so).
pub(super) async fn admit(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    session: Option<SessionId>,
) -> Result<HeaderMap, ApiError> {
    let ip = client_ip(peer.ip(), headers, &state.http.trusted_proxies);
    match state.limiter.check(ip, session).await {
        Ok(Some(decision)) if !decision.allowed => {
            metrics::rate_limited(decision.rule.as_str());
            Err(ApiError::rate_limited(&decision))
        }
        Ok(decision) => Ok(decision.as_ref().map(Decision::headers).unwrap_or_default()),
        Err(error) => {
            tracing::error!(%error, "rate limiter unavailable; letting the request through");
            metrics::rate_limit_backend_error();
            Ok(HeaderMap::new())
        }
    }
}

/// Parses, limits and builds the engine's input for one customer message.
async fn intake(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    json: Result<Json<SendBody>, JsonRejection>,
) -> Result<(Inbound, HeaderMap), ApiError> {
    let Json(body) = json?;
    let session = session(body.session_id.as_deref())?;
    // Cheap checks first, so refused input costs no limiter round trip.
    state.engine.config().limits.check(&body.message)?;
    let verified_customer = crate::identity::verified(
        state.http.identity_secret.as_ref(),
        crate::identity::Credentials {
            id: body.customer_id.as_deref(),
            hash: body.customer_hash.as_deref(),
            token: body.customer_token.as_deref(),
        },
        state.auth.now(),
    )?;
    let limit_headers = admit(state, peer, headers, session).await?;
    let inbound = Inbound {
        text: body.message,
        session,
        idempotency_key: body.idempotency_key,
        verified_customer,
        ..Inbound::default()
    };
    Ok((inbound, limit_headers))
}

/// Sends one customer message and waits for the whole reply.
#[utoipa::path(post, path = "/v1/chat/message", tag = "chat", request_body = SendBody,
    responses(
        (status = 200, body = SendReply),
        (status = 400, body = ErrorBody, description = "empty or too long message, malformed session id"),
        (status = 404, body = ErrorBody, description = "unknown session"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "invalid_identity: customerHash does not verify customerId, or customerToken does not verify or has expired"),
        (status = 403, body = ErrorBody, description = "other_customer: the conversation belongs to another verified customer"),
        (status = 409, body = ErrorBody, description = "idempotency_mismatch: the key was used with other words"),
        (status = 429, body = ErrorBody, description = "rate limited; see RateLimit-* and Retry-After"),
        (status = 503, body = ErrorBody),
    ))]
pub async fn message(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    json: Result<Json<SendBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (inbound, limit_headers) = intake(&state, peer, &headers, json).await?;
    let turn = state.engine.send_message(inbound).await?;
    Ok((limit_headers, Json(SendReply::from(&turn))).into_response())
}

/// `POST /chat/message`: exactly what the seed apps' frontends send and expect.
#[utoipa::path(post, path = "/chat/message", tag = "seed", request_body = SendBody,
    responses((status = 200, body = SeedReply), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "invalid_identity"),
        (status = 403, body = ErrorBody, description = "other_customer"),
        (status = 404, body = ErrorBody, description = "unknown session"),
        (status = 409, body = ErrorBody, description = "idempotency_mismatch"),
        (status = 429, body = ErrorBody, description = "rate limited; see RateLimit-* and Retry-After")))]
pub async fn seed_message(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    json: Result<Json<SendBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    // The seed apps document 400 for a missing or non-string message.
    let json = json.map_err(|rejection| {
        let error = ApiError::from(rejection);
        if error.status() == StatusCode::UNPROCESSABLE_ENTITY {
            error.with_status(StatusCode::BAD_REQUEST)
        } else {
            error
        }
    })?;
    let (inbound, limit_headers) = intake(&state, peer, &headers, Ok(json)).await?;
    let turn = state.engine.send_message(inbound).await?;
    let reply = SeedReply {
        reply: turn
            .reply_text()
            .unwrap_or_else(|| state.engine.with_agent_text()),
        session_id: turn.conversation.session_id.to_string(),
        status: turn.conversation.status,
    };
    Ok((limit_headers, Json(reply)).into_response())
}

fn sse_event(name: &str, id: u64, data: serde_json::Value) -> Event {
    Event::default()
        .event(name)
        .id(id.to_string())
        .data(data.to_string())
}

/// Sends one customer message and streams the reply as Server-Sent Events:
/// `start` (session and message ids), `delta`s, then `done` or `error`.
#[utoipa::path(post, path = "/v1/chat/stream", tag = "chat", request_body = SendBody,
    responses((status = 200, content_type = "text/event-stream",
        description = "events start {sessionId, messageId, status}, delta {text}, done {replyId, reply, usedFallback, confirm, status, sources} or error {code, message}; ids count from 0; sources (section titles) only when SHOW_SOURCES is on"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "invalid_identity"),
        (status = 403, body = ErrorBody, description = "other_customer"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "idempotency_mismatch"), (status = 429, body = ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    json: Result<Json<SendBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (inbound, limit_headers) = intake(&state, peer, &headers, json).await?;
    let rx = state.engine.send_message_stream(inbound).await?;
    Ok((
        limit_headers,
        Sse::new(turn_events(rx, state.http.show_sources)).keep_alive(KeepAlive::default()),
    )
        .into_response())
}

/// The engine's stream events as SSE. A turn that ends without `done`
/// (the reply could not be stored) ends with an `error` event.
fn turn_events(
    rx: tokio::sync::mpsc::Receiver<StreamEvent>,
    show_sources: bool,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(
        (rx, 0u64, false),
        move |(mut rx, id, finished)| async move {
            if finished {
                return None;
            }
            let Some(event) = rx.recv().await else {
                let error = sse_event(
                    "error",
                    id,
                    json!({"code": "reply_not_stored", "message": "the reply could not be completed; your message is saved, try again"}),
                );
                return Some((Ok(error), (rx, id + 1, true)));
            };
            let done = matches!(event, StreamEvent::Done(_));
            Some((
                Ok(stream_event(event, id, show_sources)),
                (rx, id + 1, done),
            ))
        },
    )
}

fn stream_event(event: StreamEvent, id: u64, show_sources: bool) -> Event {
    match event {
        StreamEvent::Started {
            conversation,
            message,
        } => sse_event(
            "start",
            id,
            json!({"sessionId": conversation.session_id, "messageId": message.id, "status": conversation.status}),
        ),
        StreamEvent::Delta { text } => sse_event("delta", id, json!({"text": text})),
        StreamEvent::Done(turn) => sse_event(
            "done",
            id,
            json!({
                "replyId": turn.reply.as_ref().map(|r| r.id),
                "reply": turn.reply_text(),
                "usedFallback": turn.used_fallback(),
                "confirm": turn.asks_to_confirm(),
                "status": turn.conversation.status,
                "sources": turn.reply.as_ref().filter(|_| show_sources).map_or_else(Vec::new, |r| {
                    r.meta.sources.iter().map(|s| s.title.clone()).collect::<Vec<_>>()
                }),
            }),
        ),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct HistoryQuery {
    /// A `nextCursor` from a previous page.
    #[param(minimum = 1)]
    before: Option<i64>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
}

/// A page of the conversation, oldest first within the page.
#[utoipa::path(get, path = "/v1/chat/history/{session}", tag = "chat",
    params(("session" = uuid::Uuid, Path, description = "the sessionId"), HistoryQuery),
    responses((status = 200, body = HistoryReply), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Path(session): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<HistoryReply>, ApiError> {
    let session = parse_session_id(&session)?;
    let limit = super::fields::page_limit(query.limit, 50, 200)?;
    let before = super::fields::before_seq(query.before)?;
    let conversation = state.engine.conversation(session).await?;
    // The conversation is in hand: read its page without a second session lookup.
    let page = state
        .engine
        .store()
        .history(conversation.id, before, limit)
        .await?;
    Ok(Json(HistoryReply {
        session_id: session.to_string(),
        status: conversation.status,
        messages: page
            .messages
            .iter()
            .map(|m| MessageView::new(m, state.http.show_sources))
            .collect(),
        next_cursor: page.next_before,
    }))
}

/// `GET /chat/history/{sessionId}`: the seed apps' shape.
#[utoipa::path(get, path = "/chat/history/{session}", tag = "seed",
    params(("session" = uuid::Uuid, Path)),
    responses((status = 200, description = "{sessionId, messages: [{sender, text, createdAt}]}")))]
pub async fn seed_history(
    State(state): State<AppState>,
    Path(session): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let session = parse_session_id(&session)?;
    let page = state.engine.history(session, None, 200).await?;
    let messages: Vec<_> = page
        .messages
        .iter()
        .map(|m| {
            let view = MessageView::from(m);
            // The seed frontends know "user" and "ai".
            let sender = match m.sender {
                spur_core::conversation::Sender::Customer => "user",
                _ => "ai",
            };
            json!({"id": view.id, "sender": sender, "text": view.text, "createdAt": view.created_at})
        })
        .collect();
    Ok(Json(
        json!({"sessionId": session.to_string(), "messages": messages}),
    ))
}

/// The customer asks for a person.
#[utoipa::path(post, path = "/v1/chat/escalate", tag = "chat", request_body = SessionBody,
    responses((status = 200, body = StatusReply), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn escalate(
    State(state): State<AppState>,
    json: Result<Json<SessionBody>, JsonRejection>,
) -> Result<Json<StatusReply>, ApiError> {
    let Json(body) = json?;
    let session = parse_session_id(&body.session_id)?;
    let turn = state.engine.escalate(session).await?;
    Ok(Json(StatusReply {
        session_id: session.to_string(),
        status: turn.conversation.status,
        notice: turn.notice.map(|n| n.text),
    }))
}

/// Who answers and whether people are there now, for a chat client's header
/// and first screen (no credentials: what any visitor may know).
#[utoipa::path(get, path = "/v1/chat/config", tag = "chat",
    responses((status = 200, body = ChatConfig)))]
pub async fn config(State(state): State<AppState>) -> Json<ChatConfig> {
    use spur_core::facts::Availability;
    let facts = state.engine.facts();
    let (availability, back) = match state.engine.availability() {
        Availability::Open => ("open", None),
        Availability::Closed { back } => ("closed", back),
        Availability::Unknown => ("unknown", None),
    };
    Json(ChatConfig {
        shop: facts.display_name().to_string(),
        availability: availability.into(),
        back,
        hours: facts.hours_label(),
        suggestions: state.http.widget_suggestions.clone(),
    })
}

/// The customer leaves an email address for the answer (offered with a
/// handoff notice when nobody may be there). Stored on the conversation,
/// shown to agents; the notice says when to expect the answer.
#[utoipa::path(post, path = "/v1/chat/email", tag = "chat", request_body = EmailBody,
    responses((status = 200, body = StatusReply), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn leave_email(
    State(state): State<AppState>,
    json: Result<Json<EmailBody>, JsonRejection>,
) -> Result<Json<StatusReply>, ApiError> {
    let Json(body) = json?;
    let session = parse_session_id(&body.session_id)?;
    let turn = state.engine.leave_email(session, &body.email).await?;
    Ok(Json(StatusReply {
        session_id: session.to_string(),
        status: turn.conversation.status,
        notice: turn.notice.map(|n| n.text),
    }))
}

/// The customer is typing: the agents' feed shows it (nothing is stored).
#[utoipa::path(post, path = "/v1/chat/typing", tag = "chat", request_body = SessionBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn typing(
    State(state): State<AppState>,
    json: Result<Json<SessionBody>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(body) = json?;
    let session = parse_session_id(&body.session_id)?;
    state.engine.customer_typing(session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unknown routes get the JSON error shape too.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}
