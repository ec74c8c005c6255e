//! Tools from a real MCP server (`tests/mcp/orders_server.py`, written with
//! the official Python SDK), over stdio and streamable HTTP.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use spur_core::conversation::ConversationId;
use spur_core::llm::{Script, ScriptedProvider};
use spur_core::testing::mcp::{orders_server as server_script, python};
use spur_core::tools::{
    McpConnection, McpServerConfig, Tool, ToolContext, ToolError, ToolRegistry,
};
use spur_core::{Inbound, KnowledgeBase, SupportEngine};

fn stdio_config() -> McpServerConfig {
    McpServerConfig {
        name: "orders".into(),
        command: vec![python(), server_script(), "stdio".into()],
        env: [("ORDERS_KEY".to_string(), "${ORDERS_KEY}".to_string())].into(),
        url: None,
        allow: vec![
            "lookup_order".into(),
            "cancel_order".into(),
            "environment".into(),
        ],
        read_only: vec!["environment".into()],
        timeout_ms: Some(20_000),
    }
}

fn env(name: &str) -> Option<String> {
    (name == "ORDERS_KEY").then(|| "k-123".to_string())
}

fn context() -> ToolContext {
    ToolContext::new(
        ConversationId(uuid::Uuid::nil()),
        None,
        Arc::new(KnowledgeBase::demo()),
    )
}

fn tool<'a>(connection: &'a McpConnection, name: &str) -> &'a Arc<dyn Tool> {
    connection
        .tools()
        .iter()
        .find(|t| t.spec().name == name)
        .unwrap_or_else(|| panic!("{name} is offered"))
}

#[tokio::test]
async fn a_stdio_servers_allowed_tools_join_under_its_prefix() {
    let connection = McpConnection::connect(&stdio_config(), &[], env)
        .await
        .unwrap();
    let mut names: Vec<&str> = connection
        .tools()
        .iter()
        .map(|t| t.spec().name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "orders__cancel_order",
            "orders__environment",
            "orders__lookup_order"
        ],
        "internal_report is not allowed"
    );
    let lookup = tool(&connection, "orders__lookup_order");
    assert!(!lookup.spec().writes, "the server marks it read-only");
    assert_eq!(
        lookup.spec().parameters["required"],
        json!(["order_number"])
    );
    assert!(
        tool(&connection, "orders__cancel_order").spec().writes,
        "unmarked: confirmed first"
    );
    assert!(
        !tool(&connection, "orders__environment").spec().writes,
        "listed read_only"
    );

    let found = lookup
        .call(json!({"order_number": "1042"}), &context())
        .await
        .unwrap();
    assert_eq!(found["status"], "shipped");
    assert_eq!(found["carrier"], "DHL");
    // The server's error is the tool's failure, in its words.
    match lookup
        .call(json!({"order_number": "9999"}), &context())
        .await
    {
        Err(ToolError::Failed(message)) => assert!(message.contains("no order 9999"), "{message}"),
        other => panic!("{other:?}"),
    }
    // The child got the listed variable and none of Spur's own.
    let environment = tool(&connection, "orders__environment")
        .call(json!({}), &context())
        .await
        .unwrap();
    let names: Vec<&str> = environment["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(names.contains(&"ORDERS_KEY"), "{names:?}");
    assert!(!names.contains(&"CARGO_MANIFEST_DIR"), "{names:?}");
    connection.close();
}

