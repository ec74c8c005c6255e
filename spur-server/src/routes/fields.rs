//! Reading request fields and pages the same way in every handler of the
//! tickets API: trimmed required text, ids, keyset cursors and limits.

use axum::http::StatusCode;
use spur_core::tickets::Cursor;

use crate::cursor;
use crate::error::ApiError;

pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
}

/// Trimmed, non-empty, at most `max` characters.
pub fn required(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(format!("{field} is required")));
    }
    if value.chars().count() > max {
        return Err(invalid(format!("{field} is over {max} characters")));
    }
    Ok(value.to_string())
}

pub fn id<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            format!("not a {what} id"),
        )
    })
}

pub fn page_cursor(text: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    text.filter(|c| !c.is_empty())
        .map(|c| {
            cursor::decode::<uuid::Uuid>(c)
                .map(|(created_at, id)| Cursor { created_at, id })
                .ok_or_else(|| ApiError::invalid_query("cursor is not one this server gave"))
        })
        .transpose()
}

/// A page size: `default` when absent, 400 outside 1..=`max` (one rule for
/// every listing: out of range is refused, never clamped).
pub fn page_limit(limit: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    match limit.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid_query(&format!(
            "limit must be 1 to {max}"
        ))),
    }
}

/// A `before` position: a message seq, so 1 or more.
pub fn before_seq(before: Option<i64>) -> Result<Option<i64>, ApiError> {
    match before {
        Some(n) if n < 1 => Err(ApiError::invalid_query("before must be 1 or more")),
        other => Ok(other),
    }
}

pub fn next_cursor(next: Option<Cursor>) -> Option<String> {
    next.map(|c| cursor::encode(c.created_at, c.id))
}
