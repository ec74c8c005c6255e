//! Tool rounds in a turn, played by the scripted provider.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::*;
use crate::escalation::EscalationReason;
use crate::grounding::Verdict;
use crate::llm::{Script, ScriptedProvider, ToolCall, ToolChoice};
use crate::prompt::Role;
use crate::tools::{ToolContext, ToolError, ToolSpec, ToolsConfig, schemars::JsonSchema, tool_fn};

#[derive(Deserialize, JsonSchema)]
pub(super) struct Order {
    /// As printed on the receipt.
    pub(super) order_number: String,
}

/// `lookup_order` answering `result` for any order, counting its calls.
fn lookup_order(result: Value, calls: Arc<AtomicUsize>) -> Arc<dyn Tool> {
    Arc::new(tool_fn(
        "lookup_order",
        "Where an order is.",
        move |order: Order, _context| {
            let mut result = result.clone();
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                result["order"] = json!(order.order_number);
                Ok(result)
            }
        },
    ))
}

pub(super) fn engine(provider: Arc<ScriptedProvider>, tools: Vec<Arc<dyn Tool>>) -> SupportEngine {
    engine_config(provider, tools, ToolsConfig::default())
}

fn engine_config(
    provider: Arc<ScriptedProvider>,
    tools: Vec<Arc<dyn Tool>>,
    config: ToolsConfig,
) -> SupportEngine {
    let config = EngineConfig {
        tools: config,
        ..EngineConfig::default()
    };
    engine_with(provider, tools, config)
}

fn engine_with(
    provider: Arc<ScriptedProvider>,
    tools: Vec<Arc<dyn Tool>>,
    config: EngineConfig,
) -> SupportEngine {
    let mut registry = ToolRegistry::new();
    for tool in tools {
        registry.register(tool).unwrap();
    }
    SupportEngine::builder()
        .provider(provider)
        .tools(registry)
        .config(config)
        .build()
}

pub(super) fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

pub(super) fn outcomes(reply: &Message) -> Vec<&str> {
    reply
        .meta
        .tools
        .iter()
        .map(|r| r.outcome.as_str())
        .collect()
}

#[tokio::test]
async fn a_tool_result_reaches_the_model_and_grounds_the_reply() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::call("lookup_order", r#"{"order_number": "1042"}"#),
        Script::Reply("Order 1042 shipped with DHL, tracking number 7741.".into()),
    ]));
    let calls = Arc::new(AtomicUsize::new(0));
    let tool = lookup_order(
        json!({"status": "shipped", "carrier": "DHL", "tracking_number": 7741}),
        calls.clone(),
    );
    let engine = engine(provider.clone(), vec![tool]);
    let turn = engine
        .send_message(Inbound::new("where is my order 1042?"))
        .await
        .unwrap();
    let reply = turn.reply.unwrap();
    // Every claim (the carrier, the tracking number) came from the tool: kept whole.
    assert_eq!(
        reply.text,
        "Order 1042 shipped with DHL, tracking number 7741."
    );
    assert_eq!(
        reply.meta.grounding.as_ref().unwrap().verdict,
        Verdict::Supported
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(outcomes(&reply), ["ok"]);
    assert_eq!(
        reply.meta.tools[0].arguments,
        json!({"order_number": "1042"})
    );
    assert_eq!(reply.meta.tokens_in, Some(20), "both calls billed");

    let requests = provider.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].tools[0].name, "lookup_order");
    assert_eq!(
        requests[0].tools[0].parameters["required"],
        json!(["order_number"])
    );
    let asked = &requests[1].messages[requests[1].messages.len() - 2];
    assert_eq!(asked.role, Role::Assistant);
    assert_eq!(asked.tool_calls[0].name, "lookup_order");
    let answered = requests[1].messages.last().unwrap();
    assert_eq!(answered.role, Role::Tool);
    assert_eq!(answered.tool_call_id.as_deref(), Some("call_lookup_order"));
    let result: Value = serde_json::from_str(&answered.content).unwrap();
    assert_eq!(result["status"], "shipped");
}

