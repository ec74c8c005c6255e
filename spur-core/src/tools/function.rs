//! Tools from async closures with a typed argument: the schema comes from
//! the type (`#[derive(Deserialize, JsonSchema)]`).

use std::future::Future;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Tool, ToolContext, ToolError, ToolSpec};

/// A tool made by [`tool_fn`].
pub struct FnTool<A, F> {
    spec: ToolSpec,
    run: F,
    arguments: PhantomData<fn(A)>,
}

/// A tool named `name` that runs `run` with its arguments read as `A`:
///
/// ```
/// use serde::Deserialize;
/// use spur_core::tools::{ToolError, schemars::JsonSchema, tool_fn};
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Order {
///     /// The order number, as on the receipt.
///     order_number: String,
/// }
///
/// let lookup = tool_fn("lookup_order", "Where an order is.", |order: Order, _context| async move {
///     Ok::<_, ToolError>(serde_json::json!({"order": order.order_number, "status": "shipped"}))
/// });
/// ```
pub fn tool_fn<A, F, Fut>(
    name: impl Into<String>,
    description: impl Into<String>,
    run: F,
) -> FnTool<A, F>
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, ToolError>> + Send + 'static,
{
    FnTool {
        spec: ToolSpec::new(name, description, schema_of::<A>()),
        run,
        arguments: PhantomData,
    }
}

impl<A, F> FnTool<A, F> {
    /// Changes the rest of the spec (a timeout, secret fields, requires_customer).
    pub fn with_spec(mut self, change: impl FnOnce(ToolSpec) -> ToolSpec) -> Self {
        self.spec = change(self.spec);
        self
    }
}

/// `A`'s JSON Schema without the keys chat APIs do not expect at the top.
fn schema_of<A: JsonSchema>() -> Value {
    let mut schema = schemars::schema_for!(A).to_value();
    if let Some(map) = schema.as_object_mut() {
        map.remove("$schema");
        map.remove("title");
    }
    schema
}

#[async_trait::async_trait]
impl<A, F, Fut> Tool for FnTool<A, F>
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, ToolError>> + Send + 'static,
{
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, arguments: Value, context: &ToolContext) -> Result<Value, ToolError> {
        let arguments: A = serde_json::from_value(arguments)
            .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
        (self.run)(arguments, context.clone()).await
    }
}
