//! Security headers. Pages (the demo, the console, Swagger UI) may run
//! only their own scripts and may not be framed by another site
//! (clickjacking); every response is `nosniff`. The widget's files stay
//! embeddable: shops load them from their own pages.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Own scripts only (`wasm-unsafe-eval` compiles the widget's wasm), inline
/// styles allowed (Swagger UI needs them), no framing, no plugins. `blob:`
/// images and media: the console shows customers' files from memory (they
/// need the agent's token, which an `<img src>` cannot send).
pub const PAGE_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

pub async fn security_headers(request: Request, next: Next) -> Response {
    let embeddable = request.uri().path().starts_with("/widget/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if embeddable {
        return response;
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    let is_page = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_page {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}
