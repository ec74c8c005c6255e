//! The OpenAPI document, generated from the handlers' annotations, and
//! Swagger UI at `/docs` (vendored: works offline).

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::routes::{
    admin, agent, analytics, assign, auth, canned, chat, classify, feed, feedback, files,
    knowledge, knowledge_files, knowledge_web, notes, ops, reopen, tickets, users,
};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Spur", description = "The embeddable AI customer-support engine: customer chat, agent inbox and admin API."),
    paths(
        chat::message, chat::stream, chat::history, chat::escalate, chat::typing, chat::leave_email, chat::config, feedback::feedback, feedback::csat,
        chat::seed_message, chat::seed_history, feed::events,
        ops::healthz, ops::readyz, ops::metrics,
        auth::login, auth::logout, auth::me,
        admin::list_agents, admin::create_agent, admin::update_agent, admin::logs, analytics::analytics,
        knowledge::overview, knowledge::reload, knowledge::try_question, knowledge::gaps,
        knowledge_files::list, knowledge_files::put, knowledge_files::delete,
        knowledge_web::import,
        agent::inbox, agent::labels, agent::conversation, agent::claim, agent::reply, notes::add_note, files::file, assign::assign, reopen::reopen, assign::colleagues, canned::list, canned::save, canned::delete, agent::hand_back,
        agent::close, agent::typing, agent::events,
        tickets::create_ticket, tickets::tickets, tickets::ticket, tickets::update_ticket,
        tickets::conversation_ticket, classify::classify,
        users::create_user, users::users, users::user, users::delete_user,
    ),
    modifiers(&BearerAuth, &CommonErrors),
    tags(
        (name = "chat", description = "What a customer's chat client calls"),
        (name = "seed", description = "Aliases the seed apps' frontends call unchanged"),
        (name = "ops", description = "Probes and metrics"),
        (name = "auth", description = "Agent and admin sign-in"),
        (name = "agent", description = "The agents' inbox (bearer token, agent or admin)"),
        (name = "admin", description = "Accounts, logs and knowledge (bearer token, admin)"),
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

/// The errors any operation of a kind can answer, added where an operation
/// does not list them itself: the document states every status the server
/// can send (schemathesis checks it).
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_path_params = path.contains('{');
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error(description).into());
                };
                if path == "/healthz" {
                    continue;
                }
                add(
                    "400",
                    "invalid input (malformed ids or queries, NUL characters: invalid_text)",
                );
                add("503", "storage unavailable, or the request took too long");
                if operation.request_body.is_some() {
                    add("408", "the body did not arrive in time (request_timeout)");
                    add("413", "the body is over 100 KB");
                    add("415", "the body is not application/json");
                    add("422", "the JSON does not have the documented shape");
                }
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                if secured {
                    add(
                        "401",
                        "no token, or one that is malformed, expired or revoked",
                    );
                    add("403", "the token's role may not do this");
                }
                if has_path_params {
                    add("404", "no such resource");
                }
            }
        }
    }
}

/// `/openapi.json` and `/docs`. The labels an agent may set on a ticket
/// are this deployment's taxonomy, so the document lists them.
pub fn routes(taxonomy: &spur_core::classify::Taxonomy) -> Router<AppState> {
    let mut doc = ApiDoc::openapi();
    labels(&mut doc, taxonomy);
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
}

fn labels(doc: &mut utoipa::openapi::OpenApi, taxonomy: &spur_core::classify::Taxonomy) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    let names = |labels: &[spur_core::classify::Label]| -> Vec<String> {
        labels.iter().map(|l| l.name.clone()).collect()
    };
    let (categories, priorities) = (names(&taxonomy.categories), names(&taxonomy.priorities));
    // The ticket list's filters: a label, or empty for any.
    if let Some(list) = doc
        .paths
        .paths
        .get_mut("/v1/tickets")
        .and_then(|item| item.get.as_mut())
    {
        for parameter in list.parameters.iter_mut().flatten() {
            let RefOr::T(parameter) = parameter else {
                continue;
            };
            let values = match parameter.name.as_str() {
                "category" => &categories,
                "priority" => &priorities,
                _ => continue,
            };
            if let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() {
                let any = std::iter::once(String::new());
                schema.enum_values =
                    Some(values.iter().cloned().chain(any).map(Into::into).collect());
            }
        }
    }
    let Some(RefOr::T(Schema::Object(patch))) = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("TicketPatchBody"))
    else {
        return;
    };
    for (field, values) in [("category", &categories), ("priority", &priorities)] {
        if let Some(RefOr::T(Schema::Object(property))) = patch.properties.get_mut(field) {
            let null = std::iter::once(serde_json::Value::Null);
            property.enum_values =
                Some(values.iter().cloned().map(Into::into).chain(null).collect());
        }
    }
}
