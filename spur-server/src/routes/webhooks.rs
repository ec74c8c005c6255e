//! Meta's webhooks: `GET`/`POST /webhooks/whatsapp` and `/webhooks/meta`
//! (Messenger and Instagram). `GET` is the subscription handshake; a
//! `POST` is checked against its signature before anything is read, then
//! its statuses are applied and each message stored (before the 200) and
//! answered in the background, the reply going out through the outbox.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use spur_core::EngineError;
use spur_core::channels::graph::{Webhook, signature_valid, subscription_challenge};
use spur_core::channels::{messenger, whatsapp};

use crate::channels::{Channels, Hook};
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

/// Which webhook: its secrets in [`Channels`], how its body reads, its name in metrics.
struct Kind {
    hook: fn(&Channels) -> Option<&Hook>,
    parse: fn(&[u8]) -> Result<Webhook, serde_json::Error>,
    name: &'static str,
}

const WHATSAPP: Kind = Kind {
    hook: |c| c.whatsapp.as_ref(),
    parse: whatsapp::parse_webhook,
    name: "whatsapp",
};

const META: Kind = Kind {
    hook: |c| c.meta.as_ref(),
    parse: messenger::parse_webhook,
    name: "meta",
};

pub async fn whatsapp_verify(state: State<AppState>, query: Query<Handshake>) -> Response {
    verify(&WHATSAPP, state, query)
}

pub async fn whatsapp_receive(state: State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    receive(&WHATSAPP, state, headers, body).await
}

pub async fn meta_verify(state: State<AppState>, query: Query<Handshake>) -> Response {
    verify(&META, state, query)
}

pub async fn meta_receive(state: State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    receive(&META, state, headers, body).await
}

fn hook<'a>(kind: &Kind, state: &'a AppState) -> Result<(&'a Channels, &'a Hook), ApiError> {
    state
        .channels
        .as_deref()
        .and_then(|c| (kind.hook)(c).map(|hook| (c, hook)))
        .ok_or_else(|| ApiError::from_status(StatusCode::NOT_FOUND))
}

/// Echoes `hub.challenge` to the operator's verify token; 403 otherwise.
fn verify(
    kind: &Kind,
    State(state): State<AppState>,
    Query(handshake): Query<Handshake>,
) -> Response {
    let (_, hook) = match hook(kind, &state) {
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

/// A bad or missing signature: 401 and nothing stored. A store failure:
/// 500, so Meta delivers again (what was stored is not stored twice).
async fn receive(
    kind: &Kind,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match receive_checked(kind, &state, &headers, &body).await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(error) => error.into_response(),
    }
}

async fn receive_checked(
    kind: &Kind,
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let (channels, hook) = hook(kind, state)?;
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !signature_valid(hook.app_secret.expose_secret(), body, signature) {
        metrics::counter!("spur_webhook_rejected_total", "webhook" => kind.name).increment(1);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "X-Hub-Signature-256 is missing or wrong",
        ));
    }
    let webhook = (kind.parse)(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string()))?;
    let now = channels.clock.now();
    for status in &webhook.statuses {
        channels.outbox.record_status(status, now).await?;
    }
    for event in webhook.events {
        let channel = event.thread.channel.clone();
        match state.engine.receive_stored(event).await {
            Ok(_) => {
                metrics::counter!("spur_channel_messages_total", "channel" => channel).increment(1)
            }
            // Delivering it again would not change it (too long, a NUL):
            // acknowledged, logged, and the customer gets no reply.
            Err(EngineError::Validation(error)) => {
                tracing::warn!(%error, %channel, "a message was refused");
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}
