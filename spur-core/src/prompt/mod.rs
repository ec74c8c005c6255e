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
}

/// One message of a prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptMessage {
    pub role: Role,
    pub content: String,
}

impl PromptMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}
