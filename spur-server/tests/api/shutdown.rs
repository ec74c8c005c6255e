//! The real `spur-server` binary stopped with SIGTERM while it works: every
//! reply in flight is finished and stored, live feeds are told to
//! reconnect, and the process exits cleanly within its grace period.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use spur_core::conversation::Sender;
use spur_core::store::{ConversationStore, SqliteStore};
use spur_core::testing::fake_openai;

use super::support::{Process, free_port, json_of, sse_events, wait_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_streamed_replies_stores_all_of_them() {
    let (llm, _fake) = fake_openai::start().await.unwrap();
    let db = std::env::temp_dir().join(format!("spur-term-{}.db", uuid::Uuid::new_v4()));
    let database_url = format!("sqlite://{}", db.display());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Process(
        Command::new(env!("CARGO_BIN_EXE_spur-server"))
            .env_clear()
            .envs([
                ("HOST", "127.0.0.1".to_string()),
                ("PORT", port.to_string()),
                ("DATABASE_URL", database_url.clone()),
                ("OPENAI_BASE_URL", llm.clone()),
                ("OPENAI_API_KEY", "sk-test".into()),
                ("OPENAI_MODEL", "slow-stream".into()),
                ("RATE_LIMIT_PER_IP", "0".into()),
                ("RATE_LIMIT_PER_SESSION", "0".into()),
                ("RATE_LIMIT_PER_IP_DAY", "0".into()),
                ("SHUTDOWN_GRACE_SECS", "20".into()),
                ("RUST_LOG", "warn".into()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    wait_ready(&base).await;

    // A customer's live feed, to be told to reconnect.
    let first: serde_json::Value = json_of(
        client
            .post(format!("{base}/v1/chat/message"))
            .json(&json!({"message": "hello"})),
    )
    .await;
    let session = first["sessionId"].as_str().unwrap().to_string();
    let feed = client
        .get(format!("{base}/v1/chat/events/{session}"))
        .send()
        .await
        .unwrap();
    let feed = tokio::spawn(sse_events(feed, |_| false));

    // One customer reads a reply to the end; twenty more leave as soon as
    // their message is stored (a closed tab): nothing but the server's own
    // bookkeeping keeps those replies alive.
    let reader = client
        .post(format!("{base}/v1/chat/stream"))
        .json(&json!({"message": "the reader"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reader.status(), 200);
    let reader = tokio::spawn(sse_events(reader, |e| {
        e.event == "done" || e.event == "error"
    }));
    for i in 0..20 {
        let response = client
            .post(format!("{base}/v1/chat/stream"))
            .json(&json!({"message": format!("question {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let started = sse_events(response, |e| e.event == "start").await;
        assert_eq!(started.last().unwrap().event, "start");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    // The reader gets its whole answer...
    let events = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("the stream ends")
        .unwrap();
    let done = events.last().unwrap();
    assert_eq!(done.event, "done", "{events:?}");
    assert_eq!(done.json()["reply"], fake_openai::SLOW_STREAM_TEXT);
    assert_eq!(done.json()["usedFallback"], false);
    // ...the feed was told to go elsewhere...
    let feed = tokio::time::timeout(Duration::from_secs(20), feed)
        .await
        .expect("the feed ends")
        .unwrap();
    assert_eq!(feed.last().map(|e| e.event.as_str()), Some("reconnect"));
    // ...and the process exits cleanly.
    let exit = tokio::task::spawn_blocking(move || server.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");

    // What the store holds, read after the process is gone.
    let store = SqliteStore::connect(&database_url).await.unwrap();
    let page = store
        .list_conversations(&Default::default(), None, 100)
        .await
        .unwrap();
    let mut complete = 0;
    for listed in &page.conversations {
        let history = store
            .history(listed.conversation.id, None, 10)
            .await
            .unwrap();
        let replies: Vec<_> = history
            .messages
            .iter()
            .filter(|m| m.sender == Sender::Assistant)
            .collect();
        if replies.len() == 1
            && replies[0].text == fake_openai::SLOW_STREAM_TEXT
            && !replies[0].meta.used_fallback
        {
            complete += 1;
        }
    }
    assert_eq!(complete, 21, "the reader's and all twenty others, whole");
    let _ = std::fs::remove_file(db);
}
