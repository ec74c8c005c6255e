//! Accounts, access rules and the human handoff, on SQLite and PostgreSQL.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use spur_server::config::Options;

use super::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, AGENT_PASSWORD, Server, error_code, postgres_options,
    sqlite_options, sse_events,
};

/// Every agent and admin route, with a body where one is needed.
fn protected(conversation: &str) -> Vec<(Method, String, Option<Value>, bool)> {
    let c = conversation;
    vec![
        (Method::GET, "/v1/auth/me".into(), None, false),
        (Method::POST, "/v1/auth/logout".into(), None, false),
        (Method::GET, "/v1/agent/conversations".into(), None, false),
        (Method::GET, "/v1/agent/labels".into(), None, false),
        (
            Method::GET,
            format!("/v1/agent/conversations/{c}"),
            None,
            false,
        ),
        (
            Method::POST,
            format!("/v1/agent/conversations/{c}/claim"),
            None,
            false,
        ),
        (
            Method::POST,
            format!("/v1/agent/conversations/{c}/reply"),
            Some(json!({"text": "hi"})),
            false,
        ),
        (
            Method::POST,
            format!("/v1/agent/conversations/{c}/notes"),
            Some(json!({"text": "a note"})),
            false,
        ),
        (
            Method::GET,
            format!("/v1/agent/conversations/{c}/files/1/0"),
            None,
            false,
        ),
        (
            Method::POST,
            format!("/v1/agent/conversations/{c}/assign"),
            Some(json!({"agentId": uuid::Uuid::now_v7()})),
            false,
        ),
        (
            Method::POST,
            format!("/v1/agent/conversations/{c}/reopen"),
            None,
            true,
        ),
        (Method::GET, "/v1/agent/agents".into(), None, false),
        (Method::GET, "/v1/agent/canned".into(), None, false),
        (
            Method::PUT,
            "/v1/agent/canned/hello".into(),
            Some(json!({"text": "Hi!"})),
            false,
        ),
        (Method::DELETE, "/v1/agent/canned/hello".into(), None, false),
        (
            Method::POST,
            format!("/v1/agent/conversations/{c}/handback"),
            None,
            false,
        ),
        (
            Method::POST,
            format!("/v1/agent/conversations/{c}/close"),
            None,
            false,
        ),
        (Method::GET, "/v1/agent/events".into(), None, false),
        (Method::GET, "/v1/admin/agents".into(), None, true),
        (Method::GET, "/v1/admin/logs".into(), None, true),
        (Method::GET, "/v1/admin/analytics".into(), None, true),
        (Method::GET, "/v1/admin/knowledge".into(), None, true),
        (
            Method::POST,
            "/v1/admin/knowledge/try".into(),
            Some(json!({"question": "do you ship to Lyon?"})),
            true,
        ),
        (Method::GET, "/v1/admin/knowledge/gaps".into(), None, true),
        (Method::GET, "/v1/admin/knowledge/files".into(), None, true),
        (
            Method::PUT,
            "/v1/admin/knowledge/files/notes.md".into(),
            Some(json!({"content": "## Notes\nhi\n"})),
            true,
        ),
        (
            Method::DELETE,
            "/v1/admin/knowledge/files/notes.md".into(),
            None,
            true,
        ),
        (
            Method::POST,
            "/v1/admin/knowledge/urls".into(),
            Some(json!({"url": "http://127.0.0.1:9/faq"})),
            true,
        ),
        (
            Method::POST,
            "/v1/admin/knowledge/reload".into(),
            None,
            true,
        ),
        (
            Method::POST,
            "/v1/admin/agents".into(),
            Some(json!({"email": "x@shop.example", "password": "long enough"})),
            true,
        ),
        (
            Method::PATCH,
            format!("/v1/admin/agents/{c}"),
            Some(json!({"disabled": true})),
            true,
        ),
    ]
}

