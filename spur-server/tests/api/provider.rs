//! An OpenAI-compatible LLM that fails in every way: the customer's message
//! is stored, the fallback arrives in time, the failure shows in metadata and
//! metrics, and the fallback never reaches a later prompt.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spur_core::testing::fake_openai;
use spur_server::config::{Options, Settings};

use super::support::{Server, sqlite_options};

fn with_llm(base: &str, model: &str) -> Options {
    Options {
        openai_base_url: Some(base.to_string()),
        openai_api_key: Some(String::from("sk-test").into()),
        openai_model: Some(model.into()),
        llm_timeout_ms: Some(1_000),
        ..sqlite_options()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answering_llm_is_used() {
    let (base, fake) = fake_openai::start().await.unwrap();
    let server = Server::start(with_llm(&base, "good")).await;
    let calls = "spur_llm_calls_total{provider=\"openai\",outcome=\"ok\"}";
    let input = "spur_llm_tokens_total{kind=\"input\"}";
    let (calls_before, input_before) = (server.metric(calls).await, server.metric(input).await);
    let r = server.say("Where do you ship?", None).await;
    assert_eq!(r["reply"], "We ship to the USA, India and Europe.");
    assert_eq!(r["usedFallback"], false);
    assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
    // Grounded: the prompt carried the store policies.
    let body = fake.last_body.lock().unwrap().clone().unwrap();
    assert!(body.to_string().contains("14 days"), "{body}");
    // Exactly this call and the fake's reported usage (42 prompt tokens).
    assert_eq!(server.metric(calls).await - calls_before, 1.0);
    assert_eq!(server.metric(input).await - input_before, 42.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_mode_falls_back_in_time() {
    let (base, fake) = fake_openai::start().await.unwrap();
    // Transient failures are retried with backoff, so the 1 s budget may
    // run out first: then the recorded cause is the timeout.
    for (model, codes) in [
        ("slow", &["llm_timeout"][..]),
        ("rate-limited", &["llm_rate_limited", "llm_timeout"][..]),
        ("broken", &["llm_upstream_error", "llm_timeout"][..]),
        ("malformed", &["llm_invalid_response"][..]),
    ] {
        let server = Server::start(with_llm(&base, model)).await;
        let fallbacks = |code: &str| format!("spur_llm_fallbacks_total{{code=\"{code}\"}}");
        let mut before = std::collections::HashMap::new();
        for code in codes {
            before.insert(*code, server.metric(&fallbacks(code)).await);
        }
        let started = Instant::now();
        let r = server.say("Where is my parcel?", None).await;
        let took = started.elapsed();
        assert_eq!(r["usedFallback"], true, "{model}: {r}");
        assert!(
            took < Duration::from_millis(2_900),
            "{model}: answered in {took:?}"
        );
        let session = r["sessionId"].as_str().unwrap();
        let session_id = session.parse().unwrap();
        // Stored: the customer's message and the fallback with its error code.
        let page = server
            .state
            .engine
            .history(session_id, None, 10)
            .await
            .unwrap();
        assert_eq!(page.messages[0].text, "Where is my parcel?");
        let fallback = &page.messages[1];
        assert!(fallback.meta.used_fallback);
        let stored_code = fallback.meta.error_code.clone().unwrap();
        assert!(
            codes.contains(&stored_code.as_str()),
            "{model}: {stored_code}"
        );
        assert_eq!(
            server.metric(&fallbacks(&stored_code)).await - before[stored_code.as_str()],
            1.0,
            "{model}: one fallback counted under its code"
        );
        // The customer's view carries no internals.
        let h: Value = server
            .get_json(&format!("/v1/chat/history/{session}"))
            .await;
        assert!(!h.to_string().contains(&stored_code));
    }
    assert!(fake.calls.load(Ordering::SeqCst) >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_is_never_fed_into_a_later_prompt() {
    let (base, fake) = fake_openai::start().await.unwrap();
    let options = with_llm(&base, "malformed");
    let database_url = options.database_url.clone();
    let broken = Server::start(options).await;
    let r = broken.say("Do you ship to India?", None).await;
    assert_eq!(r["usedFallback"], true);
    let fallback_text = r["reply"].as_str().unwrap().to_string();
    let session = r["sessionId"].as_str().unwrap().to_string();

    // The same database, now with an LLM that answers.
    let good = Server::start(Options {
        database_url,
        ..with_llm(&base, "good")
    })
    .await;
    let r = good.say("And to Europe?", Some(&session)).await;
    assert_eq!(r["usedFallback"], false);
    let prompt = fake.last_body.lock().unwrap().clone().unwrap().to_string();
    assert!(
        prompt.contains("Do you ship to India?"),
        "history kept: {prompt}"
    );
    assert!(
        !prompt.contains(&fallback_text),
        "fallback fed back: {prompt}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_dropped_mid_way_ends_in_a_stored_fallback() {
    let (base, _fake) = fake_openai::start().await.unwrap();
    let server = Server::start(with_llm(&base, "drop-mid-stream")).await;
    let r = server
        .post("/v1/chat/stream", json!({"message": "Where do you ship?"}))
        .await;
    let events = super::support::sse_events(r, |_| false).await;
    let done = events.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(done.json()["usedFallback"], true);
    let session = events[0].json()["sessionId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let page = server
        .state
        .engine
        .history(session, None, 10)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 2);
    assert!(page.messages[1].meta.used_fallback);
}

/// A tool from the file, the shop's order service on loopback, and a model
/// that calls it: the customer's answer comes from the order system, and
/// the call is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_http_tool_answers_from_the_shops_service() {
    use axum::extract::Path;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let orders = axum::Router::new().route(
        "/orders/{number}",
        axum::routing::get(|Path(number): Path<String>| async move {
            axum::Json(json!({"number": number, "status": "shipped", "cost_price": 3.1}))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, orders).await });
    let (base, fake) = fake_openai::start().await.unwrap();
    let tools = spur_server::config::ToolsFile {
        allow_hosts: vec![host.clone()],
        http: vec![spur_core::tools::HttpToolConfig {
            fields: vec!["number".into(), "status".into()],
            ..spur_core::tools::HttpToolConfig::new(
                "lookup_order",
                "Where an order is.",
                format!("http://{host}/orders/{{order_number}}"),
                order_number_schema(),
            )
        }],
        ..Default::default()
    };
    let server = tool_server(&base, tools).await;
    let counted = "spur_tool_calls_total{tool=\"lookup_order\",outcome=\"ok\"}";
    let before = server.metric(counted).await;
    let r = server.say("Where is my order 1042?", None).await;
    assert_eq!(
        r["reply"], r#"The tool said: {"number":"1042","status":"shipped"}"#,
        "{r}"
    );
    assert_eq!(fake.calls.load(Ordering::SeqCst), 2);
    assert_eq!(server.metric(counted).await - before, 1.0);
}

/// A customer the shop vouches for (`customerHash`): tools act for that
/// customer only; a missing or forged hash is refused, not downgraded; a
/// conversation stays with the customer it started for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_act_only_for_the_customer_the_shop_verified() {
    use axum::extract::Path;
    let secret = "identity-secret-identity-secret-identity";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let orders = axum::Router::new().route(
        "/customers/{customer}/orders",
        axum::routing::get(|Path(customer): Path<String>| async move {
            axum::Json(json!({"customer": customer, "orders": 2}))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, orders).await });
    let (base, _fake) = fake_openai::start().await.unwrap();
    let tools = spur_server::config::ToolsFile {
        allow_hosts: vec![host.clone()],
        http: vec![spur_core::tools::HttpToolConfig::new(
            "my_orders",
            "The customer's orders.",
            format!("http://{host}/customers/{{customer}}/orders"),
            json!({"type": "object", "properties": {}}),
        )],
        ..Default::default()
    };
    let server = Server::start(Options {
        tools: Some(tools.clone()),
        identity_secret: Some(secret.to_string().into()),
        ..with_llm(&base, "tool-caller")
    })
    .await;
    let say = |body: Value| {
        let server = &server;
        async move {
            let response = server.post("/v1/chat/message", body).await;
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let hash = spur_server::identity::hash;
    let (status, anonymous) = say(json!({"message": "how many orders do I have?"})).await;
    assert_eq!(status, 200);
    assert!(
        !anonymous["reply"].to_string().contains("orders\":"),
        "{anonymous}"
    );
    for (body, expected) in [
        (json!({"customerId": "cus_7"}), 401),
        (
            json!({"customerId": "cus_7", "customerHash": hash(secret, "cus_8")}),
            401,
        ),
        (
            json!({"customerId": "cus_7", "customerHash": hash("another-secret-another-secret-xx", "cus_7")}),
            401,
        ),
        (json!({"customerHash": hash(secret, "cus_7")}), 401),
    ] {
        let mut body = body;
        body["message"] = json!("how many orders do I have?");
        let (status, error) = say(body).await;
        assert_eq!(status, expected, "{error}");
        assert_eq!(error["error"]["code"], "invalid_identity", "{error}");
    }
    let (status, mine) = say(json!({"message": "how many orders do I have?",
        "customerId": "cus_7", "customerHash": hash(secret, "cus_7")}))
    .await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(
        mine["reply"],
        r#"The tool said: {"customer":"cus_7","orders":2}"#
    );
    let session = mine["sessionId"].as_str().unwrap();
    let (status, other) = say(json!({"message": "and mine?", "sessionId": session,
        "customerId": "cus_8", "customerHash": hash(secret, "cus_8")}))
    .await;
    assert_eq!(status, 403, "{other}");
    assert_eq!(other["error"]["code"], "other_customer");
    // The shop's signed token instead of the pair: the same customer.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token = |id: &str, exp: i64| spur_server::identity::token(secret, id, exp).unwrap();
    let (status, by_token) = say(json!({"message": "how many orders do I have?",
        "sessionId": session, "customerToken": token("cus_7", now + 300)}))
    .await;
    assert_eq!(status, 200, "{by_token}");
    assert_eq!(
        by_token["reply"],
        r#"The tool said: {"customer":"cus_7","orders":2}"#
    );
    for bad in [
        token("cus_7", now - 1),
        spur_server::identity::token("another-secret-another-secret-xx", "cus_7", now + 300)
            .unwrap(),
    ] {
        let (status, error) = say(json!({"message": "hi", "customerToken": bad})).await;
        assert_eq!(status, 401, "{error}");
        assert_eq!(error["error"]["code"], "invalid_identity");
    }

    // Without IDENTITY_SECRET no identity is taken on trust.
    let unverifying = Server::start(Options {
        tools: Some(tools),
        ..with_llm(&base, "tool-caller")
    })
    .await;
    let response = unverifying
        .post(
            "/v1/chat/message",
            json!({"message": "hi", "customerId": "cus_7",
            "customerHash": hash(secret, "cus_7")}),
        )
        .await;
    assert_eq!(response.status().as_u16(), 401);
}

/// The README's tools example stays a working configuration: its order
/// service (the example's files, served over HTTP) answers the tool, and
/// the fields it lists are all the model sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tools_example_works_as_written() {
    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/tools");
    let dir = DIR;
    let options = Options {
        config: Some(format!("{dir}/spur.toml").into()),
        ..Options::default()
    };
    let mut tools = Settings::load(options).unwrap().tools;
    // The example's service listens on 8099; this one on a free port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let files = axum::Router::new().route(
        "/orders/{number}",
        axum::routing::get(
            |axum::extract::Path(number): axum::extract::Path<String>| async move {
                std::fs::read(format!("{DIR}/orders/{number}"))
                    .map_err(|_| axum::http::StatusCode::NOT_FOUND)
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, files).await });
    tools.allow_hosts = vec![host.clone()];
    tools.http[0].url = tools.http[0].url.replace("127.0.0.1:8099", &host);
    let (base, _fake) = fake_openai::start().await.unwrap();
    let server = tool_server(&base, tools).await;
    let r = server.say("Where is my order 1042?", None).await;
    let said: Value = serde_json::from_str(
        r["reply"]
            .as_str()
            .unwrap()
            .trim_start_matches("The tool said: "),
    )
    .unwrap();
    assert_eq!(said["status"], "shipped", "{r}");
    assert_eq!(said["tracking_number"], "JD014600003828");
    assert!(said.get("internal_notes").is_none(), "{said}");
    // The admins' log shows the call.
    let admin = server.admin_token().await;
    let log = server.get_as(&admin, "/v1/admin/logs").await;
    let call = &log["entries"][0]["tools"][0];
    assert_eq!(call["tool"], "lookup_order", "{log}");
    assert_eq!(call["arguments"], json!({"order_number": "1042"}));
    assert_eq!(call["outcome"], "ok");
    assert!(
        call["summary"].as_str().unwrap().contains("shipped"),
        "{call}"
    );
}

/// A tool that changes something (`writes = true` in the file): the model's
/// call is held and the customer asked; their "yes" sends it once, with an
/// idempotency key; a second "yes" sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_change_waits_for_the_customers_yes_and_is_sent_once() {
    use axum::http::HeaderMap;
    let sent: Arc<std::sync::Mutex<Vec<Option<String>>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let noted = sent.clone();
    let orders =
        axum::Router::new().route(
            "/cancellations",
            axum::routing::post(
                move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from);
                    noted.lock().unwrap().push(key);
                    async move {
                        axum::Json(json!({"order": body["order_number"], "status": "cancelled"}))
                    }
                },
            ),
        );
    tokio::spawn(async move { axum::serve(listener, orders).await });
    let (base, _fake) = fake_openai::start().await.unwrap();
    let tools = spur_server::config::ToolsFile {
        allow_hosts: vec![host.clone()],
        http: vec![spur_core::tools::HttpToolConfig {
            method: "POST".into(),
            writes: true,
            ..spur_core::tools::HttpToolConfig::new(
                "cancel_order",
                "Cancels an order that has not shipped.",
                format!("http://{host}/cancellations"),
                order_number_schema(),
            )
        }],
        ..Default::default()
    };
    let server = tool_server(&base, tools).await;
    let asked = server.say("Please cancel order 1042", None).await;
    let session = asked["sessionId"].as_str().unwrap().to_string();
    assert!(
        asked["reply"]
            .as_str()
            .unwrap()
            .contains("Please confirm: cancel order (order number: 1042)"),
        "{asked}"
    );
    assert!(
        sent.lock().unwrap().is_empty(),
        "nothing sent before the yes"
    );
    let history = server
        .get_json(&format!("/v1/chat/history/{session}"))
        .await;
    assert_eq!(history["messages"][1]["confirm"], true, "{history}");
    let done = server.say("yes", Some(&session)).await;
    assert_eq!(
        done["reply"], r#"The tool said: {"order":"1042","status":"cancelled"}"#,
        "{done}"
    );
    server.say("yes", Some(&session)).await;
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "sent once");
    assert!(sent[0].as_ref().is_some_and(|k| k.len() >= 32), "{sent:?}");
    let history = server
        .get_json(&format!("/v1/chat/history/{session}"))
        .await;
    assert!(history["messages"][3].get("confirm").is_none(), "{history}");
}

/// An MCP server from the file (`[[tools.mcp]]`, started over stdio): its
/// allowed tool answers the customer; one that is down at start leaves the
/// assistant answering without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_servers_tool_answers_from_the_file() {
    use spur_core::testing::mcp;
    let (base, _fake) = fake_openai::start().await.unwrap();
    let server_config = |name: &str, program: String| spur_core::tools::McpServerConfig {
        name: name.into(),
        command: vec![program, mcp::orders_server(), "stdio".into()],
        env: Default::default(),
        url: None,
        allow: vec!["lookup_order".into()],
        read_only: Vec::new(),
        timeout_ms: Some(20_000),
    };
    let tools = spur_server::config::ToolsFile {
        mcp: vec![
            server_config("missing", "/nonexistent/python".into()),
            server_config("orders", mcp::python()),
        ],
        ..Default::default()
    };
    let server = tool_server(&base, tools).await;
    let r = server.say("Where is my order 1042?", None).await;
    assert_eq!(
        r["reply"], r#"The tool said: {"carrier":"DHL","order":"1042","status":"shipped"}"#,
        "{r}"
    );
    let counted = "spur_tool_calls_total{tool=\"orders__lookup_order\",outcome=\"ok\"}";
    assert_eq!(server.metric(counted).await, 1.0);
}

