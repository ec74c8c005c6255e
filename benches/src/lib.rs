//! Shared inputs for the benches: realistic transcripts and knowledge bases.

pub mod answers;
pub mod server;
pub mod tickets;

/// Reads a JSONL file (blank lines skipped); errors name the file and line.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> Result<Vec<T>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

use std::sync::Arc;

use spur_core::conversation::{ConversationId, Message, MessageId, MessageMeta, Sender};
use spur_core::knowledge::{Article, KnowledgeBase};
use spur_core::llm::{LlmProvider, OpenAiConfig, OpenAiProvider};
use spur_core::prompt::tokens;
use time::OffsetDateTime;
use uuid::Uuid;

const CUSTOMER: &[&str] = &[
    "Hi, I ordered a pair of running shoes last week and the tracking page hasn't changed since Monday.",
    "Can I return them if they don't fit? They're still in the original box.",
    "Do you ship to Germany, and how long would delivery take?",
    "I was charged twice for order 48213, can you check?",
    "Thanks! And what are your support hours?",
];
const ASSISTANT: &[&str] = &[
    "I'm sorry about the delay. Delivery takes 5-7 business days from shipping; if the tracking page hasn't moved in 3 days, I can ask the warehouse to check.",
    "Yes: returns are accepted within 14 days of delivery, unused and in the original packaging. Start it from your order page.",
    "We ship to the USA, India and Europe, Germany included. Delivery takes 5-7 business days.",
    "I'll flag that for our billing team; a duplicate charge is refunded to the original payment method.",
    "Our team is available Monday to Friday, 9am to 6pm IST.",
];

/// A conversation of `n` alternating customer and assistant messages, each
/// with its token count stored as the engine stores it.
pub fn transcript(n: usize) -> Vec<Message> {
    let counter = tokens::for_model("gpt-4o-mini");
    (0..n)
        .map(|i| {
            let (sender, text) = if i % 2 == 0 {
                (Sender::Customer, CUSTOMER[(i / 2) % CUSTOMER.len()])
            } else {
                (Sender::Assistant, ASSISTANT[(i / 2) % ASSISTANT.len()])
            };
            Message {
                id: MessageId(Uuid::from_u128(i as u128)),
                conversation_id: ConversationId(Uuid::nil()),
                seq: i as i64 + 1,
                sender,
                text: text.to_string(),
                created_at: OffsetDateTime::UNIX_EPOCH,
                idempotency_key: None,
                reply_to: None,
                meta: MessageMeta {
                    text_tokens: counter.text_tokens(text),
                    ..MessageMeta::default()
                },
            }
        })
        .collect()
}

/// A knowledge base of `n` generated articles around the demo policies.
pub fn knowledge(n: usize) -> KnowledgeBase {
    let topics = [
        "shipping",
        "returns",
        "refunds",
        "warranty",
        "sizing",
        "payments",
        "gift cards",
        "accounts",
    ];
    let articles = (0..n)
        .map(|i| {
            let topic = topics[i % topics.len()];
            Article::new(
                "bench",
                &format!("{topic} question {i}"),
                format!(
                    "Article {i} about {topic}. Customers ask about {topic} for product line {}. \
                     Orders ship within 2 days; delivery takes 5-7 business days to the USA, India and Europe. \
                     Returns within 14 days; refunds to the original payment method.",
                    i / topics.len()
                ),
            )
        })
        .collect();
    KnowledgeBase::new(articles, Vec::new())
}

/// The model named by `OPENAI_BASE_URL` / `OPENAI_API_KEY` / `OPENAI_MODEL`
/// (default gpt-4o-mini), or `None` when neither is set (offline).
pub fn llm_provider() -> Result<Option<Arc<dyn LlmProvider>>, Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (base_url, api_key) = (var("OPENAI_BASE_URL"), var("OPENAI_API_KEY"));
    if base_url.is_none() && api_key.is_none() {
        return Ok(None);
    }
    let provider = OpenAiProvider::new(OpenAiConfig {
        base_url,
        api_key: api_key.map(spur_core::llm::SecretString::from),
        model: var("OPENAI_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
        ..OpenAiConfig::default()
    })?;
    Ok(Some(Arc::new(provider)))
}
