//! Tools from Model Context Protocol servers, through the official SDK
//! (rmcp): a server started as a child process (stdio) or reached over
//! streamable HTTP; its tools join the registry as `{name}__{tool}`,
//! filtered by an allowlist. A connection follows the server's changes to
//! its tool list (`notifications/tools/list_changed`; the session is opened
//! with the initialize handshake, 2025-11-25 at newest, where that
//! notification comes unscoped): [`McpConnection::changed`] says when to
//! list again.
//!
//! Trust is the operator's to give, not the server's to claim: a tool is
//! treated as one that changes things (the customer confirms each call)
//! unless the server marks it read-only or the operator lists it in
//! `read_only`. A child process gets none of Spur's environment (its
//! secrets stay out), only `PATH`, `HOME` and what `env` lists. An HTTP
//! server is bound like an HTTP tool: https to public addresses unless the
//! host is allowed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, ContentBlock, Tool as Listed};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ServiceExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Notify;
use url::Url;

use super::http::{outbound, outbound_client, with_env};
use super::json::summary;
use super::registry::offerable_name;
use super::{Tool, ToolContext, ToolError, ToolSpec};

/// One MCP server as an operator writes it (`[[tools.mcp]]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// The prefix of its tools' names (`orders` gives `orders__lookup`).
    pub name: String,
    /// stdio: the program and its arguments.
    #[serde(default)]
    pub command: Vec<String>,
    /// The child's environment besides `PATH` and `HOME`; `${NAME}` is
    /// Spur's variable `NAME`.
    #[serde(default)]
    pub env: HashMap<String, String>,
    /// Streamable HTTP: the endpoint (instead of `command`).
    #[serde(default)]
    pub url: Option<String>,
    /// The tools offered, by their names on the server; empty offers all.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Tools that only read, offered without confirmation (besides those
    /// the server marks read-only).
    #[serde(default)]
    pub read_only: Vec<String>,
    /// Per call, and for connecting and listing.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// A connected server and the tools it offers. The session lives while
/// any of its tools does (they hold it): an engine keeps its servers
/// without the host holding anything; the last drop ends it and stops a
/// child process.
pub struct McpConnection {
    config: McpServerConfig,
    service: Arc<Session>,
    tools: Vec<Arc<dyn Tool>>,
    /// Rung by the server's list-changed notification.
    changes: Arc<Notify>,
}

type Session = RunningService<RoleClient, ListChanges>;

/// The client side of the session: it only notes that the tool list changed.
#[derive(Clone, Default)]
struct ListChanges(Arc<Notify>);

impl ClientHandler for ListChanges {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        // One stored permit: changes arriving together are listed once.
        self.0.notify_one();
    }
}

impl std::fmt::Debug for McpConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpConnection")
            .field("name", &self.config.name)
            .field("tools", &self.tools.len())
            .finish()
    }
}

fn failed(server: &str, why: impl std::fmt::Display) -> ToolError {
    ToolError::Definition(format!("MCP server {server}: {why}"))
}

impl McpConnection {
    /// Connects, lists the tools and keeps the allowed ones. `env` reads
    /// Spur's environment (injected for tests).
    pub async fn connect(
        config: &McpServerConfig,
        allow_hosts: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ToolError> {
        let name = config.name.as_str();
        let timeout = timeout_of(config);
        let changes = ListChanges::default();
        let connecting = async {
            let client = changes.clone();
            let service = match (&config.url, config.command.split_first()) {
                (Some(url), None) => {
                    let transport =
                        http_transport(url, allow_hosts, timeout).map_err(|e| failed(name, e))?;
                    client.serve(transport).await.map_err(|e| failed(name, e))?
                }
                (None, Some((program, args))) => {
                    let mut command = tokio::process::Command::new(program);
                    command.args(args).env_clear();
                    for kept in ["PATH", "HOME"] {
                        if let Some(value) = std::env::var_os(kept) {
                            command.env(kept, value);
                        }
                    }
                    for (key, template) in &config.env {
                        command.env(key, with_env(template, &env).map_err(|e| failed(name, e))?);
                    }
                    let transport = TokioChildProcess::new(command)
                        .map_err(|e| failed(name, format!("{program}: {e}")))?;
                    client.serve(transport).await.map_err(|e| failed(name, e))?
                }
                _ => return Err(failed(name, "set either command or url")),
            };
            let listed = service
                .list_all_tools()
                .await
                .map_err(|e| failed(name, e))?;
            Ok((service, listed))
        };
        let (service, listed) = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| failed(name, format!("no answer in {timeout:?}")))??;
        let service = Arc::new(service);
        Ok(Self {
            tools: offered(config, listed, &service),
            config: config.clone(),
            service,
            changes: changes.0,
        })
    }

