//! MCP servers joined to an engine: their tools offered, their list
//! changes followed while the engine lives.

use std::sync::Arc;

use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use super::SupportEngine;
use crate::tools::{McpConnection, McpServerConfig, Tool, ToolError, ToolRegistry};

/// The tasks that follow the engine's MCP servers. They hold the engine
/// weakly; dropping the engine stops them, which ends each session (and
/// stops a child process).
pub(crate) struct McpServers {
    tasks: TaskTracker,
    stop: CancellationToken,
    _stop_on_drop: DropGuard,
}

impl Default for McpServers {
    fn default() -> Self {
        let stop = CancellationToken::new();
        Self {
            tasks: TaskTracker::new(),
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
        }
    }
}

impl SupportEngine {
    /// Connects to an MCP server and offers its allowed tools from the next
    /// turn on (how many were taken: a name or schema the registry refuses
    /// leaves that tool out, logged). When the server changes its list the
    /// engine offers the new one; when the session ends its tools are
    /// withdrawn. `env` reads the host's environment for the server's `env`.
    pub async fn connect_mcp(
        &self,
        config: &McpServerConfig,
        allow_hosts: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<usize, ToolError> {
        let mut connection = McpConnection::connect(config, allow_hosts, env).await?;
        let offered = self.offer_server_tools(connection.name(), connection.tools());
        let engine = Arc::downgrade(&self.inner);
        let servers = &self.inner.mcp_servers;
        let stop = servers.stop.clone();
        servers.tasks.spawn(async move {
            loop {
                let changed = tokio::select! {
                    () = stop.cancelled() => break,
                    changed = connection.changed() => changed,
                };
                let refreshed = if changed {
                    connection.refresh().await
                } else {
                    Err(ToolError::Failed("the session ended".into()))
                };
                let Some(inner) = engine.upgrade() else { break };
                let engine = SupportEngine { inner };
                match refreshed {
                    Ok(()) => {
                        let offered = engine.offer_server_tools(connection.name(), connection.tools());
                        tracing::info!(server = connection.name(), tools = offered, "an MCP server's tools changed");
                    }
                    Err(error) if changed => {
                        tracing::warn!(server = connection.name(), %error, "an MCP server's changed tools could not be listed; the old ones stay");
                    }
                    Err(_) => {
                        engine.offer_server_tools(connection.name(), &[]);
                        tracing::error!(server = connection.name(), "an MCP server's session ended; its tools are withdrawn");
                        break;
                    }
                }
            }
            connection.close();
        });
        Ok(offered)
    }

    /// Offers `tools` as all of server `name`'s (the tools named
    /// `{name}__...`) from the next turn on; how many were taken.
    fn offer_server_tools(&self, name: &str, tools: &[Arc<dyn Tool>]) -> usize {
        let prefix = format!("{name}__");
        let mut current = self.inner.tools.write().unwrap_or_else(|e| e.into_inner());
        let mut next = ToolRegistry::clone(&current);
        next.retain(|spec| !spec.name.starts_with(&prefix));
        let mut taken = 0;
        for tool in tools {
            match next.register(tool.clone()) {
                Ok(()) => taken += 1,
                Err(error) => tracing::warn!(server = name, %error, "an MCP tool was refused"),
            }
        }
        *current = Arc::new(next);
        taken
    }
}
