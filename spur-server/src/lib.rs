//! `spur-server`: the standalone support-chat server over `spur-core`.
//! `main.rs` parses the configuration and serves [`app`]; tests and
//! embedders build an [`AppState`] themselves.

pub mod auth;
mod client_ip;
pub mod config;
mod cursor;
pub mod error;
pub mod limit;
pub mod metrics;
mod openapi;
pub mod queue;
mod router;
mod routes;
pub mod setup;
pub mod state;
pub mod ticket_events;
mod views;

pub use openapi::ApiDoc;
pub use router::{BODY_LIMIT, app};
pub use state::{AppState, HttpSettings};

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves until `shutdown` is cancelled: live feeds end, in-flight
/// requests finish, then this returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
