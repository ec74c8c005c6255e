//! A local stand-in for Meta's Graph API send endpoints, answering in their
//! documented shapes: `POST /{id}/messages` with a bearer token takes the
//! WhatsApp Cloud API's body (text, or a template) and returns
//! `{"messaging_product":"whatsapp","contacts":[..],"messages":[{"id":"wamid.."}]}`,
//! or Messenger's / Instagram's Send API body (`recipient`, `message`) and
//! returns `{"recipient_id":..,"message_id":"m_.."}`; or the Graph error body `{"error":{"message","type","code","fbtrace_id"}}`.
//! Failures are queued by the test ([`FakeGraph::fail_next`]).
//!
//! Files ([`FakeGraph::add_media`]): `GET /{media-id}` with the token gives
//! WhatsApp's `{"url","mime_type","sha256","file_size","id"}`, the URL
//! serving the bytes (with the token too); `GET /cdn/{name}` serves them
//! without one, as Messenger's attachment URLs do. Unknown ids are 404.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One message the fake took.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    pub phone_number_id: String,
    pub to: String,
    pub text: String,
    /// The id it answered with.
    pub id: String,
    /// Our message id, echoed back in status webhooks (WhatsApp).
    pub callback_data: Option<String>,
    /// Messenger's `messaging_type` and `tag` (`MESSAGE_TAG`, `HUMAN_AGENT`).
    pub messaging_type: Option<String>,
    pub tag: Option<String>,
    /// A WhatsApp template's name (its body parameter is `text`).
    pub template: Option<String>,
}

#[derive(Default)]
struct Inner {
    sent: Vec<Sent>,
    failures: VecDeque<(StatusCode, i64, String)>,
    requests: usize,
    /// How long each send takes (a slow provider).
    delay: std::time::Duration,
    /// Files by media id: their type and bytes.
    media: std::collections::HashMap<String, (String, Vec<u8>)>,
    /// Requests for files (lookups and downloads).
    media_requests: usize,
    /// Sends begun (counted before the delay: a send in flight shows here).
    arrived: usize,
}

/// The fake's state, shared with the test.
#[derive(Clone)]
pub struct FakeGraph {
    pub url: String,
    token: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeGraph {
    /// Serves on a free loopback port; requests must carry `token`.
    pub async fn start(token: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/v23.0", listener.local_addr()?);
        let fake = Self {
            url,
            token: token.to_string(),
            inner: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/v23.0/{phone}/messages", post(send))
            .route("/v23.0/{id}", axum::routing::get(media_url))
            .route("/files/{id}", axum::routing::get(media_bytes))
            .route("/cdn/{id}", axum::routing::get(cdn_bytes))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(fake)
    }

    /// The next send fails with this HTTP status and Graph error code.
    pub fn fail_next(&self, status: u16, code: i64, message: &str) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        self.lock()
            .failures
            .push_back((status, code, message.to_string()));
    }

    /// Serves a file under `id` (a WhatsApp media id, or the name in a
    /// [`Self::cdn_url`]).
    pub fn add_media(&self, id: &str, mime: &str, bytes: &[u8]) {
        self.lock()
            .media
            .insert(id.to_string(), (mime.to_string(), bytes.to_vec()));
    }

    /// Where a Messenger attachment `id` is, as its webhook would say.
    pub fn cdn_url(&self, id: &str) -> String {
        format!("{}/cdn/{id}", self.origin())
    }

    /// Sends begun so far, those still in flight included.
    pub fn arrived(&self) -> usize {
        self.lock().arrived
    }

    /// Lookups and downloads of files so far.
    pub fn media_requests(&self) -> usize {
        self.lock().media_requests
    }

    fn origin(&self) -> &str {
        self.url.trim_end_matches("/v23.0")
    }

    /// Every send takes this long from now on.
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.lock().delay = delay;
    }

    /// What was sent, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    /// Every request, failed ones too.
    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn authorized(fake: &FakeGraph, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", fake.token))
}

/// `GET /{media-id}`: where the file is (WhatsApp).
async fn media_url(
    State(fake): State<FakeGraph>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut inner = fake.lock();
    inner.media_requests += 1;
    if !authorized(&fake, &headers) {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token.");
    }
    let Some((mime, bytes)) = inner.media.get(&id) else {
        return graph_error(StatusCode::NOT_FOUND, 100, "Unsupported get request.");
    };
    Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("{}/files/{id}", fake.origin()),
        "mime_type": mime,
        "sha256": "not-checked",
        "file_size": bytes.len(),
        "id": id,
    }))
    .into_response()
}

fn file_response(fake: &FakeGraph, id: &str) -> Response {
    let mut inner = fake.lock();
    inner.media_requests += 1;
    match inner.media.get(id) {
        Some((mime, bytes)) => (
            [(axum::http::header::CONTENT_TYPE, mime.clone())],
            bytes.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The file a media URL points at: with the token only.
async fn media_bytes(
    State(fake): State<FakeGraph>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&fake, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    file_response(&fake, &id)
}

/// A Messenger attachment URL: no token.
async fn cdn_bytes(State(fake): State<FakeGraph>, Path(id): Path<String>) -> Response {
    file_response(&fake, &id)
}

fn graph_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = json!({"error": {
        "message": message, "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": message},
        "fbtrace_id": "AbCdEf"
    }});
    (status, Json(body)).into_response()
}

async fn send(
    State(fake): State<FakeGraph>,
    Path(phone): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let delay = {
        let mut inner = fake.lock();
        inner.arrived += 1;
        inner.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut inner = fake.lock();
    inner.requests += 1;
    if !authorized(&fake, &headers) {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token.");
    }
    let template = &body["template"];
    let whatsapp = body["messaging_product"] == "whatsapp"
        && (body["type"] == "text"
            || (body["type"] == "template"
                && template["name"].is_string()
                && template["language"]["code"].is_string()));
    let send_api = body["recipient"]["id"].is_string() && body["message"]["text"].is_string();
    if !(whatsapp || send_api) {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter");
    }
    if let Some((status, code, message)) = inner.failures.pop_front() {
        return graph_error(status, code, &message);
    }
    let text = |v: &Value| v.as_str().map(str::to_string);
    let n = inner.sent.len() + 1;
    if send_api {
        let to = text(&body["recipient"]["id"]).unwrap_or_default();
        let id = format!("m_out-{n}");
        inner.sent.push(Sent {
            phone_number_id: phone,
            to: to.clone(),
            text: text(&body["message"]["text"]).unwrap_or_default(),
            id: id.clone(),
            callback_data: None,
            messaging_type: text(&body["messaging_type"]),
            tag: text(&body["tag"]),
            template: None,
        });
        return Json(json!({"recipient_id": to, "message_id": id})).into_response();
    }
    let to = text(&body["to"]).unwrap_or_default();
    let id = format!("wamid.out-{n}");
    inner.sent.push(Sent {
        phone_number_id: phone,
        to: to.clone(),
        text: text(&body["text"]["body"])
            .or_else(|| text(&template["components"][0]["parameters"][0]["text"]))
            .unwrap_or_default(),
        id: id.clone(),
        callback_data: text(&body["biz_opaque_callback_data"]),
        messaging_type: None,
        tag: None,
        template: text(&template["name"]),
    });
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": id}]
    }))
    .into_response()
}
