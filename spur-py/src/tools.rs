//! Python functions as tools (`@engine.tool`): `spur._tools` reads the
//! schema from the type hints and docstring and wraps the function; this
//! side calls the wrapper on a blocking thread, holding the GIL only while
//! Python runs.

use std::sync::Arc;

use pyo3::prelude::*;
use serde_json::Value;
use spur_core::tools::{Tool, ToolContext, ToolError, ToolSpec};

use crate::errors::config_error;

struct PyTool {
    spec: ToolSpec,
    /// `call(arguments_json, customer, idempotency_key) -> result_json`.
    call: Arc<Py<PyAny>>,
}

#[async_trait::async_trait]
impl Tool for PyTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<Value, ToolError> {
        let call = self.call.clone();
        let customer = context.customer.clone();
        let key = context.idempotency_key.clone();
        let arguments = arguments.to_string();
        let answer = tokio::task::spawn_blocking(move || {
            Python::attach(|py| {
                call.call1(py, (arguments, customer, key))
                    .and_then(|out| out.extract::<String>(py))
                    // The exception's type and message, for the model.
                    .map_err(|e| ToolError::Failed(e.to_string()))
            })
        })
        .await
        .map_err(|_| ToolError::Failed("the tool crashed".into()))??;
        serde_json::from_str(&answer)
            .map_err(|e| ToolError::Failed(format!("the tool's result is not JSON: {e}")))
    }
}

/// `spur._spur._register_tool`: what `spur._tools.register` calls with
/// `describe`'s output, for either engine class.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn _register_tool(
    engine: &Bound<'_, PyAny>,
    name: String,
    description: String,
    parameters: String,
    call: Py<PyAny>,
    requires_customer: bool,
    timeout: Option<f64>,
    writes: bool,
) -> PyResult<()> {
    let engine = crate::engine::core_engine(engine)?;
    let parameters: Value = serde_json::from_str(&parameters)
        .map_err(|e| config_error(format!("tool parameters: {e}")))?;
    let mut spec = ToolSpec::new(name, description, parameters);
    spec.requires_customer = requires_customer;
    spec.writes = writes;
    if let Some(seconds) = timeout {
        spec.timeout = Some(crate::engine::seconds("timeout", seconds)?);
    }
    engine
        .register_tool(Arc::new(PyTool {
            spec,
            call: Arc::new(call),
        }))
        .map_err(|e| config_error(e.to_string()))
}

/// `engine.tool`: the decorator, in `spur._tools`.
pub(crate) fn decorator<'py>(
    py: Python<'py>,
    engine: Bound<'py, PyAny>,
    func: Option<Bound<'py, PyAny>>,
    name: Option<String>,
    description: Option<String>,
    timeout: Option<f64>,
    writes: bool,
) -> PyResult<Bound<'py, PyAny>> {
    py.import("spur._tools")?.getattr("register")?.call1((
        engine,
        func,
        name,
        description,
        timeout,
        writes,
    ))
}
