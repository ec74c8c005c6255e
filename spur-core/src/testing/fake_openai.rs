//! A local OpenAI-compatible server that misbehaves on demand: the model
//! name picks the behaviour, so one server serves every test and bench.
//! `slow` answers after 3 s, `rate-limited` is 429, `broken` is 500, `flaky`
//! is 503 on its own first call then fine (whatever else was asked before), `malformed` sends broken JSON, `drop-mid-stream`
//! cuts a stream, `slow-stream` streams 15 words 100 ms apart (the whole
//! answer is [`SLOW_STREAM_TEXT`]), `timed-stream` streams a whole
//! sentence first and notes when that chunk left ([`Fake::first_chunks`]); `tickets` answers ticket classification and summary
//! prompts with valid JSON (`slow-tickets` after 3 s); `tool-caller` calls
//! the first tool offered (every required argument "1042") and, once the
//! last message is a tool's result, answers "The tool said: <result>"
//! (whole or streamed, as OpenAI documents both); any other model
//! answers at once (streamed when asked). While `failing` is set, every
//! request is a 503 (a provider that is down, then recovers).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What `slow-stream` says, word by word.
pub const SLOW_STREAM_TEXT: &str =
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen";

/// Counters the tests read.
#[derive(Clone, Default)]
pub struct Fake {
    pub calls: Arc<AtomicUsize>,
    /// Calls per model name.
    pub per_model: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    pub last_body: Arc<std::sync::Mutex<Option<Value>>>,
    pub failing: Arc<std::sync::atomic::AtomicBool>,
    /// Texts sent to `/v1/embeddings`, per request.
    pub embedded: Arc<std::sync::Mutex<Vec<usize>>>,
    /// `timed-stream`: when each request's first chunk was handed to the
    /// connection, by the request's last message text (a bench in the same
    /// process compares it with when the delta reached its client).
    pub first_chunks: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>>,
}

/// What the `tickets` model says: a classification or a summary, by prompt.
fn ticket_answer(body: &Value) -> &'static str {
    let system = body["messages"][0]["content"].as_str().unwrap_or_default();
    if system.contains("Summarise") {
        r#"{"title": "Refund for a double charge", "description": "The customer was charged twice for one order and wants the second charge refunded."}"#
    } else {
        r#"{"category": "billing", "priority": "high", "confidence": 0.9}"#
    }
}

fn completion(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "fake-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
    })
}

/// `tool-caller`'s call: the first offered tool, required arguments "1042";
/// none when it may not (`tool_choice: "none"`).
fn tool_call(body: &Value) -> Option<(String, String)> {
    let asked_already = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .is_some_and(|m| m["role"] == "tool");
    let tool = &body["tools"][0]["function"];
    if asked_already || !tool.is_object() || body["tool_choice"] == "none" {
        return None;
    }
    let arguments: serde_json::Map<String, Value> = tool["parameters"]["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|name| Some((name.as_str()?.to_string(), json!("1042"))))
        .collect();
    Some((
        tool["name"].as_str().unwrap_or_default().to_string(),
        Value::Object(arguments).to_string(),
    ))
}

/// `tool-caller`, whole: a call, or what the tool said.
fn tool_caller(body: &Value, last_text: &str, stream: bool) -> Response {
    let Some((name, arguments)) = tool_call(body) else {
        let said = format!("The tool said: {last_text}");
        if stream {
            let events = [chunk(&said), "data: [DONE]\n\n".to_string()];
            let body = futures::stream::iter(events.map(Ok::<_, Infallible>));
            return (
                [(header::CONTENT_TYPE, "text/event-stream")],
                Body::from_stream(body),
            )
                .into_response();
        }
        return Json(completion(&said)).into_response();
    };
    if !stream {
        return Json(json!({
            "id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": "fake-model",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": name, "arguments": arguments}}]}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62}
        }))
        .into_response();
    }
    // The call's id and name first, then the arguments in two pieces.
    let half = arguments.len() / 2;
    let piece = |call: Value| {
        let v = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "fake-model",
            "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]});
        format!("data: {v}\n\n")
    };
    let events = [
        piece(
            json!({"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}),
        ),
        piece(json!({"index": 0, "function": {"arguments": &arguments[..half]}})),
        piece(json!({"index": 0, "function": {"arguments": &arguments[half..]}})),
        "data: [DONE]\n\n".to_string(),
    ];
    let body = futures::stream::iter(events.map(Ok::<_, Infallible>));
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(body),
    )
        .into_response()
}

fn chunk(text: &str) -> String {
    let v = json!({
        "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "fake-model",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
    });
    format!("data: {v}\n\n")
}

async fn chat(State(fake): State<Fake>, Json(body): Json<Value>) -> Response {
    fake.calls.fetch_add(1, Ordering::SeqCst);
    let model = body["model"].as_str().unwrap_or_default().to_string();
    // This model's own count: `flaky` fails its first call, not the fake's.
    let n = fake
        .per_model
        .lock()
        .map(|mut counts| {
            let count = counts.entry(model.clone()).or_default();
            *count += 1;
            *count - 1
        })
        .unwrap_or(0);
    let stream = body["stream"].as_bool().unwrap_or(false);
    let tickets = ticket_answer(&body);
    let last_text = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string();
    let tool_reply = (model == "tool-caller").then(|| tool_caller(&body, &last_text, stream));
    if let Ok(mut last) = fake.last_body.lock() {
        *last = Some(body);
    }
    if fake.failing.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"message": "down", "type": "server_error", "param": null, "code": null}})),
        )
            .into_response();
    }
    if let Some(reply) = tool_reply {
        return reply;
    }
    match model.as_str() {
        "tickets" => Json(completion(tickets)).into_response(),
        "slow-tickets" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Json(completion(tickets)).into_response()
        }
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Json(completion("late")).into_response()
        }
        "rate-limited" => (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": {"message": "slow down", "type": "rate_limit_error", "param": null, "code": null}})),
        )
            .into_response(),
        "broken" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}})),
        )
            .into_response(),
        // Fails once, then answers: exercises the retry with backoff.
        "flaky" if n == 0 => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"message": "busy", "type": "server_error", "param": null, "code": null}})),
        )
            .into_response(),
        "malformed" => ([(header::CONTENT_TYPE, "application/json")], "{\"choices\": [").into_response(),
        "slow-stream" if stream => {
            use futures::StreamExt;
            let words: Vec<String> = SLOW_STREAM_TEXT
                .split(' ')
                .enumerate()
                .map(|(i, w)| chunk(&if i == 0 { w.to_string() } else { format!(" {w}") }))
                .chain(["data: [DONE]\n\n".to_string()])
                .collect();
            let body = futures::stream::iter(words).then(|e| async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok::<_, Infallible>(e)
            });
            ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(body)).into_response()
        }
        "drop-mid-stream" if stream => {
            let parts = vec![Ok::<_, std::io::Error>(chunk("Hel")), Ok(chunk("lo"))];
            let body = futures::stream::iter(parts)
                .chain(futures::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Err::<String, _>(std::io::Error::other("connection reset"))
                }));
            use futures::StreamExt;
            ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(body)).into_response()
        }
        _ if stream => {
            use futures::StreamExt;
            // `timed-stream` completes a sentence in its first chunk, so the
            // grounding guard (sentence by sentence) can release it at once.
            let pieces: &[&str] = if model == "timed-stream" {
                &["We ship to the USA, India and Europe. ", "Anything else?"]
            } else {
                &["We ship ", "to the USA, ", "India and Europe."]
            };
            let usage = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "fake-model",
                "choices": [], "usage": {"prompt_tokens": 42, "completion_tokens": 9, "total_tokens": 51}});
            let events: Vec<String> = pieces
                .iter()
                .map(|p| chunk(p))
                .chain([format!("data: {usage}\n\n"), "data: [DONE]\n\n".to_string()])
                .collect();
            let timed = (model == "timed-stream").then_some((fake.first_chunks.clone(), last_text));
            // Real chunked streaming, one event at a time.
            let body = futures::stream::iter(events).enumerate().then(move |(i, e)| {
                let timed = timed.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    if let (0, Some((first_chunks, text))) = (i, timed)
                        && let Ok(mut first) = first_chunks.lock()
                    {
                        first.insert(text, Instant::now());
                    }
                    Ok::<_, Infallible>(e)
                }
            });
            ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(body)).into_response()
        }
        _ => Json(completion("We ship to the USA, India and Europe.")).into_response(),
    }
}