async fn access_rules(options: Options) {
    let clock = std::sync::Arc::new(spur_core::clock::ManualClock::new(
        time::OffsetDateTime::now_utc(),
    ));
    let server = Server::start_with_clock(
        Options {
            token_ttl_secs: Some(60),
            ..options
        },
        clock.clone(),
    )
    .await;
    let admin = server.admin_token().await;
    let (_, agent) = server.agent(&admin, "ana@shop.example").await;
    let customer = server.say("Hello there", None).await;
    let session = customer["sessionId"].as_str().unwrap().to_string();
    let conversation = uuid::Uuid::now_v7().to_string();

    for (method, path, body, admin_only) in protected(&conversation) {
        let call = |token: Option<String>| {
            let (method, path, body) = (method.clone(), path.clone(), body.clone());
            let server = &server;
            async move { server.call(method, &path, token.as_deref(), body).await }
        };
        assert_eq!(
            error_code(call(None).await, 401).await,
            "unauthenticated",
            "{method} {path}"
        );
        for bad in [
            "not-a-token".to_string(),
            format!("{agent}x"),
            session.clone(),
            conversation.clone(),
        ] {
            assert_eq!(
                error_code(call(Some(bad)).await, 401).await,
                "invalid_token",
                "{method} {path}"
            );
        }
        // Not a bearer token at all.
        let basic = server
            .client
            .request(method.clone(), server.url(&path))
            .header("authorization", "Basic YWRtaW46YWRtaW4=")
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(basic, 401).await, "invalid_token");
        if admin_only {
            assert_eq!(
                error_code(call(Some(agent.clone())).await, 403).await,
                "forbidden",
                "{method} {path}"
            );
        }
    }

    // Logout revokes that token only.
    let other = server.token("ana@shop.example", AGENT_PASSWORD).await;
    let (status, _) = server.post_as(&agent, "/v1/auth/logout", json!({})).await;
    assert_eq!(status, 204);
    let me = server
        .call(Method::GET, "/v1/auth/me", Some(&agent), None)
        .await;
    assert_eq!(error_code(me, 401).await, "invalid_token");
    assert_eq!(
        server.get_as(&other, "/v1/auth/me").await["email"],
        "ana@shop.example"
    );

    // Tokens expire: valid to the last second, refused from the TTL on.
    clock.advance(Duration::from_secs(59));
    assert_eq!(
        server.get_as(&other, "/v1/auth/me").await["email"],
        "ana@shop.example"
    );
    clock.advance(Duration::from_secs(1));
    let expired = server
        .call(Method::GET, "/v1/auth/me", Some(&other), None)
        .await;
    assert_eq!(error_code(expired, 401).await, "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_rules_on_sqlite() {
    access_rules(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_rules_on_postgres() {
    access_rules(postgres_options().await).await;
}

async fn accounts(options: Options) {
    let server = Server::start(options).await;
    let admin = server.admin_token().await;

    // Sign-in failures all look alike.
    for (email, password) in [
        (ADMIN_EMAIL, "wrong password"),
        ("nobody@shop.example", ADMIN_PASSWORD),
        ("", ""),
    ] {
        assert_eq!(
            error_code(server.login(email, password).await, 401).await,
            "invalid_credentials"
        );
    }
    let response = server.login("  ADMIN@Shop.Example ", ADMIN_PASSWORD).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["role"], "admin");
    assert!(body["expiresAt"].as_str().is_some());
    assert!(body["account"].get("passwordHash").is_none());
    let bad_body = server
        .post("/v1/auth/login", json!({"email": ADMIN_EMAIL}))
        .await;
    assert_eq!(error_code(bad_body, 422).await, "invalid_body");

    // Admins create agents; the rules on input.
    let (ana_id, ana) = server.agent(&admin, "ana@shop.example").await;
    assert_eq!(server.get_as(&ana, "/v1/auth/me").await["role"], "agent");
    for (body, status, code) in [
        (
            json!({"email": "ANA@shop.example", "password": AGENT_PASSWORD}),
            409,
            "email_taken",
        ),
        (
            json!({"email": "bo@shop.example", "password": "short"}),
            400,
            "weak_password",
        ),
        (
            json!({"email": "not-an-email", "password": AGENT_PASSWORD}),
            400,
            "invalid_email",
        ),
        (
            json!({"email": "bo@shop.example", "password": AGENT_PASSWORD, "role": "root"}),
            400,
            "invalid_role",
        ),
    ] {
        let response = server
            .call(Method::POST, "/v1/admin/agents", Some(&admin), Some(body))
            .await;
        assert_eq!(error_code(response, status).await, code);
    }
    let list = server.get_as(&admin, "/v1/admin/agents").await;
    let emails: Vec<&str> = list["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec![ADMIN_EMAIL, "ana@shop.example"]);

    // Disabling signs the agent out and keeps them out; enabling lets them in again.
    let patch = |id: &str, token: &str, disabled: bool| {
        let path = format!("/v1/admin/agents/{id}");
        let token = token.to_string();
        let server = &server;
        async move {
            server
                .call(
                    Method::PATCH,
                    &path,
                    Some(&token),
                    Some(json!({"disabled": disabled})),
                )
                .await
        }
    };
    let response = patch(&ana_id, &admin, true).await;
    assert_eq!(response.status(), 200);
    let me = server
        .call(Method::GET, "/v1/auth/me", Some(&ana), None)
        .await;
    assert_eq!(error_code(me, 401).await, "invalid_token");
    assert_eq!(
        error_code(server.login("ana@shop.example", AGENT_PASSWORD).await, 401).await,
        "invalid_credentials"
    );
    assert_eq!(patch(&ana_id, &admin, false).await.status(), 200);
    server.token("ana@shop.example", AGENT_PASSWORD).await;

    let me: Value = server.get_as(&admin, "/v1/auth/me").await;
    let own = me["id"].as_str().unwrap();
    assert_eq!(
        error_code(patch(own, &admin, true).await, 409).await,
        "cannot_disable_self"
    );
    let ghost = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        error_code(patch(&ghost, &admin, true).await, 404).await,
        "account_not_found"
    );
    assert_eq!(
        error_code(patch("nope", &admin, true).await, 400).await,
        "invalid_id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_on_sqlite() {
    accounts(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_on_postgres() {
    accounts(postgres_options().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_guessing_is_limited_per_ip() {
    let server = Server::start(Options {
        login_rate_limit: Some(3),
        ..sqlite_options()
    })
    .await;
    server
        .state
        .auth
        .ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .unwrap();
    for _ in 0..3 {
        let response = server.login(ADMIN_EMAIL, "guess guess").await;
        assert_eq!(response.status(), 401);
    }
    // Even the right password waits now.
    let response = server.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_eq!(error_code(response, 429).await, "rate_limited");
}

/// Guesses at one account from many addresses count together, and (with
/// Redis) across instances: rotating addresses or instances gains nothing.
async fn guessing_one_account(servers: &[Server]) {
    servers[0]
        .state
        .auth
        .ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .unwrap();
    let login = |i: usize, email: &str, password: &str| {
        let server = &servers[i % servers.len()];
        server
            .client
            .post(server.url("/v1/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"email": email.to_uppercase(), "password": password}))
            .send()
    };
    for i in 0..3 {
        assert_eq!(
            login(i, ADMIN_EMAIL, "guess guess").await.unwrap().status(),
            401
        );
    }
    let refused = login(3, ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    assert_eq!(error_code(refused, 429).await, "rate_limited");
    // Another account is not held up by it.
    let other = login(4, "someone@shop.example", "guess guess")
        .await
        .unwrap();
    assert_eq!(other.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_guessing_is_limited_per_account() {
    let server = Server::start(Options {
        login_rate_limit: Some(3),
        trusted_proxies: Some(vec!["127.0.0.1".into()]),
        ..sqlite_options()
    })
    .await;
    guessing_one_account(&[server]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_limits_are_shared_through_redis() {
    let database = postgres_options().await.database_url;
    let mut servers = Vec::new();
    for _ in 0..2 {
        servers.push(
            Server::start(Options {
                database_url: database.clone(),
                redis_url: Some(super::support::redis_url()),
                login_rate_limit: Some(3),
                trusted_proxies: Some(vec!["127.0.0.1".into()]),
                ..sqlite_options()
            })
            .await,
        );
    }
    // Keys of earlier runs would count: a fresh account per run.
    let admin = format!("admin-{}@shop.example", uuid::Uuid::new_v4().simple());
    servers[0]
        .state
        .auth
        .ensure_admin(&admin, ADMIN_PASSWORD)
        .await
        .unwrap();
    // Fresh addresses too: Redis remembers earlier runs' for 15 minutes.
    let net = uuid::Uuid::new_v4().into_bytes();
    let login = |i: usize, password: &str| {
        let server = &servers[i % 2];
        server
            .client
            .post(server.url("/v1/auth/login"))
            .header(
                "x-forwarded-for",
                format!("10.{}.{}.{}", net[0], net[1], i + 1),
            )
            .json(&json!({"email": admin, "password": password}))
            .send()
    };
    for i in 0..3 {
        assert_eq!(login(i, "guess guess").await.unwrap().status(), 401);
    }
    let refused = login(3, ADMIN_PASSWORD).await.unwrap();
    assert_eq!(error_code(refused, 429).await, "rate_limited");
}

/// A customer asks for a person; agents see it, one claims and replies,
/// the bot stays silent, the customer sees it all; hand back and close.
async fn handoff(options: Options) {
    let server = Server::start(options).await;
    let admin = server.admin_token().await;
    let (ana_id, ana) = server.agent(&admin, "ana@shop.example").await;
    let (_, bo) = server.agent(&admin, "bo@shop.example").await;

    // The agents' live feed, subscribed before anything happens.
    let feed = server
        .call(Method::GET, "/v1/agent/events", Some(&ana), None)
        .await;
    assert_eq!(feed.status(), 200);
    let feed = tokio::spawn(sse_events(feed, |e| {
        e.event == "status" && e.json()["to"] == "closed"
    }));

    // A conversation the bot handles alone, for the views.
    server.say("Do you ship to India?", None).await;
    // Sent with idempotency keys: credentials agents must never see.
    let opening_key = uuid::Uuid::new_v4().to_string();
    let first = server
        .post(
            "/v1/chat/message",
            json!({"message": "I want to talk to a human please", "idempotencyKey": opening_key}),
        )
        .await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let session = first["sessionId"].as_str().unwrap().to_string();
    assert_eq!(first["status"], "agent", "{first}");

    let inbox = server.get_as(&ana, "/v1/agent/conversations").await;
    let items = inbox["conversations"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let waiting = &items[0];
    assert_eq!(waiting["status"], "agent", "newest activity first: {inbox}");
    assert!(
        waiting.get("sessionId").is_none(),
        "agents never see the customer's secret"
    );
    let id = waiting["id"].as_str().unwrap().to_string();
    let labels = server.get_as(&ana, "/v1/agent/labels").await;
    assert_eq!(labels["priorities"], json!(["low", "medium", "high"]));
    assert!(
        labels["categories"]
            .as_array()
            .unwrap()
            .contains(&waiting["category"])
    );
    assert!(waiting["category"].is_string(), "{waiting}");
    assert!(waiting["priority"].is_string(), "{waiting}");
    assert_eq!(waiting["unread"], 1, "the customer's unanswered message");
    let only_agent = server
        .get_as(&ana, "/v1/agent/conversations?status=agent")
        .await;
    assert_eq!(only_agent["conversations"].as_array().unwrap().len(), 1);
    let found = server
        .get_as(&ana, "/v1/agent/conversations?q=TALK%20to%20a%20HUMAN")
        .await;
    assert_eq!(found["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(found["conversations"][0]["id"], waiting["id"]);
    let category = waiting["category"].as_str().unwrap();
    let same = server
        .get_as(
            &ana,
            &format!("/v1/agent/conversations?category={category}&status=agent"),
        )
        .await;
    assert_eq!(same["conversations"][0]["id"], waiting["id"]);
    let none = server
        .get_as(&ana, "/v1/agent/conversations?priority=no-such-priority")
        .await;
    assert!(none["conversations"].as_array().unwrap().is_empty());

    let detail = server
        .get_as(&ana, &format!("/v1/agent/conversations/{id}"))
        .await;
    assert_eq!(detail["escalationReason"], "customer_request");
    assert!(detail["classification"]["category"].is_string(), "{detail}");
    assert!(detail["messages"].as_array().unwrap().len() >= 2);
    assert!(detail.get("sessionId").is_none());

    // One owner at a time.
    let (status, claimed) = server
        .post_as(
            &ana,
            &format!("/v1/agent/conversations/{id}/claim"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(claimed["assignee"], ana_id.as_str());
    let (status, body) = server
        .post_as(
            &bo,
            &format!("/v1/agent/conversations/{id}/claim"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_claimed"))
    );
    let (status, _) = server
        .post_as(
            &bo,
            &format!("/v1/agent/conversations/{id}/reply"),
            json!({"text": "Not mine"}),
        )
        .await;
    assert_eq!(status, 409);

    // Only the owner (or an admin) closes a held conversation.
    let (status, body) = server
        .post_as(
            &bo,
            &format!("/v1/agent/conversations/{id}/close"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_claimed")),
        "{body}"
    );

    // Typing shows on the other side, and only the owner's counts.
    let customer_feed = server.get(&format!("/v1/chat/events/{session}")).await;
    let customer_feed = tokio::spawn(sse_events(customer_feed, |e| e.event == "typing"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = server
        .post_as(
            &bo,
            &format!("/v1/agent/conversations/{id}/typing"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = server
        .post_as(
            &ana,
            &format!("/v1/agent/conversations/{id}/typing"),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let seen = tokio::time::timeout(Duration::from_secs(5), customer_feed)
        .await
        .expect("the customer sees the agent typing")
        .unwrap();
    assert_eq!(seen.last().unwrap().json(), json!({"sender": "agent"}));
    let typing = server
        .post("/v1/chat/typing", json!({"sessionId": session}))
        .await;
    assert_eq!(typing.status(), 204);
    let unknown = server
        .post(
            "/v1/chat/typing",
            json!({"sessionId": uuid::Uuid::new_v4().to_string()}),
        )
        .await;
    assert_eq!(error_code(unknown, 404).await, "session_not_found");

    // The bot is silent while a person holds the conversation.
    let in_session_key = uuid::Uuid::new_v4().to_string();
    let waiting: Value = server
        .post(
            "/v1/chat/message",
            json!({"message": "Hello? Anyone?", "sessionId": session, "idempotencyKey": in_session_key}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(waiting["reply"], Value::Null);
    assert_eq!(waiting["status"], "agent");
    let unread = server
        .get_as(&ana, "/v1/agent/conversations?status=agent")
        .await;
    assert_eq!(unread["conversations"][0]["unread"], 2);
    let (status, reply) = server
        .post_as(
            &ana,
            &format!("/v1/agent/conversations/{id}/reply"),
            json!({"text": "Hi, I'm Ana. How can I help?"}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["sender"], "agent");
    let (status, body) = server
        .post_as(
            &ana,
            &format!("/v1/agent/conversations/{id}/reply"),
            json!({"text": "   "}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("empty_message"))
    );
    let history = server
        .get_json(&format!("/v1/chat/history/{session}"))
        .await;
    let senders: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sender"].as_str().unwrap())
        .collect();
    assert_eq!(senders, vec!["customer", "system", "customer", "agent"]);
    // The customer sees the agent's name, never their account id.
    let answer = &history["messages"][3];
    assert_eq!(answer["agentName"], "Agent", "{answer}");
    assert!(!history.to_string().contains(&ana_id), "{history}");

    // Internal notes: any agent writes one; agents see it on the
    // conversation and live in their feed; the customer's history, the
    // customer's feed and the bot never do.
    let watching = server.get(&format!("/v1/chat/events/{session}")).await;
    let watching = tokio::spawn(sse_events(watching, |e| {
        e.event == "status" && e.json()["status"] == "automated"
    }));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, note) = server
        .post_as(
            &admin,
            &format!("/v1/agent/conversations/{id}/notes"),
            json!({"text": "VIP: refund without asking"}),
        )
        .await;
    assert_eq!(status, 201, "{note}");
    assert_eq!(note["authorName"], "Admin");
    let (status, empty) = server
        .post_as(
            &ana,
            &format!("/v1/agent/conversations/{id}/notes"),
            json!({"text": "  "}),
        )
        .await;
    assert_eq!(status, 400, "{empty}");
    let missing = uuid::Uuid::now_v7();
    let (status, _) = server
        .post_as(
            &ana,
            &format!("/v1/agent/conversations/{missing}/notes"),
            json!({"text": "lost"}),
        )
        .await;
    assert_eq!(status, 404);
    let detail = server
        .get_as(&ana, &format!("/v1/agent/conversations/{id}"))
        .await;
    assert_eq!(detail["notes"][0]["text"], "VIP: refund without asking");
    assert_eq!(detail["notes"].as_array().unwrap().len(), 1);
    let history = server
        .get_json(&format!("/v1/chat/history/{session}"))
        .await;
    assert!(!history.to_string().contains("VIP"), "{history}");

    // Back to the bot, which answers again.
    let (status, back) = server
        .post_as(
            &ana,
            &format!("/v1/agent/conversations/{id}/handback"),
            json!({}),
        )
        .await;
    assert_eq!((status, back["status"].as_str()), (200, Some("automated")));
    let watched = tokio::time::timeout(Duration::from_secs(10), watching)
        .await
        .expect("the customer's feed hears the hand-back")
        .unwrap();
    assert!(
        watched
            .iter()
            .all(|e| e.event != "note" && !e.data.contains("VIP")),
        "{watched:?}"
    );
    let answered = server
        .say("What is your return policy?", Some(&session))
        .await;
    assert!(answered["reply"].as_str().is_some(), "{answered}");

    // Every agent view of the conversation is free of the customer's credentials.
    let detail = server
        .get_as(&ana, &format!("/v1/agent/conversations/{id}"))
        .await
        .to_string();
    for secret in [&session, &opening_key, &in_session_key] {
        assert!(!detail.contains(secret.as_str()), "{secret} in {detail}");
    }
    assert!(!detail.contains("idempotency"), "{detail}");
    // The same key with other words is a conflict, never the first turn.
    let mismatch = server
        .post(
            "/v1/chat/message",
            json!({"message": "Something else", "sessionId": session, "idempotencyKey": in_session_key}),
        )
        .await;
    assert_eq!(error_code(mismatch, 409).await, "idempotency_mismatch");

    // Closed conversations leave the active view for the closed one.
    let (status, closed) = server
        .post_as(
            &ana,
            &format!("/v1/agent/conversations/{id}/close"),
            json!({}),
        )
        .await;
    assert_eq!((status, closed["status"].as_str()), (200, Some("closed")));
    let active = server
        .get_as(&ana, "/v1/agent/conversations?view=active")
        .await;
    let quiet_only: Vec<&str> = active["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(quiet_only, vec!["automated"]);
    let closed_view = server
        .get_as(&ana, "/v1/agent/conversations?view=closed")
        .await;
    assert_eq!(closed_view["conversations"][0]["id"], id.as_str());

    // Pages of one, then the end.
    let first_page = server
        .get_as(&ana, "/v1/agent/conversations?view=all&limit=1")
        .await;
    let cursor = first_page["nextCursor"].as_str().unwrap();
    let second_page = server
        .get_as(
            &ana,
            &format!("/v1/agent/conversations?view=all&limit=1&cursor={cursor}"),
        )
        .await;
    assert_ne!(
        first_page["conversations"][0]["id"],
        second_page["conversations"][0]["id"]
    );
    assert_eq!(second_page["nextCursor"], Value::Null);
    for bad in ["view=yours", "status=open", "cursor=garbage", "limit=many"] {
        let response = server
            .call(
                Method::GET,
                &format!("/v1/agent/conversations?{bad}"),
                Some(&ana),
                None,
            )
            .await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    let missing = server
        .call(
            Method::GET,
            &format!("/v1/agent/conversations/{}", uuid::Uuid::now_v7()),
            Some(&ana),
            None,
        )
        .await;
    assert_eq!(error_code(missing, 404).await, "conversation_not_found");

    // The feed saw it all, live, and never a sessionId.
    let events = tokio::time::timeout(Duration::from_secs(10), feed)
        .await
        .expect("the agent feed delivers within seconds")
        .unwrap();
    assert_eq!(events[0].event, "ready");
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    for kind in ["message", "status", "escalated"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    for secret in [&session, &opening_key, &in_session_key] {
        assert!(events.iter().all(|e| !e.data.contains(secret.as_str())));
    }
    assert!(events.iter().all(|e| !e.data.contains("idempotency")));
    let claimed = events
        .iter()
        .find(|e| e.event == "status" && e.json()["assignee"] == ana_id.as_str())
        .expect("the claim is announced");
    assert_eq!(claimed.json()["conversationId"], id.as_str());
    assert!(events.iter().any(|e| {
        e.event == "message" && e.json()["message"]["text"] == "Hi, I'm Ana. How can I help?"
    }));
    assert!(events.iter().any(|e| {
        e.event == "typing" && e.json() == json!({"conversationId": id, "sender": "customer"})
    }));
    let noted = events
        .iter()
        .find(|e| e.event == "note")
        .expect("the note is announced live");
    assert_eq!(noted.json()["conversationId"], id.as_str());
    assert_eq!(noted.json()["note"]["text"], "VIP: refund without asking");

    // A customer writing after close reopens the same conversation.
    let again = server.say("Do you ship to Europe?", Some(&session)).await;
    assert_eq!(again["status"], "automated");
    assert_eq!(again["sessionId"], session.as_str());
    // An admin may close a conversation an agent holds.
    let (status, _) = server
        .post_as(
            &ana,
            &format!("/v1/agent/conversations/{id}/claim"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, closed) = server
        .post_as(
            &admin,
            &format!("/v1/agent/conversations/{id}/close"),
            json!({}),
        )
        .await;
    assert_eq!((status, closed["status"].as_str()), (200, Some("closed")));
    // A key that leaked anyway opens nothing: a key used inside a session
    // replays only there; without a session it starts a new conversation.
    let replay = server
        .post(
            "/v1/chat/message",
            json!({"message": "Hello? Anyone?", "idempotencyKey": in_session_key}),
        )
        .await;
    assert_eq!(replay.status(), 200);
    let replay: Value = replay.json().await.unwrap();
    assert_ne!(replay["sessionId"], session.as_str(), "{replay}");
    let weak = server
        .post(
            "/v1/chat/message",
            json!({"message": "Hello? Anyone?", "idempotencyKey": "k-1"}),
        )
        .await;
    assert_eq!(error_code(weak, 400).await, "invalid_idempotency_key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_on_sqlite() {
    handoff(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_on_postgres() {
    handoff(postgres_options().await).await;
}

/// An open agents' feed, read until the server closes it.
fn open_feed(
    server: &Server,
    token: &str,
) -> tokio::task::JoinHandle<Vec<super::support::SseEvent>> {
    let request = server
        .client
        .get(server.url("/v1/agent/events"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(30))
        .send();
    tokio::spawn(async move {
        let response = request.await.unwrap();
        assert_eq!(response.status(), 200);
        sse_events(response, |_| false).await
    })
}

/// The feed ends with `unauthorized` (and the connection closes) soon
/// after its sign-in ends; it never delivers anything after that.
async fn ends_unauthorized(feed: tokio::task::JoinHandle<Vec<super::support::SseEvent>>) {
    let events = tokio::time::timeout(Duration::from_secs(5), feed)
        .await
        .expect("the feed closes after its sign-in ends")
        .unwrap();
    assert_eq!(events.first().map(|e| e.event.as_str()), Some("ready"));
    assert_eq!(
        events.last().map(|e| e.event.as_str()),
        Some("unauthorized"),
        "{events:?}"
    );
}

/// Logout, a disabled account and expiry each end an open feed.
async fn revoked_feeds_end(options: Options) {
    let clock = std::sync::Arc::new(spur_core::clock::ManualClock::new(
        time::OffsetDateTime::now_utc(),
    ));
    let server = Server::start_with_clock(
        Options {
            token_ttl_secs: Some(600),
            ..options
        },
        clock.clone(),
    )
    .await;
    let admin = server.admin_token().await;
    let (ana_id, ana) = server.agent(&admin, "ana@shop.example").await;

    // Logout.
    let feed = open_feed(&server, &ana);
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.say("I want to talk to a human", None).await;
    let (status, _) = server.post_as(&ana, "/v1/auth/logout", json!({})).await;
    assert_eq!(status, 204);
    ends_unauthorized(feed).await;

    // Disabled by an admin.
    let ana = server.token("ana@shop.example", AGENT_PASSWORD).await;
    let feed = open_feed(&server, &ana);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let disabled = server
        .call(
            Method::PATCH,
            &format!("/v1/admin/agents/{ana_id}"),
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status(), 200);
    ends_unauthorized(feed).await;

    // Expired.
    let feed = open_feed(&server, &admin);
    tokio::time::sleep(Duration::from_millis(200)).await;
    clock.advance(Duration::from_secs(600));
    ends_unauthorized(feed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_feeds_end_on_sqlite() {
    revoked_feeds_end(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_feeds_end_on_postgres() {
    revoked_feeds_end(postgres_options().await).await;
}

/// A sign-out on one instance ends the feed open on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_elsewhere_ends_the_feed_here() {
    let options = || Options {
        jwt_secret: Some(String::from("a shared secret of at least 32 chars").into()),
        ..Options::default()
    };
    let shared = postgres_options().await;
    let one = Server::start(Options {
        database_url: shared.database_url.clone(),
        ..options()
    })
    .await;
    let two = Server::start(Options {
        database_url: shared.database_url.clone(),
        ..options()
    })
    .await;
    let admin = one.admin_token().await;
    let feed = open_feed(&one, &admin);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = two.post_as(&admin, "/v1/auth/logout", json!({})).await;
    assert_eq!(status, 204, "the token works on the other instance");
    ends_unauthorized(feed).await;
}

/// The inbox's views: mine, unassigned, waiting, bot, closed, all; rows
/// carry a preview of the newest message and, for those waiting, since when.
async fn inbox_views(options: Options) {
    let server = Server::start(options).await;
    let admin = server.admin_token().await;
    let (_, ana) = server.agent(&admin, "ana@shop.example").await;
    let session = |r: &Value| r["sessionId"].as_str().unwrap().to_string();
    let bot = session(&server.say("Do you ship to India?", None).await);
    let waiting = session(&server.say("I want to talk to a human", None).await);
    let held = session(&server.say("I want to talk to a person please", None).await);
    let ids = server
        .get_as(&admin, "/v1/agent/conversations?view=all")
        .await;
    assert!(bot != waiting && waiting != held);
    let rows = |v: &Value| -> Vec<String> {
        v["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = rows(&ids);
    assert_eq!(all.len(), 3, "{ids}");
    // Newest first: held, waiting, bot. Ana claims the newest.
    let (held_id, waiting_id, bot_id) = (all[0].clone(), all[1].clone(), all[2].clone());
    let (status, _) = server
        .post_as(
            &ana,
            &format!("/v1/agent/conversations/{held_id}/claim"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let view = |token: &str, view: &str| {
        let path = format!("/v1/agent/conversations?view={view}");
        let token = token.to_string();
        let server = &server;
        async move { rows(&server.get_as(&token, &path).await) }
    };
    assert_eq!(view(&ana, "mine").await, vec![held_id.clone()]);
    assert!(
        view(&admin, "mine").await.is_empty(),
        "the admin holds none"
    );
    let mut unassigned = view(&ana, "unassigned").await;
    unassigned.sort();
    let mut expected = vec![waiting_id.clone(), bot_id.clone()];
    expected.sort();
    assert_eq!(unassigned, expected);
    assert_eq!(view(&ana, "waiting").await, vec![waiting_id.clone()]);
    assert_eq!(view(&ana, "bot").await, vec![bot_id.clone()]);
    assert!(view(&ana, "closed").await.is_empty());

    // Rows: a preview of the newest message; waiting since the customer's
    // unanswered message, for those waiting only.
    let inbox = server
        .get_as(&ana, "/v1/agent/conversations?view=all")
        .await;
    let row = |id: &str| {
        inbox["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    let w = row(&waiting_id);
    assert!(w["waitingSince"].as_str().is_some(), "{w}");
    assert!(w["preview"].as_str().unwrap().len() > 10, "{w}");
    let b = row(&bot_id);
    assert!(b.get("waitingSince").is_none(), "answered by the bot: {b}");
    assert!(b["preview"].as_str().unwrap().contains("India"), "{b}");

    let r = server
        .call(
            Method::GET,
            "/v1/agent/conversations?view=everything",
            Some(&ana),
            None,
        )
        .await;
    assert_eq!(error_code(r, 400).await, "invalid_query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_views_on_sqlite() {
    inbox_views(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_views_on_postgres() {
    inbox_views(postgres_options().await).await;
}

/// Handing a conversation to a colleague: its owner may, or an admin;
/// another agent may not; only to an enabled account.
async fn reassigning(options: Options) {
    let server = Server::start(options).await;
    let admin = server.admin_token().await;
    let (ana_id, ana) = server.agent(&admin, "ana@shop.example").await;
    let (bo_id, bo) = server.agent(&admin, "bo@shop.example").await;
    let (cy_id, _) = server.agent(&admin, "cy@shop.example").await;
    server.say("I want to talk to a human", None).await;
    let inbox = server.get_as(&ana, "/v1/agent/conversations").await;
    let id = inbox["conversations"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let assign = |token: &str, to: &str| {
        let path = format!("/v1/agent/conversations/{id}/assign");
        let (token, body) = (token.to_string(), json!({"agentId": to}));
        let server = &server;
        async move { server.post_as(&token, &path, body).await }
    };
    // Nobody holds it yet: only an admin may hand it over.
    assert_eq!(assign(&bo, &bo_id).await.0, 409);
    let (status, _) = server
        .post_as(
            &ana,
            &format!("/v1/agent/conversations/{id}/claim"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    // Bo cannot take Ana's conversation this way.
    let (status, body) = assign(&bo, &bo_id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_claimed"))
    );
    // Ana hands it to Bo; Bo now holds it and may reply.
    let (status, body) = assign(&ana, &bo_id).await;
    assert_eq!(
        (status, body["assignee"].as_str()),
        (200, Some(bo_id.as_str())),
        "{body}"
    );
    let (status, _) = server
        .post_as(
            &bo,
            &format!("/v1/agent/conversations/{id}/reply"),
            json!({"text": "Bo here."}),
        )
        .await;
    assert_eq!(status, 200);
    // An admin gives it back to Ana.
    let (status, body) = assign(&admin, &ana_id).await;
    assert_eq!(
        (status, body["assignee"].as_str()),
        (200, Some(ana_id.as_str()))
    );
    // Only to an enabled account that exists.
    let (status, body) = assign(&ana, &uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("agent_not_found"))
    );
    let disabled = server
        .call(
            Method::PATCH,
            &format!("/v1/admin/agents/{cy_id}"),
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.status(), 200);
    let (status, _) = assign(&ana, &cy_id).await;
    assert_eq!(status, 404, "a disabled account takes nothing");
    let (status, body) = assign(&ana, "not-an-id").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_id"))
    );
    // Colleagues by name, enabled only, no addresses.
    let list = server.get_as(&bo, "/v1/agent/agents").await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "admin, ana and bo; cy is disabled: {list}");
    assert!(!list.to_string().contains('@'), "{list}");
    // Closed: nobody can hand it over.
    let (status, _) = server
        .post_as(
            &ana,
            &format!("/v1/agent/conversations/{id}/close"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(assign(&admin, &bo_id).await.0, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassigning_on_sqlite() {
    reassigning(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassigning_on_postgres() {
    reassigning(postgres_options().await).await;
}

/// Canned replies: any agent saves and lists them; an admin or whoever
/// saved one last deletes it; shortcuts and texts are checked.
async fn canned_replies(options: Options) {
    let server = Server::start(options).await;
    let admin = server.admin_token().await;
    let (_, ana) = server.agent(&admin, "ana@shop.example").await;
    let (_, bo) = server.agent(&admin, "bo@shop.example").await;
    let put = |token: &str, shortcut: &str, text: &str| {
        let (token, path) = (token.to_string(), format!("/v1/agent/canned/{shortcut}"));
        let body = json!({"text": text});
        let server = &server;
        async move {
            server
                .call(Method::PUT, &path, Some(&token), Some(body))
                .await
        }
    };
    let r = put(&ana, "returns", "Returns are free within 30 days.").await;
    assert_eq!(r.status(), 200);
    let saved: Value = r.json().await.unwrap();
    assert_eq!(saved["shortcut"], "returns");
    assert_eq!(put(&ana, "Bad%20one", "x").await.status(), 400);
    assert_eq!(
        error_code(put(&ana, "ok", "   ").await, 400).await,
        "empty_message"
    );
    let list = server.get_as(&bo, "/v1/agent/canned").await;
    assert_eq!(list[0]["text"], "Returns are free within 30 days.");
    // Bo may not delete Ana's; Ana and an admin may.
    let delete = |token: &str, shortcut: &str| {
        let (token, path) = (token.to_string(), format!("/v1/agent/canned/{shortcut}"));
        let server = &server;
        async move {
            server
                .call(Method::DELETE, &path, Some(&token), None)
                .await
                .status()
        }
    };
    assert_eq!(delete(&bo, "returns").await, 403);
    assert_eq!(delete(&ana, "returns").await, 204);
    assert_eq!(delete(&ana, "returns").await, 404);
    assert_eq!(put(&bo, "hello", "Hi! How can I help?").await.status(), 200);
    assert_eq!(delete(&admin, "hello").await, 204);
    assert_eq!(server.get_as(&ana, "/v1/agent/canned").await, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canned_replies_on_sqlite() {
    canned_replies(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canned_replies_on_postgres() {
    canned_replies(postgres_options().await).await;
}

/// The customer panel lists the same customer's other conversations (tied
/// by the address they left) and never another customer's; an admin
/// reopens a closed conversation and holds it, an agent may not, an open
/// one cannot be.
async fn customer_panel_and_reopening(options: Options) {
    let server = Server::start(options).await;
    let admin = server.admin_token().await;
    let (_, ana) = server.agent(&admin, "ana@shop.example").await;
    let address = format!("priya.{}@example.com", uuid::Uuid::new_v4().simple());
    let someone_else = format!("x{address}");
    for (text, email) in [
        ("Where is my order?", Some(address.as_str())),
        ("Do you ship to Spain?", Some(address.as_str())),
        ("Hello", Some(someone_else.as_str())),
        ("Hi there", None),
    ] {
        let said = server.say(text, None).await;
        if let Some(email) = email {
            let r = server
                .post(
                    "/v1/chat/email",
                    json!({"sessionId": said["sessionId"], "email": email.to_uppercase()}),
                )
                .await;
            assert_eq!(r.status(), 200);
        }
    }
    let inbox = server
        .get_as(&ana, "/v1/agent/conversations?view=all&limit=100")
        .await;
    let rows = inbox["conversations"].as_array().unwrap();
    let of = |email: Option<&str>| -> Vec<Value> {
        rows.iter()
            .filter(|r| r["contactEmail"].as_str() == email)
            .cloned()
            .collect()
    };
    let (priyas, anonymous) = (of(Some(&address)), of(None));
    assert_eq!(priyas.len(), 2, "{inbox}");
    // Newest first: the second question.
    let (newest, oldest) = (&priyas[0], &priyas[1]);
    let detail = |id: &Value| {
        let path = format!("/v1/agent/conversations/{}", id.as_str().unwrap());
        let (server, ana) = (&server, &ana);
        async move { server.get_as(ana, &path).await }
    };
    let panel = detail(&newest["id"]).await["customer"].clone();
    assert_eq!(panel["email"], address.as_str());
    assert_eq!(panel["channel"], "web");
    assert_eq!(panel["firstSeen"], oldest["createdAt"], "{panel}");
    let previous: Vec<&Value> = panel["previous"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(previous, vec![&oldest["id"]], "{panel}");
    assert_eq!(panel["more"], false);
    assert!(!panel.to_string().contains("sessionId"), "{panel}");
    let panel = detail(&oldest["id"]).await["customer"].clone();
    assert_eq!(panel["previous"][0]["id"], newest["id"]);
    assert_eq!(panel["previous"].as_array().unwrap().len(), 1);
    // Without an address, nobody else's conversations.
    let panel = detail(&anonymous[0]["id"]).await["customer"].clone();
    assert_eq!(panel["email"], Value::Null);
    assert_eq!(panel["previous"], json!([]));
    assert_eq!(panel["firstSeen"], anonymous[0]["createdAt"]);

    // Reopening.
    let id = oldest["id"].as_str().unwrap();
    let reopen = |token: &str, id: &str| {
        let path = format!("/v1/agent/conversations/{id}/reopen");
        let token = token.to_string();
        let server = &server;
        async move { server.post_as(&token, &path, json!({})).await }
    };
    let (status, body) = reopen(&admin, id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("invalid_state")),
        "an open conversation is not reopened"
    );
    let (status, _) = server
        .post_as(
            &admin,
            &format!("/v1/agent/conversations/{id}/close"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = reopen(&ana, id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let admin_id = server.get_as(&admin, "/v1/auth/me").await["id"].clone();
    let (status, body) = reopen(&admin, id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "agent");
    assert_eq!(body["assignee"], admin_id);
    let (status, _) = server
        .post_as(
            &admin,
            &format!("/v1/agent/conversations/{id}/reply"),
            json!({"text": "Your order left our warehouse today."}),
        )
        .await;
    assert_eq!(status, 200, "the admin holds it and writes");
    let (status, _) = reopen(&admin, &uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(status, 404);
    let (status, body) = reopen(&admin, "not-an-id").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_id"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_panel_and_reopening_on_sqlite() {
    customer_panel_and_reopening(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_panel_and_reopening_on_postgres() {
    customer_panel_and_reopening(postgres_options().await).await;
}
