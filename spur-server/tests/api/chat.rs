//! The customer chat flow, on SQLite and on PostgreSQL.

use serde_json::{Value, json};
use spur_server::config::Options;

use super::support::{Server, error_code, postgres_options, sqlite_options};

async fn chat_flow(options: Options) {
    let server = Server::start(options).await;
    let first = server.say("Do you ship to India?", None).await;
    let session = first["sessionId"].as_str().unwrap().to_string();
    assert_eq!(first["status"], "automated");
    assert_eq!(first["usedFallback"], false);
    assert!(
        first["reply"].as_str().unwrap().contains("India"),
        "{first}"
    );
    assert!(first["messageId"].as_str().is_some());

    // The same session continues the conversation.
    let second = server
        .say("What is your return policy?", Some(&session))
        .await;
    assert_eq!(second["sessionId"], session.as_str());
    assert!(
        second["reply"].as_str().unwrap().contains("14 days"),
        "{second}"
    );

    // History pages, oldest first within a page, with a cursor for older ones.
    for q in [
        "How long does delivery take?",
        "Do you ship to Europe?",
        "What are your support hours?",
    ] {
        let r = server.say(q, Some(&session)).await;
        assert_eq!(r["status"], "automated", "{q}: {r}");
    }
    let page: Value = server
        .get_json(&format!("/v1/chat/history/{session}?limit=4"))
        .await;
    let seqs: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![7, 8, 9, 10]);
    assert_eq!(page["status"], "automated");
    let cursor = page["nextCursor"].as_i64().unwrap();
    let older: Value = server
        .get_json(&format!(
            "/v1/chat/history/{session}?limit=50&before={cursor}"
        ))
        .await;
    let older = older["messages"].as_array().unwrap();
    assert_eq!(older.len(), 6);
    assert_eq!(older[0]["sender"], "customer");
    assert_eq!(older[1]["sender"], "assistant");
    // Internals stay inside.
    assert!(older[1].get("meta").is_none() && older[1].get("passages").is_none());

    // Idempotent retries are answered from storage, never stored twice.
    let body = json!({"message": "When is support open?", "sessionId": session, "idempotencyKey": "9e6f5a1c-3b2d-4c8e-8f7a-1d2c3b4a5f6e"});
    let a: Value = server
        .post("/v1/chat/message", body.clone())
        .await
        .json()
        .await
        .unwrap();
    let b: Value = server
        .post("/v1/chat/message", body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["messageId"], b["messageId"]);
    assert_eq!(a["reply"], b["reply"]);
    let all: Value = server
        .get_json(&format!("/v1/chat/history/{session}?limit=200"))
        .await;
    assert_eq!(all["messages"].as_array().unwrap().len(), 12);

    // Unknown session: 404, never a silent new conversation. Malformed: 400.
    let unknown = uuid::Uuid::new_v4();
    let r = server
        .post(
            "/v1/chat/message",
            json!({"message": "hi", "sessionId": unknown}),
        )
        .await;
    assert_eq!(error_code(r, 404).await, "session_not_found");
    let r = server
        .post(
            "/v1/chat/message",
            json!({"message": "hi", "sessionId": "nope"}),
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_session_id");
    let r = server.get(&format!("/v1/chat/history/{unknown}")).await;
    assert_eq!(error_code(r, 404).await, "session_not_found");

    // Asking for a person: the bot goes silent, the customer is told.
    let r: Value = server
        .post("/v1/chat/escalate", json!({"sessionId": session}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "agent");
    assert!(r["notice"].as_str().is_some(), "{r}");
    let held = server.say("Hello?", Some(&session)).await;
    assert_eq!(held["reply"], Value::Null);
    assert_eq!(held["status"], "agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_flow_on_sqlite() {
    chat_flow(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_flow_on_postgres() {
    chat_flow(postgres_options().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_frontends_work_unchanged() {
    let server = Server::start(sqlite_options()).await;
    let r: Value = server
        .post(
            "/chat/message",
            json!({"message": "What is your return policy?"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["reply", "sessionId", "status"]);
    assert!(r["reply"].as_str().unwrap().contains("14 days"));
    let session = r["sessionId"].as_str().unwrap();
    let h: Value = server.get_json(&format!("/chat/history/{session}")).await;
    let senders: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sender"].as_str().unwrap())
        .collect();
    assert_eq!(senders, vec!["user", "ai"]);
    assert!(h["messages"][0]["createdAt"].is_string());
    // Their error expectation: 400 on empty input.
    let r = server
        .post("/chat/message", json!({"message": "   "}))
        .await;
    assert_eq!(error_code(r, 400).await, "empty_message");
    // ... and on a missing or non-string message (the /v1 API says 422).
    for body in [json!({}), json!({"message": 42}), json!({"message": null})] {
        let r = server.post("/chat/message", body.clone()).await;
        assert_eq!(error_code(r, 400).await, "invalid_body", "{body}");
    }
    let r = server.post("/v1/chat/message", json!({})).await;
    assert_eq!(r.status(), 422);

    // While a person holds the chat nothing automatic is said; the alias
    // still answers with a line a frontend can draw, and the status.
    let escalated = server
        .post("/v1/chat/escalate", json!({"sessionId": session}))
        .await;
    assert_eq!(escalated.status(), 200);
    let r = server
        .post_json(
            "/chat/message",
            json!({"message": "still there?", "sessionId": session}),
        )
        .await;
    assert_eq!(r["status"], "agent", "{r}");
    assert!(
        r["reply"]
            .as_str()
            .unwrap()
            .contains("A person from our team"),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_survives_a_restart() {
    let options = sqlite_options();
    let url = options.database_url.clone().unwrap();
    let server = Server::start(options).await;
    let first = server.say("Do you ship to Europe?", None).await;
    let session = first["sessionId"].as_str().unwrap().to_string();
    server.shutdown.cancel();
    server.done.await.unwrap().unwrap();

    let again = Server::start(Options {
        database_url: Some(url),
        ..sqlite_options()
    })
    .await;
    let next = again.say("And to India?", Some(&session)).await;
    assert_eq!(next["sessionId"], session.as_str());
    let h: Value = again.get_json(&format!("/v1/chat/history/{session}")).await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 4);
}

/// Nobody there (every day a holiday): the handoff notice offers to leave an
/// email address; the route takes it only with the conversation's own
/// session, validates it, says when to expect the answer, and agents see it.
async fn leaving_an_email(options: Options) {
    let today = time::OffsetDateTime::now_utc().date();
    let holidays = (-1..16)
        .map(|d| (today + time::Duration::days(d)).to_string())
        .collect();
    let server = Server::start(Options {
        shop_time_zone: Some("UTC".into()),
        shop_holidays: Some(holidays),
        ..options
    })
    .await;
    let session = server.say("Do you ship to India?", None).await["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let other = server.say("Do you ship to Europe?", None).await["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let r: Value = server
        .post("/v1/chat/escalate", json!({"sessionId": session}))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        r["notice"].as_str().unwrap().contains("email address"),
        "{r}"
    );
    let page = server
        .get_json(&format!("/v1/chat/history/{session}"))
        .await;
    let notice = page["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(notice["askEmail"], true, "{notice}");

    // Missing, malformed and forged sessions; an address that is none.
    let email = |body: Value| server.post("/v1/chat/email", body);
    let r = email(json!({"email": "ana@example.com"})).await;
    assert_eq!(error_code(r, 422).await, "invalid_body");
    let r = email(json!({"sessionId": "nope", "email": "ana@example.com"})).await;
    assert_eq!(error_code(r, 400).await, "invalid_session_id");
    let forged = uuid::Uuid::new_v4();
    let r = email(json!({"sessionId": forged, "email": "ana@example.com"})).await;
    assert_eq!(error_code(r, 404).await, "session_not_found");
    for bad in ["", "ana", "ana@example", "a b@example.com"] {
        let r = email(json!({"sessionId": session, "email": bad})).await;
        assert_eq!(error_code(r, 400).await, "invalid_email", "{bad:?}");
    }

    let r: Value = email(json!({"sessionId": session, "email": " Ana@Example.com "}))
        .await
        .json()
        .await
        .unwrap();
    let said = r["notice"].as_str().unwrap();
    assert!(
        said.contains("ana@example.com") && said.contains("can't promise a time"),
        "{r}"
    );
    assert_eq!(r["status"], "agent");
    let page = server
        .get_json(&format!("/v1/chat/history/{session}"))
        .await;
    let last = page["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["emailLeft"], true, "{last}");
    assert!(last.get("askEmail").is_none(), "{last}");

    // Agents see it on the row and the conversation; the other customer's
    // conversation has none.
    let admin = server.admin_token().await;
    let inbox = server.get_as(&admin, "/v1/agent/conversations").await;
    let rows = inbox["conversations"].as_array().unwrap();
    let with_email: Vec<_> = rows
        .iter()
        .filter(|c| c["contactEmail"] == "ana@example.com")
        .collect();
    assert_eq!(with_email.len(), 1, "{inbox}");
    assert_eq!(rows.len(), 2);
    let id = with_email[0]["id"].as_str().unwrap().to_string();
    let detail = server
        .get_as(&admin, &format!("/v1/agent/conversations/{id}"))
        .await;
    assert_eq!(detail["contactEmail"], "ana@example.com");
    assert_eq!(detail["metadata"]["contact"]["email"], "ana@example.com");
    let theirs = server
        .get_json(&format!("/v1/chat/history/{other}"))
        .await
        .to_string();
    assert!(!theirs.contains("ana@example.com"));

    // A closed conversation takes no address.
    let (status, _) = server
        .post_as(
            &admin,
            &format!("/v1/agent/conversations/{id}/close"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let r = email(json!({"sessionId": session, "email": "ana@example.com"})).await;
    assert_eq!(error_code(r, 409).await, "invalid_state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_an_email_on_sqlite() {
    leaving_an_email(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_an_email_on_postgres() {
    leaving_an_email(postgres_options().await).await;
}

/// The widget's first screen: the shop, whether people are there (by this
/// shop's hours), the operator's suggestions; public and nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_config_says_who_answers_and_when() {
    let today = time::OffsetDateTime::now_utc().date();
    let holidays = (-1..16)
        .map(|d| (today + time::Duration::days(d)).to_string())
        .collect();
    let server = Server::start(Options {
        shop_name: Some("Nordlicht".into()),
        shop_time_zone: Some("Europe/Berlin".into()),
        shop_hours: Some("Mon-Fri 08:00-17:00".into()),
        shop_holidays: Some(holidays),
        widget_suggestions: Some(vec!["Where is my order?".into()]),
        ..sqlite_options()
    })
    .await;
    let config = server.get_json("/v1/chat/config").await;
    assert_eq!(config["shop"], "Nordlicht");
    assert_eq!(config["availability"], "closed", "{config}");
    assert_eq!(
        config["back"],
        Value::Null,
        "every day a holiday: no time promised"
    );
    assert_eq!(
        config["hours"],
        "Monday to Friday 08:00-17:00 (Berlin time)"
    );
    assert_eq!(config["suggestions"], json!(["Where is my order?"]));
    let mut keys: Vec<_> = config.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["availability", "back", "hours", "shop", "suggestions"],
        "nothing more"
    );

    // The demo knowledge has its own hours (IST): open or closed, never
    // unknown; no suggestions unless the operator sets some.
    let demo = Server::start(sqlite_options()).await;
    let demo = demo.get_json("/v1/chat/config").await;
    assert_ne!(demo["availability"], "unknown", "{demo}");
    assert!(demo["hours"].as_str().unwrap().contains("IST"), "{demo}");
    assert_eq!(demo["suggestions"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_texts_are_what_customers_read() {
    let handoff = "Our tea people will write back here.";
    let texts = spur_core::prompt::PromptTexts {
        handoff_reply: handoff.into(),
        handoff_after_hours_reply: handoff.into(),
        handoff_unknown_hours_reply: handoff.into(),
        with_agent_reply: "Still with our tea people.".into(),
        ..Default::default()
    };
    let server = Server::start(Options {
        texts: Some(texts),
        ..sqlite_options()
    })
    .await;
    let asked = server.say("I want to talk to a human please", None).await;
    assert_eq!(asked["status"], "agent", "{asked}");
    assert!(
        asked["reply"].as_str().unwrap().starts_with(handoff),
        "{asked}"
    );
    let session = asked["sessionId"].as_str().unwrap();
    // The seed apps' route shows one reply per message, this one while a
    // person holds the conversation.
    let again = server
        .post_json(
            "/chat/message",
            json!({"message": "still there?", "sessionId": session}),
        )
        .await;
    assert_eq!(again["reply"], "Still with our tea people.", "{again}");
}
