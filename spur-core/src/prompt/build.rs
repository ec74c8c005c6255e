use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::trim::{MESSAGE_OVERHEAD_TOKENS, trim_counted};
use super::{PromptMessage, PromptTexts, Role, TokenCounter};
use crate::conversation::{Message, Sender};
use crate::facts::ShopFacts;
use crate::knowledge::{Article, Passage};

/// Tokens the API adds to prime the reply.
const REPLY_PRIMING_TOKENS: usize = 3;

/// How prompts are built and bounded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptConfig {
    pub texts: PromptTexts,
    /// At most this many earlier messages (`LLM_HISTORY_LIMIT`).
    pub max_history_messages: usize,
    /// The whole prompt (system, knowledge, history, new message) stays within
    /// this many input tokens; the new message is always kept.
    pub max_input_tokens: usize,
}

impl Default for PromptConfig {
    fn default() -> Self {
        Self {
            texts: PromptTexts::default(),
            max_history_messages: 20,
            max_input_tokens: 4_000,
        }
    }
}

/// What goes into one prompt.
#[derive(Clone, Copy, Debug)]
pub struct PromptInput<'a> {
    pub policies: &'a [Article],
    /// The operator's facts (name, hours, contact): authoritative, like policies.
    pub facts: &'a ShopFacts,
    /// Retrieved for this turn, best first.
    pub passages: &'a [Passage],
    /// Earlier messages, oldest first (without the new one).
    pub history: &'a [Message],
    /// The customer's new message.
    pub message: &'a str,
}

/// A provider-neutral prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    pub messages: Vec<PromptMessage>,
    /// The passages that fitted in the budget.
    pub passages: Vec<Passage>,
    /// How many history messages were kept.
    pub history_used: usize,
    /// Input tokens as counted (overhead included).
    pub input_tokens: usize,
    /// True when the fixed parts alone (persona, policies, the new message)
    /// exceed the budget; the prompt is still built, minimally.
    pub over_budget: bool,
}

fn system_text(texts: &PromptTexts, policies: &[Article], facts: &ShopFacts) -> String {
    let shop = facts.display_name();
    let mut out = texts.render(&texts.persona, shop);
    out.push_str("\n\n");
    out.push_str(&texts.render(&texts.guardrails, shop));
    let _ = write!(out, "\n\n{}", texts.policies_heading);
    for line in facts.describe().lines() {
        let _ = write!(out, "\n- {line}");
    }
    for policy in policies {
        let _ = write!(
            out,
            "\n- {}: {}",
            policy.title,
            policy.body.replace('\n', " ")
        );
    }
    out
}

fn knowledge_text(texts: &PromptTexts, passages: &[Passage]) -> String {
    if passages.is_empty() {
        return texts.no_knowledge.clone();
    }
    let mut out = texts.knowledge_heading.clone();
    for (i, passage) in passages.iter().enumerate() {
        let _ = write!(
            out,
            "\n\n[{}] {}\n{}",
            i + 1,
            passage.title,
            passage.text.trim()
        );
    }
    out
}

fn role(sender: Sender) -> Role {
    match sender {
        Sender::Customer => Role::User,
        Sender::Assistant | Sender::Agent => Role::Assistant,
        Sender::System => Role::System,
    }
}

/// Builds the prompt for one turn within the configured budget: the system
/// message and the new message always; then the best passages that fit; then
/// the newest history that fits (see [`trim_history`]).
pub fn build_prompt(
    config: &PromptConfig,
    counter: &dyn TokenCounter,
    input: PromptInput<'_>,
) -> Prompt {
    let system = system_text(&config.texts, input.policies, input.facts);
    let system_cost = counter.count(&system) + MESSAGE_OVERHEAD_TOKENS;
    assemble(
        &config.texts,
        Limits::of(config),
        counter,
        &system,
        system_cost,
        input,
    )
}

/// Builds prompts for one shop: the system message (persona, guardrails,
/// policies) is rendered and counted once, not on every turn.
#[derive(Clone, Debug)]
pub struct PromptBuilder {
    config: PromptConfig,
    system: String,
    system_cost: usize,
}

impl PromptBuilder {
    pub fn new(
        config: PromptConfig,
        counter: &dyn TokenCounter,
        policies: &[Article],
        facts: &ShopFacts,
    ) -> Self {
        let system = system_text(&config.texts, policies, facts);
        let system_cost = counter.count(&system) + MESSAGE_OVERHEAD_TOKENS;
        Self {
            config,
            system,
            system_cost,
        }
    }

    pub fn config(&self) -> &PromptConfig {
        &self.config
    }

    /// Same as [`build_prompt`]; `input.policies` and `input.facts` are ignored (given at construction).
    pub fn build(&self, counter: &dyn TokenCounter, input: PromptInput<'_>) -> Prompt {
        self.build_within(
            counter,
            input,
            self.config.max_history_messages,
            self.config.max_input_tokens,
        )
    }

    /// [`Self::build`] with other history and token limits than the
    /// configured ones (the system prompt stays rendered and counted).
    pub fn build_within(
        &self,
        counter: &dyn TokenCounter,
        input: PromptInput<'_>,
        max_history_messages: usize,
        max_input_tokens: usize,
    ) -> Prompt {
        let limits = Limits {
            max_history_messages,
            max_input_tokens,
        };
        assemble(
            &self.config.texts,
            limits,
            counter,
            &self.system,
            self.system_cost,
            input,
        )
    }
}

#[derive(Clone, Copy)]
struct Limits {
    max_history_messages: usize,
    max_input_tokens: usize,
}

impl Limits {
    fn of(config: &PromptConfig) -> Self {
        Self {
            max_history_messages: config.max_history_messages,
            max_input_tokens: config.max_input_tokens,
        }
    }
}

