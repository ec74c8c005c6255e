//! Messenger and Instagram through the server: `/webhooks/meta` (the same
//! Graph framing and signature as WhatsApp, its own app secret), replies
//! through the Send API, an agent's with the `HUMAN_AGENT` tag, deliveries.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use spur_core::channels::{DeliveryState, ExternalThread};
use spur_core::testing::fake_graph::FakeGraph;
use spur_server::config::Options;

use crate::support::{Server, sqlite_options};

const APP_SECRET: &str = "meta-app-secret-for-messenger";
const TOKEN: &str = "EAAB-page-token";
const PAGE: &str = "111222333";
const INSTAGRAM: &str = "444555666";

async fn meta_server() -> (Server, FakeGraph) {
    let graph = FakeGraph::start(TOKEN).await.unwrap();
    let server = Server::start(Options {
        meta_verify_token: Some("meta-verify".to_string().into()),
        meta_app_secret: Some(APP_SECRET.to_string().into()),
        messenger_page_id: Some(PAGE.into()),
        messenger_access_token: Some(TOKEN.to_string().into()),
        instagram_account_id: Some(INSTAGRAM.into()),
        instagram_access_token: Some(TOKEN.to_string().into()),
        meta_graph_url: Some(graph.url.clone()),
        ..sqlite_options()
    })
    .await;
    (server, graph)
}

