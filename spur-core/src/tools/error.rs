use std::time::Duration;

/// Why a tool call gave no result, or a tool could not be registered.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ToolError {
    #[error("no tool is called {0:?}")]
    Unknown(String),
    #[error("the arguments do not fit the tool: {0}")]
    InvalidArguments(String),
    #[error("this tool needs a verified customer, and there is none")]
    NotAllowed,
    #[error("the tool did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the result was {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    /// The tool's own failure, in words for the model.
    #[error("{0}")]
    Failed(String),
    /// A tool that cannot be registered (name, schema, a second of a name).
    #[error("invalid tool definition: {0}")]
    Definition(String),
}

impl ToolError {
    /// A stable code for records and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unknown(_) => "unknown_tool",
            Self::InvalidArguments(_) => "invalid_arguments",
            Self::NotAllowed => "not_allowed",
            Self::Timeout(_) => "timeout",
            Self::TooLarge { .. } => "too_large",
            Self::Failed(_) => "failed",
            Self::Definition(_) => "invalid_definition",
        }
    }
}
