//! The whole HTTP surface over one [`AppState`], with the layers every
//! request goes through: request id, trace span, panic catcher, CORS, body
//! limit, metrics, JSON errors, and a timeout on non-streaming routes.

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::MethodRouter;
use axum::routing::{get, patch, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::ApiError;
use crate::routes::{
    admin, agent, analytics, assign, auth, canned, chat, classify, feed, feedback, files,
    knowledge, knowledge_files, knowledge_web, notes, ops, reopen, tickets, users, webhooks,
};
use crate::state::AppState;
use crate::{metrics, openapi};

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 100 * 1024;

pub fn app(state: AppState) -> Router {
    let http = state.http.clone();
    let timed = Router::new()
        .route("/v1/chat/message", post(chat::message))
        .route("/v1/chat/history/{session}", get(chat::history))
        .route("/v1/chat/escalate", post(chat::escalate))
        .route("/v1/chat/typing", post(chat::typing))
        .route("/v1/chat/email", post(chat::leave_email))
        .route("/v1/chat/feedback", post(feedback::feedback))
        .route("/v1/chat/csat", post(feedback::csat))
        .route("/v1/chat/config", get(chat::config))
        .route("/chat/message", post(chat::seed_message))
        .route("/chat/history/{session}", get(chat::seed_history))
        .route("/readyz", get(ops::readyz))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/logout", post(auth::logout))
        .route("/v1/auth/me", get(auth::me))
        .route(
            "/v1/admin/agents",
            get(admin::list_agents).post(admin::create_agent),
        )
        .route("/v1/admin/agents/{id}", patch(admin::update_agent))
        .route("/v1/admin/logs", get(admin::logs))
        .route("/v1/admin/analytics", get(analytics::analytics))
        .route("/v1/admin/knowledge", get(knowledge::overview))
        .route("/v1/admin/knowledge/try", post(knowledge::try_question))
        .route("/v1/admin/knowledge/reload", post(knowledge::reload))
        .route("/v1/admin/knowledge/gaps", get(knowledge::gaps))
        .route("/v1/admin/knowledge/files", get(knowledge_files::list))
        .route(
            "/v1/admin/knowledge/files/{name}",
            put(knowledge_files::put)
                .layer(DefaultBodyLimit::max(knowledge_files::UPLOAD_LIMIT))
                .delete(knowledge_files::delete),
        )
        .route("/v1/admin/knowledge/urls", post(knowledge_web::import))
        .route("/v1/agent/conversations", get(agent::inbox))
        .route("/v1/agent/labels", get(agent::labels))
        .route("/v1/agent/conversations/{id}", get(agent::conversation))
        .route("/v1/agent/conversations/{id}/claim", post(agent::claim))
        .route("/v1/agent/conversations/{id}/reply", post(agent::reply))
        .route("/v1/agent/conversations/{id}/notes", post(notes::add_note))
        .route(
            "/v1/agent/conversations/{id}/files/{seq}/{index}",
            get(files::file),
        )
        .route("/v1/agent/conversations/{id}/assign", post(assign::assign))
        .route("/v1/agent/conversations/{id}/reopen", post(reopen::reopen))
        .route("/v1/agent/agents", get(assign::colleagues))
        .route("/v1/agent/canned", get(canned::list))
        .route(
            "/v1/agent/canned/{shortcut}",
            put(canned::save).delete(canned::delete),
        )
        .route(
            "/v1/agent/conversations/{id}/handback",
            post(agent::hand_back),
        )
        .route("/v1/agent/conversations/{id}/close", post(agent::close))
        .route("/v1/agent/conversations/{id}/typing", post(agent::typing))
        .route(
            "/v1/conversations/{id}/ticket",
            post(tickets::conversation_ticket),
        )
        .route("/v1/classify", post(classify::classify))
        .route(
            "/webhooks/whatsapp",
            get(webhooks::whatsapp_verify).post(webhooks::whatsapp_receive),
        )
        .route(
            "/webhooks/meta",
            get(webhooks::meta_verify).post(webhooks::meta_receive),
        )
        .route(
            "/webhooks/email",
            post(webhooks::email_receive).layer(DefaultBodyLimit::max(webhooks::EMAIL_LIMIT)),
        );
    // The tickets API, versioned and at the seed ticket backend's paths.
    let tickets_routes: [(&str, MethodRouter<AppState>); 4] = [
        (
            "tickets",
            get(tickets::tickets).post(tickets::create_ticket),
        ),
        (
            "tickets/{id}",
            get(tickets::ticket).patch(tickets::update_ticket),
        ),
        ("users", get(users::users).post(users::create_user)),
        ("users/{id}", get(users::user).delete(users::delete_user)),
    ];
    let timed = tickets_routes
        .into_iter()
        .fold(timed, |router, (path, methods)| {
            router
                .route(&format!("/v1/{path}"), methods.clone())
                .route(&format!("/{path}"), methods)
        })
        // A timeout would cut streams: only here.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            http.request_timeout,
        ));
    let streaming = Router::new()
        .route("/v1/chat/stream", post(chat::stream))
        .route("/v1/chat/events/{session}", get(feed::events))
        .route("/v1/agent/events", get(agent::events));
    let mut pages = Router::new();
    // The demo page at `/` uses the widget when it is built; the minimal page otherwise.
    let demo = if http.widget_dir.is_some() {
        include_str!("../assets/widget-demo.html")
    } else {
        include_str!("../assets/index.html")
    };
    if let Some(dir) = &http.widget_dir {
        // Public static files any page may load (module scripts are fetched
        // with CORS), sent as built.sh compressed them (brotli or gzip, by
        // Accept-Encoding). The names carry no hash, so browsers revalidate
        // (a 304 when unchanged) rather than cache blindly.
        pages = pages.nest_service(
            "/widget",
            tower::ServiceBuilder::new()
                .layer(CorsLayer::new().allow_origin(Any))
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-cache"),
                ))
                .service(ServeDir::new(dir).precompressed_br().precompressed_gzip()),
        );
    }
    if http.metrics_on_api {
        pages = pages.route("/metrics", get(ops::metrics));
    }
    pages
        .route("/", get(move || async move { Html(demo) }))
        // The agents' and admins' console (one page; /admin opens the admin views).
        .route("/agent", get(console))
        .route("/admin", get(console))
        .route("/agent/", get(|| async { Redirect::permanent("/agent") }))
        .route("/admin/", get(|| async { Redirect::permanent("/admin") }))
        .route("/favicon.ico", get(favicon))
        .route("/assets/console.js", get(|| script(include_str!("../assets/console.js"))))
        .route("/assets/demo.js", get(|| script(include_str!("../assets/demo.js"))))
        // uPlot (MIT, vendored: assets/vendor/uplot), the console's charts.
        .route(
            "/assets/uplot.js",
            get(|| script(include_str!("../assets/vendor/uplot/uPlot.iife.min.js"))),
        )
        .route("/assets/uplot.css", get(uplot_css))
        .route("/healthz", get(ops::healthz))
        .merge(timed)
        .merge(openapi::routes(state.engine.classifier().taxonomy()))
        // Pages and JSON compressed on the fly; what is already compressed
        // passes as it is. Live feeds are outside: a compression body is
        // kilobytes held by every open feed, for nothing (SSE is never
        // compressed).
        .layer(CompressionLayer::new().compress_when(
            SizeAbove::new(512)
                .and(NotForContentType::GRPC)
                .and(NotForContentType::IMAGES)
                .and(NotForContentType::SSE),
        ))
        .merge(streaming)
        .fallback(chat::not_found)
        .layer(middleware::from_fn(crate::nul::refuse_nul))
        // Bodies trickled byte by byte do not hold a connection open.
        .layer(RequestBodyTimeoutLayer::new(http.body_read_timeout))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(crate::cors::layer(&http.cors_origins))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked");
            ApiError::from_status(StatusCode::INTERNAL_SERVER_ERROR).into_response()
        }))
        .layer(middleware::from_fn(crate::headers::security_headers))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id, trace_id = tracing::field::Empty);
            crate::telemetry::join_trace(&span, request.headers());
            span
        }).on_response(DefaultOnResponse::new().level(Level::INFO)))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// `/metrics` alone, for its own address (`METRICS_ADDR`).
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

/// The pages' own scripts (a policy without inline scripts needs them apart).
async fn script(source: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        source,
    )
        .into_response()
}

async fn uplot_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../assets/vendor/uplot/uPlot.min.css"),
    )
        .into_response()
}

/// The launcher's speech bubble, so browsers asking for an icon get one.
async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("../assets/favicon.svg"),
    )
        .into_response()
}

async fn console() -> Html<&'static str> {
    Html(include_str!("../assets/console.html"))
}

/// Gives bare error statuses (405, timeouts, oversized bodies) the JSON shape.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut replaced = ApiError::from_status(status).into_response();
    for (name, value) in parts.headers.iter() {
        // The replacement is plain JSON, whatever encoded the original.
        if ![
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::CONTENT_ENCODING,
        ]
        .contains(name)
        {
            replaced.headers_mut().insert(name.clone(), value.clone());
        }
    }
    replaced
}
