//! Meta's webhooks: `GET`/`POST /webhooks/whatsapp` and `/webhooks/meta`
//! (Messenger and Instagram). `GET` is the subscription handshake; a
//! `POST` is checked against its signature before anything is read, then
//! its statuses are applied and each message stored (before the 200) and
//! answered in the background, the reply going out through the outbox.
//!
//! `POST /webhooks/email` takes one raw MIME message, as inbound-mail
//! services post it, behind the operator's token.

use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use spur_core::EngineError;
use spur_core::channels::email::{self, Parsed};
use spur_core::channels::graph::{Webhook, signature_valid, subscription_challenge};
use spur_core::channels::{InboundEvent, messenger, whatsapp};
use subtle::ConstantTimeEq;

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
        store(state, event).await?;
    }
    Ok(())
}

/// Stores one customer message; its reply follows in the background.
async fn store(state: &AppState, event: InboundEvent) -> Result<(), ApiError> {
    let channel = event.thread.channel.clone();
    match state.engine.receive_stored(event).await {
        Ok(_) => {
            metrics::counter!("spur_channel_messages_total", "channel" => channel).increment(1);
            Ok(())
        }
        // Delivering it again would not change it (too long, a NUL):
        // acknowledged, logged, and the customer gets no reply.
        Err(EngineError::Validation(error)) => {
            tracing::warn!(%error, %channel, "a message was refused");
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// The largest email taken: attachments make mail larger than chat.
pub const EMAIL_LIMIT: usize = 10 * 1024 * 1024;

/// One raw MIME message. The token is checked before the body is read;
/// mail the shop should not answer (an auto-reply, a bounce, mail for
/// another address) is acknowledged and dropped, so it is not posted again.
pub async fn email_receive(State(state): State<AppState>, request: Request) -> Response {
    match email_checked(&state, request).await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(error) => error.into_response(),
    }
}

async fn email_checked(state: &AppState, request: Request) -> Result<(), ApiError> {
    let hook = state
        .channels
        .as_deref()
        .and_then(|c| c.email.as_ref())
        .ok_or_else(|| ApiError::from_status(StatusCode::NOT_FOUND))?;
    if !token_valid(request.headers(), hook.token.expose_secret()) {
        metrics::counter!("spur_webhook_rejected_total", "webhook" => "email").increment(1);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the email webhook needs its token (Bearer, or the Basic-auth password)",
        ));
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("an email may be at most {EMAIL_LIMIT} bytes"),
        )
    };
    // Refused on what it says it is, before reading any of it.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > EMAIL_LIMIT as u64) {
        return Err(too_large());
    }
    let body = axum::body::to_bytes(request.into_body(), EMAIL_LIMIT)
        .await
        .map_err(|error| {
            if crate::nul::caused_by::<http_body_util::LengthLimitError>(&error) {
                too_large()
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    "the body could not be read",
                )
            }
        })?;
    match email::parse_mime(&body, &hook.accounts) {
        Ok(Parsed::Message(mail)) => {
            let event = state.engine.prepare_mail(*mail).await?;
            store(state, event).await
        }
        Ok(Parsed::Ignored(why)) => {
            metrics::counter!("spur_email_ignored_total", "reason" => why.as_str()).increment(1);
            tracing::info!(reason = why.as_str(), "an email was not answered");
            Ok(())
        }
        Err(error) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            error.to_string(),
        )),
    }
}

/// `Authorization: Bearer <token>`, or Basic with the token as the password
/// (any user name), compared in time that does not depend on where they differ.
fn token_valid(headers: &HeaderMap, token: &str) -> bool {
    use base64::Engine as _;
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let presented = if let Some(bearer) = given.strip_prefix("Bearer ") {
        bearer.trim().as_bytes().to_vec()
    } else if let Some(basic) = given.strip_prefix("Basic ") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else {
            return false;
        };
        match decoded.iter().position(|&b| b == b':') {
            Some(colon) => decoded[colon + 1..].to_vec(),
            None => return false,
        }
    } else {
        return false;
    };
    presented.ct_eq(token.as_bytes()).into()
}
