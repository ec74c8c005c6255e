//! Tools from configuration calling a real HTTP service on loopback: the
//! fields returned, secrets from the environment, arguments kept in their
//! path segment, and the outbound guard (https, public addresses, no
//! redirects, timeouts, size caps).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serde_json::{Value, json};
use spur_core::KnowledgeBase;
use spur_core::conversation::ConversationId;
use spur_core::tools::{HttpTool, HttpToolConfig, Tool, ToolContext, ToolError};

/// The paths the order service was asked for.
type Seen = Arc<Mutex<Vec<String>>>;

async fn order(Path(number): Path<String>, headers: HeaderMap) -> impl IntoResponse {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer k-123") {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({}))).into_response();
    }
    if number != "1042" {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no such order"})),
        )
            .into_response();
    }
    axum::Json(json!({
        "order": {"status": "shipped", "eta": "December 9"},
        "internal_margin": 12.5,
        "customer_email": "someone@example.com",
    }))
    .into_response()
}

/// A shop's order service; every request's path and query is noted.
async fn order_service() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route("/api/orders/{number}", get(order))
        .route(
            "/api/customers/{customer}/orders",
            get(|Path(customer): Path<String>| async move {
                axum::Json(json!({"customer": customer, "orders": ["1042"]}))
            }),
        )
        .route(
            "/api/returns",
            post(
                |headers: HeaderMap, axum::Json(body): axum::Json<Value>| async move {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from);
                    axum::Json(json!({"received": body, "idempotency_key": key}))
                },
            ),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "{}"
            }),
        )
        .route(
            "/big",
            get(|| async { axum::Json(json!({"text": "x".repeat(100_000)})) }),
        )
        .route(
            "/moved",
            get(|| async { Redirect::temporary("/api/orders/1042") }),
        )
        .layer(axum::middleware::from_fn_with_state(
            seen.clone(),
            |State(seen): State<Seen>,
             uri: Uri,
             request: axum::extract::Request,
             next: axum::middleware::Next| async move {
                seen.lock().unwrap().push(uri.to_string());
                next.run(request).await
            },
        ));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("127.0.0.1:{port}"), seen)
}

fn config(name: &str, url: String) -> HttpToolConfig {
    HttpToolConfig {
        headers: [(
            "Authorization".to_string(),
            "Bearer ${ORDERS_KEY}".to_string(),
        )]
        .into(),
        timeout_ms: Some(1_000),
        ..HttpToolConfig::new(
            name,
            "Looks up an order.",
            url,
            json!({
                "type": "object",
                "properties": {"order_number": {"type": "string"}},
                "required": ["order_number"],
            }),
        )
    }
}

fn env(name: &str) -> Option<String> {
    (name == "ORDERS_KEY").then(|| "k-123".to_string())
}

fn tool(config: HttpToolConfig, allow: &str) -> HttpTool {
    HttpTool::new(config, &[allow.to_string()], env).unwrap()
}

fn context(customer: Option<&str>) -> ToolContext {
    ToolContext::new(
        ConversationId(uuid::Uuid::nil()),
        customer.map(Into::into),
        Arc::new(KnowledgeBase::demo()),
    )
}

#[tokio::test]
async fn an_order_lookup_returns_only_the_listed_fields() {
    let (host, seen) = order_service().await;
    let mut lookup = config(
        "lookup_order",
        format!("http://{host}/api/orders/{{order_number}}"),
    );
    lookup.fields = vec![
        "order.status".into(),
        "order.eta".into(),
        "order.missing".into(),
    ];
    let lookup = tool(lookup, &host);
    let found = lookup
        .call(json!({"order_number": "1042"}), &context(None))
        .await
        .unwrap();
    assert_eq!(
        found,
        json!({"order.status": "shipped", "order.eta": "December 9"}),
        "internal fields stay out of the model's reach"
    );
    assert_eq!(seen.lock().unwrap().as_slice(), ["/api/orders/1042"]);
    let missing = lookup
        .call(json!({"order_number": "7"}), &context(None))
        .await;
    assert_eq!(
        missing,
        Err(ToolError::Failed("the service answered HTTP 404".into()))
    );
}

#[tokio::test]
async fn arguments_stay_inside_their_path_segment() {
    let (host, seen) = order_service().await;
    let lookup = tool(
        config(
            "lookup_order",
            format!("http://{host}/api/orders/{{order_number}}"),
        ),
        &host,
    );
    let climbed = lookup
        .call(
            json!({"order_number": "1042/../../slow?x=1#y"}),
            &context(None),
        )
        .await;
    assert!(matches!(climbed, Err(ToolError::Failed(_))), "{climbed:?}");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["/api/orders/1042%2F..%2F..%2Fslow%3Fx%3D1%23y"]
    );
    for dots in ["..", ".", ""] {
        let refused = lookup
            .call(json!({"order_number": dots}), &context(None))
            .await;
        assert!(
            matches!(refused, Err(ToolError::InvalidArguments(_))),
            "{dots:?}"
        );
    }
    assert_eq!(seen.lock().unwrap().len(), 1, "nothing sent for those");
}