fn signed(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn delivery(object: &str, account: &str, messaging: Value) -> Vec<u8> {
    json!({"object": object, "entry": [{"id": account, "time": 1_762_902_671_000_i64, "messaging": messaging}]})
        .to_string()
        .into_bytes()
}

fn message(account: &str, from: &str, mid: &str, text: &str) -> Value {
    json!([{"sender": {"id": from}, "recipient": {"id": account}, "timestamp": 1_762_902_671_000_i64,
            "message": {"mid": mid, "text": text}}])
}

async fn post(server: &Server, body: &[u8], signature: Option<String>) -> u16 {
    let mut request = server
        .client
        .post(server.url("/webhooks/meta"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn deliver(server: &Server, body: &[u8]) {
    assert_eq!(
        post(server, body, Some(signed(APP_SECRET, body))).await,
        200
    );
}

async fn sent(graph: &FakeGraph, count: usize) -> Vec<spur_core::testing::fake_graph::Sent> {
    for _ in 0..200 {
        if graph.sent().len() >= count {
            return graph.sent();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{count} messages were not sent: {:?}", graph.sent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_meta_webhook_checks_its_own_token_and_signature() {
    let (server, graph) = meta_server().await;
    let handshake = |token: &str| {
        server.url(&format!(
            "/webhooks/meta?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=42"
        ))
    };
    let ok = server
        .client
        .get(handshake("meta-verify"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (ok.status().as_u16(), ok.text().await.unwrap()),
        (200, "42".to_string())
    );
    assert_eq!(
        server
            .client
            .get(handshake("nope"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // WhatsApp is not configured on this server.
    assert_eq!(server.get("/webhooks/whatsapp").await.status(), 404);

    let body = delivery(
        "page",
        PAGE,
        message(PAGE, "PSID_1", "m_forged", "Do you ship to India?"),
    );
    assert_eq!(post(&server, &body, None).await, 401);
    assert_eq!(
        post(&server, &body, Some(signed("another-secret", &body))).await,
        401
    );
    assert!(
        server
            .thread_conversation(&ExternalThread::new("messenger", PAGE, "PSID_1"))
            .await
            .is_none()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(graph.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messenger_customer_is_answered_once_and_an_agent_replies_with_the_human_agent_tag() {
    let (server, graph) = meta_server().await;
    let body = delivery(
        "page",
        PAGE,
        message(PAGE, "PSID_2", "m_q1", "Do you ship to India?"),
    );
    deliver(&server, &body).await;
    deliver(&server, &body).await;
    let first = sent(&graph, 1).await;
    assert_eq!(first[0].phone_number_id, PAGE);
    assert_eq!(first[0].to, "PSID_2");
    assert!(first[0].text.contains("India"), "{}", first[0].text);
    assert_eq!(first[0].messaging_type.as_deref(), Some("RESPONSE"));
    assert_eq!(first[0].tag, None);

    // Meta reports the delivery by message id.
    let delivered = json!([{"sender": {"id": "PSID_2"}, "recipient": {"id": PAGE},
        "delivery": {"mids": [first[0].id], "watermark": 1_762_902_680_000_i64}}]);
    deliver(&server, &delivery("page", PAGE, delivered)).await;
    let conversation = server
        .thread_conversation(&ExternalThread::new("messenger", PAGE, "PSID_2"))
        .await
        .unwrap();
    let outbox = &server.state.channels.as_ref().unwrap().outbox;
    let states: Vec<DeliveryState> = outbox
        .deliveries(conversation.id)
        .await
        .unwrap()
        .iter()
        .map(|d| d.state)
        .collect();
    assert_eq!(states, [DeliveryState::Delivered]);

    deliver(
        &server,
        &delivery(
            "page",
            PAGE,
            message(PAGE, "PSID_2", "m_q2", "I want to talk to a human please"),
        ),
    )
    .await;
    sent(&graph, 2).await;
    let admin = server.admin_token().await;
    let (_, ana) = server.agent(&admin, "ana@shop.example").await;
    let id = conversation.id;
    server.claim_and_reply(&ana, id, "Ana here.").await;
    let all = sent(&graph, 3).await;
    assert_eq!(all[2].text, "Ana here.");
    assert_eq!(all[2].messaging_type.as_deref(), Some("MESSAGE_TAG"));
    assert_eq!(all[2].tag.as_deref(), Some("HUMAN_AGENT"));
    assert_eq!(
        graph.sent().len(),
        3,
        "the redelivered question was answered once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instagram_customer_is_answered_from_the_instagram_account() {
    let (server, graph) = meta_server().await;
    deliver(
        &server,
        &delivery(
            "instagram",
            INSTAGRAM,
            message(INSTAGRAM, "IGSID_5", "ig_q1", "Do you ship to India?"),
        ),
    )
    .await;
    let sent = sent(&graph, 1).await;
    assert_eq!(sent[0].phone_number_id, INSTAGRAM);
    assert_eq!(sent[0].to, "IGSID_5");
    let conversation = server
        .thread_conversation(&ExternalThread::new("instagram", INSTAGRAM, "IGSID_5"))
        .await
        .unwrap();
    assert_eq!(conversation.channel, "instagram");
    let ready = server.get_json("/readyz").await;
    assert_eq!(ready["dependencies"]["instagram"], "ok", "{ready}");
    assert_eq!(ready["dependencies"]["messenger"], "idle", "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instagram_files_are_fetched_from_their_url_and_kept() {
    let (server, graph) = meta_server().await;
    graph.add_media("voice-1", "audio/mp4", b"a voice note");
    graph.add_media("page-1", "text/html", b"<script>alert(1)</script>");
    let with_files = json!([{"sender": {"id": "IGSID_5"}, "recipient": {"id": INSTAGRAM},
    "timestamp": 1_762_902_671_000_i64,
    "message": {"mid": "ig_files", "attachments": [
        {"type": "audio", "payload": {"url": graph.cdn_url("voice-1")}},
        {"type": "file", "payload": {"url": graph.cdn_url("page-1")}},
        {"type": "image", "payload": {"url": "http://169.254.169.254/latest/meta-data"}}
    ]}}]);
    deliver(&server, &delivery("instagram", INSTAGRAM, with_files)).await;
    let files = server
        .settled_files(&ExternalThread::new("instagram", INSTAGRAM, "IGSID_5"), 1)
        .await;
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(files[0].mime.as_deref(), Some("audio/mp4"));
    assert!(files[0].blob.is_some(), "{files:?}");
    assert_eq!(
        files[1].error.as_deref(),
        Some("text/html files are not kept"),
        "a page is not a file to keep"
    );
    assert_eq!(
        files[2].error.as_deref(),
        Some("could not be fetched: not an https URL"),
        "only Meta's https URLs (or the configured Graph host) are fetched"
    );
    // A voice note is answered in words, not by the model.
    let reply = sent(&graph, 1).await;
    assert!(reply[0].text.contains("audio"), "{}", reply[0].text);
}