fn assemble(
    texts: &PromptTexts,
    limits: Limits,
    counter: &dyn TokenCounter,
    system: &str,
    system_cost: usize,
    input: PromptInput<'_>,
) -> Prompt {
    let cost = |text: &str| counter.count(text) + MESSAGE_OVERHEAD_TOKENS;
    let budget = limits.max_input_tokens;
    let fixed = system_cost + cost(input.message) + REPLY_PRIMING_TOKENS;

    // Passages: the best first, while the knowledge message fits.
    let mut kept = input.passages.len();
    let mut knowledge = knowledge_text(texts, input.passages);
    while kept > 0 && fixed + cost(&knowledge) > budget {
        kept -= 1;
        knowledge = knowledge_text(texts, &input.passages[..kept]);
    }
    let mut used = fixed + cost(&knowledge);
    let over_budget = used > budget;

    let history = trim_counted(
        input.history,
        limits.max_history_messages,
        budget.saturating_sub(used),
        counter,
    );
    let mut messages = Vec::with_capacity(history.len() + 3);
    messages.push(PromptMessage::new(Role::System, system));
    messages.push(PromptMessage::new(Role::System, knowledge));
    for (message, tokens) in &history {
        used += tokens + MESSAGE_OVERHEAD_TOKENS;
        messages.push(PromptMessage::new(
            role(message.sender),
            message.text.clone(),
        ));
    }
    messages.push(PromptMessage::new(Role::User, input.message));
    Prompt {
        messages,
        passages: input.passages[..kept].to_vec(),
        history_used: history.len(),
        input_tokens: used,
        over_budget,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::KnowledgeBase;
    use crate::prompt::tokens::for_model;

    #[test]
    fn a_builder_with_other_limits_builds_what_a_fresh_prompt_would() {
        let kb = KnowledgeBase::demo();
        let passages = kb.search("return policy", 3);
        let counter = for_model("gpt-4o-mini");
        let history: Vec<Message> = (0..30)
            .map(|i| {
                let sender = if i % 2 == 0 {
                    Sender::Customer
                } else {
                    Sender::Assistant
                };
                Message {
                    id: crate::conversation::MessageId(uuid::Uuid::from_u128(i as u128)),
                    conversation_id: crate::conversation::ConversationId(uuid::Uuid::nil()),
                    seq: i + 1,
                    sender,
                    text: format!("message number {i}"),
                    created_at: time::OffsetDateTime::UNIX_EPOCH,
                    idempotency_key: None,
                    reply_to: None,
                    meta: Default::default(),
                }
            })
            .collect();
        let builder = PromptBuilder::new(
            PromptConfig::default(),
            counter.as_ref(),
            kb.policies(),
            kb.facts(),
        );
        for (max_history_messages, max_input_tokens) in
            [(20, 4_000), (5, 4_000), (20, 700), (3, 300)]
        {
            let input = PromptInput {
                policies: kb.policies(),
                facts: kb.facts(),
                passages: &passages,
                history: &history,
                message: "Can I return shoes?",
            };
            let config = PromptConfig {
                max_history_messages,
                max_input_tokens,
                ..PromptConfig::default()
            };
            assert_eq!(
                builder.build_within(
                    counter.as_ref(),
                    input,
                    max_history_messages,
                    max_input_tokens
                ),
                build_prompt(&config, counter.as_ref(), input)
            );
        }
    }

    #[test]
    fn lays_out_system_knowledge_history_and_message() {
        let kb = KnowledgeBase::demo();
        let passages = kb.search("return policy", 2);
        let counter = for_model("gpt-4o-mini");
        let prompt = build_prompt(
            &PromptConfig::default(),
            counter.as_ref(),
            PromptInput {
                policies: kb.policies(),
                facts: kb.facts(),
                passages: &passages,
                history: &[],
                message: "Can I return shoes?",
            },
        );
        let roles: Vec<Role> = prompt.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, vec![Role::System, Role::System, Role::User]);
        assert!(prompt.messages[0].content.contains("Spur Shop"));
        assert!(prompt.messages[0].content.contains("USA, India and Europe"));
        assert!(prompt.messages[1].content.contains("14 days"));
        assert_eq!(prompt.messages[2].content, "Can I return shoes?");
        assert_eq!(prompt.passages.len(), 2);
        assert!(!prompt.over_budget);
        let counted: usize = prompt
            .messages
            .iter()
            .map(|m| counter.count(&m.content) + MESSAGE_OVERHEAD_TOKENS)
            .sum::<usize>()
            + REPLY_PRIMING_TOKENS;
        assert_eq!(prompt.input_tokens, counted);
    }

    #[test]
    fn passages_are_dropped_before_the_budget_is_broken() {
        let kb = KnowledgeBase::demo();
        let passages = kb.search("return refund delivery shipping", 5);
        let counter = for_model("gpt-4o-mini");
        let mut config = PromptConfig::default();
        let input = PromptInput {
            policies: kb.policies(),
            facts: kb.facts(),
            passages: &passages,
            history: &[],
            message: "hi",
        };
        let full = build_prompt(&config, counter.as_ref(), input);
        config.max_input_tokens = full.input_tokens - 1;
        let trimmed = build_prompt(&config, counter.as_ref(), input);
        assert!(trimmed.passages.len() < full.passages.len());
        assert!(trimmed.input_tokens <= config.max_input_tokens);
        config.max_input_tokens = 10;
        let tiny = build_prompt(&config, counter.as_ref(), input);
        assert!(tiny.over_budget);
        assert_eq!(tiny.messages.last().map(|m| m.content.as_str()), Some("hi"));
    }
}
