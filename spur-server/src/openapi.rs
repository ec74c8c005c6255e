//! The OpenAPI document, generated from the handlers' annotations, and
//! Swagger UI at `/docs` (vendored: works offline).

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::routes::{admin, agent, auth, chat, classify, feed, ops, tickets, users};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Spur", description = "The embeddable AI customer-support engine: customer chat, agent inbox and admin API."),
    paths(
        chat::message, chat::stream, chat::history, chat::escalate, chat::typing,
        chat::seed_message, chat::seed_history, feed::events,
        ops::healthz, ops::readyz, ops::metrics,
        auth::login, auth::logout, auth::me,
        admin::list_agents, admin::create_agent, admin::update_agent, admin::logs,
        agent::inbox, agent::labels, agent::conversation, agent::claim, agent::reply, agent::hand_back,
        agent::close, agent::typing, agent::events,
        tickets::create_ticket, tickets::tickets, tickets::ticket, tickets::update_ticket,
        tickets::conversation_ticket, classify::classify,
        users::create_user, users::users, users::user, users::delete_user,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "chat", description = "What a customer's chat client calls"),
        (name = "seed", description = "Aliases the seed apps' frontends call unchanged"),
        (name = "ops", description = "Probes and metrics"),
        (name = "auth", description = "Agent and admin sign-in"),
        (name = "agent", description = "The agents' inbox (bearer token, agent or admin)"),
        (name = "admin", description = "Accounts and logs (bearer token, admin)"),
        (name = "tickets", description = "Tickets with AI classification, and the users who file them (bearer token, agent or admin). `/tickets…` and `/users…` without `/v1` are the same routes, at the seed ticket backend's paths."),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme the agent and admin routes name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn routes() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
