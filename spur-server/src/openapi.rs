//! The OpenAPI document, generated from the handlers' annotations, and
//! Swagger UI at `/docs` (vendored: works offline).

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::routes::{chat, feed, ops};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Spur", description = "The embeddable AI customer-support engine: customer chat API."),
    paths(
        chat::message, chat::stream, chat::history, chat::escalate,
        chat::seed_message, chat::seed_history, feed::events,
        ops::healthz, ops::readyz, ops::metrics,
    ),
    tags(
        (name = "chat", description = "What a customer's chat client calls"),
        (name = "seed", description = "Aliases the seed apps' frontends call unchanged"),
        (name = "ops", description = "Probes and metrics"),
    )
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
