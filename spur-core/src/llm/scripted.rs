//! A provider that plays a script, for tests of every host.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use super::{Completion, CompletionRequest, Delta, DeltaStream, LlmProvider, ProviderError};

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
    }
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
        }
    }

    async fn stream(&self, request: &CompletionRequest) -> Result<DeltaStream, ProviderError> {
        let (chunks, error) = match settle(self.next(request)).await {
            Script::Reply(text) => (vec![text], None),
            Script::Chunks(chunks) => (chunks, None),
            Script::ChunksThenFail(chunks, error) => (chunks, Some(error)),
            Script::Fail(error) => return Err(error),
            Script::Delay(..) => return Err(ProviderError::Empty),
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
        items.extend(error.map(Err));
        Ok(Box::pin(futures::stream::iter(items)))
    }
}
