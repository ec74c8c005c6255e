//! `GET`/`POST /webhooks/whatsapp`: Meta's subscription handshake, and the
//! messages and delivery statuses of the shop's WhatsApp numbers.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use spur_core::EngineError;
use spur_core::channels::whatsapp::{parse_webhook, signature_valid, subscription_challenge};

use crate::channels::{Channels, WhatsAppHook};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

fn hook(state: &AppState) -> Result<(&Channels, &WhatsAppHook), ApiError> {
    state
        .channels
        .as_deref()
        .and_then(|c| c.whatsapp.as_ref().map(|hook| (c, hook)))
        .ok_or_else(|| ApiError::from_status(StatusCode::NOT_FOUND))
}

/// Echoes `hub.challenge` to the operator's verify token; 403 otherwise.
pub async fn verify(State(state): State<AppState>, Query(handshake): Query<Handshake>) -> Response {
    let (_, hook) = match hook(&state) {
        Ok(found) => found,
        Err(error) => return error.into_response(),
    };
    match subscription_challenge(
        handshake.mode.as_deref(),
        handshake.verify_token.as_deref(),
        handshake.challenge.as_deref(),
        hook.verify_token.expose_secret(),
    ) {
        Some(challenge) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge.to_string(),
        )
            .into_response(),
        None => ApiError::new(StatusCode::FORBIDDEN, "forbidden", "verify token mismatch")
            .into_response(),
    }
}

/// A signed delivery: statuses applied, each message stored (once, however
/// often delivered) before the 200, its reply following in the background
/// and going out through the outbox. A bad or missing signature: 401 and
/// nothing stored. A store failure: 500, so Meta delivers again.
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match receive_checked(&state, &headers, &body).await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(error) => error.into_response(),
    }
}

async fn receive_checked(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let (channels, hook) = hook(state)?;
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !signature_valid(hook.app_secret.expose_secret(), body, signature) {
        metrics::counter!("spur_webhook_rejected_total", "channel" => "whatsapp").increment(1);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "X-Hub-Signature-256 is missing or wrong",
        ));
    }
    let webhook = parse_webhook(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string()))?;
    let now = channels.clock.now();
    for status in &webhook.statuses {
        channels.outbox.record_status(status, now).await?;
    }
    for event in webhook.events {
        match state.engine.receive_stored(event).await {
            Ok(_) => metrics::counter!("spur_channel_messages_total", "channel" => "whatsapp")
                .increment(1),
            // Delivering it again would not change it (too long, a NUL):
            // acknowledged, logged, and the customer gets no reply.
            Err(EngineError::Validation(error)) => {
                tracing::warn!(%error, "a WhatsApp message was refused");
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}
