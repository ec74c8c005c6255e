use proptest::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;
use crate::conversation::{ConversationId, MessageId, MessageMeta};
use crate::prompt::tokens::for_model;

fn message(seq: i64, sender: Sender, text: &str, fallback: bool) -> Message {
    Message {
        id: MessageId(Uuid::from_u128(seq as u128)),
        conversation_id: ConversationId(Uuid::nil()),
        seq,
        sender,
        text: text.to_string(),
        created_at: OffsetDateTime::UNIX_EPOCH,
        idempotency_key: None,
        reply_to: None,
        meta: MessageMeta {
            used_fallback: fallback,
            ..MessageMeta::default()
        },
    }
}

fn history() -> impl Strategy<Value = Vec<Message>> {
    let sender = prop_oneof![
        4 => Just(Sender::Customer),
        3 => Just(Sender::Assistant),
        1 => Just(Sender::Agent),
        1 => Just(Sender::System),
    ];
    prop::collection::vec((sender, "[a-z ]{0,80}", prop::bool::weighted(0.2)), 0..60).prop_map(
        |items| {
            items
                .into_iter()
                .enumerate()
                .map(|(i, (sender, text, fallback))| {
                    message(
                        i as i64 + 1,
                        sender,
                        &text,
                        fallback && sender == Sender::Assistant,
                    )
                })
                .collect()
        },
    )
}

#[test]
fn drops_fallbacks_notices_and_orphan_replies() {
    let h = vec![
        message(1, Sender::Assistant, "Welcome!", false),
        message(2, Sender::Customer, "Where is my order?", false),
        message(3, Sender::Assistant, "Sorry, trouble", true),
        message(4, Sender::System, "Connecting you to a person", false),
        message(5, Sender::Agent, "Hi, Ana here", false),
    ];
    let counter = for_model("gpt-4o-mini");
    let picked: Vec<i64> = trim_history(&h, 20, 10_000, counter.as_ref())
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(picked, vec![2, 5]);
    let picked: Vec<i64> = trim_history(&h, 1, 10_000, counter.as_ref())
        .iter()
        .map(|m| m.seq)
        .collect();
    assert!(
        picked.is_empty(),
        "the agent reply alone would be an orphan"
    );
}

#[test]
fn the_token_budget_is_exact() {
    let counter = for_model("gpt-4o-mini");
    // "hello world" = 2 tokens + overhead 4 = 6 per message.
    let h: Vec<Message> = (1..=10)
        .map(|i| message(i, Sender::Customer, "hello world", false))
        .collect();
    assert_eq!(trim_history(&h, 20, 18, counter.as_ref()).len(), 3);
    assert_eq!(trim_history(&h, 20, 17, counter.as_ref()).len(), 2);
    assert_eq!(trim_history(&h, 20, 0, counter.as_ref()).len(), 0);
}

proptest! {
    #[test]
    fn trimming_invariants(h in history(), max_messages in 0usize..25, max_tokens in 0usize..600) {
        let counter = for_model("gpt-4o-mini");
        let picked = trim_history(&h, max_messages, max_tokens, counter.as_ref());

        prop_assert!(picked.len() <= max_messages);
        let tokens: usize = picked.iter().map(|m| counter.count(&m.text) + MESSAGE_OVERHEAD_TOKENS).sum();
        prop_assert!(tokens <= max_tokens);
        prop_assert!(picked.windows(2).all(|w| w[0].seq < w[1].seq), "in order");
        prop_assert!(picked.iter().all(|m| m.sender != Sender::System));
        prop_assert!(picked.iter().all(|m| !m.meta.used_fallback));
        if let Some(first) = picked.first() {
            prop_assert_eq!(first.sender, Sender::Customer);
        }
        // Nothing newer than the oldest picked message was skipped unless ineligible.
        if let Some(oldest) = picked.first() {
            let eligible_since = h.iter()
                .filter(|m| m.seq >= oldest.seq)
                .filter(|m| eligible(m))
                .count();
            prop_assert_eq!(eligible_since, picked.len());
        }
    }
}

#[test]
fn stored_counts_are_used_only_for_the_same_encoding() {
    let o200k = for_model("gpt-4o-mini");
    let mut m = message(1, Sender::Customer, "hello world", false);
    // A stored count from this encoding is trusted as is (here deliberately wrong).
    m.meta.text_tokens = Some(crate::conversation::TextTokens {
        encoding: "o200k_base".into(),
        tokens: 50,
    });
    assert_eq!(o200k.message_tokens(&m), 50);
    assert_eq!(
        trim_history(std::slice::from_ref(&m), 20, 53, o200k.as_ref()).len(),
        0
    );
    assert_eq!(
        trim_history(std::slice::from_ref(&m), 20, 54, o200k.as_ref()).len(),
        1
    );
    // Another encoding's count is ignored and the text counted afresh.
    let cl100k = for_model("gpt-3.5-turbo");
    assert_eq!(cl100k.message_tokens(&m), 2);
    assert_eq!(o200k.text_tokens("hello world").map(|t| t.tokens), Some(2));
}

proptest! {
    #[test]
    fn stored_counts_change_nothing(h in history(), max_messages in 0usize..25, max_tokens in 0usize..600) {
        let counter = for_model("gpt-4o-mini");
        let mut counted = h.clone();
        for m in &mut counted {
            m.meta.text_tokens = counter.text_tokens(&m.text);
        }
        let plain: Vec<i64> = trim_history(&h, max_messages, max_tokens, counter.as_ref()).iter().map(|m| m.seq).collect();
        let cached: Vec<i64> = trim_history(&counted, max_messages, max_tokens, counter.as_ref()).iter().map(|m| m.seq).collect();
        prop_assert_eq!(plain, cached);
    }
}
