//! One JSON error shape for every failure: `{"error": {"code", "message"}}`.
//! Internals (database errors, provider bodies) never reach the client.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use spur_core::EngineError;
use spur_core::conversation::TransitionError;
use spur_core::validate::ValidationError;

use crate::limit::Decision;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Rare (rate limits): boxed to keep every `Result` small.
    headers: Option<Box<HeaderMap>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable (`message_too_long`, `session_not_found`…).
    pub code: String,
    /// For people; may change.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: None,
        }
    }

    /// A query string parameter that does not parse (400).
    pub fn invalid_query(message: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query", message)
    }

    /// Extra response headers (`Retry-After`…).
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = Some(Box::new(headers));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The same error under another status (an alias with its own contract).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn rate_limited(decision: &Decision) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many messages ({} limit); try again in {} s",
                decision.rule.as_str(),
                decision.retry_after.as_secs().max(1)
            ),
        );
        error.headers = Some(Box::new(decision.headers()));
        error
    }

    /// The shape for a bare status (404 route, 405, timeouts, panics).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed here"),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the body is over 100 KB"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ("unsupported_media_type", "send application/json")
            }
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => {
                ("timeout", "the request took too long; try again")
            }
            s if s.is_client_error() => ("bad_request", "the request was not understood"),
            _ => ("internal", "something went wrong on our side"),
        };
        let status = if status == StatusCode::REQUEST_TIMEOUT {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            status
        };
        Self::new(status, code, message)
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = match rejection {
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            JsonRejection::JsonDataError(_) => "invalid_body",
            JsonRejection::JsonSyntaxError(_) => "malformed_json",
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            _ => "bad_request",
        };
        Self::new(status, code, json_words(&rejection.body_text()))
    }
}

/// serde's message in JSON's words: it names the Rust type it wanted
/// ("expected struct SendBody with 3 elements"), which is nobody's business.
fn json_words(text: &str) -> String {
    let text = text
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = ["struct ", "enum "]
            .iter()
            .filter_map(|word| rest.find(word).map(|i| (i, word.len())))
            .min();
        let Some((at, len)) = next else { break };
        out.push_str(&rest[..at]);
        out.push_str("a JSON object");
        let after = &rest[at + len..];
        let name_end = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        rest = &after[name_end..];
        // "with 3 elements": how many fields the Rust struct has.
        if let Some(tail) = rest.strip_prefix(" with ") {
            let digits = tail
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(tail.len());
            let tail = &tail[digits..];
            if let Some(t) = tail
                .strip_prefix(" elements")
                .or_else(|| tail.strip_prefix(" element"))
            {
                rest = t;
            }
        }
    }
    out.push_str(rest);
    out
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match &error {
            EngineError::Validation(e) => e.clone().into(),
            EngineError::UnknownSession => Self::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                error.to_string(),
            ),
            EngineError::UnknownConversation => Self::new(
                StatusCode::NOT_FOUND,
                "conversation_not_found",
                error.to_string(),
            ),
            EngineError::IdempotencyMismatch => Self::new(
                StatusCode::CONFLICT,
                "idempotency_mismatch",
                error.to_string(),
            ),
            EngineError::Transition(TransitionError::ClaimedByOther { .. }) => {
                Self::new(StatusCode::CONFLICT, "already_claimed", error.to_string())
            }
            EngineError::Transition(_) => {
                Self::new(StatusCode::CONFLICT, "invalid_state", error.to_string())
            }
            EngineError::Busy => Self::new(StatusCode::CONFLICT, "busy", error.to_string()),
            EngineError::UnknownCannedReply => {
                Self::new(StatusCode::NOT_FOUND, "not_found", "no such shortcut")
            }
            EngineError::NotYourCannedReply => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", error.to_string())
            }
            EngineError::OtherCustomer => {
                Self::new(StatusCode::FORBIDDEN, "other_customer", error.to_string())
            }
            EngineError::UnknownMessage => Self::new(
                StatusCode::NOT_FOUND,
                "message_not_found",
                error.to_string(),
            ),
            EngineError::NothingToRate => {
                Self::new(StatusCode::CONFLICT, "nothing_to_rate", error.to_string())
            }
            EngineError::Analytics(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_period", error.to_string())
            }
            EngineError::Store(_) => {
                tracing::error!(%error, "storage failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "storage is unavailable, try again",
                )
            }
        }
    }
}

/// Direct store reads in handlers fail like the engine's own.
impl From<spur_core::store::StoreError> for ApiError {
    fn from(error: spur_core::store::StoreError) -> Self {
        EngineError::from(error).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(code = self.code, status = %self.status, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let headers = self.headers.map(|h| *h).unwrap_or_default();
        (self.status, headers, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::json_words;

    #[test]
    fn rust_type_names_become_json_words() {
        assert_eq!(
            json_words(
                "Failed to deserialize the JSON body into the target type: invalid type: integer `1`, expected struct SendBody at line 1 column 1"
            ),
            "invalid type: integer `1`, expected a JSON object at line 1 column 1"
        );
        assert_eq!(
            json_words(
                "invalid length 3, expected struct SendBody with 3 elements at line 1 column 7"
            ),
            "invalid length 3, expected a JSON object at line 1 column 7"
        );
        assert_eq!(
            json_words("message: invalid type: integer `42`, expected a string"),
            "message: invalid type: integer `42`, expected a string"
        );
    }
}