    /// Waits until the server says its tool list changed: `true`, then
    /// [`Self::refresh`]; `false` when the session ended (the server quit
    /// or closed the connection), after which its tools cannot answer.
    /// Cancel-safe: a change seen is not lost if the wait is dropped.
    pub async fn changed(&mut self) -> bool {
        // rmcp signals a closed transport only to a poll (no callback, and
        // its session token is not cancelled on EOF): once a second.
        let closed = async {
            while !self.service.is_transport_closed() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        tokio::select! {
            () = self.changes.notified() => true,
            () = closed => false,
        }
    }

    /// Lists the server's tools again; [`Self::tools`] are the allowed
    /// ones of the new list.
    pub async fn refresh(&mut self) -> Result<(), ToolError> {
        let name = self.config.name.as_str();
        let timeout = timeout_of(&self.config);
        let listed = tokio::time::timeout(timeout, self.service.list_all_tools())
            .await
            .map_err(|_| failed(name, format!("no answer in {timeout:?}")))?
            .map_err(|e| failed(name, e))?;
        self.tools = offered(&self.config, listed, &self.service);
        Ok(())
    }

    /// The allowed tools, to register.
    pub fn tools(&self) -> &[Arc<dyn Tool>] {
        &self.tools
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Ends the session now, whoever still holds its tools (their calls
    /// fail from then on); a child process is stopped.
    pub fn close(self) {
        self.service.cancellation_token().cancel();
    }
}

fn timeout_of(config: &McpServerConfig) -> Duration {
    Duration::from_millis(config.timeout_ms.unwrap_or(10_000))
}

/// The listed tools the operator allows, as the registry's tools.
fn offered(
    config: &McpServerConfig,
    listed: Vec<Listed>,
    service: &Arc<Session>,
) -> Vec<Arc<dyn Tool>> {
    let name = config.name.as_str();
    let timeout = timeout_of(config);
    listed
        .into_iter()
        .filter(|tool| config.allow.is_empty() || config.allow.iter().any(|a| a == &tool.name))
        .filter_map(|tool| {
            let local = format!("{name}__{}", tool.name);
            if !offerable_name(&local) {
                tracing::warn!(server = name, tool = %tool.name, "an MCP tool's name cannot be offered; skipped");
                return None;
            }
            let mut parameters = Map::clone(&tool.input_schema);
            parameters
                .entry("type")
                .or_insert_with(|| Value::String("object".into()));
            let read_only = tool.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)
                || config.read_only.iter().any(|r| r == &tool.name);
            let mut spec = ToolSpec::new(
                local,
                tool.description.as_deref().unwrap_or(&tool.name).to_string(),
                Value::Object(parameters),
            );
            spec.timeout = Some(timeout);
            spec.writes = !read_only;
            let tool: Arc<dyn Tool> = Arc::new(McpTool {
                spec,
                remote: tool.name.to_string(),
                service: service.clone(),
            });
            Some(tool)
        })
        .collect()
}

/// The streamable HTTP transport under the outbound rules: https to public
/// addresses (checked when the name resolves) unless the host is allowed;
/// no redirects; a connect timeout (answers stream, so no total one).
fn http_transport(
    url: &str,
    allow_hosts: &[String],
    timeout: Duration,
) -> Result<StreamableHttpClientTransport<reqwest::Client>, String> {
    let parsed = Url::parse(url).map_err(|e| format!("url: {e}"))?;
    let allowed = outbound(&parsed, allow_hosts)?;
    let client =
        outbound_client(allowed, timeout, None).map_err(|e| format!("http client: {e}"))?;
    Ok(StreamableHttpClientTransport::with_client(
        client,
        StreamableHttpClientTransportConfig::with_uri(url),
    ))
}

/// One tool of an MCP server.
struct McpTool {
    spec: ToolSpec,
    /// Its name on the server.
    remote: String,
    service: Arc<Session>,
}

#[async_trait::async_trait]
impl Tool for McpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, arguments: Value, _context: &ToolContext) -> Result<Value, ToolError> {
        let Value::Object(arguments) = arguments else {
            return Err(ToolError::InvalidArguments("an object is expected".into()));
        };
        let request = CallToolRequestParams::new(self.remote.clone()).with_arguments(arguments);
        let result = self.service.call_tool(request).await.map_err(|error| {
            tracing::warn!(tool = %self.spec.name, %error, "an MCP tool call failed");
            ToolError::Failed("the tool's server did not answer".into())
        })?;
        let text = result
            .content
            .iter()
            .filter_map(ContentBlock::as_text)
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        if result.is_error == Some(true) {
            return Err(ToolError::Failed(summary(&text, 500)));
        }
        Ok(match result.structured_content {
            Some(value) => value,
            None => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        })
    }
}
