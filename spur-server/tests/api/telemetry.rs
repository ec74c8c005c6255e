//! OpenTelemetry: the real binary with `OTEL_EXPORTER_OTLP_ENDPOINT` sends
//! its spans over OTLP/HTTP to a receiver here that decodes the protobuf;
//! a caller's `traceparent` is the request's parent, and the turn, the
//! retrieval and the model call (GenAI attributes) are in the same trace.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::json;

use crate::support::LoggedServer;

/// A stand-in collector: every span of every export it is sent.
async fn receiver() -> (String, Arc<Mutex<Vec<Span>>>, Arc<Mutex<Vec<String>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let services = Arc::new(Mutex::new(Vec::new()));
    let (kept, names) = (spans.clone(), services.clone());
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let (kept, names) = (kept.clone(), names.clone());
            async move {
                assert_eq!(headers["content-type"], "application/x-protobuf");
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                for resource in request.resource_spans {
                    for attribute in resource.resource.iter().flat_map(|r| &r.attributes) {
                        if attribute.key == "service.name" {
                            names.lock().unwrap().push(text(attribute.value.as_ref()));
                        }
                    }
                    for scope in resource.scope_spans {
                        kept.lock().unwrap().extend(scope.spans);
                    }
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, spans, services)
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(n)) => n.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .map(|a| text(a.value.as_ref()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_with_the_callers_trace_and_genai_attributes() {
    let (collector, spans, services) = receiver().await;
    let server = LoggedServer::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()),
        ("OTEL_SERVICE_NAME", "spur-test"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let reply = reqwest::Client::new()
        .post(format!("{}/v1/chat/message", server.base))
        .header("traceparent", format!("00-{trace}-{parent}-01"))
        .json(&json!({"message": "Do you ship to India?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    // Spans come in batches (every 100 ms here): wait for the whole turn.
    let wanted = [
        "request",
        "spur.turn",
        "spur.retrieval",
        "spur.prompt",
        "chat knowledge-base",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans = spans.lock().unwrap().clone();
        if wanted.iter().all(|w| spans.iter().any(|s| s.name == *w)) {
            break spans;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "spans seen: {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let chat = spans
        .iter()
        .find(|s| s.name.starts_with("chat "))
        .unwrap()
        .clone();
    let log = server.stop();
    assert!(
        log.lines()
            .any(|l| l.contains("/v1/chat/message")
                && l.contains(&format!("\"trace_id\":\"{trace}\""))),
        "the request's log lines name the trace"
    );

    assert_eq!(
        services.lock().unwrap().first().map(String::as_str),
        Some("spur-test")
    );
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let request = spans
        .iter()
        .find(|s| {
            s.name == "request" && attribute(s, "path").as_deref() == Some("/v1/chat/message")
        })
        .expect("the request's span");
    assert_eq!(hex(&request.trace_id), trace, "the caller's trace");
    assert_eq!(
        hex(&request.parent_span_id),
        parent,
        "the caller's span is the parent"
    );
    for name in ["spur.turn", "spur.retrieval", "spur.prompt"] {
        let span = spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(hex(&span.trace_id), trace, "{name} in the caller's trace");
    }
    assert_eq!(hex(&chat.trace_id), trace);
    assert_eq!(chat.name, "chat knowledge-base");
    assert_eq!(
        attribute(&chat, "gen_ai.operation.name").as_deref(),
        Some("chat")
    );
    assert_eq!(
        attribute(&chat, "gen_ai.provider.name").as_deref(),
        Some("offline")
    );
    assert_eq!(
        attribute(&chat, "gen_ai.request.model").as_deref(),
        Some("knowledge-base")
    );
    assert!(
        attribute(&chat, "gen_ai.usage.input_tokens")
            .is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 0))
    );
    assert!(attribute(&chat, "gen_ai.usage.output_tokens").is_some());
    assert_eq!(
        attribute(&chat, "gen_ai.response.finish_reasons").as_deref(),
        Some("stop")
    );
    // No prompt or reply text anywhere.
    for span in &spans {
        for a in &span.attributes {
            let value = text(a.value.as_ref());
            assert!(
                !value.contains("India"),
                "{} on {} holds customer text",
                a.key,
                span.name
            );
        }
    }
    let turn = spans.iter().find(|s| s.name == "spur.turn").unwrap();
    assert_eq!(
        chat.parent_span_id, turn.span_id,
        "the model call is part of the turn"
    );
}
