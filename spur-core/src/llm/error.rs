use std::time::Duration;

/// Why a provider gave no usable answer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("the provider did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the provider is rate limiting us")]
    RateLimited,
    #[error("the provider answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("could not reach the provider: {0}")]
    Network(String),
    #[error("the provider's answer could not be read: {0}")]
    InvalidResponse(String),
    #[error("the provider returned an empty answer")]
    Empty,
    #[error("the answer stream broke off: {0}")]
    Stream(String),
    #[error("provider configuration: {0}")]
    Config(String),
}

impl ProviderError {
    /// A stable code for metadata, logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "llm_timeout",
            Self::RateLimited => "llm_rate_limited",
            Self::Http { status, .. } if *status >= 500 => "llm_upstream_error",
            Self::Http { .. } => "llm_request_rejected",
            Self::Network(_) => "llm_unreachable",
            Self::InvalidResponse(_) => "llm_invalid_response",
            Self::Empty => "llm_empty_answer",
            Self::Stream(_) => "llm_stream_broken",
            Self::Config(_) => "llm_misconfigured",
        }
    }

    /// Worth trying again later (429, 5xx, network, timeouts).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::RateLimited | Self::Network(_) | Self::Stream(_) => true,
            Self::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
