//! `/v1/admin/knowledge/files*`: the files of the knowledge directory,
//! uploaded and deleted by admins. A file is checked before it is written
//! (a bad one is refused, naming what is wrong), written whole (a temporary
//! file renamed into place), and the knowledge is reloaded at once.

use std::path::{Path as FsPath, PathBuf};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use spur_core::knowledge::{check_file, is_knowledge_file, save_file};
use spur_core::validate::ValidationError;

use crate::auth::AdminUser;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Longest file name.
const MAX_NAME: usize = 100;

/// Largest upload request: a 6 MiB PDF in base64. Only admins get this far
/// (the token is checked before the body is read).
pub const UPLOAD_LIMIT: usize = 8 * 1024 * 1024;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileView {
    pub name: String,
    pub bytes: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilesView {
    pub files: Vec<FileView>,
}

/// A text file.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextFile {
    /// The file's text: Markdown (`##` sections), plain text, HTML, a FAQ
    /// (`faq.yaml` / `faq.json`) or the shop's facts (`shop.yaml`).
    /// Requests are limited to 8 MiB (413 above).
    #[schema(example = "## Gift wrapping\nWe gift wrap any order for 3 euros.\n")]
    pub content: String,
}

/// A binary file (a PDF: one section per page).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BinaryFile {
    /// The file's bytes in standard base64.
    #[schema(format = Byte)]
    pub content_base64: String,
}

/// A file's content: text, or bytes in base64.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum FileBody {
    Text(TextFile),
    Binary(BinaryFile),
}

impl FileBody {
    fn bytes(self) -> Result<Vec<u8>, ApiError> {
        match self {
            // The NUL guard in front of every other route leaves this one
            // (large bodies, admins only) to check for itself.
            Self::Text(file) if file.content.contains('\0') => {
                Err(ValidationError::NulCharacter.into())
            }
            Self::Text(file) => Ok(file.content.into_bytes()),
            Self::Binary(file) => base64::engine::general_purpose::STANDARD
                .decode(file.content_base64.trim())
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_body",
                        "contentBase64 is not valid base64".to_string(),
                    )
                }),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedView {
    pub name: String,
    /// Sections the file holds (0 for the shop's facts).
    pub sections: usize,
    /// Sections the knowledge holds now.
    pub total_sections: usize,
}

/// The file named in the path.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct FileName {
    /// A file the knowledge reads, e.g. returns.md, notes.txt, page.html,
    /// faq.yaml, shop.yaml.
    #[param(
        pattern = r"^([A-Za-z0-9][A-Za-z0-9_-]{0,60}[.](md|txt|html)|(faq|shop)[.](yaml|json))$"
    )]
    pub name: String,
}

fn conflict(message: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "no_knowledge_directory", message)
}

/// The configured directory (uploads need one: the demo is built in).
pub(crate) fn directory(state: &AppState) -> Result<PathBuf, ApiError> {
    state.knowledge.dir.clone().ok_or_else(|| {
        conflict("no knowledge directory is configured (SPUR_KNOWLEDGE): the demo is built in")
    })
}

/// A plain file name the knowledge reads: letters, digits, `.`, `-`, `_`,
/// no path, no leading dot.
pub(crate) fn file_name(name: &str) -> Result<String, ApiError> {
    let plain = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !plain || !is_knowledge_file(FsPath::new(name)) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_file_name",
            "a file name like returns.md, notes.txt, page.html, faq.yaml or shop.yaml \
             (letters, digits, '.', '-', '_'; up to 100 characters)",
        ));
    }
    Ok(name.to_string())
}

fn io_error(error: std::io::Error) -> ApiError {
    tracing::error!(%error, "knowledge file operation failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "knowledge_io",
        "the knowledge directory could not be written",
    )
}

/// Writes a checked file whole (the core's [`save_file`]), off the async
/// workers.
pub(crate) async fn write_file(dir: &FsPath, name: &str, bytes: Vec<u8>) -> Result<(), ApiError> {
    let (dir, name) = (dir.to_path_buf(), name.to_string());
    tokio::task::spawn_blocking(move || save_file(&dir, &name, &bytes))
        .await
        .map_err(|_| ApiError::from_status(StatusCode::INTERNAL_SERVER_ERROR))?
        .map_err(io_error)
}

