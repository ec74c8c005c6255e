//! NUL characters are refused at the door, on every route and backend
//! alike: PostgreSQL cannot store them in text, SQLite can, and a message
//! must not be accepted by one deployment and refused by another.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use spur_core::validate::ValidationError;

use crate::error::ApiError;
use crate::router::BODY_LIMIT;

/// Where knowledge files are uploaded (`PUT …/{name}`).
const UPLOAD_PATH: &str = "/v1/admin/knowledge/files/";

pub async fn refuse_nul(request: Request, next: Next) -> Response {
    let uri = request.uri();
    // A raw NUL cannot be in a URI: only its escape.
    let escaped_nul = |text: &str| text.to_ascii_lowercase().contains("%00");
    if escaped_nul(uri.path()) || uri.query().is_some_and(escaped_nul) {
        return ApiError::from(ValidationError::NulCharacter).into_response();
    }
    let is_json = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    // Knowledge uploads are larger than any other body and only admins may
    // send them: that route refuses NULs itself, after the token is checked,
    // so nobody else gets megabytes buffered here.
    let upload = request.method() == axum::http::Method::PUT && uri.path().starts_with(UPLOAD_PATH);
    if !is_json || upload {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(error) => {
            if caused_by::<tower_http::timeout::TimeoutError>(&error) {
                return ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "the request body did not arrive in time",
                )
                .into_response();
            }
            let status = if caused_by::<http_body_util::LengthLimitError>(&error) {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return ApiError::from_status(status).into_response();
        }
    };
    // Cheap scan first; parse only when an escape might be a NUL (`\\u0000` is not).
    if contains(&bytes, b"u0000")
        && serde_json::from_slice::<Value>(&bytes).is_ok_and(|v| has_nul(&v))
    {
        return ApiError::from(ValidationError::NulCharacter).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Whether `T` is anywhere in the error's chain (bodies wrap their errors).
pub(crate) fn caused_by<T: std::error::Error + 'static>(
    error: &(dyn std::error::Error + 'static),
) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<T>() {
            return true;
        }
        current = error.source();
    }
    false
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_nul_characters_count() {
        let nul: Value = serde_json::from_str(r#"{"a": ["x", {"b": "y\u0000"}]}"#).unwrap();
        assert!(has_nul(&nul));
        let key: Value = serde_json::from_str(r#"{"\u0000": 1}"#).unwrap();
        assert!(has_nul(&key));
        let literal: Value = serde_json::from_str(r#"{"a": "\\u0000"}"#).unwrap();
        assert!(!has_nul(&literal), "a backslash and 'u0000' is text");
    }
}