/// `create_ticket = true`: the model files a ticket for the conversation,
/// and the agents find it classified in the desk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_files_a_ticket_the_agents_see() {
    let (base, _fake) = fake_openai::start().await.unwrap();
    let tools = spur_server::config::ToolsFile {
        create_ticket: true,
        ..Default::default()
    };
    let server = tool_server(&base, tools).await;
    let r = server.say("I was charged twice, please refund", None).await;
    assert!(
        r["reply"].as_str().unwrap().contains("\"status\":\"open\""),
        "{r}"
    );
    let admin = server.admin_token().await;
    let tickets: Value = server
        .call(reqwest::Method::GET, "/v1/tickets", Some(&admin), None)
        .await
        .json()
        .await
        .unwrap();
    let filed = tickets["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| !t["conversationId"].is_null())
        .unwrap_or_else(|| panic!("{tickets}"));
    assert!(
        r["reply"]
            .as_str()
            .unwrap()
            .contains(filed["id"].as_str().unwrap())
    );
}

/// A server on the fake LLM's `tool-caller` model with `tools`.
async fn tool_server(base: &str, tools: spur_server::config::ToolsFile) -> Server {
    Server::start(Options {
        tools: Some(tools),
        ..with_llm(base, "tool-caller")
    })
    .await
}

/// Arguments of one required `order_number` string.
fn order_number_schema() -> Value {
    json!({"type": "object", "properties": {"order_number": {"type": "string"}}, "required": ["order_number"]})
}
