//! Which pages may call the API from the browser. The customer chat API
//! is public by nature (the widget runs on the shop's own site, wherever
//! that is), so any origin may call it unless the operator lists origins in
//! `CORS_ORIGINS`; the agents' and admins' API answers only the listed
//! origins (none by default: the console is served by this server).
//! Credentials are never allowed cross-origin: the chat API carries its
//! session in the request, not in cookies.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

/// Paths of the customer chat API (and the seed apps' aliases).
fn is_customer_chat(path: &str) -> bool {
    path.starts_with("/v1/chat/") || path.starts_with("/chat/")
}

/// Refused origins already logged: each is logged once (a refused page
/// retries; the log must not grow with it).
const MAX_LOGGED: usize = 256;

/// The CORS layer for `origins` (`CORS_ORIGINS`; `*` allows every origin
/// on every route).
pub fn layer(origins: &[String]) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers(Any)
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        return base.allow_origin(Any);
    }
    let listed: Arc<Vec<HeaderValue>> =
        Arc::new(origins.iter().filter_map(|o| o.parse().ok()).collect());
    let logged: Arc<Mutex<HashSet<HeaderValue>>> = Arc::default();
    base.allow_origin(AllowOrigin::predicate(
        move |origin: &HeaderValue, parts: &Parts| {
            let allowed = if listed.is_empty() {
                is_customer_chat(parts.uri.path())
            } else {
                listed.contains(origin)
            };
            if !allowed && !same_origin(origin, parts) {
                let mut logged = logged.lock().unwrap_or_else(PoisonError::into_inner);
                if logged.len() < MAX_LOGGED && logged.insert(origin.clone()) {
                    tracing::warn!(
                        origin = %String::from_utf8_lossy(origin.as_bytes()),
                        path = parts.uri.path(),
                        "a cross-origin request was refused; list the origin in CORS_ORIGINS to allow it"
                    );
                }
            }
            allowed
        },
    ))
}

/// Whether `origin` is this server as the browser reached it (the `Host`
/// the request came to): the console's own calls, which need no CORS.
fn same_origin(origin: &HeaderValue, parts: &Parts) -> bool {
    let (Ok(origin), Some(host)) = (
        origin.to_str(),
        parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok()),
    ) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chat_api_is_the_public_part() {
        for path in ["/v1/chat/message", "/v1/chat/events/abc", "/chat/message"] {
            assert!(is_customer_chat(path), "{path}");
        }
        for path in [
            "/v1/agent/conversations",
            "/v1/admin/agents",
            "/v1/auth/login",
            "/v1/chatty",
        ] {
            assert!(!is_customer_chat(path), "{path}");
        }
    }
}
