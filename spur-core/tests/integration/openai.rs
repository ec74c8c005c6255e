//! The OpenAI-compatible provider and the engine over real HTTP.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use spur_core::llm::{CompletionRequest, LlmProvider, OpenAiConfig, OpenAiProvider, ProviderError};
use spur_core::prompt::{PromptMessage, Role};
use spur_core::{EngineConfig, Inbound, StreamEvent, SupportEngine};

use spur_core::testing::fake_openai;

fn provider(base: &str, model: &str) -> OpenAiProvider {
    OpenAiProvider::new(OpenAiConfig {
        base_url: Some(base.into()),
        api_key: Some(String::from("sk-test").into()),
        model: model.into(),
        timeout: Duration::from_secs(2),
        max_retries: 1,
        temperature: None,
    })
    .unwrap()
}

fn request() -> CompletionRequest {
    CompletionRequest::new(vec![
        PromptMessage::new(Role::System, "be brief"),
        PromptMessage::new(Role::User, "where do you ship?"),
    ])
}

#[tokio::test]
async fn completes_streams_and_reports_usage() {
    let (base, fake) = fake_openai::start().await.unwrap();
    let p = provider(&base, "good");
    let c = p.complete(&request()).await.unwrap();
    assert_eq!(c.text, "We ship to the USA, India and Europe.");
    assert_eq!(c.usage.unwrap().input_tokens, 42);
    let body = fake.last_body.lock().unwrap().clone().unwrap();
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["max_completion_tokens"], 250);

    let deltas: Vec<_> = p.stream(&request()).await.unwrap().collect().await;
    let text: String = deltas
        .iter()
        .map(|d| d.as_ref().unwrap().text.clone())
        .collect();
    assert_eq!(text, "We ship to the USA, India and Europe.");
    assert!(deltas.len() >= 3, "arrives in pieces");
    assert!(deltas.iter().any(|d| d.as_ref().unwrap().usage.is_some()));
}

#[tokio::test]
async fn maps_every_failure_to_a_typed_error() {
    let (base, fake) = fake_openai::start().await.unwrap();
    assert_eq!(
        provider(&base, "rate-limited").complete(&request()).await,
        Err(ProviderError::RateLimited)
    );
    assert!(matches!(
        provider(&base, "broken").complete(&request()).await,
        Err(ProviderError::Http { status: 500, .. })
    ));
    assert!(matches!(
        provider(&base, "malformed").complete(&request()).await,
        Err(ProviderError::InvalidResponse(_))
    ));
    let before = fake.calls.load(Ordering::SeqCst);
    // Its first call is a 503 even after the calls above: retried once, then fine.
    let flaky = provider(&base, "flaky").complete(&request()).await;
    assert!(flaky.is_ok(), "{flaky:?}");
    assert_eq!(
        fake.calls.load(Ordering::SeqCst) - before,
        2,
        "retried once"
    );
    let slow = provider(&base, "slow").complete(&request()).await;
    // The HTTP client's per-attempt timeout (2 s) is reported as a timeout.
    assert!(
        matches!(slow, Err(ProviderError::Timeout(d)) if d == Duration::from_secs(2)),
        "{slow:?}"
    );
    let unreachable = provider("http://127.0.0.1:9/v1", "good")
        .complete(&request())
        .await;
    assert!(
        matches!(unreachable, Err(ProviderError::Network(_))),
        "{unreachable:?}"
    );
}

#[tokio::test]
async fn retries_5xx_then_succeeds() {
    let (base, fake) = fake_openai::start().await.unwrap();
    let c = provider(&base, "flaky").complete(&request()).await.unwrap();
    assert_eq!(c.text, "We ship to the USA, India and Europe.");
    assert_eq!(fake.calls.load(Ordering::SeqCst), 2);
}

async fn engine(base: &str, model: &str) -> SupportEngine {
    SupportEngine::builder()
        .provider(Arc::new(provider(base, model)))
        .config(EngineConfig {
            llm_timeout: Duration::from_millis(700),
            ..EngineConfig::default()
        })
        .build()
}

#[tokio::test]
async fn in_every_failure_mode_the_customer_gets_a_fallback_in_time() {
    let (base, _fake) = fake_openai::start().await.unwrap();
    for (model, code) in [
        ("slow", "llm_timeout"),
        ("rate-limited", "llm_rate_limited"),
        ("broken", "llm_upstream_error"),
        ("malformed", "llm_invalid_response"),
    ] {
        let engine = engine(&base, model).await;
        let started = Instant::now();
        let turn = engine
            .send_message(Inbound::new("where do you ship?"))
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(1_500),
            "{model}: {:?}",
            started.elapsed()
        );
        assert!(turn.used_fallback(), "{model}");
        assert_eq!(
            turn.reply.as_ref().unwrap().meta.error_code.as_deref(),
            Some(code),
            "{model}"
        );
        let page = engine
            .history(turn.conversation.session_id, None, 10)
            .await
            .unwrap();
        assert_eq!(
            page.messages[0].text, "where do you ship?",
            "{model}: the message is stored"
        );
    }
}

