//! Probes, metrics, the OpenAPI document, Swagger UI offline, CORS, the demo page.

use serde_json::Value;
use spur_server::config::Options;

use super::support::{Server, sqlite_options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_metrics_and_docs() {
    let server = Server::start(sqlite_options()).await;
    let h: Value = server.get_json("/healthz").await;
    assert_eq!(h["status"], "ok");
    let r: Value = server.get_json("/readyz").await;
    assert_eq!(r["status"], "ready");

    server.say("Do you ship to India?", None).await;
    let m = server.get("/metrics").await.text().await.unwrap();
    assert!(
        m.contains(
            "spur_http_requests_total{method=\"POST\",route=\"/v1/chat/message\",status=\"200\"}"
        ),
        "{m}"
    );
    assert!(m.contains("spur_http_request_duration_seconds"), "{m}");
    assert!(
        m.contains("spur_llm_calls_total{provider=\"offline\",outcome=\"ok\"}"),
        "{m}"
    );

    let doc: Value = server.get_json("/openapi.json").await;
    for path in [
        "/v1/chat/message",
        "/v1/chat/stream",
        "/v1/chat/events/{session}",
        "/v1/chat/history/{session}",
        "/v1/chat/escalate",
        "/chat/message",
        "/healthz",
        "/readyz",
        "/v1/tickets",
        "/v1/tickets/{id}",
        "/v1/users",
        "/v1/users/{id}",
        "/v1/conversations/{id}/ticket",
        "/v1/classify",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let ticket = &doc["components"]["schemas"]["TicketView"];
    assert_eq!(
        ticket["example"]["aiStatus"], "done",
        "tickets come with an example"
    );
    assert!(doc["paths"]["/v1/tickets/{id}"]["patch"].is_object());
    assert!(doc["paths"]["/v1/users/{id}"]["delete"].is_object());
    let docs = server.get("/docs/").await;
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "Swagger UI is served locally");
    assert!(!html.contains("cdn."), "no CDN: works offline");

    let page = server.get("/").await.text().await.unwrap();
    assert!(
        page.contains("/v1/chat/message"),
        "the demo page talks to the API"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_only_configured_origins() {
    let server = Server::start(Options {
        cors_origins: Some(vec!["https://shop.example".into()]),
        ..sqlite_options()
    })
    .await;
    let preflight = |origin: &'static str| {
        server
            .client
            .request(reqwest::Method::OPTIONS, server.url("/v1/chat/message"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight("https://shop.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