/// `/v1/embeddings` as OpenAI documents it. Each vector has one dimension
/// per topic of the tiny model (`refund` and `return` point the same way)
/// and is padded to `dimensions` (default 8). The model `slow` answers
/// after 3 s, `broken` is 500; everything is 503 while `failing` is set.
async fn embeddings(State(fake): State<Fake>, Json(body): Json<Value>) -> Response {
    let model = body["model"].as_str().unwrap_or_default().to_string();
    if fake.failing.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match model.as_str() {
        "slow" => tokio::time::sleep(Duration::from_secs(3)).await,
        "broken" => {
            let error = json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}});
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(error)).into_response();
        }
        _ => {}
    }
    let inputs: Vec<String> = match &body["input"] {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => Vec::new(),
    };
    if let Ok(mut embedded) = fake.embedded.lock() {
        embedded.push(inputs.len());
    }
    let dims = body["dimensions"].as_u64().unwrap_or(8).max(3) as usize;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let mut vector = vec![0.0f32; dims];
            for word in text.to_lowercase().split(|c: char| !c.is_alphanumeric()) {
                for (topic, words) in super::tiny_model::TOPICS.iter().enumerate() {
                    if words.contains(&word) {
                        vector[topic] += 1.0;
                    }
                }
            }
            json!({"object": "embedding", "index": index, "embedding": vector})
        })
        .collect();
    Json(json!({
        "object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": inputs.len(), "total_tokens": inputs.len()}
    }))
    .into_response()
}

/// The fake's routes, to serve on a listener of the caller's choice.
pub fn router(fake: Fake) -> axum::Router {
    axum::Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .with_state(fake)
}

/// Serves the fake on `listener` until the process ends. Chunks leave at
/// once (TCP_NODELAY), as from a real provider's edge: with Nagle's
/// algorithm a streamed chunk waits for the reader's delayed ACK.
pub async fn serve(listener: tokio::net::TcpListener, fake: Fake) -> std::io::Result<()> {
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(fake)).await
}

/// Starts the fake on a free loopback port; returns its `/v1` base URL.
pub async fn start() -> std::io::Result<(String, Fake)> {
    let fake = Fake::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let serving = serve(listener, fake.clone());
    tokio::spawn(async move {
        if let Err(error) = serving.await {
            tracing::error!(%error, "fake OpenAI server stopped");
        }
    });
    Ok((format!("http://{addr}/v1"), fake))
}
