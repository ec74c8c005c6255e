//! The spending guard in the engine's turn: past the budget the offline
//! responder answers (marked per reply), the next day the model again, and
//! another engine on the same store sees the spend.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::ManualClock;
use crate::insight::{BudgetConfig, WhenSpent};
use crate::llm::ScriptedProvider;
use crate::store::MemoryStore;

fn budgeted(
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    when_spent: WhenSpent,
) -> (SupportEngine, Arc<ScriptedProvider>) {
    let provider = Arc::new(ScriptedProvider::always("Scripted reply."));
    let engine = SupportEngine::builder()
        .store(store)
        .provider(provider.clone())
        .clock(clock)
        .config(EngineConfig {
            grounding: false,
            ..EngineConfig::default()
        })
        .budget(BudgetConfig {
            daily_usd: Some(1.0),
            monthly_usd: None,
            // Dear tokens: a few replies spend the dollar.
            prices: (30_000.0, 30_000.0),
            when_spent,
            spike_factor: 10.0,
        })
        .build();
    (engine, provider)
}

/// 10:00 UTC: the demo shop's day (Asia/Kolkata) runs to 18:30 UTC.
fn morning() -> OffsetDateTime {
    time::macros::datetime!(2026-12-08 10:00 UTC)
}

#[tokio::test]
async fn a_spent_budget_hands_turns_to_the_offline_responder_until_the_next_day() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(morning()));
    let (engine, provider) = budgeted(store.clone(), clock.clone(), WhenSpent::Offline);
    let mut paid = 0;
    let switched = loop {
        let turn = engine
            .send_message(Inbound::new("Do you ship to India?"))
            .await
            .unwrap();
        let reply = turn.reply.unwrap();
        if reply.meta.over_budget {
            break reply;
        }
        assert_eq!(reply.meta.provider.as_deref(), Some(provider.name()));
        paid += 1;
        assert!(paid < 20, "the budget never ran out");
    };
    assert_eq!(
        provider.requests().len(),
        paid,
        "the model is not asked past the budget"
    );
    assert_eq!(switched.meta.provider.as_deref(), Some("offline"));
    assert!(
        switched.text.contains("India"),
        "answered from the knowledge: {}",
        switched.text
    );
    assert_eq!(
        (switched.meta.tokens_in, switched.meta.tokens_out),
        (None, None)
    );
    let status = engine.budget_status().await.unwrap();
    assert!(status.exceeded && status.warning, "{status:?}");

    // Another instance on the same store sees the spend at once.
    let (other, other_provider) = budgeted(store.clone(), clock.clone(), WhenSpent::Offline);
    let turn = other
        .send_message(Inbound::new("Do you ship to India?"))
        .await
        .unwrap();
    assert!(turn.reply.unwrap().meta.over_budget);
    assert!(other_provider.requests().is_empty());

    // The shop's next day: the model answers again.
    clock.advance(Duration::from_secs(9 * 3600));
    let turn = engine
        .send_message(Inbound::new("Do you ship to India?"))
        .await
        .unwrap();
    let reply = turn.reply.unwrap();
    assert!(!reply.meta.over_budget);
    assert_eq!(provider.requests().len(), paid + 1);
    assert!(!engine.budget_status().await.unwrap().exceeded);
}

#[tokio::test]
async fn a_spent_budget_can_hand_conversations_to_people_instead() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(morning()));
    let (engine, _) = budgeted(store, clock, WhenSpent::Handoff);
    for _ in 0..20 {
        let turn = engine
            .send_message(Inbound::new("Do you ship to India?"))
            .await
            .unwrap();
        if turn.reply.as_ref().is_some_and(|r| r.meta.over_budget) {
            assert_eq!(turn.conversation.status, Status::Agent);
            assert!(turn.notice.is_some(), "the customer is told");
            return;
        }
        assert_eq!(turn.conversation.status, Status::Automated);
    }
    panic!("the budget never ran out");
}
