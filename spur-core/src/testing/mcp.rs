//! A real MCP server for tests: `tests/mcp/orders_server.py`, written with
//! the official Python SDK, run by a Python that has it.

use std::path::PathBuf;

/// A Python with the `mcp` SDK: `SPUR_MCP_PYTHON`, or the venv
/// `scripts/mcp-venv.sh` makes.
///
/// # Panics
/// When there is none: a missing server is a failure, never a skip.
pub fn python() -> String {
    if let Ok(python) = std::env::var("SPUR_MCP_PYTHON") {
        return python;
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/mcp-venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with the mcp SDK: run `bash scripts/mcp-venv.sh` or set SPUR_MCP_PYTHON"
    );
    venv.to_string_lossy().into_owned()
}

/// The order server's script: `stdio`, or `http PORT` (streamable HTTP at
/// `/mcp`). Tools: `lookup_order` (read-only), `cancel_order`,
/// `environment`, `internal_report`.
pub fn orders_server() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mcp/orders_server.py")
        .to_string_lossy()
        .into_owned()
}
