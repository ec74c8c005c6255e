//! `spur-server`: the standalone support-chat server over `spur-core`.
//! `main.rs` parses the configuration and serves [`app`]; tests and
//! embedders build an [`AppState`] themselves.

pub mod auth;
pub mod channels;
mod client_ip;
pub mod config;
mod cors;
mod cursor;
pub mod error;
pub mod event_bus;
mod headers;
pub mod identity;
pub mod knowledge_source;
pub mod limit;
mod listen;
pub mod metrics;
mod nul;
mod open_counts;
mod openapi;
pub mod queue;
pub mod redis_link;
mod router;
mod routes;
pub mod setup;
pub mod shared_feeds;
pub mod state;
pub mod telemetry;
pub mod ticket_events;
mod views;

pub use openapi::ApiDoc;
pub use router::{BODY_LIMIT, app, metrics_app};
pub use routes::webhooks::EMAIL_LIMIT;
pub use state::{AppState, HttpSettings};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves until `shutdown` is cancelled, then drains within the grace
/// period (`SHUTDOWN_GRACE_SECS`): no new connections, live feeds tell
/// their clients to reconnect (elsewhere) and end, requests in flight
/// finish, streamed replies and jobs in flight are stored. Returns when all
/// of that is done or the grace period is over.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let grace = state.http.shutdown_grace;
    let (engine, tasks) = (state.engine.clone(), state.tasks.clone());
    let limits = listen::ConnectionLimits {
        header_read: state.http.header_read_timeout,
        per_ip: state.http.connections_per_ip,
        trusted: state.http.trusted_proxies.clone(),
    };
    let serving = listen::serve(listener, app(state), shutdown.clone(), limits);
    tokio::pin!(serving);
    tokio::select! {
        result = &mut serving => return result,
        _ = shutdown.cancelled() => {}
    }
    let deadline = tokio::time::Instant::now() + grace;
    let in_flight = engine.replies_in_flight();
    tracing::info!(
        replies_in_flight = in_flight,
        grace_secs = grace.as_secs(),
        "draining"
    );
    match tokio::time::timeout_at(deadline, &mut serving).await {
        Ok(result) => result?,
        Err(_) => tracing::warn!("grace period over with requests still open"),
    }
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    if !engine.drain(left).await {
        tracing::warn!(
            replies_in_flight = engine.replies_in_flight(),
            "grace period over with replies still being generated"
        );
    }
    tasks.close();
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    if tokio::time::timeout(left, tasks.wait()).await.is_err() {
        tracing::warn!(
            tasks = tasks.len(),
            "grace period over with background work running"
        );
    }
    Ok(())
}

/// The last event of a live feed when this instance stops: reconnect
/// (through the load balancer, to another instance) after `retry`.
pub(crate) fn reconnect_event() -> axum::response::sse::Event {
    axum::response::sse::Event::default()
        .event("reconnect")
        .retry(std::time::Duration::from_millis(500))
        .data("{}")
}