/// The knowledge directory's files.
#[utoipa::path(get, path = "/v1/admin/knowledge/files", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = FilesView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "no knowledge directory configured")))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<FilesView>, ApiError> {
    let dir = directory(&state)?;
    let mut files = Vec::new();
    let mut entries = tokio::fs::read_dir(&dir).await.map_err(io_error)?;
    while let Some(entry) = entries.next_entry().await.map_err(io_error)? {
        let path = entry.path();
        let meta = entry.metadata().await.map_err(io_error)?;
        if meta.is_file() && is_knowledge_file(&path) {
            files.push(FileView {
                name: entry.file_name().to_string_lossy().into_owned(),
                bytes: meta.len(),
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(FilesView { files }))
}

/// Adds or replaces a file. It is checked first: a file the knowledge
/// cannot read is refused and nothing changes.
#[utoipa::path(put, path = "/v1/admin/knowledge/files/{name}", tag = "admin", security(("bearer" = [])),
    params(FileName),
    request_body = FileBody,
    responses((status = 200, body = SavedView),
        (status = 400, body = ErrorBody, description = "not a knowledge file name, or contentBase64 not base64"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "no knowledge directory configured"),
        (status = 413, body = ErrorBody, description = "over 8 MiB"),
        (status = 422, body = ErrorBody, description = "the file cannot be read as knowledge")))]
pub async fn put(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(FileName { name }): Path<FileName>,
    json: Result<Json<FileBody>, JsonRejection>,
) -> Result<Json<SavedView>, ApiError> {
    let name = file_name(&name)?;
    let Json(body) = json?;
    let bytes = body.bytes()?;
    let dir = directory(&state)?;
    // Reading a large PDF takes a while: off the async workers.
    let (checked, bytes) = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || (check_file(&name, &bytes), bytes))
            .await
            .map_err(|_| ApiError::from_status(StatusCode::INTERNAL_SERVER_ERROR))?
    };
    let sections = checked.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "knowledge_invalid",
            e.to_string(),
        )
    })?;
    write_file(&dir, &name, bytes).await?;
    super::knowledge::reload_now(&state).await?;
    tracing::info!(file = %name, sections, "knowledge file saved");
    Ok(Json(SavedView {
        name,
        sections,
        total_sections: state.engine.knowledge().len(),
    }))
}

/// Deletes a file and reloads. Deleting the last file with any section is
/// refused (the file is kept): the assistant would have nothing to say.
#[utoipa::path(delete, path = "/v1/admin/knowledge/files/{name}", tag = "admin", security(("bearer" = [])),
    params(FileName),
    responses((status = 204),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "no knowledge directory configured"),
        (status = 422, body = ErrorBody, description = "the knowledge would be empty; the file is kept")))]
pub async fn delete(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(FileName { name }): Path<FileName>,
) -> Result<StatusCode, ApiError> {
    let name = file_name(&name)?;
    let dir = directory(&state)?;
    let target = dir.join(&name);
    let kept = match tokio::fs::read(&target).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such knowledge file",
            ));
        }
        Err(e) => return Err(io_error(e)),
    };
    tokio::fs::remove_file(&target).await.map_err(io_error)?;
    if let Err(error) = super::knowledge::reload_now(&state).await {
        tokio::fs::write(&target, kept).await.map_err(io_error)?;
        return Err(error);
    }
    tracing::info!(file = %name, "knowledge file deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_knowledge_file_names_pass() {
        for good in [
            "returns.md",
            "faq.yaml",
            "shop.json",
            "page-2.html",
            "notes_v1.txt",
        ] {
            assert!(file_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "../etc/passwd.md",
            "a/b.md",
            "..md",
            ".hidden.md",
            "x.png",
            "other.yaml",
            "C:\\x.md",
            "ümlaut.md",
            &format!("{}.md", "a".repeat(100)),
        ] {
            assert!(file_name(bad).is_err(), "{bad}");
        }
    }
}
