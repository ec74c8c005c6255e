//! Any OpenAI-compatible server (OpenAI, Azure, vLLM, Ollama, llama.cpp,
//! LiteLLM) through async-openai.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::middleware::retry::OpenAIRetryLayer;
use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, CreateChatCompletionRequest, CreateChatCompletionResponse,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use secrecy::{ExposeSecret, SecretString};

use super::{
    Completion, CompletionRequest, Delta, DeltaStream, LlmProvider, ProviderError, ToolCall,
    ToolCallChunk, ToolChoice, Usage,
};
use crate::prompt::PromptMessage;

/// How to reach an OpenAI-compatible server.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiConfig {
    /// e.g. `http://localhost:11434/v1`; `None` is api.openai.com.
    pub base_url: Option<String>,
    /// Never logged (see the `Debug` impl) nor serialised.
    #[serde(skip_serializing)]
    pub api_key: Option<SecretString>,
    pub model: String,
    /// Per HTTP attempt.
    #[serde(with = "crate::millis")]
    pub timeout: Duration,
    /// Extra attempts on 429, 5xx and connection errors, with exponential backoff.
    pub max_retries: u32,
    pub temperature: Option<f32>,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            model: "gpt-4o-mini".into(),
            timeout: Duration::from_secs(15),
            max_retries: 2,
            temperature: Some(0.3),
        }
    }
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("temperature", &self.temperature)
            .finish()
    }
}

/// The OpenAI-compatible provider.
#[derive(Clone)]
pub struct OpenAiProvider {
    client: Client<OpenAIConfig>,
    config: OpenAiConfig,
}

impl std::fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("config", &self.config)
            .finish()
    }
}

/// `timeout` is the per-attempt limit, reported when the HTTP client hits it.
fn map_error(error: OpenAIError, timeout: Duration) -> ProviderError {
    match error {
        OpenAIError::ApiError(e) => match e.status_code.as_u16() {
            429 => ProviderError::RateLimited,
            status => ProviderError::Http {
                status,
                message: e.api_error.message,
            },
        },
        OpenAIError::Reqwest(e) if e.is_timeout() => ProviderError::Timeout(timeout),
        OpenAIError::Reqwest(e) => match e.status() {
            Some(status) if status.as_u16() == 429 => ProviderError::RateLimited,
            Some(status) => ProviderError::Http {
                status: status.as_u16(),
                message: e.to_string(),
            },
            None => ProviderError::Network(e.to_string()),
        },
        OpenAIError::JSONDeserialize(e, _) => ProviderError::InvalidResponse(e.to_string()),
        OpenAIError::StreamError(e) => ProviderError::Stream(e.to_string()),
        OpenAIError::InvalidArgument(m) => ProviderError::Config(m),
        other => ProviderError::Network(other.to_string()),
    }
}

/// A client for `config`'s server: its key, the per-attempt timeout, and
/// retries with backoff (chat and embeddings alike).
pub(crate) fn openai_client(config: &OpenAiConfig) -> Result<Client<OpenAIConfig>, ProviderError> {
    if config.model.trim().is_empty() {
        return Err(ProviderError::Config("the model name is empty".into()));
    }
    let mut openai = OpenAIConfig::new();
    if let Some(base) = &config.base_url {
        openai = openai.with_api_base(base.trim_end_matches('/'));
    }
    // Local servers often need no key, but the header must still parse.
    openai = openai.with_api_key(
        config
            .api_key
            .as_ref()
            .map(|k| k.expose_secret().to_string())
            .unwrap_or_default(),
    );
    let http = reqwest::Client::builder()
        .timeout(config.timeout)
        .build()
        .map_err(|e| ProviderError::Config(e.to_string()))?;
    let service = tower::ServiceBuilder::new()
        .layer(OpenAIRetryLayer::new(config.max_retries as usize))
        .service(ReqwestService::new(http));
    Ok(Client::with_config(openai).with_http_service(service))
}

