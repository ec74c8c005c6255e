//! The client's own rules, in headless Chromium (`wasm-bindgen-test`): no
//! server needed. Run by `spur-wasm/test.sh`.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use js_sys::Reflect;
use spur_wasm::{SpurClient, validate_message};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn field(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap()
}

fn storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

#[wasm_bindgen_test]
fn validation_is_the_cores() {
    assert_eq!(validate_message("  hello  ", None).unwrap(), "hello");
    assert!(validate_message("   ", None).is_err());
    assert!(validate_message("abcdef", Some(5)).is_err());
    assert_eq!(validate_message("abcde", Some(5)).unwrap(), "abcde");
}

#[wasm_bindgen_test]
fn a_session_survives_a_reload_and_can_be_forgotten() {
    let server = "https://support.example.test";
    storage()
        .set_item(
            "spur.session:https://support.example.test",
            "0b6f1c1e-8d63-4d7a-9a57-1f1f3a7c2b10",
        )
        .unwrap();
    // A trailing slash names the same server.
    let client = SpurClient::new(&format!("{server}/"), None);
    assert_eq!(
        client.session_id().as_deref(),
        Some("0b6f1c1e-8d63-4d7a-9a57-1f1f3a7c2b10")
    );
    client.forget();
    assert_eq!(client.session_id(), None);
    assert_eq!(
        storage()
            .get_item("spur.session:https://support.example.test")
            .unwrap(),
        None
    );
}

#[wasm_bindgen_test]
async fn bad_messages_never_leave_the_page() {
    // An unroutable server: a request that got out would fail with status 0.
    let client = SpurClient::new("http://127.0.0.1:9", Some(10));
    for (text, code) in [
        ("   ", "empty_message"),
        ("this is far too long", "message_too_long"),
    ] {
        let error = JsFuture::from(client.send(text, None)).await.unwrap_err();
        assert_eq!(field(&error, "code").as_string().as_deref(), Some(code));
        assert_eq!(field(&error, "status").as_f64(), Some(400.0));
    }
    let network = JsFuture::from(client.send("hello", None))
        .await
        .unwrap_err();
    assert_eq!(
        field(&network, "status").as_f64(),
        Some(0.0),
        "a network failure says so"
    );
}

#[wasm_bindgen_test]
async fn without_a_conversation_history_and_escalation_say_so() {
    let client = SpurClient::new("http://127.0.0.1:9", None);
    client.forget();
    for promise in [client.history(None), client.escalate()] {
        let error = JsFuture::from(promise).await.unwrap_err();
        assert_eq!(
            field(&error, "code").as_string().as_deref(),
            Some("no_session")
        );
    }
    assert!(
        client
            .on_event(js_sys::Function::new_no_args(""), None)
            .is_err()
    );
}
