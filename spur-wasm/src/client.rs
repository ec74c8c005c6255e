//! `SpurClient`: one customer's conversation with a Spur server, from a
//! browser. The session is kept in `localStorage` (a reload resumes the same
//! conversation); messages are checked with the core's rules before they
//! are sent; the live feed resumes after a network cut without gaps or
//! duplicates.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, JSON, Promise, Uint8Array};
use spur_core::validate::MessageLimits;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::{EventSource, MessageEvent, ReadableStreamDefaultReader, TextDecoder};

use crate::http::{api_error, call, get, object, send};

/// How the page vouches for its signed-in customer.
#[derive(Clone)]
enum Customer {
    Pair { id: String, hash: String },
    Token(String),
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** `POST /v1/chat/message`'s answer. `reply` is null while a person holds the conversation. */
export interface Reply { reply: string | null; sessionId: string; status: "automated" | "agent" | "closed"; messageId: string; replyId: string | null; usedFallback: boolean; confirm?: boolean; }
/** The end of a streamed reply. `confirm`: it asks to confirm a change (offer Confirm / Cancel, sending "yes" / "no"). */
export interface StreamDone { replyId: string; reply: string; usedFallback: boolean; confirm: boolean; status: "automated" | "agent" | "closed"; sources?: string[]; }
export interface ChatMessage { id: string; seq: number; sender: "customer" | "assistant" | "agent" | "system"; text: string; createdAt: string; usedFallback: boolean; sources?: string[];
  /** A handoff notice when nobody may be there: offer `leaveEmail`. */ askEmail?: boolean;
  /** The notice confirming the address left. */ emailLeft?: boolean;
  /** An agent's message: the name the customer sees. */ agentName?: string;
  /** The reply asks to confirm a change: show Confirm / Cancel, sending "yes" / "no". */ confirm?: boolean; }
export interface HistoryPage { sessionId: string; status: "automated" | "agent" | "closed"; messages: ChatMessage[]; nextCursor: number | null; }
/** `GET /v1/chat/config`: who answers, whether people are there now, suggested first questions. */
export interface ChatConfig { shop: string; availability: "open" | "closed" | "unknown"; back: string | null; hours: string | null; suggestions: string[]; }
export interface EscalateReply { sessionId: string; status: "automated" | "agent" | "closed"; notice: string | null; }
export type FeedEvent =
  | { type: "message"; data: ChatMessage; id: string }
  | { type: "status"; data: { status: "automated" | "agent" | "closed"; withAgent: boolean }; id: string }
  | { type: "typing"; data: { sender: "agent" }; id: string }
  | { type: "escalated"; data: { reason: string }; id: string }
  | { type: "delta"; data: { replyId: string; text: string }; id: string };
/** Every failure: the server's error `code` (or `network`, `no_session`...) and the HTTP `status` (0: no answer). */
export interface SpurError extends Error { code: string; status: number; }
"#;

/// The feed's event types a client hears about.
const FEED_EVENTS: [&str; 5] = ["message", "status", "typing", "escalated", "delta"];

struct Feed {
    source: EventSource,
    _listeners: Vec<Closure<dyn FnMut(MessageEvent)>>,
}

struct Inner {
    server: String,
    storage_key: String,
    limits: MessageLimits,
    session: RefCell<Option<String>>,
    /// The newest message seq delivered to `onEvent` (duplicates are dropped).
    last_seq: Cell<f64>,
    feed: RefCell<Option<Feed>>,
    /// The customer the shop's page vouches for.
    customer: RefCell<Option<Customer>>,
}

#[wasm_bindgen]
pub struct SpurClient {
    inner: Rc<Inner>,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

impl Inner {
    fn url(&self, path: &str) -> String {
        // String pushes, not format!: the formatting machinery is big in wasm.
        let mut url = String::with_capacity(self.server.len() + path.len());
        url.push_str(&self.server);
        url.push_str(path);
        url
    }

    fn remember(&self, session: &str) {
        if self.session.borrow().as_deref() == Some(session) {
            return;
        }
        *self.session.borrow_mut() = Some(session.to_string());
        if let Some(store) = storage() {
            let _ = store.set_item(&self.storage_key, session);
        }
    }

