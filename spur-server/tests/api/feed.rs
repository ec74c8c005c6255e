//! Streaming replies and the live conversation feed.

use std::time::Duration;

use serde_json::json;
use spur_core::conversation::ConversationId;
use spur_server::config::Options;

use super::support::{Server, SseEvent, error_code, postgres_options, sqlite_options, sse_events};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_reply_starts_streams_and_is_stored() {
    let server = Server::start(sqlite_options()).await;
    let r = server
        .post(
            "/v1/chat/stream",
            json!({"message": "Do you ship to India?"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(r, |_| false).await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names.first(), Some(&"start"));
    assert_eq!(names.last(), Some(&"done"));
    assert!(names.contains(&"delta"), "{names:?}");
    let ids: Vec<String> = events.iter().filter_map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), events.len(), "every event has an id");
    let start = events[0].json();
    let done = events.last().unwrap().json();
    let streamed: String = events
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| e.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(done["reply"].as_str().unwrap(), streamed);
    assert_eq!(done["usedFallback"], false);
    let session = start["sessionId"].as_str().unwrap();
    let h: serde_json::Value = server
        .get_json(&format!("/v1/chat/history/{session}"))
        .await;
    assert_eq!(h["messages"][1]["id"], done["replyId"]);
    assert_eq!(h["messages"][1]["text"].as_str().unwrap(), streamed);

    let r = server
        .post(
            "/v1/chat/stream",
            json!({"message": "", "sessionId": session}),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "empty_message");
}

fn seqs(events: &[SseEvent]) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e.event == "message")
        .map(|e| e.id.as_deref().unwrap().parse().unwrap())
        .collect()
}

async fn feed_resumes_without_gaps_or_duplicates(options: Options) {
    let server = Server::start(options).await;
    let first = server.say("Do you ship to India?", None).await;
    let session = first["sessionId"].as_str().unwrap().to_string();
    server
        .say("How long does delivery take?", Some(&session))
        .await;

    // A fresh feed: status first, then the four stored messages.
    let feed = server.get(&format!("/v1/chat/events/{session}")).await;
    assert_eq!(feed.status(), 200);
    let mut seen = 0;
    let events = sse_events(feed, |e| {
        seen += usize::from(e.event == "message");
        seen == 4
    })
    .await;
    assert_eq!(events[0].event, "status");
    assert_eq!(events[0].json()["status"], "automated");
    assert_eq!(seqs(&events), vec![1, 2, 3, 4]);

    // Resume after 2 while new messages and an agent reply arrive live.
    let feed = server
        .client
        .get(server.url(&format!("/v1/chat/events/{session}")))
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    let engine = server.state.engine.clone();
    let session_id = session.parse().unwrap();
    let writer = {
        let session = session.clone();
        let base = server.base.clone();
        let client = server.client.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            client
                .post(format!("{base}/v1/chat/message"))
                .json(&json!({"message": "What are your support hours?", "sessionId": session}))
                .send()
                .await
                .unwrap();
            let conversation: ConversationId = engine.conversation(session_id).await.unwrap().id;
            engine.escalate(session_id).await.unwrap();
            engine.claim(conversation, "ana").await.unwrap();
            engine
                .agent_reply(conversation, "ana", "Hi, Ana here. How can I help?")
                .await
                .unwrap();
        })
    };
    let events = sse_events(feed, |e| {
        e.event == "message" && e.json()["sender"] == "agent"
    })
    .await;
    writer.await.unwrap();
    let got = seqs(&events);
    let expected: Vec<i64> = (3..=got.last().copied().unwrap_or(0)).collect();
    assert_eq!(got, expected, "no gaps, no duplicates");
    assert!(
        events
            .iter()
            .any(|e| e.event == "status" && e.json()["status"] == "agent")
    );
    assert!(events.iter().any(|e| e.event == "escalated"));
    let agent = events.last().unwrap().json();
    assert_eq!(agent["text"], "Hi, Ana here. How can I help?");
    // What the feed showed is what the store holds.
    let h: serde_json::Value = server
        .get_json(&format!("/v1/chat/history/{session}?limit=200"))
        .await;
    assert_eq!(
        h["messages"].as_array().unwrap().len() as i64,
        *got.last().unwrap()
    );

    let r = server
        .get(&format!("/v1/chat/events/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(error_code(r, 404).await, "session_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_resumes_on_sqlite() {
    feed_resumes_without_gaps_or_duplicates(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_resumes_on_postgres() {
    feed_resumes_without_gaps_or_duplicates(postgres_options().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_feeds_and_the_server_stops() {
    let server = Server::start(sqlite_options()).await;
    let first = server.say("Do you ship to India?", None).await;
    let session = first["sessionId"].as_str().unwrap();
    let feed = server.get(&format!("/v1/chat/events/{session}")).await;
    let shutdown = server.shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        shutdown.cancel();
    });
    // Ends by itself (the stop predicate never fires).
    let events = tokio::time::timeout(Duration::from_secs(10), sse_events(feed, |_| false))
        .await
        .expect("the feed must end on shutdown");
    assert_eq!(seqs(&events), vec![1, 2]);
    tokio::time::timeout(Duration::from_secs(10), server.done)
        .await
        .expect("the server must stop")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_shows_history_starts_the_feed_after_it() {
    let server = Server::start(sqlite_options()).await;
    let first = server.say("Do you ship to India?", None).await;
    let session = first["sessionId"].as_str().unwrap().to_string();
    server.say("And returns?", Some(&session)).await;
    // Four messages stored; the page shows the first two.
    let feed = server
        .get(&format!("/v1/chat/events/{session}?after=2"))
        .await;
    let events = sse_events(feed, |e| {
        e.event == "message" && e.id.as_deref() == Some("4")
    })
    .await;
    assert_eq!(seqs(&events), vec![3, 4]);
    // Last-Event-ID (a reconnect) wins over `after`.
    let resumed = server
        .client
        .get(server.url(&format!("/v1/chat/events/{session}?after=1")))
        .header("last-event-id", "3")
        .send()
        .await
        .unwrap();
    let events = sse_events(resumed, |e| e.event == "message").await;
    assert_eq!(seqs(&events), vec![4]);
}
