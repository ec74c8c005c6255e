//! Actions the model may take during a turn: the [`Tool`] seam, the
//! [`ToolRegistry`] that checks a call's arguments against the tool's JSON
//! Schema and runs the calls of one round together, typed tools from
//! closures ([`tool_fn`]) and the built-in tools.
//!
//! Whatever goes wrong with a call (unknown tool, arguments that do not
//! parse or fit the schema, a timeout, an error, a result too large) goes
//! back to the model as that call's result, never to the customer.

mod builtin;
mod confirm;
mod error;
mod function;
#[cfg(feature = "web")]
mod http;
mod json;
#[cfg(feature = "mcp")]
mod mcp;
mod registry;
mod ticket;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conversation::ConversationId;
use crate::knowledge::KnowledgeBase;

pub use builtin::{HANDOFF_TO_HUMAN, HandoffToHuman, SEARCH_KNOWLEDGE, SearchKnowledge};
pub use confirm::{Decision, decision, describe};
pub use error::ToolError;
pub use function::{FnTool, tool_fn};
#[cfg(feature = "web")]
pub use http::{HttpTool, HttpToolConfig};
#[cfg(feature = "mcp")]
pub use mcp::{McpConnection, McpServerConfig};
pub use registry::{Offer, ToolOutcome, ToolRegistry};
/// For `#[derive(JsonSchema)]` on a tool's argument type.
pub use schemars;
pub use ticket::{CREATE_TICKET, CreateTicket, TicketFiler};

/// What the model is told about a tool, and how the engine treats it.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    /// 1-64 of `A-Za-z0-9_-` (what the chat APIs accept).
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments: an object schema.
    pub parameters: Value,
    /// Offered only when the host vouched for the customer of this message
    /// ([`crate::Inbound::verified_customer`]); the tool reads who from its
    /// [`ToolContext`], never from the model's arguments.
    pub requires_customer: bool,
    /// Overrides [`ToolsConfig::timeout`] for this tool.
    pub timeout: Option<Duration>,
    /// Argument fields never written to records or logs (at any depth).
    pub secret_fields: Vec<String>,
    /// Changes something (cancels an order, changes an address): a call
    /// is held until the customer confirms it in the chat, and runs with
    /// an idempotency key ([`ToolContext::idempotency_key`]).
    pub writes: bool,
}

impl ToolSpec {
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            parameters,
            requires_customer: false,
            timeout: None,
            secret_fields: Vec::new(),
            writes: false,
        }
    }

    pub fn writes(mut self) -> Self {
        self.writes = true;
        self
    }

    pub fn requires_customer(mut self) -> Self {
        self.requires_customer = true;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn secret(mut self, field: impl Into<String>) -> Self {
        self.secret_fields.push(field.into());
        self
    }
}

/// What a call knows besides its arguments.
#[derive(Clone)]
pub struct ToolContext {
    pub conversation: ConversationId,
    /// The customer the host verified for this message; `None` when it
    /// vouched for nobody.
    pub customer: Option<String>,
    /// The knowledge this turn answers from.
    pub knowledge: Arc<KnowledgeBase>,
    /// For a confirmed call of a `writes` tool: the same key every time
    /// this action is tried, so the shop's system can act once.
    pub idempotency_key: Option<String>,
}

impl ToolContext {
    pub fn new(
        conversation: ConversationId,
        customer: Option<String>,
        knowledge: Arc<KnowledgeBase>,
    ) -> Self {
        Self {
            conversation,
            customer,
            knowledge,
            idempotency_key: None,
        }
    }
}

impl std::fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolContext")
            .field("conversation", &self.conversation)
            .field("customer", &self.customer.as_ref().map(|_| "<verified>"))
            .finish()
    }
}

/// Something the model may call.
#[async_trait::async_trait]
pub trait Tool: Send + Sync {
    fn spec(&self) -> &ToolSpec;

    /// Runs with arguments that fit [`ToolSpec::parameters`]. An `Err` is
    /// told to the model (say what went wrong in words it can act on).
    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<Value, ToolError>;
}

/// How tools run in a turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolsConfig {
    /// Rounds of tool calls per reply; then the model must answer with what
    /// it has (it is offered no more tools).
    pub max_rounds: u32,
    /// Per call, unless the tool sets its own.
    #[serde(with = "crate::millis")]
    pub timeout: Duration,
    /// A result longer than this (as JSON) is not given to the model; it is
    /// told the result was too large.
    pub max_result_bytes: usize,
    /// Offer the built-in `search_knowledge(query)` (follow-up searches).
    pub search_knowledge: bool,
    /// Offer the built-in `handoff_to_human(reason)`: the model may hand
    /// the conversation to a person, through the escalation rules' path.
    pub handoff_to_human: bool,
}

impl Default for ToolsConfig {
    fn default() -> Self {
        Self {
            max_rounds: 4,
            timeout: Duration::from_secs(5),
            max_result_bytes: 16 * 1024,
            search_knowledge: false,
            handoff_to_human: false,
        }
    }
}
