//! WhatsApp through the server: Meta's handshake, signed deliveries (and
//! forged ones), redeliveries, replies out through the outbox to a stand-in
//! Graph API, retries, the 24-hour window, status updates.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use spur_core::channels::{DeliveryState, ExternalThread};
use spur_core::conversation::Conversation;
use spur_core::testing::fake_graph::FakeGraph;
use spur_server::config::Options;

use crate::support::{Server, postgres_options, sqlite_options};

const APP_SECRET: &str = "meta-app-secret-for-tests";
const VERIFY_TOKEN: &str = "verify-me";
const ACCESS_TOKEN: &str = "EAAG-access-token";
const NUMBER: &str = "106540352242922";

async fn whatsapp_server(options: Options) -> (Server, FakeGraph) {
    let graph = FakeGraph::start(ACCESS_TOKEN).await.unwrap();
    let server = Server::start(Options {
        whatsapp_verify_token: Some(VERIFY_TOKEN.to_string().into()),
        whatsapp_app_secret: Some(APP_SECRET.to_string().into()),
        whatsapp_access_token: Some(ACCESS_TOKEN.to_string().into()),
        whatsapp_phone_number_id: Some(NUMBER.into()),
        meta_graph_url: Some(graph.url.clone()),
        ..options
    })
    .await;
    (server, graph)
}

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A delivery in Meta's shape: `messages` and `statuses` of one number.
fn delivery(messages: Value, statuses: Value) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
            "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}],
            "messages": messages,
            "statuses": statuses
        }
    }]}]})
    .to_string()
    .into_bytes()
}

fn text_message(from: &str, id: &str, text: &str) -> Value {
    json!([{"from": from, "id": id, "timestamp": "1749416383", "type": "text", "text": {"body": text}}])
}