/// Through the engine: the model calls the server's unmarked tool, the
/// customer is asked, and "yes" runs it on the server once.
#[tokio::test]
async fn an_mcp_tool_that_changes_things_runs_after_the_customers_yes() {
    let connection = McpConnection::connect(&stdio_config(), &[], env)
        .await
        .unwrap();
    let mut registry = ToolRegistry::new();
    for tool in connection.tools() {
        registry.register(tool.clone()).unwrap();
    }
    let provider = Arc::new(ScriptedProvider::new([
        Script::call("orders__cancel_order", r#"{"order_number": "1042"}"#),
        Script::Reply("Order 1042 is cancelled.".into()),
    ]));
    let engine = SupportEngine::builder()
        .provider(provider.clone())
        .tools(registry)
        .build();
    let asked = engine
        .send_message(Inbound::new("cancel order 1042"))
        .await
        .unwrap();
    assert!(asked.asks_to_confirm());
    let done = engine
        .send_message(Inbound::new("yes").in_session(asked.conversation.session_id))
        .await
        .unwrap();
    let reply = done.reply.unwrap();
    assert_eq!(reply.meta.tools[0].outcome, "ok");
    let result = provider.last_message().unwrap().content;
    let result: Value = serde_json::from_str(&result).unwrap();
    assert_eq!(result["status"], "cancelled");
    assert_eq!(result["cancelled_so_far"], 1, "run once, on the server");
    connection.close();
}

#[tokio::test]
async fn a_streamable_http_server_on_an_allowed_host() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(python())
        .args([server_script(), "http".into(), port.to_string()])
        .kill_on_drop(true)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let host = format!("127.0.0.1:{port}");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&host).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let config = McpServerConfig {
        command: Vec::new(),
        url: Some(format!("http://{host}/mcp")),
        env: Default::default(),
        ..stdio_config()
    };
    // Plain http to loopback only when the operator allows the host.
    let refused = McpConnection::connect(&config, &[], env).await.unwrap_err();
    assert!(refused.to_string().contains("https"), "{refused}");
    let connection = McpConnection::connect(&config, std::slice::from_ref(&host), env)
        .await
        .unwrap();
    let found = tool(&connection, "orders__lookup_order")
        .call(json!({"order_number": "1042"}), &context())
        .await
        .unwrap();
    assert_eq!(found["status"], "shipped");
    connection.close();
    child.kill().await.unwrap();
}

/// Waits up to 20 s for `done`.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not seen in 20 s: {what}");
}

/// A server that changes its tool list: the engine offers the new list
/// from the next turn on; a server that quits has its tools withdrawn.
#[tokio::test]
async fn the_engine_follows_a_servers_tool_list() {
    let config = McpServerConfig {
        allow: [
            "lookup_order",
            "toggle_returns",
            "return_order",
            "quit_server",
        ]
        .map(String::from)
        .to_vec(),
        ..stdio_config()
    };
    let engine = SupportEngine::builder().build();
    let offered = engine.connect_mcp(&config, &[], env).await.unwrap();
    assert_eq!(offered, 3, "{:?}", engine.tools());
    assert!(!engine.tools().contains("orders__return_order"));

    let toggle = engine
        .tools()
        .tool("orders__toggle_returns")
        .unwrap()
        .clone();
    let said = toggle.call(json!({}), &context()).await.unwrap();
    assert!(said.to_string().contains("added"), "{said}");
    until("return_order offered", || {
        engine.tools().contains("orders__return_order")
    })
    .await;
    let added = engine.tools().tool("orders__return_order").unwrap().clone();
    assert!(added.spec().writes, "unmarked: confirmed first");
    let started = added
        .call(json!({"order_number": "1042"}), &context())
        .await
        .unwrap();
    assert_eq!(started["return"], "started");
    assert!(
        engine.tools().contains("orders__lookup_order"),
        "the others stay"
    );

    let said = toggle.call(json!({}), &context()).await.unwrap();
    assert!(said.to_string().contains("removed"), "{said}");
    until("return_order withdrawn", || {
        !engine.tools().contains("orders__return_order")
    })
    .await;

    let quit = engine.tools().tool("orders__quit_server").unwrap().clone();
    assert!(quit.call(json!({}), &context()).await.is_err());
    until("a dead server's tools withdrawn", || {
        !engine.tools().contains("orders__lookup_order")
    })
    .await;
}

/// Dropping the engine ends its servers' sessions: a child process stops.
#[tokio::test]
async fn a_dropped_engine_stops_its_servers() {
    let engine = SupportEngine::builder().build();
    engine.connect_mcp(&stdio_config(), &[], env).await.unwrap();
    let environment = engine.tools().tool("orders__environment").unwrap().clone();
    let pid = environment.call(json!({}), &context()).await.unwrap()["pid"]
        .as_u64()
        .unwrap();
    drop(environment);
    let running = move || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.contains(") Z "))
    };
    assert!(running());
    drop(engine);
    until("the server's process ended", || !running()).await;
}