#[tokio::test]
async fn a_fact_no_tool_returned_is_still_caught() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::call("lookup_order", r#"{"order_number": "1042"}"#),
        Script::Reply("Order 1042 has shipped. Your tracking number is 7741.".into()),
    ]));
    let tool = lookup_order(json!({"status": "shipped"}), Arc::default());
    let engine = engine(provider, vec![tool]);
    let reply = engine
        .send_message(Inbound::new("where is my order 1042?"))
        .await
        .unwrap()
        .reply
        .unwrap();
    assert_eq!(reply.text, "Order 1042 has shipped.");
    assert_eq!(
        reply.meta.grounding.as_ref().unwrap().verdict,
        Verdict::Repaired
    );
}

#[tokio::test]
async fn bad_arguments_unknown_tools_and_failures_go_back_to_the_model() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::Calls {
            text: String::new(),
            calls: vec![
                call("a", "lookup_order", r#"{"order_number": 1042}"#),
                call("b", "lookup_order", "{not json"),
                call("c", "teleport", "{}"),
                call("d", "order_system", "{}"),
                call("e", "crashes", "{}"),
            ],
        },
        Script::Reply("Sorry, I cannot see your order right now.".into()),
    ]));
    let calls = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(tool_fn(
        "order_system",
        "Always down.",
        |_: serde_json::Map<String, Value>, _context| async {
            Err::<Value, _>(ToolError::Failed("the order system is down".into()))
        },
    ));
    let crashes = Arc::new(tool_fn(
        "crashes",
        "Panics.",
        |_: serde_json::Map<String, Value>, _context| async {
            if true {
                panic!("a bug in the tool");
            }
            Ok::<Value, ToolError>(Value::Null)
        },
    ));
    let engine = engine(
        provider.clone(),
        vec![lookup_order(json!({}), calls.clone()), down, crashes],
    );
    let turn = engine
        .send_message(Inbound::new("where is my order?"))
        .await
        .unwrap();
    let reply = turn.reply.unwrap();
    assert_eq!(reply.text, "Sorry, I cannot see your order right now.");
    assert!(!reply.meta.used_fallback);
    assert_eq!(
        outcomes(&reply),
        [
            "invalid_arguments",
            "invalid_arguments",
            "unknown_tool",
            "failed",
            "failed"
        ]
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "invalid arguments never run"
    );
    // The model reads each error against its call, in order.
    let requests = provider.requests();
    let results: Vec<(String, Value)> = requests[1]
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| {
            (
                m.tool_call_id.clone().unwrap(),
                serde_json::from_str(&m.content).unwrap(),
            )
        })
        .collect();
    let ids: Vec<&str> = results.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c", "d", "e"]);
    assert!(
        results[0].1["message"]
            .as_str()
            .unwrap()
            .contains("/order_number"),
        "{}",
        results[0].1
    );
    assert_eq!(results[2].1["error"], "unknown_tool");
    assert_eq!(results[3].1["message"], "the order system is down");
    // The customer's message and the reply are both stored.
    let page = engine
        .history(turn.conversation.session_id, None, 10)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 2);
}

#[tokio::test]
async fn the_calls_of_one_round_run_together() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::Calls {
            text: String::new(),
            calls: vec![call("a", "meet", "{}"), call("b", "meet", "{}")],
        },
        Script::Reply("Done.".into()),
    ]));
    // Each call waits for the other: one after the other, both time out.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let meet = tool_fn(
        "meet",
        "Waits for a second call.",
        move |_: serde_json::Map<String, Value>, _context| {
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                Ok(json!({"met": true}))
            }
        },
    )
    .with_spec(|spec| spec.timeout(Duration::from_secs(2)));
    let engine = engine(provider, vec![Arc::new(meet)]);
    let reply = engine
        .send_message(Inbound::new("hello there"))
        .await
        .unwrap()
        .reply
        .unwrap();
    assert_eq!(outcomes(&reply), ["ok", "ok"]);
}