async fn post_signed(server: &Server, body: &[u8], signature: Option<&str>) -> u16 {
    let mut request = server
        .client
        .post(server.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn deliver(server: &Server, body: &[u8]) {
    let status = post_signed(server, body, Some(&signature(APP_SECRET, body))).await;
    assert_eq!(status, 200);
}

async fn thread_conversation(server: &Server, customer: &str) -> Option<Conversation> {
    server
        .thread_conversation(&ExternalThread::new("whatsapp", NUMBER, customer))
        .await
}

/// Waits (up to 20 s) until the stand-in Graph API has taken `count` messages.
async fn sent(graph: &FakeGraph, count: usize) -> Vec<spur_core::testing::fake_graph::Sent> {
    for _ in 0..200 {
        let sent = graph.sent();
        if sent.len() >= count {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{count} messages were not sent: {:?}", graph.sent());
}

/// Where each message to the customer is, once no send is in flight (the
/// stand-in Graph API has a message before the outbox notes its answer).
async fn deliveries(
    server: &Server,
    conversation: &Conversation,
) -> Vec<(DeliveryState, i64, Option<String>)> {
    let channels = server.state.channels.as_ref().unwrap();
    for _ in 0..50 {
        let now = channels.outbox.deliveries(conversation.id).await.unwrap();
        if now.iter().all(|d| d.state != DeliveryState::Sending) {
            return now
                .into_iter()
                .map(|d| (d.state, d.attempts, d.error))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("a send stayed in flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_echoes_the_challenge_only_for_the_verify_token() {
    let (server, _graph) = whatsapp_server(sqlite_options()).await;
    let ready = server.get_json("/readyz").await;
    assert_eq!(ready["dependencies"]["whatsapp"], "idle", "{ready}");
    let handshake = |token: &str| {
        server.url(&format!(
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        ))
    };
    let response = server
        .client
        .get(handshake(VERIFY_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "1158201444");
    let forged = server.client.get(handshake("guess")).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(server.get("/webhooks/whatsapp").await.status(), 403);

    // A server without WhatsApp has no such route to speak of.
    let plain = Server::start(sqlite_options()).await;
    assert_eq!(plain.get("/webhooks/whatsapp").await.status(), 404);
    let body = delivery(text_message("16505551234", "wamid.x", "hi"), json!([]));
    assert_eq!(
        post_signed(&plain, &body, Some(&signature(APP_SECRET, &body))).await,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_or_forged_deliveries_are_refused_and_store_nothing() {
    let (server, graph) = whatsapp_server(sqlite_options()).await;
    let body = delivery(
        text_message("16505551234", "wamid.forged", "Do you ship to India?"),
        json!([]),
    );
    let other = delivery(text_message("16505551234", "wamid.other", "hi"), json!([]));
    for signature in [
        None,
        Some(signature("another-apps-secret", &body)),
        Some(signature(APP_SECRET, &other)),
        Some("sha256=".to_string()),
        Some(signature(APP_SECRET, &body).replace("sha256=", "sha1=")),
    ] {
        assert_eq!(post_signed(&server, &body, signature.as_deref()).await, 401);
    }
    assert!(thread_conversation(&server, "16505551234").await.is_none());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(graph.requests(), 0, "nothing was answered");
}

async fn answered_once(options: Options) {
    let (server, graph) = whatsapp_server(options).await;
    let body = delivery(
        text_message(
            "16505551234",
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ=",
            "Do you ship to India?",
        ),
        json!([]),
    );
    // Meta delivers again when unsure: three times here, two at once.
    let (a, b) = tokio::join!(deliver(&server, &body), deliver(&server, &body));
    let ((), ()) = (a, b);
    deliver(&server, &body).await;
    let sent = sent(&graph, 1).await;
    assert_eq!(sent[0].to, "16505551234");
    assert_eq!(sent[0].phone_number_id, NUMBER);
    assert!(sent[0].text.contains("India"), "{}", sent[0].text);
    let conversation = thread_conversation(&server, "16505551234").await.unwrap();
    assert_eq!(conversation.channel, "whatsapp");
    assert_eq!(conversation.metadata["name"], "Sheena");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        graph.sent().len(),
        1,
        "one reply, however often delivered: {:?} {:?}",
        graph.sent(),
        server
            .state
            .engine
            .history(conversation.session_id, None, 10)
            .await
            .unwrap()
            .messages
            .iter()
            .map(|m| (m.seq, m.sender, m.text.clone(), m.idempotency_key.clone()))
            .collect::<Vec<_>>()
    );
    let history = server
        .state
        .engine
        .history(conversation.session_id, None, 10)
        .await
        .unwrap();
    assert_eq!(history.messages.len(), 2);
    assert_eq!(
        sent[0].callback_data,
        Some(history.messages[1].id.to_string())
    );
    assert_eq!(
        deliveries(&server, &conversation).await,
        vec![(DeliveryState::Sent, 1, None)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_answered_once_however_often_delivered_on_sqlite() {
    answered_once(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_answered_once_however_often_delivered_on_postgres() {
    answered_once(postgres_options().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_send_is_retried_and_statuses_move_it_on_in_order() {
    let (server, graph) = whatsapp_server(sqlite_options()).await;
    graph.fail_next(500, 1, "An unknown error occurred");
    deliver(
        &server,
        &delivery(
            text_message("16505550001", "wamid.r1", "Do you ship to India?"),
            json!([]),
        ),
    )
    .await;
    let sent = sent(&graph, 1).await;
    assert_eq!(graph.requests(), 2, "one failure, one retry");
    let ready = server.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["dependencies"]["whatsapp"], "ok", "{ready}");
    let conversation = thread_conversation(&server, "16505550001").await.unwrap();
    assert_eq!(
        deliveries(&server, &conversation).await,
        vec![(
            DeliveryState::Sent,
            2,
            Some("1: An unknown error occurred".into())
        )]
    );
    // Statuses arrive out of order: read, then a late delivered.
    let status = |state: &str| json!([{"id": sent[0].id, "status": state, "timestamp": "1749416390", "recipient_id": "16505550001"}]);
    deliver(&server, &delivery(json!([]), status("read"))).await;
    deliver(&server, &delivery(json!([]), status("delivered"))).await;
    assert_eq!(
        deliveries(&server, &conversation).await[0].0,
        DeliveryState::Read
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_window_a_reply_goes_as_the_operators_template() {
    let (server, graph) = whatsapp_server(Options {
        whatsapp_template: Some("support_reply".into()),
        whatsapp_template_language: Some("en_US".into()),
        ..postgres_options().await
    })
    .await;
    graph.fail_next(400, 131047, "Re-engagement message");
    deliver(
        &server,
        &delivery(
            text_message("16505550003", "wamid.t1", "Do you ship to India?"),
            json!([]),
        ),
    )
    .await;
    let sent = sent(&graph, 1).await;
    assert_eq!(sent[0].template.as_deref(), Some("support_reply"));
    assert!(sent[0].text.contains("India"), "{}", sent[0].text);
    assert!(!sent[0].text.contains('\n'), "a parameter is one line");
    let conversation = thread_conversation(&server, "16505550003").await.unwrap();
    let states = deliveries(&server, &conversation).await;
    assert_eq!((states[0].0, states[0].1), (DeliveryState::Sent, 1));
    assert_eq!(graph.requests(), 2, "the text, refused; then the template");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_window_a_reply_fails_without_retries_and_says_why() {
    let (server, graph) = whatsapp_server(sqlite_options()).await;
    graph.fail_next(400, 131047, "Re-engagement message");
    deliver(
        &server,
        &delivery(
            text_message("16505550002", "wamid.w1", "Do you ship to India?"),
            json!([]),
        ),
    )
    .await;
    let conversation = thread_conversation(&server, "16505550002").await.unwrap();
    let mut states = Vec::new();
    for _ in 0..100 {
        states = deliveries(&server, &conversation).await;
        if states.first().is_some_and(|s| s.0 == DeliveryState::Failed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (state, attempts, error) = states[0].clone();
    assert_eq!((state, attempts), (DeliveryState::Failed, 1));
    assert!(error.unwrap().contains("131047"));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(graph.requests(), 1, "not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handoff_notice_and_the_agents_reply_go_out_in_order() {
    let (server, graph) = whatsapp_server(sqlite_options()).await;
    deliver(
        &server,
        &delivery(
            text_message(
                "16505550003",
                "wamid.h1",
                "I want to talk to a human please",
            ),
            json!([]),
        ),
    )
    .await;
    let notice = sent(&graph, 1).await;
    assert!(
        notice[0].text.contains("support team") || notice[0].text.contains("person"),
        "{}",
        notice[0].text
    );
    let conversation = thread_conversation(&server, "16505550003").await.unwrap();
    let admin = server.admin_token().await;
    let (_, ana) = server.agent(&admin, "ana@shop.example").await;
    let id = conversation.id;
    server
        .claim_and_reply(&ana, id, "Hi Sheena, Ana here. How can I help?")
        .await;
    let sent = sent(&graph, 2).await;
    assert!(sent[1].text.contains("Ana here"), "{:?}", sent);
    assert_eq!(sent[1].to, "16505550003");
    // The console sees where each went.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let detail = server
        .get_as(&ana, &format!("/v1/agent/conversations/{id}"))
        .await;
    assert_eq!(detail["channel"], "whatsapp");
    // 24 hours after the customer's (only) message.
    let asked = time::OffsetDateTime::parse(
        detail["messages"][0]["createdAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let closes = time::OffsetDateTime::parse(
        detail["replyWindowClosesAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(closes - asked, time::Duration::hours(24));
    let states: Vec<&str> = detail["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["sent", "sent"], "{detail}");
    let agent_reply = detail["messages"].as_array().unwrap().last().unwrap()["id"].clone();
    assert_eq!(detail["deliveries"][1]["messageId"], agent_reply);
}

/// What message `seq` of a conversation records of its files, as JSON.
async fn files_settled(server: &Server, conversation: &Conversation, seq: i64) -> Vec<Value> {
    let thread = conversation.channel_thread().unwrap();
    let files = server.settled_files(&thread, seq).await;
    serde_json::to_value(files)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

async fn photos_are_kept(options: Options) {
    let (server, graph) = whatsapp_server(options).await;
    let jpeg = b"\xff\xd8\xff\xe0 a crushed box";
    graph.add_media("1003383421387256", "image/jpeg", jpeg);
    let photo = |id: &str, media: &str, caption: &str| {
        json!([{"from": "16505550004", "id": id, "timestamp": "1749416383", "type": "image",
            "image": {"caption": caption, "mime_type": "image/jpeg", "sha256": "x", "id": media}}])
    };
    let body = delivery(
        photo("wamid.ph1", "1003383421387256", "Do you ship to India?"),
        json!([]),
    );
    deliver(&server, &body).await;
    let conversation = thread_conversation(&server, "16505550004").await.unwrap();
    let files = files_settled(&server, &conversation, 1).await;
    assert_eq!(files[0]["mime"], "image/jpeg", "{files:?}");
    assert!(files[0]["blob"].is_string(), "{files:?}");
    // The caption is answered as any message.
    assert!(sent(&graph, 1).await[0].text.contains("India"));

    let admin = server.admin_token().await;
    let (_, ana) = server.agent(&admin, "ana@shop.example").await;
    let id = conversation.id;
    let file = server
        .call(
            reqwest::Method::GET,
            &format!("/v1/agent/conversations/{id}/files/1/0"),
            Some(&ana),
            None,
        )
        .await;
    assert_eq!(file.status(), 200);
    let header = |name: &str| {
        file.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "image/jpeg");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("content-security-policy").contains("sandbox"));
    assert!(header("content-disposition").starts_with("inline"));
    assert_eq!(file.bytes().await.unwrap().as_ref(), jpeg);

    // Agents see the file recorded, never where the channel keeps it.
    let detail = server
        .get_as(&ana, &format!("/v1/agent/conversations/{id}"))
        .await;
    let recorded = &detail["messages"][0]["meta"]["attachments"][0];
    assert_eq!(recorded["kind"], "image");
    assert!(recorded.get("source").is_none(), "{recorded}");

    // Nothing else is served: another seq, another index, another conversation.
    let other = server
        .post("/v1/chat/message", json!({"message": "hello"}))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let other_id = server
        .state
        .engine
        .conversation(other["sessionId"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .id;
    for path in [
        format!("/v1/agent/conversations/{id}/files/2/0"),
        format!("/v1/agent/conversations/{id}/files/1/1"),
        format!("/v1/agent/conversations/{id}/files/0/0"),
        format!("/v1/agent/conversations/{other_id}/files/1/0"),
        format!("/v1/agent/conversations/{}/files/1/0", uuid::Uuid::now_v7()),
    ] {
        let status = server
            .call(reqwest::Method::GET, &path, Some(&ana), None)
            .await
            .status();
        assert_eq!(status, 404, "{path}");
    }
    let bad = server
        .call(
            reqwest::Method::GET,
            &format!("/v1/agent/conversations/{id}/files/x/0"),
            Some(&ana),
            None,
        )
        .await;
    assert_eq!(bad.status(), 400);
    // No token, a forged one, a signed-out one: nothing.
    let path = format!("/v1/agent/conversations/{id}/files/1/0");
    let last = if ana.ends_with('A') { 'B' } else { 'A' };
    let forged = format!("{}{last}", &ana[..ana.len() - 1]);
    let (status, _) = server.post_as(&ana, "/v1/auth/logout", json!({})).await;
    assert_eq!(status, 204);
    for token in [None, Some(forged.as_str()), Some(ana.as_str())] {
        let status = server
            .call(reqwest::Method::GET, &path, token, None)
            .await
            .status();
        assert_eq!(status, 401, "{token:?}");
    }

    // A file the channel has lost is recorded as such; the caption is still answered.
    deliver(
        &server,
        &delivery(photo("wamid.ph2", "999", "and to Germany?"), json!([])),
    )
    .await;
    let files = files_settled(&server, &conversation, 3).await;
    assert!(files[0].get("blob").is_none(), "{files:?}");
    assert!(
        files[0]["error"].as_str().unwrap().contains("404"),
        "{files:?}"
    );
    sent(&graph, 2).await;

    // A redelivery fetches nothing again.
    let before = graph.media_requests();
    deliver(&server, &body).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(graph.media_requests(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_are_fetched_kept_and_served_to_agents_only_on_sqlite() {
    photos_are_kept(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_are_fetched_kept_and_served_to_agents_only_on_postgres() {
    photos_are_kept(postgres_options().await).await;
}

/// The server process SIGKILLed while a reply's send is in flight (before
/// Meta answered): after a restart on the same database the reply goes out
/// once, when its lease ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_cut_short_by_a_kill_goes_out_once_after_a_restart() {
    let graph = FakeGraph::start(ACCESS_TOKEN).await.unwrap();
    // The first send hangs past the kill; the test is over before it would end.
    graph.set_delay(Duration::from_secs(120));
    let files = std::env::temp_dir().join(format!("spur-kill-files-{}", uuid::Uuid::new_v4()));
    let files = files.display().to_string();
    let env = [
        ("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN),
        ("WHATSAPP_APP_SECRET", APP_SECRET),
        ("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN),
        ("WHATSAPP_PHONE_NUMBER_ID", NUMBER),
        ("META_GRAPH_URL", graph.url.as_str()),
        ("OUTBOX_LEASE_SECS", "4"),
        ("FILES_DIR", files.as_str()),
    ];
    let first = crate::support::LoggedServer::start(&env).await;
    let body = delivery(
        text_message("16505550009", "wamid.k1", "Do you ship to India?"),
        json!([]),
    );
    let status = reqwest::Client::new()
        .post(format!("{}/webhooks/whatsapp", first.base))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature(APP_SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    for i in 0.. {
        assert!(i < 100, "the reply's send never began");
        if graph.arrived() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let db = first.kill();
    graph.set_delay(Duration::ZERO);
    let restarted = crate::support::LoggedServer::start_on(db, &env).await;
    let sent = sent(&graph, 1).await;
    assert!(sent[0].text.contains("India"), "{}", sent[0].text);
    assert!(sent[0].callback_data.is_some());
    // Past another lease: nothing goes out again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(graph.sent().len(), 1, "{:?}", graph.sent());
    assert_eq!(
        graph.arrived(),
        2,
        "the cut send, then the one that went out"
    );
    restarted.stop();
}
