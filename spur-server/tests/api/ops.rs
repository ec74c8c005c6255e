//! Probes, metrics, the OpenAPI document, Swagger UI offline, CORS, the demo page.

use serde_json::Value;
use spur_server::config::Options;

use super::support::{LoggedServer, Server, sqlite_options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_metrics_and_docs() {
    let server = Server::start(sqlite_options()).await;
    let h: Value = server.get_json("/healthz").await;
    assert_eq!(h["status"], "ok");
    let r: Value = server.get_json("/readyz").await;
    assert_eq!(r["status"], "ready");

    // Counted exactly: each series moves by what this request did.
    let requests =
        "spur_http_requests_total{method=\"POST\",route=\"/v1/chat/message\",status=\"200\"}";
    let timed =
        "spur_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/chat/message\"}";
    let answered = "spur_llm_calls_total{provider=\"offline\",outcome=\"ok\"}";
    let text = server.get("/metrics").await.text().await.unwrap();
    let before: Vec<f64> = [requests, timed, answered]
        .iter()
        .map(|series| super::support::metric(&text, series))
        .collect();
    server.say("Do you ship to India?", None).await;
    let text = server.get("/metrics").await.text().await.unwrap();
    for (series, was) in [requests, timed, answered].iter().zip(before) {
        assert_eq!(
            super::support::metric(&text, series) - was,
            1.0,
            "{series}\n{text}"
        );
    }

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
    assert!(page.contains("/assets/demo.js"), "{page}");
    let script = server.get("/assets/demo.js").await.text().await.unwrap();
    assert!(
        script.contains("/v1/chat/message"),
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

/// Without `CORS_ORIGINS` the widget works on any site: the customer chat
/// API answers every origin (never with credentials); the agents' and
/// admins' API answers none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_api_is_public_by_default_and_nothing_else() {
    let server = Server::start(sqlite_options()).await;
    let preflight = |path: &'static str| {
        server
            .client
            .request(reqwest::Method::OPTIONS, server.url(path))
            .header("origin", "https://any-shop.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    for path in [
        "/v1/chat/message",
        "/v1/chat/stream",
        "/v1/chat/events/abc",
        "/chat/message",
    ] {
        let response = preflight(path).await.unwrap();
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "https://any-shop.example",
            "{path}"
        );
        assert!(
            response
                .headers()
                .get("access-control-allow-credentials")
                .is_none(),
            "{path}"
        );
    }
    for path in [
        "/v1/agent/conversations",
        "/v1/admin/agents",
        "/v1/auth/login",
        "/v1/tickets",
    ] {
        let response = preflight(path).await.unwrap();
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{path}"
        );
    }
    // A real cross-origin send is answered and readable by the page.
    let sent = server
        .client
        .post(server.url("/v1/chat/message"))
        .header("origin", "https://any-shop.example")
        .json(&serde_json::json!({ "message": "hello" }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    assert_eq!(
        sent.headers()["access-control-allow-origin"],
        "https://any-shop.example"
    );
}

/// A refused origin is logged once (the JSON log on stdout), naming the
/// setting that allows it; the server's own pages are never reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_origin_is_logged_once() {
    let server = LoggedServer::start(&[
        ("CORS_ORIGINS", "https://shop.example"),
        ("RUST_LOG", "warn"),
    ])
    .await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    for origin in [
        "https://evil.example",
        "https://evil.example",
        "https://shop.example",
        &base,
    ] {
        client
            .post(format!("{base}/v1/agent/conversations"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
    }
    let log = server.stop();
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("cross-origin request was refused"))
        .collect();
    assert_eq!(refusals.len(), 1, "{log}");
    assert!(refusals[0].contains("evil.example"), "{log}");
    assert!(refusals[0].contains("CORS_ORIGINS"), "{log}");
}

/// Made-up HTTP methods never become metric series: the label set stays
/// the methods HTTP defines (it grew by one series per method before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_labels_stay_bounded() {
    let server = Server::start(sqlite_options()).await;
    for i in 0..300 {
        let method = reqwest::Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        let _ = server
            .client
            .request(method, server.url("/v1/chat/message"))
            .send()
            .await
            .unwrap();
    }
    let text = server.get("/metrics").await.text().await.unwrap();
    assert!(
        !text.contains("MADEUP"),
        "{}",
        &text[..text.len().min(2000)]
    );
    let known = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE", "other",
    ];
    for line in text
        .lines()
        .filter(|l| l.starts_with("spur_http_requests_total{"))
    {
        let method = line
            .split("method=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        assert!(known.contains(&method), "{line}");
    }
    let other = text
        .lines()
        .find(|l| l.contains("method=\"other\"") && l.contains("/v1/chat/message"))
        .expect("made-up methods are counted as other");
    let count: f64 = other.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 300.0, "{other}");
}

/// `/metrics` behind the operator's token, or on an address of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_a_token_or_their_own_address() {
    let server = Server::start(Options {
        metrics_token: Some(String::from("metrics-token-0123456789").into()),
        ..sqlite_options()
    })
    .await;
    let get = |token: Option<&'static str>| {
        let mut request = server.client.get(server.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 401);
    assert_eq!(
        get(Some("metrics-token-012345678")).await.unwrap().status(),
        401
    );
    assert_eq!(get(Some("wrong")).await.unwrap().status(), 401);
    let ok = get(Some("metrics-token-0123456789")).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.text()
            .await
            .unwrap()
            .contains("spur_http_requests_total")
    );

    let server = Server::start(Options {
        metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
        ..sqlite_options()
    })
    .await;
    assert_eq!(server.get("/metrics").await.status(), 404, "not on the API");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = spur_server::metrics_app(server.state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let own = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
}