#[tokio::test]
async fn a_slow_tool_times_out_and_a_huge_result_is_not_passed_on() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::Calls {
            text: String::new(),
            calls: vec![call("a", "slow", "{}"), call("b", "huge", "{}")],
        },
        Script::Reply("I could not check that.".into()),
    ]));
    let slow = tool_fn(
        "slow",
        "Never answers in time.",
        |_: serde_json::Map<String, Value>, _context| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(json!({}))
        },
    )
    .with_spec(|spec| spec.timeout(Duration::from_millis(50)));
    let huge = tool_fn(
        "huge",
        "Answers a lot.",
        |_: serde_json::Map<String, Value>, _context| async {
            Ok(json!({"text": "x".repeat(100_000)}))
        },
    );
    let engine = engine(provider.clone(), vec![Arc::new(slow), Arc::new(huge)]);
    let reply = engine
        .send_message(Inbound::new("hello there"))
        .await
        .unwrap()
        .reply
        .unwrap();
    assert_eq!(outcomes(&reply), ["timeout", "too_large"]);
    let requests = provider.requests();
    let longest = requests[1].messages.iter().map(|m| m.content.len()).max();
    assert!(longest < Some(10_000), "the huge result stayed out");
}

#[tokio::test]
async fn a_model_that_keeps_calling_may_not_call_after_the_cap() {
    let provider =
        Arc::new(ScriptedProvider::new((0..10).map(|_| {
            Script::call("lookup_order", r#"{"order_number": "1"}"#)
        })));
    let calls = Arc::new(AtomicUsize::new(0));
    let config = ToolsConfig {
        max_rounds: 2,
        ..ToolsConfig::default()
    };
    let engine = engine_config(
        provider.clone(),
        vec![lookup_order(json!({"status": "shipped"}), calls.clone())],
        config,
    );
    let reply = engine
        .send_message(Inbound::new("where is my order?"))
        .await
        .unwrap()
        .reply
        .unwrap();
    let offered: Vec<(usize, ToolChoice)> = (provider.requests().iter())
        .map(|r| (r.tools.len(), r.tool_choice))
        .collect();
    use ToolChoice::{Auto, None};
    assert_eq!(offered, [(1, Auto), (1, Auto), (1, None)]);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the call after the cap is not run"
    );
    // It still only called tools, with nothing to say: the polite fallback.
    assert!(reply.meta.used_fallback);
    assert_eq!(reply.meta.error_code.as_deref(), Some("llm_empty_answer"));
}

#[tokio::test]
async fn a_tool_for_the_customer_is_offered_only_with_a_verified_customer() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::call("my_orders", "{}"),
        Script::Reply("Let me look.".into()),
        Script::call("my_orders", r#"{"customer": "someone-else"}"#),
        Script::Reply("You have one order.".into()),
    ]));
    let mine = tool_fn(
        "my_orders",
        "The customer's orders.",
        |_: serde_json::Map<String, Value>, context: ToolContext| async move {
            Ok(json!({"customer": context.customer, "orders": 1}))
        },
    )
    .with_spec(ToolSpec::requires_customer);
    let public = lookup_order(json!({}), Arc::default());
    let engine = engine(provider.clone(), vec![Arc::new(mine), public]);
    let anonymous = engine
        .send_message(Inbound::new("what did I order?"))
        .await
        .unwrap()
        .reply
        .unwrap();
    assert_eq!(outcomes(&anonymous), ["not_allowed"]);
    let verified = engine
        .send_message(Inbound::new("what did I order?").as_verified_customer("cus_7"))
        .await
        .unwrap()
        .reply
        .unwrap();
    assert_eq!(outcomes(&verified), ["ok"]);
    let requests = provider.requests();
    let names =
        |i: usize| -> Vec<String> { requests[i].tools.iter().map(|t| t.name.clone()).collect() };
    assert_eq!(names(0), ["lookup_order"], "not offered without a customer");
    assert_eq!(names(2), ["my_orders", "lookup_order"]);
    // Whatever the model asked, the tool acted for the verified customer.
    let result: Value =
        serde_json::from_str(&requests[3].messages.last().unwrap().content).unwrap();
    assert_eq!(result["customer"], "cus_7");
}

#[tokio::test]
async fn streamed_tool_calls_are_assembled_and_every_word_streams() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::Calls {
            text: "Let me check.".into(),
            calls: vec![call("a", "lookup_order", r#"{"order_number": "1042"}"#)],
        },
        Script::Chunks(vec!["Order 1042 ".into(), "has shipped.".into()]),
    ]));
    let tool = lookup_order(json!({"status": "shipped"}), Arc::default());
    let engine = engine(provider, vec![tool]);
    let mut rx = engine
        .send_message_stream(Inbound::new("where is my order 1042?"))
        .await
        .unwrap();
    let (streamed, turn) = crate::testing::streamed(&mut rx).await;
    let reply = turn.reply.unwrap();
    assert_eq!(reply.text, "Let me check.\n\nOrder 1042 has shipped.");
    assert_eq!(streamed, reply.text);
    assert_eq!(outcomes(&reply), ["ok"]);
    assert_eq!(
        reply.meta.tools[0].arguments,
        json!({"order_number": "1042"})
    );
}

