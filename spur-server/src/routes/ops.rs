//! Probes and metrics for operators.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use spur_core::channels::delivery::ChannelHealth;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "{\"status\":\"ok\"}")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database is reachable and migrated (else 503). A shared Redis that
/// does not answer makes the instance `degraded`, still serving: limits
/// are then counted per instance.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "{\"status\": \"ready\" or \"degraded\", \"dependencies\": {\"database\": \"ok\", \"redis\": \"ok\" | \"unreachable\" (when configured)}}"),
        (status = 503, body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match state.engine.store().ping().await {
        Ok(()) => {
            let mut dependencies = json!({"database": "ok"});
            let mut status = "ready";
            if let Some(redis) = &state.redis {
                let up = redis.ping().await;
                if let Err(error) = &up {
                    tracing::warn!(%error, "degraded: redis");
                    status = "degraded";
                }
                dependencies["redis"] = json!(if up.is_ok() { "ok" } else { "unreachable" });
            }
            // A channel's trouble (a bad token, its API down) is reported,
            // never a reason to take this instance out: the web chat and
            // the other channels still work, and the outbox keeps the replies.
            if let Some(channels) = &state.channels {
                for (channel, health) in channels.deliverer.health() {
                    dependencies[channel] = json!(match health {
                        None => "idle",
                        Some(ChannelHealth::Ok) => "ok",
                        Some(ChannelHealth::Failing) => "failing",
                    });
                }
            }
            Ok(Json(
                json!({"status": status, "dependencies": dependencies}),
            ))
        }
        Err(error) => {
            tracing::warn!(%error, "not ready: storage");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "storage is not reachable",
            ))
        }
    }
}

/// Prometheus text exposition. With `METRICS_TOKEN` set it wants
/// `Authorization: Bearer <token>`; with `METRICS_ADDR` it is served there only.
#[utoipa::path(get, path = "/metrics", tag = "ops", security((), ("bearer" = [])),
    responses((status = 200, content_type = "text/plain"), (status = 401, body = ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = &state.http.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // In time that does not depend on where the two differ.
        let same: bool = given
            .as_bytes()
            .ct_eq(token.expose_secret().as_bytes())
            .into();
        if !same {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "metrics need the operator's bearer token",
            ));
        }
    }
    if let Some(budget) = state.engine.budget_status().await {
        crate::metrics::budget(&budget);
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    ))
}
