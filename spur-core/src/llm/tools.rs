//! What a provider sees of tools: their definitions in a request, the calls
//! a model asks for (whole, or in streamed pieces).

use serde::{Deserialize, Serialize};

/// A tool offered to the model: its name, what it does, and the JSON
/// Schema of its arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// Whether the model may call the offered tools. `None` is the round after
/// the last: the definitions stay (the history has calls of them, which
/// some servers refuse without them, and the prompt's cached prefix stays
/// the same) but the model must answer in words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoice {
    #[default]
    Auto,
    None,
}

/// One call the model asked for. `arguments` is the model's JSON text as
/// sent: it may not parse, and is checked before anything runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A piece of a streamed tool call: the first piece of a call carries its
/// id and name, later ones more of the arguments, all under one `index`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallChunk {
    pub index: u32,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
}

/// Streamed pieces put back together into whole calls, in index order.
#[derive(Debug, Default)]
pub struct ToolCallAssembly {
    calls: std::collections::BTreeMap<u32, ToolCall>,
}

impl ToolCallAssembly {
    pub fn push(&mut self, chunk: ToolCallChunk) {
        let call = self.calls.entry(chunk.index).or_insert_with(|| ToolCall {
            id: String::new(),
            name: String::new(),
            arguments: String::new(),
        });
        if let Some(id) = chunk.id.filter(|id| !id.is_empty()) {
            call.id = id;
        }
        if let Some(name) = chunk.name {
            call.name.push_str(&name);
        }
        call.arguments.push_str(&chunk.arguments);
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The whole calls; one without an id gets one from its index (some
    /// OpenAI-compatible servers stream none).
    pub fn finish(self) -> Vec<ToolCall> {
        self.calls
            .into_iter()
            .map(|(index, mut call)| {
                if call.id.is_empty() {
                    call.id = format!("call_{index}");
                }
                call
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_pieces_make_whole_calls_in_index_order() {
        let mut assembly = ToolCallAssembly::default();
        let piece = |index, id: Option<&str>, name: Option<&str>, arguments: &str| ToolCallChunk {
            index,
            id: id.map(Into::into),
            name: name.map(Into::into),
            arguments: arguments.into(),
        };
        assembly.push(piece(1, Some("b"), Some("lookup_order"), ""));
        assembly.push(piece(0, None, Some("search_knowledge"), "{\"que"));
        assembly.push(piece(1, None, None, "{\"order_number\":\"1042\"}"));
        assembly.push(piece(0, None, None, "ry\":\"returns\"}"));
        let calls = assembly.finish();
        assert_eq!(
            calls,
            vec![
                ToolCall {
                    id: "call_0".into(),
                    name: "search_knowledge".into(),
                    arguments: "{\"query\":\"returns\"}".into(),
                },
                ToolCall {
                    id: "b".into(),
                    name: "lookup_order".into(),
                    arguments: "{\"order_number\":\"1042\"}".into(),
                },
            ]
        );
    }
}