    fn session_or_error(&self) -> Result<String, JsValue> {
        self.session
            .borrow()
            .clone()
            .ok_or_else(|| api_error(0, "no_session", "no conversation yet: send a message first"))
    }

    fn check(&self, text: &str) -> Result<String, JsValue> {
        self.limits
            .check(text)
            .map(str::to_string)
            .map_err(|e| api_error(400, e.code(), &e.to_string()))
    }

    fn body(&self, text: &str, key: Option<String>) -> JsValue {
        let session = self.session.borrow().clone();
        let customer = self.customer.borrow().clone();
        let (id, hash, token) = match customer {
            Some(Customer::Pair { id, hash }) => (id.into(), hash.into(), JsValue::UNDEFINED),
            Some(Customer::Token(token)) => (JsValue::UNDEFINED, JsValue::UNDEFINED, token.into()),
            None => (JsValue::UNDEFINED, JsValue::UNDEFINED, JsValue::UNDEFINED),
        };
        object(&[
            ("customerId", id),
            ("customerHash", hash),
            ("customerToken", token),
            ("message", text.into()),
            (
                "sessionId",
                session.map_or(JsValue::UNDEFINED, JsValue::from),
            ),
            (
                "idempotencyKey",
                key.map_or(JsValue::UNDEFINED, JsValue::from),
            ),
        ])
    }
}

fn promise<F>(future: F) -> Promise
where
    F: std::future::Future<Output = Result<JsValue, JsValue>> + 'static,
{
    future_to_promise(future)
}

#[wasm_bindgen]
impl SpurClient {
    /// `server`: the Spur server's origin (`https://support.example.com`).
    /// `maxChars`: the server's message limit, if not the default 5,000.
    #[wasm_bindgen(constructor)]
    pub fn new(server: &str, max_chars: Option<usize>) -> SpurClient {
        let server = server.trim_end_matches('/').to_string();
        let storage_key = ["spur.session:", &server].concat();
        let session = storage().and_then(|s| s.get_item(&storage_key).ok().flatten());
        let limits = MessageLimits {
            max_chars: max_chars.unwrap_or(MessageLimits::default().max_chars),
            ..MessageLimits::default()
        };
        SpurClient {
            inner: Rc::new(Inner {
                server,
                storage_key,
                limits,
                session: RefCell::new(session),
                last_seq: Cell::new(0.0),
                feed: RefCell::new(None),
                customer: RefCell::new(None),
            }),
        }
    }

    /// The signed-in customer, as the shop's backend vouched for them
    /// (`customerHash`: HMAC-SHA256 of the id under the server's
    /// `IDENTITY_SECRET`, computed server-side); sent with every message.
    #[wasm_bindgen(js_name = setCustomer)]
    pub fn set_customer(&self, id: String, hash: String) {
        *self.inner.customer.borrow_mut() = Some(Customer::Pair { id, hash });
    }

    /// The signed-in customer as a token the shop's backend signed (a JWT,
    /// HS256 under `IDENTITY_SECRET`, `sub` the id, `exp` required); sent
    /// with every message. Replace it before it expires.
    #[wasm_bindgen(js_name = setCustomerToken)]
    pub fn set_customer_token(&self, token: String) {
        *self.inner.customer.borrow_mut() = Some(Customer::Token(token));
    }

    /// The conversation's secret handle, once there is one.
    #[wasm_bindgen(getter, js_name = sessionId)]
    pub fn session_id(&self) -> Option<String> {
        self.inner.session.borrow().clone()
    }

    /// Forgets the conversation (the next message starts a new one).
    pub fn forget(&self) {
        self.close();
        *self.inner.session.borrow_mut() = None;
        self.inner.last_seq.set(0.0);
        if let Some(store) = storage() {
            let _ = store.remove_item(&self.inner.storage_key);
        }
    }

