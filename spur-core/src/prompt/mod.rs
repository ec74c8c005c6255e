//! Provider-neutral prompts: persona and guardrails, store policies, the
//! passages retrieved for this turn, the trimmed history and the new message.

mod build;
mod texts;
#[cfg(all(feature = "tokenizer", any(test, feature = "tokenizer-compact")))]
mod token_tables;
pub mod tokens;
mod trim;

use serde::{Deserialize, Serialize};

pub use build::{Prompt, PromptBuilder, PromptConfig, PromptInput, build_prompt};
pub use texts::PromptTexts;
pub use tokens::TokenCounter;
pub use trim::{MESSAGE_OVERHEAD_TOKENS, eligible, trim_history};

/// Who speaks in a prompt message (the OpenAI chat roles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool's result, answering the assistant's call `tool_call_id`.
    Tool,
}

/// One message of a prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptMessage {
    pub role: Role,
    pub content: String,
    /// An assistant message's calls of tools (its content may be empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<crate::llm::ToolCall>,
    /// A tool message's call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl PromptMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// The assistant asking for `calls` (after saying `content`, if anything).
    pub fn tool_calls(content: impl Into<String>, calls: Vec<crate::llm::ToolCall>) -> Self {
        Self {
            tool_calls: calls,
            ..Self::new(Role::Assistant, content)
        }
    }

    /// A tool's result for the call `id`.
    pub fn tool_result(id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(id.into()),
            ..Self::new(Role::Tool, content)
        }
    }
}