#[tokio::test]
async fn the_model_can_hand_the_conversation_to_a_person() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::call(
            crate::tools::HANDOFF_TO_HUMAN,
            r#"{"reason": "wants an exception to the returns policy"}"#,
        ),
        Script::Reply("A colleague will take over from here.".into()),
    ]));
    let config = ToolsConfig {
        handoff_to_human: true,
        ..ToolsConfig::default()
    };
    let engine = engine_config(provider.clone(), Vec::new(), config);
    let turn = engine
        .send_message(Inbound::new("I need an exception, please"))
        .await
        .unwrap();
    assert_eq!(
        turn.escalation,
        Some(EscalationReason::AssistantHandoff {
            reason: "wants an exception to the returns policy".into()
        })
    );
    assert_eq!(turn.conversation.status, Status::Agent);
    assert!(turn.notice.is_some());
    assert_eq!(provider.requests()[0].tools[0].name, "handoff_to_human");
}

#[tokio::test]
async fn search_knowledge_finds_passages_for_the_model() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::call(
            crate::tools::SEARCH_KNOWLEDGE,
            r#"{"query": "ship to India"}"#,
        ),
        Script::Reply("Yes.".into()),
    ]));
    let config = ToolsConfig {
        search_knowledge: true,
        ..ToolsConfig::default()
    };
    let engine = engine_config(provider.clone(), Vec::new(), config);
    engine.send_message(Inbound::new("hello")).await.unwrap();
    let requests = provider.requests();
    let found = &requests[1].messages.last().unwrap().content;
    assert!(found.contains("India"), "{found}");
}

#[tokio::test]
async fn no_tools_means_none_offered_and_one_call() {
    let provider = Arc::new(ScriptedProvider::always("Hello!"));
    let engine = engine(provider.clone(), Vec::new());
    let reply = engine
        .send_message(Inbound::new("hi"))
        .await
        .unwrap()
        .reply
        .unwrap();
    assert!(reply.meta.tools.is_empty());
    let requests = provider.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].tools.is_empty());
}

#[tokio::test]
async fn a_tool_registered_later_is_offered_from_the_next_turn() {
    let provider = Arc::new(ScriptedProvider::always("Hello!"));
    let engine = engine(provider.clone(), Vec::new());
    engine
        .register_tool(lookup_order(json!({}), Arc::default()))
        .unwrap();
    assert!(matches!(
        engine.register_tool(lookup_order(json!({}), Arc::default())),
        Err(ToolError::Definition(_))
    ));
    engine.send_message(Inbound::new("hi")).await.unwrap();
    assert_eq!(provider.requests()[0].tools.len(), 1);
}

#[tokio::test]
async fn a_conversation_stays_with_the_customer_it_was_started_for() {
    let engine = engine(Arc::new(ScriptedProvider::always("Hello!")), Vec::new());
    let first = engine
        .send_message(Inbound::new("hi").as_verified_customer("cus_7"))
        .await
        .unwrap();
    let session = first.conversation.session_id;
    assert_eq!(first.conversation.metadata["verified_customer"], "cus_7");
    let other = engine
        .send_message(
            Inbound::new("show me the orders")
                .in_session(session)
                .as_verified_customer("cus_8"),
        )
        .await;
    assert!(
        matches!(other, Err(EngineError::OtherCustomer)),
        "{other:?}"
    );
    for again in [
        Inbound::new("me again").as_verified_customer("cus_7"),
        Inbound::new("me, unverified"),
    ] {
        engine
            .send_message(again.in_session(session))
            .await
            .unwrap();
    }
    // A host's metadata cannot claim a customer.
    let claimed = engine
        .send_message(Inbound {
            metadata: Some(json!({"verified_customer": "cus_7", "page": "/help"})),
            ..Inbound::new("hi")
        })
        .await
        .unwrap();
    assert_eq!(claimed.conversation.metadata, json!({"page": "/help"}));
}

