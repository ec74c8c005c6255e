//! A conversation turned into a ticket's title and description.

use serde::Deserialize;

use crate::conversation::{Message, Sender};
use std::time::Duration;

use crate::llm::{CompletionRequest, LlmProvider, ProviderError};
use crate::prompt::{PromptMessage, Role};

const TITLE_CHARS: usize = 80;
/// Enough for any model's context and any agent's patience.
const DESCRIPTION_CHARS: usize = 4_000;

#[derive(Deserialize)]
struct Answer {
    title: String,
    description: String,
}

/// Title and description for a ticket filed from `messages` (oldest first).
/// With a provider, the model writes them (JSON, checked); without one, or
/// when its answer is unusable, a deterministic extract: the customer's
/// first message as the title, the transcript as the description. The
/// model gets `timeout`; a slower answer is not waited for.
pub async fn summarize(
    messages: &[Message],
    provider: Option<&dyn LlmProvider>,
    timeout: Duration,
) -> (String, String) {
    let transcript = transcript(messages);
    if let Some(provider) = provider {
        let mut request = CompletionRequest::new(vec![
            PromptMessage::new(
                Role::System,
                "Summarise this support conversation as a ticket. Answer with one JSON object: \
                 {\"title\": a subject line under 80 characters, \"description\": what the customer \
                 needs, with any order numbers or details they gave, in a few sentences}.",
            ),
            PromptMessage::new(Role::User, transcript.clone()),
        ]);
        request.json = true;
        request.max_output_tokens = 300;
        request.temperature = Some(0.0);
        let answer = tokio::time::timeout(timeout, provider.complete(&request))
            .await
            .unwrap_or(Err(ProviderError::Timeout(timeout)));
        match answer {
            Ok(completion) => {
                if let Ok(answer) = serde_json::from_str::<Answer>(completion.text.trim()) {
                    let title = clip(answer.title.trim(), TITLE_CHARS);
                    let description = clip(answer.description.trim(), DESCRIPTION_CHARS);
                    if !title.is_empty() && !description.is_empty() {
                        return (title, description);
                    }
                }
                tracing::warn!("ticket summary was not valid JSON; using the transcript");
            }
            Err(error) => {
                tracing::warn!(
                    code = error.code(),
                    "ticket summary failed; using the transcript"
                )
            }
        }
    }
    let first = messages
        .iter()
        .find(|m| m.sender == Sender::Customer)
        .map(|m| first_line(&m.text))
        .unwrap_or("Conversation");
    (clip(first, TITLE_CHARS), transcript)
}

/// `Customer: …` lines, newest kept when too long (the start is the title).
fn transcript(messages: &[Message]) -> String {
    let lines: Vec<String> = messages
        .iter()
        .filter(|m| m.sender != Sender::System && !m.meta.used_fallback)
        .map(|m| {
            let who = match m.sender {
                Sender::Customer => "Customer",
                Sender::Assistant => "Assistant",
                Sender::Agent => "Agent",
                Sender::System => "Notice",
            };
            format!("{who}: {}", m.text.trim())
        })
        .collect();
    let mut kept = Vec::new();
    let mut size = 0;
    for line in lines.iter().rev() {
        size += line.len() + 1;
        if size > DESCRIPTION_CHARS && !kept.is_empty() {
            break;
        }
        kept.push(clip(line, DESCRIPTION_CHARS));
    }
    kept.reverse();
    kept.join("\n")
}

fn first_line(text: &str) -> &str {
    let text = text.trim();
    let end = text
        .char_indices()
        .find(|&(i, c)| c == '\n' || (matches!(c, '.' | '?' | '!') && i >= 20))
        .map_or(text.len(), |(i, c)| {
            i + if c == '\n' { 0 } else { c.len_utf8() }
        });
    text[..end].trim()
}

/// At most `max` characters, cut at a word boundary with an ellipsis.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(i) if i > max / 2 => &cut[..i],
        _ => &cut[..],
    };
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{ConversationId, MessageId};
    use crate::llm::{ProviderError, Script, ScriptedProvider};

    fn message(seq: i64, sender: Sender, text: &str) -> Message {
        Message {
            id: MessageId(uuid::Uuid::now_v7()),
            conversation_id: ConversationId(uuid::Uuid::now_v7()),
            seq,
            sender,
            text: text.into(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            idempotency_key: None,
            reply_to: None,
            meta: Default::default(),
        }
    }

    fn conversation() -> Vec<Message> {
        vec![
            message(
                1,
                Sender::Customer,
                "My card was charged twice for order 1042. Please fix it",
            ),
            message(2, Sender::Assistant, "Sorry about that! Let me check."),
            message(3, Sender::System, "Connecting you to a person."),
            message(4, Sender::Customer, "I want a refund of the second charge"),
        ]
    }

    #[tokio::test]
    async fn without_a_model_the_title_is_the_first_ask_and_the_description_the_transcript() {
        let (title, description) = summarize(&conversation(), None, SECOND).await;
        assert_eq!(title, "My card was charged twice for order 1042.");
        assert_eq!(
            description,
            "Customer: My card was charged twice for order 1042. Please fix it\n\
             Assistant: Sorry about that! Let me check.\n\
             Customer: I want a refund of the second charge"
        );
    }

    #[tokio::test]
    async fn a_model_summary_is_used_when_valid_and_ignored_otherwise() {
        let provider = ScriptedProvider::new([
            Script::Reply(r#"{"title":"Double charge on order 1042","description":"Refund the second charge."}"#.into()),
            Script::Reply("Sure! Here is a summary".into()),
            Script::Fail(ProviderError::RateLimited),
        ]);
        let (title, description) = summarize(&conversation(), Some(&provider), SECOND).await;
        assert_eq!(
            (title.as_str(), description.as_str()),
            ("Double charge on order 1042", "Refund the second charge.")
        );
        for _ in 0..2 {
            let (title, _) = summarize(&conversation(), Some(&provider), SECOND).await;
            assert_eq!(title, "My card was charged twice for order 1042.");
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn a_model_that_does_not_answer_in_time_is_not_waited_for() {
        let provider = ScriptedProvider::new([Script::Delay(
            Duration::from_secs(30),
            Box::new(Script::Reply(
                r#"{"title":"Late","description":"Too late."}"#.into(),
            )),
        )]);
        let started = tokio::time::Instant::now();
        let (title, _) = summarize(&conversation(), Some(&provider), SECOND / 10).await;
        assert_eq!(title, "My card was charged twice for order 1042.");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn long_text_is_clipped_at_a_word() {
        let long = "word ".repeat(40);
        let clipped = clip(long.trim(), 20);
        assert!(clipped.chars().count() <= 20, "{clipped}");
        assert!(clipped.ends_with("word…"), "{clipped}");
        assert_eq!(first_line("  short\nsecond line"), "short");
    }
}
