//! The LLM provider seam: one-shot and streaming completion.

mod error;
mod offline;
#[cfg(feature = "openai")]
mod openai;
#[cfg(all(any(test, feature = "test-util"), feature = "runtime"))]
mod scripted;
mod tools;

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::knowledge::Passage;
use crate::prompt::PromptMessage;

pub use error::ProviderError;
pub use offline::{OfflineConfig, OfflineResponder};
#[cfg(feature = "openai")]
pub(crate) use openai::openai_client;
#[cfg(feature = "openai")]
pub use openai::{OpenAiConfig, OpenAiProvider};
#[cfg(all(any(test, feature = "test-util"), feature = "runtime"))]
pub use scripted::{Script, ScriptedProvider};
/// API keys are held as this: never logged, never serialised.
#[cfg(feature = "openai")]
pub use secrecy::SecretString;
pub use tools::{ToolCall, ToolCallAssembly, ToolCallChunk, ToolChoice, ToolDefinition};

/// One request to a provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    pub messages: Vec<PromptMessage>,
    pub max_output_tokens: u32,
    pub temperature: Option<f32>,
    /// Ask for a JSON object (structured output).
    pub json: bool,
    /// The passages retrieved for this turn (the offline responder answers
    /// from them; LLMs see them inside `messages`).
    pub passages: Vec<Passage>,
    /// The shop's name for this turn (the knowledge in use may have been
    /// replaced since the provider was built); LLMs see it in the prompt.
    pub shop: Option<String>,
    /// Tools the model may call; none offered means none may be called.
    /// Shared: the same definitions go with every ask of every turn.
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub tools: Arc<[ToolDefinition]>,
    #[serde(default, skip_serializing_if = "is_auto")]
    pub tool_choice: ToolChoice,
}

fn is_auto(choice: &ToolChoice) -> bool {
    *choice == ToolChoice::Auto
}

impl CompletionRequest {
    pub fn new(messages: Vec<PromptMessage>) -> Self {
        Self {
            messages,
            max_output_tokens: 250,
            temperature: None,
            json: false,
            passages: Vec::new(),
            shop: None,
            tools: Arc::default(),
            tool_choice: ToolChoice::Auto,
        }
    }

    /// The newest user message (what the customer just asked).
    pub fn last_user_message(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == crate::prompt::Role::User)
            .map_or("", |m| m.content.as_str())
    }
}

/// Tokens billed for one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// A whole answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub model: String,
    pub usage: Option<Usage>,
    /// The provider could not answer and asks for a person (the offline
    /// responder when no article is confident enough).
    pub handoff: bool,
    /// Tools the model asks to call before it answers (`text` may be empty then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

/// One piece of a streamed answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub text: String,
    /// Usually only on the last delta.
    pub usage: Option<Usage>,
    pub handoff: bool,
    /// Pieces of tool calls (see [`ToolCallAssembly`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallChunk>,
}

#[cfg(not(target_family = "wasm"))]
pub type DeltaStream = Pin<Box<dyn Stream<Item = Result<Delta, ProviderError>> + Send>>;
#[cfg(target_family = "wasm")]
pub type DeltaStream = Pin<Box<dyn Stream<Item = Result<Delta, ProviderError>>>>;

/// Anything that completes chat prompts.
#[cfg_attr(not(target_family = "wasm"), async_trait::async_trait)]
#[cfg_attr(target_family = "wasm", async_trait::async_trait(?Send))]
pub trait LlmProvider: Send + Sync {
    /// Short name for logs and metadata ("openai", "offline", "scripted").
    fn name(&self) -> &str;
    fn model(&self) -> &str;

    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError>;

    /// Streams the answer as text deltas. The default streams the whole
    /// completion as one delta.
    async fn stream(&self, request: &CompletionRequest) -> Result<DeltaStream, ProviderError> {
        let completion = self.complete(request).await?;
        let delta = Delta {
            text: completion.text,
            usage: completion.usage,
            handoff: completion.handoff,
            tool_calls: completion
                .tool_calls
                .into_iter()
                .zip(0..)
                .map(|(call, index)| ToolCallChunk {
                    index,
                    id: Some(call.id),
                    name: Some(call.name),
                    arguments: call.arguments,
                })
                .collect(),
        };
        Ok(Box::pin(futures::stream::iter([Ok(delta)])))
    }
}
