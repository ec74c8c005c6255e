//! `POST /v1/admin/knowledge/urls`: imports a web page, or every page of a
//! sitemap, into the knowledge directory as files (`web-<address>.html`...)
//! that admins list and delete like uploads. The fetching (robots.txt,
//! limits, public addresses only) is the core's
//! [`spur_core::knowledge::web`].

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use spur_core::knowledge::web::WebError;

use super::knowledge_files::{directory, file_name, write_file};
use crate::auth::AdminUser;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Longest address accepted.
const MAX_URL: usize = 2048;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// A page (HTML, plain text, Markdown, PDF) or a sitemap (its pages on
    /// the same site are imported, up to 50).
    #[schema(
        min_length = 1,
        max_length = 2048,
        example = "https://shop.example/sitemap.xml"
    )]
    pub url: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportedFile {
    pub name: String,
    pub url: String,
    pub sections: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedUrl {
    pub url: String,
    pub reason: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportView {
    /// Files written (importing an address again replaces its file).
    pub files: Vec<ImportedFile>,
    /// Sitemap entries not imported, with the reason.
    pub skipped: Vec<SkippedUrl>,
    /// Sections the knowledge holds now.
    pub total_sections: usize,
}

fn refused(error: &WebError) -> ApiError {
    let (status, code) = match error {
        WebError::InvalidUrl(_) | WebError::NotPublic(_) => {
            (StatusCode::BAD_REQUEST, "invalid_url")
        }
        WebError::Disallowed(_) => (StatusCode::UNPROCESSABLE_ENTITY, "robots_disallowed"),
        WebError::Fetch { .. } | WebError::Status { .. } => {
            (StatusCode::BAD_GATEWAY, "fetch_failed")
        }
        WebError::TooLarge { .. }
        | WebError::Unsupported { .. }
        | WebError::Unreadable { .. }
        | WebError::NothingImported(_) => (StatusCode::UNPROCESSABLE_ENTITY, "knowledge_invalid"),
        WebError::Client(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    ApiError::new(status, code, error.to_string())
}

/// Fetches the address (a page or a sitemap) and adds what it holds to the
/// knowledge, which is reloaded once. The site's robots.txt is respected;
/// private and local addresses are refused unless the operator allows them
/// (`KNOWLEDGE_FETCH_PRIVATE`).
#[utoipa::path(post, path = "/v1/admin/knowledge/urls", tag = "admin", security(("bearer" = [])),
    request_body = ImportBody,
    responses((status = 200, body = ImportView),
        (status = 400, body = ErrorBody, description = "not an http(s) address, or a private one"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "no knowledge directory configured"),
        (status = 422, body = ErrorBody, description = "robots.txt disallows it, or nothing readable was found"),
        (status = 502, body = ErrorBody, description = "the site could not be fetched")))]
pub async fn import(
    State(state): State<AppState>,
    _admin: AdminUser,
    json: Result<Json<ImportBody>, JsonRejection>,
) -> Result<Json<ImportView>, ApiError> {
    let Json(body) = json?;
    if body.url.trim().is_empty() || body.url.len() > MAX_URL {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_url",
            "url must be an http or https address of up to 2048 characters",
        ));
    }
    let dir = directory(&state)?;
    let import = state
        .knowledge
        .web
        .import(&body.url)
        .await
        .map_err(|e| refused(&e))?;
    let mut files = Vec::new();
    for page in import.pages {
        let name = file_name(&page.file_name)?;
        write_file(&dir, &name, page.bytes).await?;
        files.push(ImportedFile {
            name,
            url: page.url,
            sections: page.sections,
        });
    }
    super::knowledge::reload_now(&state).await?;
    tracing::info!(url = %body.url, files = files.len(), skipped = import.skipped.len(), "web knowledge imported");
    Ok(Json(ImportView {
        files,
        skipped: import
            .skipped
            .into_iter()
            .map(|s| SkippedUrl {
                url: s.url,
                reason: s.reason,
            })
            .collect(),
        total_sections: state.engine.knowledge().len(),
    }))
}
