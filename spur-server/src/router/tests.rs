use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use spur_core::SupportEngine;
use tower::ServiceExt;

use super::app;

async fn call(
    engine: &SupportEngine,
    method: &str,
    uri: &str,
    body: Option<(&str, String)>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    let body = match body {
        Some((content_type, text)) => {
            request = request.header(header::CONTENT_TYPE, content_type);
            Body::from(text)
        }
        None => Body::empty(),
    };
    let response = app(engine.clone())
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn json_body(v: Value) -> Option<(&'static str, String)> {
    Some(("application/json", v.to_string()))
}

#[tokio::test]
async fn chat_history_and_seed_aliases() {
    let engine = SupportEngine::builder().build();
    let (status, first) = call(
        &engine,
        "POST",
        "/v1/chat/message",
        json_body(json!({"message": "Do you ship to India?"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(first["reply"].as_str().unwrap().contains("India"));
    assert_eq!(first["status"], "automated");
    assert_eq!(first["usedFallback"], false);
    let session = first["sessionId"].as_str().unwrap().to_string();

    let (status, seed) = call(
        &engine,
        "POST",
        "/chat/message",
        json_body(json!({"message": "What is your return policy?", "sessionId": session})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seed["sessionId"], session.as_str());
    assert!(seed["reply"].as_str().unwrap().contains("14 days"));

    let (status, history) = call(
        &engine,
        "GET",
        &format!("/v1/chat/history/{session}?limit=3"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let senders: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sender"].as_str().unwrap())
        .collect();
    assert_eq!(senders, vec!["assistant", "customer", "assistant"]);
    assert_eq!(history["nextCursor"], 2);
    let (_, older) = call(
        &engine,
        "GET",
        &format!("/chat/history/{session}?before=2"),
        None,
    )
    .await;
    assert_eq!(older["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn errors_have_one_shape_and_the_right_status() {
    let engine = SupportEngine::builder().build();
    let cases = [
        (
            json_body(json!({"message": "   "})),
            StatusCode::BAD_REQUEST,
            "empty_message",
        ),
        (
            json_body(json!({"message": "x".repeat(5_001)})),
            StatusCode::BAD_REQUEST,
            "message_too_long",
        ),
        (
            json_body(json!({"message": "hi", "sessionId": "nope"})),
            StatusCode::BAD_REQUEST,
            "invalid_session_id",
        ),
        (
            json_body(json!({"message": "hi", "sessionId": uuid::Uuid::new_v4().to_string()})),
            StatusCode::NOT_FOUND,
            "session_not_found",
        ),
        (
            Some(("text/plain", "hi".into())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Some(("application/json", "{".into())),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            json_body(json!({"text": "hi"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            Some((
                "application/json",
                format!("{{\"message\":\"{}\"}}", "a".repeat(200_000)),
            )),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (body, status, code) in cases {
        let (got, value) = call(&engine, "POST", "/v1/chat/message", body).await;
        assert_eq!((got, value["error"]["code"].as_str()), (status, Some(code)));
        assert!(value["error"]["message"].is_string());
    }
    let (status, value) = call(&engine, "GET", "/v1/chat/history/not-a-uuid", None).await;
    assert_eq!(
        (status, value["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_session_id"))
    );
}
