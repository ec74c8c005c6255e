use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Html;
use axum::routing::{get, post};
use spur_core::SupportEngine;

use crate::routes::chat;

/// The whole HTTP surface, over one engine.
pub fn app(engine: SupportEngine) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { Html(include_str!("../assets/index.html")) }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/chat/message", post(chat::message))
        .route("/v1/chat/history/{session}", get(chat::history))
        .route("/chat/message", post(chat::seed_message))
        .route("/chat/history/{session}", get(chat::history))
        .layer(DefaultBodyLimit::max(100 * 1024))
        .with_state(engine)
}

#[cfg(test)]
mod tests;