impl OpenAiProvider {
    pub fn new(config: OpenAiConfig) -> Result<Self, ProviderError> {
        let client = openai_client(&config)?;
        Ok(Self { client, config })
    }

    fn body(
        &self,
        request: &CompletionRequest,
        stream: bool,
    ) -> Result<CreateChatCompletionRequest, ProviderError> {
        let mut body = json!({
            "model": self.config.model,
            "messages": request.messages.iter().map(wire_message).collect::<Vec<_>>(),
            "max_completion_tokens": request.max_output_tokens,
        });
        if !request.tools.is_empty() {
            body["tools"] = request
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters,
                    }})
                })
                .collect();
            // "auto" is the API's default with tools; left unsaid, since
            // some compatible servers refuse it unless started for it.
            if request.tool_choice == ToolChoice::None {
                body["tool_choice"] = json!("none");
            }
        }
        if let Some(t) = request.temperature.or(self.config.temperature) {
            body["temperature"] = json!(t);
        }
        if request.json {
            body["response_format"] = json!({"type": "json_object"});
        }
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        serde_json::from_value(body).map_err(|e| ProviderError::Config(e.to_string()))
    }
}

/// A prompt message in the chat API's shape: an assistant's tool calls as
/// `function` calls, a tool's result under its `tool_call_id`.
fn wire_message(message: &PromptMessage) -> serde_json::Value {
    let mut wire = json!({"role": message.role, "content": message.content});
    if !message.tool_calls.is_empty() {
        wire["tool_calls"] = message
            .tool_calls
            .iter()
            .map(|c| {
                json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}})
            })
            .collect();
    }
    if let Some(id) = &message.tool_call_id {
        wire["tool_call_id"] = json!(id);
    }
    wire
}

fn usage(u: Option<async_openai::types::chat::CompletionUsage>) -> Option<Usage> {
    u.map(|u| Usage {
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
    })
}

#[async_trait::async_trait]
impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.config.model
    }

    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let body = self.body(request, false)?;
        let response: CreateChatCompletionResponse = self
            .client
            .chat()
            .create(body)
            .await
            .map_err(|e| map_error(e, self.config.timeout))?;
        let message = response
            .choices
            .into_iter()
            .next()
            .map(|c| c.message)
            .ok_or(ProviderError::Empty)?;
        let tool_calls: Vec<ToolCall> = message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .filter_map(|call| match call {
                ChatCompletionMessageToolCalls::Function(f) => Some(ToolCall {
                    id: f.id,
                    name: f.function.name,
                    arguments: f.function.arguments,
                }),
                // Only function tools are offered.
                ChatCompletionMessageToolCalls::Custom(_) => None,
            })
            .collect();
        let text = message.content.unwrap_or_default();
        if text.trim().is_empty() && tool_calls.is_empty() {
            return Err(ProviderError::Empty);
        }
        Ok(Completion {
            text,
            model: response.model,
            usage: usage(response.usage),
            handoff: false,
            tool_calls,
        })
    }

    async fn stream(&self, request: &CompletionRequest) -> Result<DeltaStream, ProviderError> {
        let body = self.body(request, true)?;
        let stream = self
            .client
            .chat()
            .create_stream(body)
            .await
            .map_err(|e| map_error(e, self.config.timeout))?;
        let timeout = self.config.timeout;
        Ok(Box::pin(stream.map(move |chunk| {
            let chunk = chunk.map_err(|e| map_error(e, timeout))?;
            let mut text = String::new();
            let mut tool_calls = Vec::new();
            for choice in chunk.choices {
                text.push_str(choice.delta.content.as_deref().unwrap_or_default());
                tool_calls.extend(choice.delta.tool_calls.into_iter().flatten().map(|c| {
                    let function = c.function.unwrap_or_default();
                    ToolCallChunk {
                        index: c.index,
                        id: c.id,
                        name: function.name,
                        arguments: function.arguments.unwrap_or_default(),
                    }
                }));
            }
            Ok(Delta {
                text,
                usage: usage(chunk.usage),
                handoff: false,
                tool_calls,
            })
        })))
    }
}
