//! What analytics reads from the store: one row of facts per conversation
//! (counts, first times, tokens, ratings), computed where the data lives
//! (SQL on SQLite and PostgreSQL, [`ConversationFacts::from_messages`] in
//! memory), and the replies' break-down by fallback code and grounding
//! verdict. Times are Unix milliseconds: the same integers on every backend.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::feedback::{Answerer, Rating};
use crate::conversation::{Conversation, ConversationId, Message, MessageId, Sender, Status};

/// Which conversations analytics reads: those started in `[since, until)`,
/// on one channel or all.
#[derive(Clone, Debug, PartialEq)]
pub struct FactsQuery {
    pub since: OffsetDateTime,
    pub until: OffsetDateTime,
    pub channel: Option<String>,
}

/// Upper bounds (exclusive, ms) of the reply-latency histogram's buckets;
/// one more bucket holds everything slower.
pub const LATENCY_BOUNDS_MS: [i64; 8] = [250, 500, 1_000, 2_000, 4_000, 8_000, 15_000, 30_000];

/// Buckets of [`LATENCY_BOUNDS_MS`] plus the open-ended last one.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// One conversation as analytics sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConversationFacts {
    pub id: ConversationId,
    pub channel: String,
    pub status: Status,
    /// An agent holds it (or held it last).
    pub assigned: bool,
    pub created_ms: i64,
    /// Its last change (a message, a claim, a close).
    pub updated_ms: i64,
    pub customer_messages: i64,
    pub first_customer_ms: Option<i64>,
    /// The assistant's messages, fallbacks included.
    pub replies: i64,
    /// Replies that were the polite fallback (the provider failed).
    pub fallbacks: i64,
    /// Replies that answered: neither a fallback nor a "not sure".
    pub answers: i64,
    pub first_reply_ms: Option<i64>,
    /// The first notice handing the conversation to a person, and why.
    pub handoff_ms: Option<i64>,
    pub handoff_reason: Option<String>,
    pub agent_messages: i64,
    pub first_agent_ms: Option<i64>,
    /// Agent messages that answered a customer's message directly, and the
    /// milliseconds the customer waited for them in all.
    pub agent_answers: i64,
    pub agent_wait_ms: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    /// The assistant's replies by model latency ([`LATENCY_BOUNDS_MS`]).
    pub latency: [i64; LATENCY_BUCKETS],
    pub bot_up: i64,
    pub bot_down: i64,
    pub agent_up: i64,
    pub agent_down: i64,
    pub csat: Option<(u8, Answerer)>,
}

/// The replies of the conversations a [`FactsQuery`] selects, counted by
/// fallback error code and by grounding verdict.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Breakdown {
    pub fallback_codes: BTreeMap<String, i64>,
    pub verdicts: BTreeMap<String, i64>,
}

/// Unix milliseconds, rounded to the nearest (as SQLite's `julianday`).
pub fn millis(at: OffsetDateTime) -> i64 {
    let nanos = at.unix_timestamp_nanos();
    i64::try_from((nanos + 500_000).div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

/// The bucket of [`LATENCY_BOUNDS_MS`] a latency falls in.
pub fn latency_bucket(ms: i64) -> usize {
    LATENCY_BOUNDS_MS
        .iter()
        .position(|&bound| ms < bound)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

impl ConversationFacts {
    /// The facts of a conversation from its messages (oldest first), the
    /// ratings of its answers and its CSAT: what the SQL stores compute.
    pub fn from_messages(
        conversation: &Conversation,
        messages: &[Message],
        ratings: &[(MessageId, Rating)],
        csat: Option<(u8, Answerer)>,
    ) -> Self {
        let mut facts = Self {
            id: conversation.id,
            channel: conversation.channel.clone(),
            status: conversation.status,
            assigned: conversation.assignee.is_some(),
            created_ms: millis(conversation.created_at),
            updated_ms: millis(conversation.updated_at),
            customer_messages: 0,
            first_customer_ms: None,
            replies: 0,
            fallbacks: 0,
            answers: 0,
            first_reply_ms: None,
            handoff_ms: None,
            handoff_reason: None,
            agent_messages: 0,
            first_agent_ms: None,
            agent_answers: 0,
            agent_wait_ms: 0,
            tokens_in: 0,
            tokens_out: 0,
            latency: [0; LATENCY_BUCKETS],
            bot_up: 0,
            bot_down: 0,
            agent_up: 0,
            agent_down: 0,
            csat,
        };
        let mut previous: Option<&Message> = None;
        for m in messages {
            let at = millis(m.created_at);
            match m.sender {
                Sender::Customer => {
                    facts.customer_messages += 1;
                    facts.first_customer_ms.get_or_insert(at);
                }
                Sender::Assistant => {
                    facts.replies += 1;
                    facts.first_reply_ms.get_or_insert(at);
                    if m.meta.used_fallback {
                        facts.fallbacks += 1;
                    } else if m.meta.gap.is_none() {
                        facts.answers += 1;
                    }
                    facts.tokens_in += i64::from(m.meta.tokens_in.unwrap_or(0));
                    facts.tokens_out += i64::from(m.meta.tokens_out.unwrap_or(0));
                    if let Some(ms) = m.meta.latency_ms {
                        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
                        facts.latency[latency_bucket(ms)] += 1;
                    }
                }
                Sender::Agent => {
                    facts.agent_messages += 1;
                    facts.first_agent_ms.get_or_insert(at);
                    if let Some(p) = previous.filter(|p| p.sender == Sender::Customer) {
                        facts.agent_answers += 1;
                        facts.agent_wait_ms += at - millis(p.created_at);
                    }
                }
                Sender::System => {
                    if facts.handoff_ms.is_none() && m.meta.escalation.is_some() {
                        facts.handoff_ms = Some(at);
                        facts.handoff_reason = m.meta.escalation.clone();
                    }
                }
            }
            previous = Some(m);
        }
        for (id, rating) in ratings {
            let Some(m) = messages.iter().find(|m| m.id == *id) else {
                continue;
            };
            let slot = match (m.sender, rating) {
                (Sender::Assistant, Rating::Up) => &mut facts.bot_up,
                (Sender::Assistant, Rating::Down) => &mut facts.bot_down,
                (_, Rating::Up) => &mut facts.agent_up,
                (_, Rating::Down) => &mut facts.agent_down,
            };
            *slot += 1;
        }
        facts
    }
}

impl Breakdown {
    /// Adds one conversation's replies (the in-memory store's way).
    pub fn add(&mut self, messages: &[Message]) {
        for m in messages.iter().filter(|m| m.sender == Sender::Assistant) {
            if m.meta.used_fallback {
                let code = m.meta.error_code.as_deref().unwrap_or("unknown");
                *self.fallback_codes.entry(code.to_string()).or_default() += 1;
            }
            if let Some(grounding) = &m.meta.grounding {
                let verdict = serde_json::to_value(grounding.verdict)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                *self.verdicts.entry(verdict).or_default() += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_the_bucket_under_their_bound() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(249), 0);
        assert_eq!(latency_bucket(250), 1);
        assert_eq!(latency_bucket(29_999), 7);
        assert_eq!(latency_bucket(30_000), 8);
        assert_eq!(latency_bucket(i64::MAX), 8);
    }

    #[test]
    fn millis_round_to_the_nearest() {
        let at = |nanos: i128| OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
        assert_eq!(millis(at(1_499_999)), 1);
        assert_eq!(millis(at(1_500_000)), 2);
        assert_eq!(millis(at(-1_400_000)), -1);
    }
}
