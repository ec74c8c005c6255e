//! Tools every engine can offer (switched on in [`super::ToolsConfig`]).

use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolError, ToolSpec};

pub const SEARCH_KNOWLEDGE: &str = "search_knowledge";
pub const HANDOFF_TO_HUMAN: &str = "handoff_to_human";

/// Passages found in the shop's knowledge for a query of the model's.
pub struct SearchKnowledge {
    spec: ToolSpec,
    k: usize,
}

impl SearchKnowledge {
    pub fn new(k: usize) -> Self {
        Self {
            spec: ToolSpec::new(
                SEARCH_KNOWLEDGE,
                "Searches the shop's own policies and help articles. Use it for a question the passages already given do not answer.",
                json!({
                    "type": "object",
                    "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 500,
                        "description": "What to look for, in the customer's words."}},
                    "required": ["query"],
                    "additionalProperties": false,
                }),
            ),
            k,
        }
    }
}

#[async_trait::async_trait]
impl Tool for SearchKnowledge {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<Value, ToolError> {
        let query = arguments["query"].as_str().unwrap_or_default();
        context.knowledge.prepare_query(query).await;
        let found: Vec<Value> = context
            .knowledge
            .search(query, self.k)
            .into_iter()
            .map(|p| json!({"title": p.title, "text": p.text}))
            .collect();
        Ok(json!({ "passages": found }))
    }
}

/// The model hands the conversation to a person. The engine sees the call
/// succeed and escalates after the reply, through the state machine, with
/// the model's reason for the agent.
pub struct HandoffToHuman {
    spec: ToolSpec,
}

impl Default for HandoffToHuman {
    fn default() -> Self {
        Self {
            spec: ToolSpec::new(
                HANDOFF_TO_HUMAN,
                "Hands the conversation to a person on the support team. Use it when the customer needs something you cannot do or answer from the shop's information.",
                json!({
                    "type": "object",
                    "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 300,
                        "description": "One line for the colleague who takes over."}},
                    "required": ["reason"],
                    "additionalProperties": false,
                }),
            ),
        }
    }
}

#[async_trait::async_trait]
impl Tool for HandoffToHuman {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, _arguments: Value, _context: &ToolContext) -> Result<Value, ToolError> {
        Ok(json!({
            "handed_off": true,
            "next": "Tell the customer a colleague will take over the conversation.",
        }))
    }
}
