//! The files customers sent on channels, for agents:
//! `GET /v1/agent/conversations/{id}/files/{seq}/{index}` is file `index`
//! of message `seq`. Agents only (a Bearer token, so the console fetches
//! it and shows it from memory). A file is the customer's, not the shop's:
//! it is served so that a browser never runs it (no sniffing, a sandbox,
//! only photos, audio and video shown inline, everything else downloaded).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use spur_core::channels::media::essence;

use super::agent::conversation_id;
use crate::auth::AgentUser;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The types shown in place; anything else is downloaded.
const SHOWN: [&str; 3] = ["image/", "audio/", "video/"];

/// A file a customer sent with a message, as kept.
#[utoipa::path(get, path = "/v1/agent/conversations/{id}/files/{seq}/{index}", tag = "agent", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), ("seq" = i64, Path, minimum = 1), ("index" = u32, Path, maximum = 100)),
    responses((status = 200, description = "The file's bytes, with its type", content_type = "application/octet-stream"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn file(
    State(state): State<AppState>,
    _agent: AgentUser,
    Path((id, seq, index)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let conversation = conversation_id(&id)?;
    let (Ok(seq), Ok(index)) = (seq.parse::<i64>(), index.parse::<usize>()) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            "seq and index are numbers",
        ));
    };
    let kept = state
        .engine
        .kept_file(conversation, seq, index)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file"))?;
    let mime = kept
        .attachment
        .mime
        .as_deref()
        .map(essence)
        .filter(|m| HeaderValue::from_str(m).is_ok())
        .unwrap_or_else(|| "application/octet-stream".into());
    let shown = SHOWN.iter().any(|family| mime.starts_with(family));
    let disposition = format!(
        "{}; filename=\"{}\"",
        if shown { "inline" } else { "attachment" },
        safe_name(kept.attachment.name.as_deref(), seq, index)
    );
    Response::builder()
        .header(header::CONTENT_TYPE, mime)
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; img-src 'self'; media-src 'self'; sandbox",
        )
        .header(header::CACHE_CONTROL, "private, max-age=3600")
        .body(Body::from(kept.bytes))
        .map_err(|_| ApiError::from_status(StatusCode::INTERNAL_SERVER_ERROR))
}

/// The file's name as a header can carry it: ASCII letters, digits and
/// `.-_ ` only (a customer chose it), or a name made of where it is.
fn safe_name(name: Option<&str>, seq: i64, index: usize) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' '))
        .take(100)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.');
    if cleaned.is_empty() {
        format!("file-{seq}-{index}")
    } else {
        cleaned.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn names_cannot_break_the_header() {
        assert_eq!(safe_name(Some("box.jpg"), 1, 0), "box.jpg");
        assert_eq!(
            safe_name(Some("a\"; filename=evil.html\r\nX: y"), 1, 0),
            "a filenameevil.htmlX y"
        );
        assert_eq!(safe_name(Some("../.."), 2, 1), "file-2-1");
        assert_eq!(safe_name(None, 3, 0), "file-3-0");
    }
}
