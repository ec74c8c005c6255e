//! fetch and JSON through the browser's own APIs (web-sys, js-sys): no
//! serde in the wasm, which keeps the widget small.

use js_sys::{JSON, Object, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

/// An `Error` carrying the server's `code` and the HTTP `status` (0 when
/// the network failed), so callers can tell a retryable failure apart.
pub fn api_error(status: u16, code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    let _ = Reflect::set(&error, &"status".into(), &status.into());
    error.into()
}

pub fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let out = Object::new();
    for (key, value) in pairs {
        if !value.is_undefined() {
            let _ = Reflect::set(&out, &(*key).into(), value);
        }
    }
    out.into()
}

pub fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn window() -> Result<web_sys::Window, JsValue> {
    web_sys::window().ok_or_else(|| api_error(0, "no_window", "not running in a browser window"))
}

/// Sends a request; a network failure becomes an `Error` with status 0.
pub async fn send(method: &str, url: &str, body: Option<&JsValue>) -> Result<Response, JsValue> {
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        let text = JSON::stringify(body)?;
        init.set_body(&text.into());
    }
    let request = Request::new_with_str_and_init(url, &init)?;
    if body.is_some() {
        request.headers().set("content-type", "application/json")?;
    }
    let response = JsFuture::from(window()?.fetch_with_request(&request))
        .await
        .map_err(|_| api_error(0, "network", "the network failed; try again"))?;
    Ok(response.unchecked_into())
}

/// The JSON body of a successful response, or the server's error as an `Error`.
pub async fn json(response: Response) -> Result<JsValue, JsValue> {
    let status = response.status();
    let body = match response.json() {
        Ok(promise) => JsFuture::from(promise).await.unwrap_or(JsValue::NULL),
        Err(_) => JsValue::NULL,
    };
    if response.ok() {
        return Ok(body);
    }
    let error = get(&body, "error");
    let code = get(&error, "code")
        .as_string()
        .unwrap_or_else(|| "http_error".into());
    let message = get(&error, "message")
        .as_string()
        .unwrap_or_else(|| ["the server answered ", &status.to_string()].concat());
    Err(api_error(status, &code, &message))
}

pub async fn call(method: &str, url: &str, body: Option<&JsValue>) -> Result<JsValue, JsValue> {
    json(send(method, url, body).await?).await
}