/// Tool definitions go with every ask, so their tokens come out of the
/// prompt's budget: with a long one offered, fewer passages fit.
#[tokio::test]
async fn tool_definitions_count_against_the_prompt_budget() {
    let mut config = EngineConfig::default();
    config.prompt.max_input_tokens = 1_200;
    config.retrieval_k = 6;
    let long = tool_fn(
        "catalogue",
        "Searches the catalogue. ".repeat(200),
        |_: serde_json::Map<String, Value>, _context| async { Ok(json!({})) },
    );
    let mut passages = Vec::new();
    for tools in [Vec::new(), vec![Arc::new(long) as Arc<dyn Tool>]] {
        let provider = Arc::new(ScriptedProvider::always("Hello!"));
        let engine = engine_with(provider.clone(), tools, config.clone());
        engine
            .send_message(Inbound::new(
                "what is your return policy and how long does shipping take and which payment methods do you take?",
            ))
            .await
            .unwrap();
        passages.push(provider.requests()[0].passages.len());
    }
    assert!(passages[1] < passages[0], "{passages:?}");
}

/// The admins' "try a question" calls no tool: a call may change things,
/// and nothing of a preview is kept.
#[tokio::test]
async fn a_preview_calls_no_tools() {
    let provider = Arc::new(ScriptedProvider::new([
        Script::call("lookup_order", r#"{"order_number": "1042"}"#),
        Script::Reply("Order 1042 has shipped.".into()),
    ]));
    let calls = Arc::new(AtomicUsize::new(0));
    let engine = engine(
        provider.clone(),
        vec![lookup_order(json!({"status": "shipped"}), calls.clone())],
    );
    engine.preview("where is order 1042?").await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(provider.requests().iter().all(|r| r.tools.is_empty()));
}

/// `create_ticket`: the model files a ticket tied to this conversation
/// through the desk; a second one for the same conversation is the
/// model's error, not a second ticket.
#[tokio::test]
async fn the_model_files_one_ticket_for_the_conversation() {
    use crate::classify::LocalClassifier;
    use crate::tickets::{TicketClassifier, TicketDesk, TicketStore};
    use crate::tools::{CREATE_TICKET, CreateTicket};
    let path = std::env::temp_dir().join(format!("spur-ticket-tool-{}.db", uuid::Uuid::new_v4()));
    let store = Arc::new(
        crate::store::SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap(),
    );
    let desk = TicketDesk::new(
        store.clone(),
        TicketClassifier::Local(Arc::new(LocalClassifier::default())),
        Duration::from_secs(1),
    );
    let arguments = r#"{"title": "Refund for a double charge", "description": "Order 1042 was charged twice; the customer wants a refund."}"#;
    let provider = Arc::new(ScriptedProvider::new([
        Script::call(CREATE_TICKET, arguments),
        Script::Reply("I've passed this to our team.".into()),
        Script::call(CREATE_TICKET, arguments),
        Script::Reply("Our team already has it.".into()),
    ]));
    let mut registry = ToolRegistry::new();
    registry
        .register(Arc::new(CreateTicket::new(Arc::new(desk))))
        .unwrap();
    let engine = SupportEngine::builder()
        .store(store.clone())
        .provider(provider)
        .tools(registry)
        .build();
    let turn = engine
        .send_message(Inbound::new("I was charged twice for order 1042"))
        .await
        .unwrap();
    assert_eq!(outcomes(turn.reply.as_ref().unwrap()), ["ok"]);
    let ticket = store
        .ticket_for_conversation(turn.conversation.id)
        .await
        .unwrap()
        .expect("filed for this conversation");
    assert_eq!(ticket.title, "Refund for a double charge");
    assert!(ticket.category.is_some(), "classified as it was filed");
    let again = engine
        .send_message(Inbound::new("please hurry").in_session(turn.conversation.session_id))
        .await
        .unwrap();
    assert_eq!(outcomes(again.reply.as_ref().unwrap()), ["failed"]);
    assert!(
        again.reply.unwrap().meta.tools[0]
            .summary
            .contains("has a ticket already")
    );
    let _ = std::fs::remove_file(path);
}
