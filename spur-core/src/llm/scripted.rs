//! A provider that plays a script, for tests of every host.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use super::{
    Completion, CompletionRequest, Delta, DeltaStream, LlmProvider, ProviderError, ToolCall,
    ToolCallChunk,
};

/// One scripted turn.
#[derive(Clone, Debug)]
pub enum Script {
    Reply(String),
    /// Streamed in these pieces.
    Chunks(Vec<String>),
    /// These pieces, then the stream breaks with the error.
    ChunksThenFail(Vec<String>, ProviderError),
    Fail(ProviderError),
    /// Waits, then plays the inner turn (for timeout tests).
    Delay(Duration, Box<Script>),
    /// Says `text` (may be empty) and calls tools; streamed, each call
    /// comes in pieces (name, then its arguments in two halves).
    Calls {
        text: String,
        calls: Vec<ToolCall>,
    },
}

impl Script {
    /// One call of `name` with `arguments` (JSON text, sent as is).
    pub fn call(name: &str, arguments: &str) -> Self {
        Self::Calls {
            text: String::new(),
            calls: vec![ToolCall {
                id: format!("call_{name}"),
                name: name.into(),
                arguments: arguments.into(),
            }],
        }
    }
}

/// Plays scripted turns in order, then repeats the default. Records every
/// request so tests can inspect prompts.
#[derive(Debug)]
pub struct ScriptedProvider {
    turns: Mutex<VecDeque<Script>>,
    default: Script,
    requests: Mutex<Vec<CompletionRequest>>,
}

impl ScriptedProvider {
    pub fn new(turns: impl IntoIterator<Item = Script>) -> Self {
        Self {
            turns: Mutex::new(turns.into_iter().collect()),
            default: Script::Reply("Scripted reply.".into()),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Always answers `text`.
    pub fn always(text: &str) -> Self {
        Self {
            default: Script::Reply(text.into()),
            ..Self::new([])
        }
    }

    pub fn push(&self, turn: Script) {
        if let Ok(mut turns) = self.turns.lock() {
            turns.push_back(turn);
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<CompletionRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The newest message of the newest request: what the model was told last.
    pub fn last_message(&self) -> Option<crate::prompt::PromptMessage> {
        let requests = self.requests.lock().ok()?;
        requests.last()?.messages.last().cloned()
    }

    fn next(&self, request: &CompletionRequest) -> Script {
        if let Ok(mut requests) = self.requests.lock() {
            requests.push(request.clone());
        }
        self.turns
            .lock()
            .ok()
            .and_then(|mut t| t.pop_front())
            .unwrap_or_else(|| self.default.clone())
    }
}

async fn settle(mut script: Script) -> Script {
    while let Script::Delay(wait, inner) = script {
        tokio::time::sleep(wait).await;
        script = *inner;
    }
    script
}

fn completion(text: String) -> Completion {
    Completion {
        text,
        model: "scripted".into(),
        usage: Some(super::Usage {
            input_tokens: 10,
            output_tokens: 5,
        }),
        handoff: false,
        tool_calls: Vec::new(),
    }
}

/// `calls` as a stream sends them: the first piece names the call, the
/// arguments follow in two halves (split on a character boundary).
fn call_pieces(calls: Vec<ToolCall>) -> Vec<ToolCallChunk> {
    let mut pieces = Vec::new();
    for (index, call) in (0..).zip(calls) {
        let half = (0..=call.arguments.len() / 2)
            .rev()
            .find(|&i| call.arguments.is_char_boundary(i))
            .unwrap_or(0);
        pieces.push(ToolCallChunk {
            index,
            id: Some(call.id),
            name: Some(call.name),
            arguments: String::new(),
        });
        for part in [&call.arguments[..half], &call.arguments[half..]] {
            pieces.push(ToolCallChunk {
                index,
                arguments: part.to_string(),
                ..ToolCallChunk::default()
            });
        }
    }
    pieces
}

#[async_trait::async_trait]
impl LlmProvider for ScriptedProvider {
    fn name(&self) -> &str {
        "scripted"
    }

    fn model(&self) -> &str {
        "scripted"
    }

    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        match settle(self.next(request)).await {
            Script::Reply(text) => Ok(completion(text)),
            Script::Chunks(chunks) => Ok(completion(chunks.concat())),
            Script::ChunksThenFail(_, error) | Script::Fail(error) => Err(error),
            Script::Delay(..) => Err(ProviderError::Empty),
            Script::Calls { text, calls } => Ok(Completion {
                tool_calls: calls,
                ..completion(text)
            }),
        }
    }

    async fn stream(&self, request: &CompletionRequest) -> Result<DeltaStream, ProviderError> {
        let mut calls = Vec::new();
        let (chunks, error) = match settle(self.next(request)).await {
            Script::Reply(text) => (vec![text], None),
            Script::Chunks(chunks) => (chunks, None),
            Script::ChunksThenFail(chunks, error) => (chunks, Some(error)),
            Script::Fail(error) => return Err(error),
            Script::Delay(..) => return Err(ProviderError::Empty),
            Script::Calls { text, calls: c } => {
                calls = call_pieces(c);
                (vec![text], None)
            }
        };
        let mut items: Vec<Result<Delta, ProviderError>> = chunks
            .into_iter()
            .map(|text| {
                Ok(Delta {
                    text,
                    ..Delta::default()
                })
            })
            .collect();
        items.extend(calls.into_iter().map(|piece| {
            Ok(Delta {
                tool_calls: vec![piece],
                ..Delta::default()
            })
        }));
        items.extend(error.map(Err));
        Ok(Box::pin(futures::stream::iter(items)))
    }
}
