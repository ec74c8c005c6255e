//! Browser bindings over spur-core (no default features): `SpurClient`, the
//! typed client the widget (`widget/spur-widget.js`) is built on, and the
//! core's input validation, so a page checks a message exactly as the server
//! will. `build.sh` produces `dist/` (ES module, wasm, .d.ts, widget).

mod client;
mod http;

pub use client::SpurClient;

use spur_core::validate::MessageLimits;
use wasm_bindgen::prelude::*;

/// Returns the trimmed message, or throws the core's validation message.
#[wasm_bindgen(js_name = validateMessage)]
pub fn validate_message(text: &str, max_chars: Option<usize>) -> Result<String, JsError> {
    let limits = MessageLimits {
        max_chars: max_chars.unwrap_or(MessageLimits::default().max_chars),
        ..MessageLimits::default()
    };
    limits
        .check(text)
        .map(str::to_string)
        .map_err(|e| JsError::new(&e.to_string()))
}