    /// Sends a message and resolves with `{reply, sessionId, status,
    /// messageId, usedFallback}`. Retrying with the same `idempotencyKey`
    /// (unguessable: `crypto.randomUUID()`; 32-200 of `A-Za-z0-9_-`)
    /// never stores the message twice.
    #[wasm_bindgen(unchecked_return_type = "Promise<Reply>")]
    pub fn send(&self, text: &str, idempotency_key: Option<String>) -> Promise {
        let inner = Rc::clone(&self.inner);
        let text = text.to_string();
        promise(async move {
            let text = inner.check(&text)?;
            let body = inner.body(&text, idempotency_key);
            let reply = call("POST", &inner.url("/v1/chat/message"), Some(&body)).await?;
            if let Some(session) = get(&reply, "sessionId").as_string() {
                inner.remember(&session);
            }
            Ok(reply)
        })
    }

    /// Sends a message and calls `onDelta(text)` as the reply streams in;
    /// resolves with the final `{replyId, reply, usedFallback, status}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<StreamDone>")]
    pub fn stream(
        &self,
        text: &str,
        #[wasm_bindgen(unchecked_param_type = "(text: string) => void")] on_delta: Function,
        idempotency_key: Option<String>,
    ) -> Promise {
        let inner = Rc::clone(&self.inner);
        let text = text.to_string();
        promise(async move {
            let text = inner.check(&text)?;
            let body = inner.body(&text, idempotency_key);
            let response = send("POST", &inner.url("/v1/chat/stream"), Some(&body)).await?;
            if !response.ok() {
                return crate::http::json(response).await;
            }
            let reader: ReadableStreamDefaultReader = response
                .body()
                .ok_or_else(|| api_error(0, "network", "the reply stream is empty"))?
                .get_reader()
                .unchecked_into();
            let decoder = TextDecoder::new()?;
            let mut buffer = String::new();
            loop {
                let chunk = JsFuture::from(reader.read()).await?;
                if get(&chunk, "done").as_bool().unwrap_or(true) {
                    return Err(api_error(0, "network", "the reply stream ended early"));
                }
                let bytes: Uint8Array = get(&chunk, "value").unchecked_into();
                buffer.push_str(&decoder.decode_with_buffer_source(&bytes)?);
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    let (name, data) = sse_block(&block);
                    let data = JSON::parse(&data).unwrap_or(JsValue::NULL);
                    match name.as_str() {
                        "start" => {
                            if let Some(session) = get(&data, "sessionId").as_string() {
                                inner.remember(&session);
                            }
                        }
                        "delta" => {
                            on_delta.call1(&JsValue::NULL, &get(&data, "text"))?;
                        }
                        "done" => return Ok(data),
                        "error" => {
                            let code = get(&data, "code").as_string().unwrap_or_default();
                            let message = get(&data, "message").as_string().unwrap_or_default();
                            return Err(api_error(503, &code, &message));
                        }
                        _ => {}
                    }
                }
            }
        })
    }

    /// A page of the conversation, oldest first: `{messages, nextCursor}`.
    /// `history({before, limit})`: pass `nextCursor` back as `before` for
    /// older messages; `limit` 1 to 200 (default 30).
    #[wasm_bindgen(unchecked_return_type = "Promise<HistoryPage>")]
    pub fn history(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ before?: number | null; limit?: number }")]
        options: Option<JsValue>,
    ) -> Promise {
        let inner = Rc::clone(&self.inner);
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let before = get(&options, "before").as_f64();
        let limit = get(&options, "limit").as_f64();
        promise(async move {
            let session = inner.session_or_error()?;
            let limit = (limit.unwrap_or(30.0).clamp(1.0, 200.0) as u32).to_string();
            let mut url = inner.url(&["/v1/chat/history/", &session, "?limit=", &limit].concat());
            if let Some(before) = before {
                url.push_str("&before=");
                url.push_str(&(before.max(0.0) as u64).to_string());
            }
            call("GET", &url, None).await
        })
    }

    /// Asks for a person: `{sessionId, status, notice}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<EscalateReply>")]
    pub fn escalate(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(async move {
            let session = inner.session_or_error()?;
            let body = object(&[("sessionId", session.into())]);
            call("POST", &inner.url("/v1/chat/escalate"), Some(&body)).await
        })
    }

    /// Who answers and whether people are there now (no session needed).
    #[wasm_bindgen(unchecked_return_type = "Promise<ChatConfig>")]
    pub fn config(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(async move { call("GET", &inner.url("/v1/chat/config"), None).await })
    }