#[tokio::test]
async fn streaming_through_the_engine_and_a_broken_stream() {
    let (base, _fake) = fake_openai::start().await.unwrap();
    let engine = engine(&base, "good").await;
    let mut rx = engine
        .send_message_stream(Inbound::new("where do you ship?"))
        .await
        .unwrap();
    let (streamed, turn) = spur_core::testing::streamed(&mut rx).await;
    let reply = turn.reply.unwrap();
    assert_eq!(reply.text, "We ship to the USA, India and Europe.");
    // Released a sentence at a time through the grounding guard.
    assert_eq!(streamed, reply.text);
    assert_eq!(reply.meta.tokens_in, Some(42));

    let engine = engine_broken(&base).await;
    let mut rx = engine
        .send_message_stream(Inbound::new("hello?"))
        .await
        .unwrap();
    let mut last = None;
    while let Some(event) = rx.recv().await {
        last = Some(event);
    }
    let Some(StreamEvent::Done(turn)) = last else {
        panic!("no done")
    };
    assert!(turn.used_fallback());
}

async fn engine_broken(base: &str) -> SupportEngine {
    engine(base, "drop-mid-stream").await
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Order {
    order_number: String,
}

/// `lookup_order(order_number)`: every order is shipped.
fn lookup_order() -> spur_core::tools::ToolRegistry {
    let mut tools = spur_core::tools::ToolRegistry::new();
    let lookup = spur_core::tools::tool_fn(
        "lookup_order",
        "Where an order is.",
        |order: Order, _context| async move {
            Ok(serde_json::json!({"order": order.order_number, "status": "shipped"}))
        },
    );
    tools.register(Arc::new(lookup)).unwrap();
    tools
}

/// A tool call over real HTTP, in the chat API's documented shapes: the
/// call (whole, or streamed in pieces), the result sent back under the
/// call's id, the model's answer from it.
#[tokio::test]
async fn tool_calls_over_http_whole_and_streamed() {
    let (base, fake) = fake_openai::start().await.unwrap();
    let tools = lookup_order();
    let engine = SupportEngine::builder()
        .provider(Arc::new(provider(&base, "tool-caller")))
        .tools(tools)
        .build();
    let turn = engine
        .send_message(Inbound::new("where is order 1042?"))
        .await
        .unwrap();
    let reply = turn.reply.unwrap();
    assert_eq!(
        reply.text,
        r#"The tool said: {"order":"1042","status":"shipped"}"#
    );
    assert_eq!(reply.meta.tools[0].outcome, "ok");
    assert_eq!(reply.meta.tokens_in, Some(50 + 42), "both calls billed");
    let body = fake.last_body.lock().unwrap().clone().unwrap();
    assert_eq!(body["tools"][0]["type"], "function");
    assert!(body.get("tool_choice").is_none(), "auto is left unsaid");
    assert_eq!(body["tools"][0]["function"]["name"], "lookup_order");
    let messages = body["messages"].as_array().unwrap();
    let asked = &messages[messages.len() - 2];
    assert_eq!(asked["role"], "assistant");
    assert_eq!(asked["tool_calls"][0]["type"], "function");
    assert_eq!(asked["tool_calls"][0]["id"], "call_1");
    assert_eq!(
        asked["tool_calls"][0]["function"]["arguments"],
        r#"{"order_number":"1042"}"#
    );
    let answered = &messages[messages.len() - 1];
    assert_eq!(answered["role"], "tool");
    assert_eq!(answered["tool_call_id"], "call_1");

    let mut rx = engine
        .send_message_stream(Inbound::new("and where is order 1042 now?"))
        .await
        .unwrap();
    let (streamed, turn) = spur_core::testing::streamed(&mut rx).await;
    let reply = turn.reply.unwrap();
    assert_eq!(
        reply.text,
        r#"The tool said: {"order":"1042","status":"shipped"}"#
    );
    assert_eq!(streamed, reply.text);
    assert_eq!(reply.meta.tools[0].arguments["order_number"], "1042");
}

/// The round after the last keeps the definitions (the history calls
/// them) and says `tool_choice: "none"`: the model answers in words.
#[tokio::test]
async fn after_the_last_round_the_tools_stay_but_may_not_be_called() {
    let (base, fake) = fake_openai::start().await.unwrap();
    let tools = lookup_order();
    let config = EngineConfig {
        tools: spur_core::tools::ToolsConfig {
            max_rounds: 0,
            ..Default::default()
        },
        ..EngineConfig::default()
    };
    let engine = SupportEngine::builder()
        .provider(Arc::new(provider(&base, "tool-caller")))
        .config(config)
        .tools(tools)
        .build();
    let reply = engine
        .send_message(Inbound::new("where is order 1042?"))
        .await
        .unwrap()
        .reply
        .unwrap();
    assert!(reply.meta.tools.is_empty(), "{:?}", reply.meta.tools);
    assert!(reply.text.starts_with("The tool said:"), "{}", reply.text);
    let body = fake.last_body.lock().unwrap().clone().unwrap();
    assert_eq!(body["tool_choice"], "none");
    assert_eq!(body["tools"][0]["function"]["name"], "lookup_order");
}