/// Pages carry a content security policy and refuse to be framed by other
/// sites; every response is nosniff; the widget's files stay embeddable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers_and_the_widget_stays_embeddable() {
    let widget = std::env::temp_dir().join(format!("spur-widget-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&widget).unwrap();
    std::fs::write(widget.join("spur-widget.js"), "export {};\n").unwrap();
    let server = Server::start(Options {
        widget_dir: Some(widget.clone()),
        ..sqlite_options()
    })
    .await;
    for page in ["/", "/agent", "/admin", "/docs/"] {
        let r = server.get(page).await;
        assert_eq!(r.status(), 200, "{page}");
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{page}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{page}: {csp}");
        assert!(
            !csp.contains("script-src 'self' 'unsafe-inline'"),
            "{page}: {csp}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{page}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{page}");
        assert!(h.contains_key("referrer-policy"), "{page}");
        let html = r.text().await.unwrap();
        assert!(
            !html.contains("<script>"),
            "{page}: inline scripts would be blocked by the policy"
        );
    }
    let api = server.get("/healthz").await;
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
    let js = server.get("/widget/spur-widget.js").await;
    assert_eq!(js.status(), 200);
    assert!(js.headers().get("x-frame-options").is_none());
    assert!(js.headers().get("content-security-policy").is_none());
    assert_eq!(js.headers()["access-control-allow-origin"], "*");
    for script in ["/assets/console.js", "/assets/demo.js"] {
        let r = server.get(script).await;
        assert_eq!(r.status(), 200, "{script}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
    }
    let _ = std::fs::remove_dir_all(widget);
}

/// Pages and JSON go compressed to a client that accepts it; live feeds
/// (SSE) never are (a compressor would hold events back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_compressed_except_live_feeds() {
    let server = Server::start(sqlite_options()).await;
    let get = |path: &str, encoding: &'static str| {
        server
            .client
            .get(server.url(path))
            .header("accept-encoding", encoding)
            .send()
    };
    for (path, encoding) in [("/agent", "br"), ("/openapi.json", "gzip")] {
        let response = get(path, encoding).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-encoding"], encoding, "{path}");
    }
    let plain = get("/agent", "identity").await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());

    let first = server.say("hello", None).await;
    let session = first["sessionId"].as_str().unwrap();
    let feed = get(&format!("/v1/chat/events/{session}"), "gzip, br")
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    assert!(
        feed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert!(feed.headers().get("content-encoding").is_none());
}

/// `seed` prepares a database and can run again: one admin, one demo
/// conversation, and no warning about a token key it never uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_twice_adds_nothing_and_warns_of_nothing() {
    let db = std::env::temp_dir().join(format!("spur-seed-{}.db", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}", db.display());
    let seed = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_spur-server"))
            .arg("seed")
            .env_clear()
            .envs([
                ("DATABASE_URL", url.as_str()),
                ("ADMIN_EMAIL", "admin@shop.example"),
                ("ADMIN_PASSWORD", "a-long-enough-password"),
            ])
            .output()
            .unwrap()
    };
    let first = seed();
    let second = seed();
    for run in [&first, &second] {
        assert!(run.status.success(), "{run:?}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(!all.contains("JWT_SECRET"), "{all}");
    }
    assert!(String::from_utf8_lossy(&first.stdout).contains("seeded a demo conversation"));
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("no demo conversation added"),
        "{second:?}"
    );
    let store = spur_core::store::SqliteStore::connect(&url).await.unwrap();
    let page = spur_core::store::ConversationStore::list_conversations(
        &store,
        &Default::default(),
        None,
        10,
    )
    .await
    .unwrap();
    assert_eq!(page.conversations.len(), 1);
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_spur-server"))
        .args(["seed", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Safe to run again"));
    let _ = std::fs::remove_file(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_icon_and_the_console_with_a_trailing_slash() {
    let server = Server::start(sqlite_options()).await;
    let icon = server.get("/favicon.ico").await;
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    assert!(icon.text().await.unwrap().starts_with("<svg"));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (from, to) in [("/agent/", "/agent"), ("/admin/", "/admin")] {
        let response = client.get(server.url(from)).send().await.unwrap();
        assert_eq!(response.status(), 308, "{from}");
        assert_eq!(response.headers()["location"], to, "{from}");
    }
}

/// Logs are JSON lines unless `LOG_FORMAT=pretty` asks for a person's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_or_pretty() {
    for (format, json) in [("", true), ("pretty", false)] {
        let log = LoggedServer::start(&[("LOG_FORMAT", format)]).await.stop();
        let line = log
            .lines()
            .find(|l| l.contains("spur-server listening"))
            .unwrap_or_else(|| panic!("{log}"));
        assert_eq!(
            serde_json::from_str::<Value>(line).is_ok(),
            json,
            "{format:?}: {line}"
        );
    }
}