    /// Leaves an email address for the answer (offered by a notice with
    /// `askEmail` when nobody may be there): `{sessionId, status, notice}`.
    #[wasm_bindgen(js_name = leaveEmail, unchecked_return_type = "Promise<EscalateReply>")]
    pub fn leave_email(&self, email: String) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(async move {
            let session = inner.session_or_error()?;
            let body = object(&[("sessionId", session.into()), ("email", email.into())]);
            call("POST", &inner.url("/v1/chat/email"), Some(&body)).await
        })
    }

    /// Rates an answer (an assistant's or agent's message, by `id`):
    /// `"up"` or `"down"`, with an optional comment. Rating again replaces it.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn rate(
        &self,
        message_id: String,
        #[wasm_bindgen(unchecked_param_type = "\"up\" | \"down\"")] rating: String,
        comment: Option<String>,
    ) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(async move {
            let session = inner.session_or_error()?;
            let body = object(&[
                ("sessionId", session.into()),
                ("messageId", message_id.into()),
                ("rating", rating.into()),
                ("comment", comment.map_or(JsValue::UNDEFINED, JsValue::from)),
            ]);
            call("POST", &inner.url("/v1/chat/feedback"), Some(&body)).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Scores the conversation from 1 to 5 (asked when it closes), with an
    /// optional comment. Scoring again replaces it.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn csat(&self, score: u8, comment: Option<String>) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(async move {
            let session = inner.session_or_error()?;
            let body = object(&[
                ("sessionId", session.into()),
                ("score", score.into()),
                ("comment", comment.map_or(JsValue::UNDEFINED, JsValue::from)),
            ]);
            call("POST", &inner.url("/v1/chat/csat"), Some(&body)).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Tells the agent the customer is typing (best effort).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn typing(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        promise(async move {
            let Some(session) = inner.session.borrow().clone() else {
                return Ok(JsValue::UNDEFINED);
            };
            let body = object(&[("sessionId", session.into())]);
            let _ = send("POST", &inner.url("/v1/chat/typing"), Some(&body)).await;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Calls `callback({type, data, id})` for everything that happens in the
    /// conversation from message seq `after` on: `message`, `status`,
    /// `typing`, `escalated`, `delta`. Reconnects by itself (the browser
    /// sends `Last-Event-ID`); a message already delivered is never
    /// delivered again.
    #[wasm_bindgen(js_name = onEvent)]
    pub fn on_event(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(event: FeedEvent) => void")] callback: Function,
        after: Option<f64>,
    ) -> Result<(), JsValue> {
        self.close();
        let session = self.inner.session_or_error()?;
        let after = after.unwrap_or(0.0).max(self.inner.last_seq.get());
        self.inner.last_seq.set(after);
        let url = self.inner.url(
            &[
                "/v1/chat/events/",
                &session,
                "?after=",
                &(after as u64).to_string(),
            ]
            .concat(),
        );
        let source = EventSource::new(&url)?;
        let mut listeners = Vec::new();
        for name in FEED_EVENTS {
            let callback = callback.clone();
            let inner = Rc::clone(&self.inner);
            let listener = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let data = event
                    .data()
                    .as_string()
                    .and_then(|text| JSON::parse(&text).ok())
                    .unwrap_or(JsValue::NULL);
                if name == "message" {
                    let seq = get(&data, "seq").as_f64().unwrap_or(0.0);
                    if seq <= inner.last_seq.get() {
                        return;
                    }
                    inner.last_seq.set(seq);
                }
                let id = event.last_event_id();
                let event = object(&[("type", name.into()), ("data", data), ("id", id.into())]);
                let _ = callback.call1(&JsValue::NULL, &event);
            });
            source.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref())?;
            listeners.push(listener);
        }
        *self.inner.feed.borrow_mut() = Some(Feed {
            source,
            _listeners: listeners,
        });
        Ok(())
    }

    /// Stops the live feed.
    pub fn close(&self) {
        if let Some(feed) = self.inner.feed.borrow_mut().take() {
            feed.source.close();
        }
    }
}

/// The event name and data of one Server-Sent Events block.
fn sse_block(block: &str) -> (String, String) {
    let mut name = String::new();
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    (name, data)
}