#[tokio::test]
async fn only_https_to_public_addresses_unless_a_host_is_allowed() {
    let (host, seen) = order_service().await;
    let port = host.rsplit(':').next().unwrap();
    let url = |base: &str| format!("{base}/api/orders/{{order_number}}");
    for refused in [
        url(&format!("http://{host}")),
        url(&format!("https://{host}")),
        url(&format!("https://[::1]:{port}")),
        url("https://10.0.0.8"),
        url("https://169.254.169.254"),
    ] {
        let built = HttpTool::new(config("t", refused.clone()), &[], env);
        assert!(matches!(built, Err(ToolError::Definition(_))), "{refused}");
    }
    // A name is checked when it resolves: `localhost` has no public address.
    let by_name = HttpTool::new(
        config("t", url(&format!("https://localhost:{port}"))),
        &[],
        env,
    )
    .unwrap();
    let refused = by_name
        .call(json!({"order_number": "1042"}), &context(None))
        .await;
    assert_eq!(
        refused,
        Err(ToolError::Failed(
            "the service's address is not public".into()
        ))
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "no request reached the service"
    );
    // The operator's allowance, by host or host:port.
    for allow in [host.clone(), "127.0.0.1".to_string()] {
        let allowed = tool(config("t", url(&format!("http://{host}"))), &allow);
        assert!(
            allowed
                .call(json!({"order_number": "1042"}), &context(None))
                .await
                .is_ok()
        );
    }
}

#[tokio::test]
async fn slow_large_and_redirected_answers_are_failures() {
    let (host, _seen) = order_service().await;
    let mut slow = config("slow", format!("http://{host}/slow"));
    slow.timeout_ms = Some(200);
    let mut big = config("big", format!("http://{host}/big"));
    big.max_response_bytes = 1_000;
    let moved = config("moved", format!("http://{host}/moved"));
    for (config, said) in [
        (slow, "the service call timed out"),
        (big, "the service's answer was over 1000 bytes"),
        (moved, "the service answered HTTP 307"),
    ] {
        let outcome = tool(config, &host)
            .call(json!({"order_number": "1"}), &context(None))
            .await;
        assert_eq!(outcome, Err(ToolError::Failed(said.into())));
    }
}

#[tokio::test]
async fn definitions_are_checked_at_start() {
    let base = "https://orders.example/api";
    let mut missing_secret = config("t", format!("{base}/orders/{{order_number}}"));
    missing_secret.headers = [("X-Key".to_string(), "${NOT_SET}".to_string())].into();
    let mut half_placeholder = config("t", format!("{base}/orders/n{{order_number}}"));
    half_placeholder.headers.clear();
    let unknown_placeholder = config("t", format!("{base}/orders/{{order_id}}"));
    let mut put = config("t", format!("{base}/orders"));
    put.method = "DELETE".into();
    let with_query = config("t", format!("{base}/orders?id=1"));
    for (what, config) in [
        ("a secret not in the environment", missing_secret),
        ("a placeholder inside a segment", half_placeholder),
        (
            "a placeholder that is no required argument",
            unknown_placeholder,
        ),
        ("a method other than GET or POST", put),
        ("a query in the template", with_query),
    ] {
        let built = HttpTool::new(config, &[], env);
        assert!(matches!(built, Err(ToolError::Definition(_))), "{what}");
    }
    // Secrets never show in a tool's debug output.
    let tool = HttpTool::new(
        config("t", format!("{base}/orders/{{order_number}}")),
        &[],
        env,
    )
    .unwrap();
    assert!(!format!("{tool:?}").contains("k-123"));
}

#[tokio::test]
async fn the_customer_placeholder_is_the_verified_customer_and_post_sends_json() {
    let (host, seen) = order_service().await;
    let mut mine = config(
        "my_orders",
        format!("http://{host}/api/customers/{{customer}}/orders"),
    );
    mine.parameters = json!({"type": "object", "properties": {}});
    let mine = tool(mine, &host);
    assert!(mine.spec().requires_customer);
    let found = mine.call(json!({}), &context(Some("cus 7"))).await.unwrap();
    assert_eq!(found["customer"], "cus 7");
    assert_eq!(
        seen.lock().unwrap().last().unwrap(),
        "/api/customers/cus%207/orders"
    );
    assert_eq!(
        mine.call(json!({}), &context(None)).await,
        Err(ToolError::NotAllowed)
    );

    let mut returns = config("start_return", format!("http://{host}/api/returns"));
    returns.method = "POST".into();
    returns.writes = true;
    let returns = tool(returns, &host);
    assert!(returns.spec().writes, "confirmed by the customer first");
    let answered = returns
        .call(
            json!({"order_number": "1042", "reason": "too small"}),
            &context(None),
        )
        .await
        .unwrap();
    assert_eq!(
        answered["received"],
        json!({"order_number": "1042", "reason": "too small"})
    );
    assert_eq!(answered["idempotency_key"], Value::Null);
    // A confirmed action's key goes with the request, the same on a retry.
    let confirmed = ToolContext {
        idempotency_key: Some("act-7f3a".into()),
        ..context(None)
    };
    let answered = returns
        .call(json!({"order_number": "1042"}), &confirmed)
        .await
        .unwrap();
    assert_eq!(answered["idempotency_key"], "act-7f3a");
}
