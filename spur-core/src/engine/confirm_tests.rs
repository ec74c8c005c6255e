//! Tools that change things: held until the customer says yes, run once.

use std::sync::{Arc, Mutex};

use serde_json::json;

use super::tool_tests::{Order, call, engine, outcomes};
use super::*;
use crate::llm::{Script, ScriptedProvider};
use crate::prompt::Role;
use crate::tools::{ToolContext, ToolSpec, tool_fn};

/// `cancel_order`, a `writes` tool for the verified customer, noting the
/// idempotency key of every call it gets.
fn cancel_order(keys: Keys) -> Arc<dyn Tool> {
    Arc::new(
        tool_fn(
            "cancel_order",
            "Cancels an order that has not shipped.",
            move |order: Order, context: ToolContext| {
                let keys = keys.clone();
                async move {
                    keys.lock().unwrap().push(context.idempotency_key.clone());
                    Ok(json!({"order": order.order_number, "status": "cancelled"}))
                }
            },
        )
        .with_spec(|spec| spec.writes().requires_customer()),
    )
}

fn asks_to_cancel() -> Script {
    Script::Calls {
        text: "I can cancel order 1042 for you.".into(),
        calls: vec![call("c1", "cancel_order", r#"{"order_number": "1042"}"#)],
    }
}

fn from(session: SessionId, text: &str) -> Inbound {
    Inbound::new(text)
        .in_session(session)
        .as_verified_customer("cus_7")
}

type Keys = Arc<Mutex<Vec<Option<String>>>>;

/// An engine whose model asks to cancel order 1042 and then says `then`,
/// after the customer (cus_7) asked it to.
async fn asked_to_cancel(then: &str) -> (Arc<ScriptedProvider>, Keys, SupportEngine, Turn) {
    let provider = Arc::new(ScriptedProvider::new([
        asks_to_cancel(),
        Script::Reply(then.into()),
    ]));
    let keys: Keys = Arc::default();
    let engine = engine(provider.clone(), vec![cancel_order(keys.clone())]);
    let asked = engine
        .send_message(Inbound::new("cancel my order 1042").as_verified_customer("cus_7"))
        .await
        .unwrap();
    (provider, keys, engine, asked)
}

#[tokio::test]
async fn a_change_runs_only_after_the_customer_says_yes_and_then_once() {
    let (provider, keys, engine, asked) = asked_to_cancel("Done: order 1042 is cancelled.").await;
    let question = asked.reply.unwrap();
    assert!(keys.lock().unwrap().is_empty(), "not run before the yes");
    assert_eq!(outcomes(&question), ["awaiting_confirmation"]);
    let action = question.meta.confirm.clone().expect("the reply asks");
    assert_eq!(action.tool, "cancel_order");
    assert_eq!(action.arguments, json!({"order_number": "1042"}));
    assert_ne!(action.id, "c1", "the engine's own id, not the model's");
    assert!(
        question.text.starts_with(
            "I can cancel order 1042 for you.\n\nPlease confirm: cancel order (order number: 1042)."
        ),
        "{}",
        question.text
    );
    let session = asked.conversation.session_id;

    let yes =
        from(session, "Yes please").with_idempotency_key("retry-of-the-yes-0123456789abcdef0123");
    let done = engine.send_message(yes.clone()).await.unwrap();
    let reply = done.reply.unwrap();
    assert_eq!(reply.text, "Done: order 1042 is cancelled.");
    assert_eq!(outcomes(&reply), ["ok"]);
    assert!(reply.meta.confirm.is_none());
    assert_eq!(*keys.lock().unwrap(), [Some(action.id.clone())]);
    // The model saw the call and what it returned after the customer's yes.
    let result = provider.last_message().unwrap();
    assert_eq!(result.role, Role::Tool);
    assert!(result.content.contains("cancelled"), "{}", result.content);

    // The same message again (a retry), then another yes: neither acts.
    let again = engine.send_message(yes).await.unwrap();
    assert!(again.duplicate);
    engine.send_message(from(session, "yes")).await.unwrap();
    assert_eq!(keys.lock().unwrap().len(), 1, "acted once");
}

#[tokio::test]
async fn a_no_or_anything_else_leaves_the_change_undone() {
    for (answer, told) in [
        ("No, don't", Some("declined")),
        ("yes but to my new address", None),
    ] {
        let (provider, keys, engine, asked) =
            asked_to_cancel("Alright, nothing was changed.").await;
        let turn = engine
            .send_message(from(asked.conversation.session_id, answer))
            .await
            .unwrap();
        assert!(keys.lock().unwrap().is_empty(), "{answer:?} did not act");
        let reply = turn.reply.unwrap();
        let last = provider.last_message().unwrap();
        match told {
            // The model is told the customer declined, and says so.
            Some(code) => {
                assert_eq!(outcomes(&reply), [code]);
                assert_eq!(last.role, Role::Tool);
                assert!(last.content.contains(code));
            }
            // Not an answer: a turn like any other, the action dropped.
            None => {
                assert!(outcomes(&reply).is_empty());
                assert_eq!(last.role, Role::User);
            }
        }
    }
}

#[tokio::test]
async fn a_yes_without_the_verified_customer_does_not_act() {
    let (_, keys, engine, asked) = asked_to_cancel("I can't do that here.").await;
    let turn = engine
        .send_message(Inbound::new("yes").in_session(asked.conversation.session_id))
        .await
        .unwrap();
    assert!(keys.lock().unwrap().is_empty());
    assert_eq!(outcomes(&turn.reply.unwrap()), ["not_allowed"]);
}

#[tokio::test]
async fn a_held_change_is_asked_in_a_streamed_reply_too() {
    let provider = Arc::new(ScriptedProvider::new([Script::Calls {
        text: "I can cancel order 1042 for you.".into(),
        calls: vec![
            call("c1", "cancel_order", r#"{"order_number": "1042"}"#),
            call("c2", "cancel_order", r#"{"order_number": "1043"}"#),
        ],
    }]));
    let keys = Arc::new(Mutex::new(Vec::new()));
    let engine = engine(provider, vec![cancel_order(keys.clone())]);
    let mut rx = engine
        .send_message_stream(Inbound::new("cancel 1042 and 1043").as_verified_customer("cus_7"))
        .await
        .unwrap();
    let (streamed, turn) = crate::testing::streamed(&mut rx).await;
    let reply = turn.reply.unwrap();
    assert!(keys.lock().unwrap().is_empty());
    assert_eq!(streamed, reply.text);
    assert!(
        reply
            .text
            .contains("Please confirm: cancel order (order number: 1042)."),
        "{}",
        reply.text
    );
    // One change is confirmed at a time.
    assert_eq!(outcomes(&reply), ["awaiting_confirmation", "not_run"]);
    assert_eq!(
        reply.meta.confirm.unwrap().arguments["order_number"],
        "1042"
    );
}

#[test]
fn a_writes_spec_is_marked() {
    assert!(
        ToolSpec::new("x", "y", json!({"type": "object"}))
            .writes()
            .writes
    );
}
