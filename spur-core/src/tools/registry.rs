//! The tools an engine offers, and the running of one round of calls.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use futures::FutureExt;
use serde_json::{Value, json};

use super::json::{as_lines, redacted, summary};
use super::{Tool, ToolContext, ToolError, ToolsConfig};
use crate::conversation::{PendingAction, ToolRecord};
use crate::llm::{ToolCall, ToolDefinition};

/// Characters of a result or error kept in a [`ToolRecord`].
const SUMMARY_CHARS: usize = 200;
/// Validation errors told to the model per call.
const ERRORS_TOLD: usize = 3;

struct Entry {
    tool: Arc<dyn Tool>,
    validator: jsonschema::Validator,
}

/// Tools by name, each with its compiled argument schema.
#[derive(Default)]
pub struct ToolRegistry {
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
    /// What is offered without and with a verified customer, built when a
    /// tool is added so a turn copies nothing.
    offers: [Offer; 2],
}

/// The definitions offered in a turn, and their JSON (what their share of
/// the prompt budget is counted on).
#[derive(Clone, Debug, Default)]
pub struct Offer {
    pub definitions: Arc<[ToolDefinition]>,
    pub json: Arc<str>,
    /// Tokens of `json`, counted on first use: a registry serves one
    /// engine, so one tokenizer (a copy counts afresh).
    tokens: Arc<OnceLock<usize>>,
}

impl Offer {
    fn of<'a>(specs: impl Iterator<Item = &'a super::ToolSpec>) -> Self {
        let definitions: Arc<[ToolDefinition]> = specs
            .map(|spec| ToolDefinition {
                name: spec.name.clone(),
                description: spec.description.clone(),
                parameters: spec.parameters.clone(),
            })
            .collect();
        let json = if definitions.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&definitions).unwrap_or_default()
        };
        Self {
            definitions,
            json: json.into(),
            tokens: Arc::default(),
        }
    }

    /// Tokens these definitions take from the prompt budget.
    pub fn tokens(&self, counter: &dyn crate::prompt::TokenCounter) -> usize {
        if self.is_empty() {
            return 0;
        }
        *self.tokens.get_or_init(|| counter.count(&self.json))
    }

    pub fn is_empty(&self) -> bool {
        self.definitions.is_empty()
    }
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| &e.tool.spec().name))
            .finish()
    }
}

impl Clone for ToolRegistry {
    fn clone(&self) -> Self {
        let mut copy = Self::default();
        for entry in &self.entries {
            copy.by_name
                .insert(entry.tool.spec().name.clone(), copy.entries.len());
            copy.entries.push(Entry {
                tool: entry.tool.clone(),
                validator: entry.validator.clone(),
            });
        }
        copy.rebuild_offers();
        copy
    }
}

/// One call's outcome: what the model is told, what is recorded, and
/// (for a result) the evidence it adds for the grounding guard.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolOutcome {
    pub call_id: String,
    /// The result as JSON text, or `{"error": code, "message": ...}`.
    pub content: String,
    pub record: ToolRecord,
    pub evidence: Option<String>,
    /// A valid call of a `writes` tool, not run: it waits for the
    /// customer's yes (its `id` is the call's; the engine gives it its own).
    pub pending: Option<PendingAction>,
}

impl ToolOutcome {
    pub fn is_ok(&self) -> bool {
        self.record.outcome == "ok"
    }
}

