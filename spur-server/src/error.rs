//! One JSON error shape for every failure: `{"error": {"code", "message"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use spur_core::EngineError;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match &error {
            EngineError::Validation(e) => {
                Self::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
            }
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
            EngineError::IdempotencyConflict | EngineError::Transition(_) | EngineError::Busy => {
                Self::new(StatusCode::CONFLICT, "conflict", error.to_string())
            }
            EngineError::Store(_) => {
                // Internals never reach the client; they are logged here.
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}
