//! What Meta's channels share: the webhook subscription handshake, the
//! `X-Hub-Signature-256` signature over the raw body, what one delivery
//! carries, and sending through the Graph API with its error bodies sorted
//! into retry, outside the reply window, or permanent.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{InboundEvent, SendError, StatusUpdate};

/// Meta's Graph API, the version these clients were written against.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com/v23.0";

/// Longer challenges than this are not echoed (Meta's are short numbers).
const MAX_CHALLENGE_BYTES: usize = 256;

/// The subscription handshake (`GET ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..`):
/// the challenge to echo when the token is the operator's, else `None`.
pub fn subscription_challenge<'a>(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
    verify_token: &str,
) -> Option<&'a str> {
    let token_matches = token.is_some_and(|token| {
        // Both hashed first: the comparison's time says nothing about the token.
        !verify_token.is_empty() && Sha256::digest(token) == Sha256::digest(verify_token)
    });
    let challenge = challenge.filter(|c| !c.is_empty() && c.len() <= MAX_CHALLENGE_BYTES)?;
    (mode == Some("subscribe") && token_matches).then_some(challenge)
}

/// Whether `header` (`X-Hub-Signature-256: sha256=<hex>`) is the HMAC-SHA256
/// of the raw `body` under the app secret (compared in constant time).
pub fn signature_valid(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_digest) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    if app_secret.is_empty() {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// What one webhook delivery carried.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Webhook {
    pub events: Vec<InboundEvent>,
    pub statuses: Vec<StatusUpdate>,
    /// Reactions, echoes of our own messages and other notifications not
    /// answered (counted for logs).
    pub ignored: usize,
}

/// The Graph API's error body.
#[derive(Debug, Deserialize)]
pub(crate) struct GraphErrorBody {
    pub(crate) code: Option<i64>,
    pub(crate) error_subcode: Option<i64>,
    pub(crate) title: Option<String>,
    pub(crate) message: Option<String>,
}

#[derive(Deserialize)]
struct GraphError {
    error: GraphErrorBody,
}

/// Graph error codes that mean "not now", on every channel: temporary
/// errors and throttling of the app or the account.
const RETRY_CODES: [i64; 6] = [1, 2, 4, 17, 341, 613];

/// A Graph client with timeouts and no redirects.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// POSTs `body` to `url` with the token; the answer's body on a 2xx, else
/// the error sorted: `retry` and `outside_window` say which of the
/// channel's own codes (and subcodes) mean what.
pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &serde_json::Value,
    retry: impl Fn(i64) -> bool,
    outside_window: impl Fn(i64, Option<i64>) -> bool,
) -> Result<String, SendError> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .map_err(|e| SendError::Retry(format!("Graph API unreachable: {e}")))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| SendError::Retry(format!("Graph API answer cut short: {e}")))?;
    if status.is_success() {
        return Ok(text);
    }
    let error = serde_json::from_str::<GraphError>(&text)
        .ok()
        .map(|e| e.error);
    let code = error.as_ref().and_then(|e| e.code);
    let subcode = error.as_ref().and_then(|e| e.error_subcode);
    let words = error
        .as_ref()
        .and_then(|e| e.message.clone().or_else(|| e.title.clone()))
        .unwrap_or_else(|| format!("HTTP {status}"));
    let described = format!("{}: {words}", code.unwrap_or(i64::from(status.as_u16())));
    Err(match code {
        Some(code) if outside_window(code, subcode) => SendError::OutsideWindow(described),
        Some(code) if RETRY_CODES.contains(&code) || retry(code) => SendError::Retry(described),
        _ if status.is_server_error() || status.as_u16() == 429 => SendError::Retry(described),
        _ => SendError::Permanent(described),
    })
}

/// GETs a file (with the token, where the host wants it), reading at most
/// `max_bytes`: a larger one is refused as soon as it shows (its declared
/// length or the bytes so far), never read whole into memory.
pub(crate) async fn download(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    max_bytes: u64,
) -> Result<super::media::Fetched, super::media::FetchError> {
    use super::media::{FetchError, Fetched};
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| FetchError::Failed(format!("unreachable: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Failed(format!("HTTP {}", status.as_u16())));
    }
    if response.content_length().is_some_and(|n| n > max_bytes) {
        return Err(FetchError::TooLarge(max_bytes));
    }
    let mime = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Failed(format!("cut short: {e}")))?
    {
        if (bytes.len() + chunk.len()) as u64 > max_bytes {
            return Err(FetchError::TooLarge(max_bytes));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched { bytes, mime })
}

/// At most `max` characters of `text` (the channel's limit).
pub(crate) fn clipped(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_against_the_raw_body() {
        let body = br#"{"object":"page","entry":[]}"#;
        let secret = "app-secret";
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        let header = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_valid(secret, body, Some(&header)));
        assert!(!signature_valid(secret, body, None));
        assert!(!signature_valid("other", body, Some(&header)));
        assert!(!signature_valid(secret, b"{}", Some(&header)));
        assert!(!signature_valid(secret, body, Some("sha256=zz")));
        assert!(!signature_valid(secret, body, Some(&header[7..])));
        assert!(!signature_valid("", body, Some(&header)));
    }

    #[test]
    fn the_handshake_echoes_only_for_the_operators_token() {
        let echo = |mode, token| subscription_challenge(mode, token, Some("1158201444"), "s3cret");
        assert_eq!(echo(Some("subscribe"), Some("s3cret")), Some("1158201444"));
        assert_eq!(echo(Some("subscribe"), Some("wrong")), None);
        assert_eq!(echo(Some("subscribe"), None), None);
        assert_eq!(echo(Some("unsubscribe"), Some("s3cret")), None);
        assert_eq!(
            subscription_challenge(Some("subscribe"), Some(""), Some("1"), ""),
            None,
            "no token configured: no handshake"
        );
    }
}