/// What the chat API takes as a function's name: 1-64 of `A-Za-z0-9_-`.
pub fn offerable_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl ToolRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tool`. Refused: a name outside 1-64 of `A-Za-z0-9_-`, a name
    /// already taken, parameters that are not an object schema or do not compile.
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Result<(), ToolError> {
        let spec = tool.spec();
        if !offerable_name(&spec.name) {
            return Err(ToolError::Definition(format!(
                "{:?}: a name is 1-64 of A-Za-z0-9_-",
                spec.name
            )));
        }
        if self.by_name.contains_key(&spec.name) {
            return Err(ToolError::Definition(format!(
                "{:?} is registered already",
                spec.name
            )));
        }
        if spec.parameters.get("type").and_then(Value::as_str) != Some("object") {
            return Err(ToolError::Definition(format!(
                "{:?}: the parameters must be an object schema",
                spec.name
            )));
        }
        let validator = jsonschema::validator_for(&spec.parameters)
            .map_err(|e| ToolError::Definition(format!("{:?}: {e}", spec.name)))?;
        self.by_name.insert(spec.name.clone(), self.entries.len());
        self.entries.push(Entry { tool, validator });
        self.rebuild_offers();
        Ok(())
    }

    /// Keeps the tools `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&super::ToolSpec) -> bool) {
        self.entries.retain(|entry| keep(entry.tool.spec()));
        self.by_name = (self.entries.iter().enumerate())
            .map(|(i, entry)| (entry.tool.spec().name.clone(), i))
            .collect();
        self.rebuild_offers();
    }

    fn rebuild_offers(&mut self) {
        let specs = || self.entries.iter().map(|e| e.tool.spec());
        self.offers = [
            Offer::of(specs().filter(|spec| !spec.requires_customer)),
            Offer::of(specs()),
        ];
    }

    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The tool registered as `name`.
    pub fn tool(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.get(name).map(|entry| &entry.tool)
    }

    fn get(&self, name: &str) -> Option<&Entry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// The definitions offered in a turn: tools that need a verified
    /// customer only when there is one.
    pub fn offered(&self, context: &ToolContext) -> &Offer {
        &self.offers[usize::from(context.customer.is_some())]
    }

    /// Runs one round's calls together; outcomes in the calls' order.
    pub async fn run(
        &self,
        calls: &[ToolCall],
        context: &ToolContext,
        config: &ToolsConfig,
    ) -> Vec<ToolOutcome> {
        futures::future::join_all(
            calls
                .iter()
                .map(|call| self.run_one(call, context, config, false)),
        )
        .await
    }

    /// Runs an action the customer confirmed, with its id as the
    /// idempotency key. The tool's checks apply again (the customer must
    /// still be verified; the tool may be gone).
    pub async fn run_confirmed(
        &self,
        action: &PendingAction,
        context: &ToolContext,
        config: &ToolsConfig,
    ) -> ToolOutcome {
        let call = ToolCall {
            id: action.id.clone(),
            name: action.tool.clone(),
            arguments: action.arguments.to_string(),
        };
        let context = ToolContext {
            idempotency_key: Some(action.id.clone()),
            ..context.clone()
        };
        self.run_one(&call, &context, config, true).await
    }

    /// What the model is told, and recorded, when the customer said no.
    pub fn declined(action: &PendingAction) -> ToolOutcome {
        let message = "The customer declined: nothing was done.";
        ToolOutcome {
            call_id: action.id.clone(),
            content: json!({"error": "declined", "message": message}).to_string(),
            record: ToolRecord {
                tool: action.tool.clone(),
                arguments: action.shown.clone(),
                outcome: "declined".into(),
                summary: message.into(),
                latency_ms: 0,
            },
            evidence: None,
            pending: None,
        }
    }

    async fn run_one(
        &self,
        call: &ToolCall,
        context: &ToolContext,
        config: &ToolsConfig,
        confirmed: bool,
    ) -> ToolOutcome {
        let started = Instant::now();
        let raw = if call.arguments.trim().is_empty() {
            "{}"
        } else {
            call.arguments.as_str()
        };
        let parsed = serde_json::from_str::<Value>(raw);
        let entry = self.get(&call.name);
        let shown = match (&parsed, entry) {
            (Ok(args), Some(e)) => redacted(args, &e.tool.spec().secret_fields),
            (Ok(_), None) => Value::String("[unknown tool]".into()),
            // Not JSON: kept as text, short (it may hold anything).
            (Err(_), _) => Value::String(summary(raw, SUMMARY_CHARS)),
        };
        let result = match (entry, parsed) {
            (None, _) => Err(ToolError::Unknown(call.name.clone())),
            (Some(e), _) if e.tool.spec().requires_customer && context.customer.is_none() => {
                Err(ToolError::NotAllowed)
            }
            (Some(_), Err(e)) => Err(ToolError::InvalidArguments(format!("not JSON: {e}"))),
            (Some(e), Ok(args)) if e.tool.spec().writes && !confirmed => {
                return match Self::validated(e, &args) {
                    Ok(()) => Self::held(call, args, shown),
                    Err(error) => Self::failed(call, shown, error, started),
                };
            }
            (Some(e), Ok(args)) => Self::checked_call(e, args, context, config).await,
        };
        let result = result.and_then(|value| {
            let text = value.to_string();
            if text.len() > config.max_result_bytes {
                Err(ToolError::TooLarge {
                    size: text.len(),
                    limit: config.max_result_bytes,
                })
            } else {
                Ok((text, value))
            }
        });
        match result {
            Ok((text, value)) => ToolOutcome {
                call_id: call.id.clone(),
                record: ToolRecord {
                    tool: call.name.clone(),
                    arguments: shown,
                    outcome: "ok".into(),
                    summary: summary(&text, SUMMARY_CHARS),
                    latency_ms: started.elapsed().as_millis() as u64,
                },
                content: text,
                evidence: Some(as_lines(&value)),
                pending: None,
            },
            Err(error) => Self::failed(call, shown, error, started),
        }
    }

    fn failed(call: &ToolCall, shown: Value, error: ToolError, started: Instant) -> ToolOutcome {
        tracing::info!(tool = %call.name, code = error.code(), %error, "a tool call failed");
        let message = error.to_string();
        ToolOutcome {
            call_id: call.id.clone(),
            content: json!({"error": error.code(), "message": message}).to_string(),
            record: ToolRecord {
                tool: call.name.clone(),
                arguments: shown,
                outcome: error.code().to_string(),
                summary: summary(&message, SUMMARY_CHARS),
                latency_ms: started.elapsed().as_millis() as u64,
            },
            evidence: None,
            pending: None,
        }
    }

    /// A valid call of a `writes` tool, held for the customer's yes.
    fn held(call: &ToolCall, arguments: Value, shown: Value) -> ToolOutcome {
        let message = "Held until the customer confirms it.";
        ToolOutcome {
            call_id: call.id.clone(),
            content: json!({"status": "awaiting_confirmation", "message": message}).to_string(),
            record: ToolRecord {
                tool: call.name.clone(),
                arguments: shown.clone(),
                outcome: "awaiting_confirmation".into(),
                summary: message.into(),
                latency_ms: 0,
            },
            evidence: None,
            pending: Some(PendingAction {
                id: call.id.clone(),
                tool: call.name.clone(),
                arguments,
                shown,
            }),
        }
    }

    /// The arguments against the tool's schema; the first few errors.
    fn validated(entry: &Entry, args: &Value) -> Result<(), ToolError> {
        let errors: Vec<String> = entry
            .validator
            .iter_errors(args)
            .take(ERRORS_TOLD)
            .map(|e| match e.instance_path().as_str() {
                "" => e.to_string(),
                path => format!("{path}: {e}"),
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ToolError::InvalidArguments(errors.join("; ")))
        }
    }

    /// Validated, then called under its timeout; a panic is the tool's failure.
    async fn checked_call(
        entry: &Entry,
        args: Value,
        context: &ToolContext,
        config: &ToolsConfig,
    ) -> Result<Value, ToolError> {
        Self::validated(entry, &args)?;
        let spec = entry.tool.spec();
        let timeout = spec.timeout.unwrap_or(config.timeout);
        let call = std::panic::AssertUnwindSafe(entry.tool.call(args, context)).catch_unwind();
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ToolError::Failed("the tool crashed".into())),
            Err(_) => Err(ToolError::Timeout(timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::conversation::ConversationId;
    use crate::knowledge::KnowledgeBase;
    use crate::tools::ToolSpec;

    struct Echo(ToolSpec);

    #[async_trait::async_trait]
    impl Tool for Echo {
        fn spec(&self) -> &ToolSpec {
            &self.0
        }
        async fn call(&self, arguments: Value, _: &ToolContext) -> Result<Value, ToolError> {
            Ok(arguments)
        }
    }

    fn echo(name: &str, parameters: Value) -> Arc<dyn Tool> {
        Arc::new(Echo(ToolSpec::new(name, "Echoes.", parameters)))
    }

    fn context() -> ToolContext {
        ToolContext::new(
            ConversationId(uuid::Uuid::nil()),
            None,
            Arc::new(KnowledgeBase::demo()),
        )
    }

    #[test]
    fn bad_definitions_are_refused_at_registration() {
        let object = json!({"type": "object"});
        let mut tools = ToolRegistry::new();
        tools.register(echo("echo", object.clone())).unwrap();
        for (name, parameters) in [
            ("echo", object.clone()),
            ("", object.clone()),
            ("has space", object.clone()),
            (&"x".repeat(65), object.clone()),
            ("string_args", json!({"type": "string"})),
            (
                "bad_schema",
                json!({"type": "object", "properties": {"a": {"type": 5}}}),
            ),
        ] {
            let refused = tools.register(echo(name, parameters));
            assert!(
                matches!(refused, Err(ToolError::Definition(_))),
                "{name}: {refused:?}"
            );
        }
        assert_eq!(tools.len(), 1);
    }

    #[tokio::test]
    async fn records_hide_secret_fields_but_the_tool_gets_them() {
        let mut tools = ToolRegistry::new();
        let spec = ToolSpec::new("pay", "Pays.", json!({"type": "object"})).secret("card");
        tools.register(Arc::new(Echo(spec))).unwrap();
        let call = ToolCall {
            id: "1".into(),
            name: "pay".into(),
            arguments: r#"{"card": "4242424242424242", "amount": 5}"#.into(),
        };
        let outcome = &tools
            .run(&[call], &context(), &ToolsConfig::default())
            .await[0];
        assert_eq!(
            outcome.record.arguments,
            json!({"card": "[redacted]", "amount": 5})
        );
        assert!(
            outcome.content.contains("4242424242424242"),
            "the tool saw it"
        );
    }
}
