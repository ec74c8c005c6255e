//! The tickets and users API (synchronous classification) on SQLite and
//! PostgreSQL: every endpoint, filter and error, the seed's unversioned
//! paths, tickets from conversations, `/v1/classify` and the live feed.

use reqwest::Method;
use serde_json::{Value, json};
use spur_core::testing::fake_openai;
use spur_server::config::Options;

use crate::support::{Server, error_code, postgres_options, sqlite_options, sse_events};

impl Server {
    async fn send_as(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let response = self.call(method, path, Some(token), body).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Files a ticket, expecting 201.
    async fn file(&self, token: &str, body: Value) -> Value {
        let (status, ticket) = self.post_as(token, "/v1/tickets", body).await;
        assert_eq!(status, 201, "{ticket}");
        ticket
    }
}

fn options(base: Options) -> Options {
    Options {
        classify_rate_limit: Some(3),
        ..base
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_and_users_on_sqlite() {
    exercise(Server::start(options(sqlite_options())).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_and_users_on_postgres() {
    exercise(Server::start(options(postgres_options().await)).await).await;
}

async fn exercise(server: Server) {
    let admin = server.admin_token().await;
    let (agent_id, agent) = server.agent(&admin, "ticket-agent@shop.example").await;
    for path in ["/v1/tickets", "/tickets", "/v1/users", "/users"] {
        let response = server.call(Method::GET, path, None, None).await;
        assert_eq!(error_code(response, 401).await, "unauthenticated", "{path}");
    }
    let response = server
        .call(
            Method::POST,
            "/v1/classify",
            Some("garbage"),
            Some(json!({"text": "hi"})),
        )
        .await;
    assert_eq!(error_code(response, 401).await, "invalid_token");

    let feed = server
        .call(Method::GET, "/v1/agent/events", Some(&agent), None)
        .await;
    assert_eq!(feed.status(), 200);

    let user = users(&server, &agent).await;
    let ticket = tickets(&server, &agent, &agent_id, &user).await;
    listing(&server, &agent, &user).await;
    from_conversations(&server, &agent).await;
    classify(&server, &agent, &admin).await;

    // The feed announced the ticket as filed (classified) and as updated.
    let events = sse_events(feed, |e| {
        e.event == "ticket" && e.data.contains("\"closed\"")
    })
    .await;
    let ticket_events: Vec<Value> = events
        .iter()
        .filter(|e| e.event == "ticket")
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .filter(|t: &Value| t["id"] == ticket)
        .collect();
    assert_eq!(ticket_events[0]["aiStatus"], "done");
    assert_eq!(ticket_events.last().unwrap()["status"], "closed");
}

/// Returns a user's id.
async fn users(server: &Server, agent: &str) -> String {
    let (status, ana) = server
        .post_as(
            agent,
            "/v1/users",
            json!({"name": " Ana Lima ", "email": "Ana@Example.com"}),
        )
        .await;
    assert_eq!(status, 201, "{ana}");
    assert_eq!(
        (ana["name"].as_str(), ana["email"].as_str()),
        (Some("Ana Lima"), Some("ana@example.com"))
    );
    let id = ana["id"].as_str().unwrap().to_string();
    assert_eq!(server.get_as(agent, &format!("/v1/users/{id}")).await, ana);
    assert_eq!(
        server.get_as(agent, &format!("/users/{id}")).await,
        ana,
        "the seed's path"
    );

    let (status, body) = server
        .post_as(
            agent,
            "/users",
            json!({"name": "Twin", "email": "ANA@example.com"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("email_taken"))
    );
    for (body, code) in [
        (
            json!({"name": "X", "email": "not-an-email"}),
            "invalid_field",
        ),
        (json!({"name": "X", "email": "a@b"}), "invalid_field"),
        (
            json!({"name": "  ", "email": "x@example.com"}),
            "invalid_field",
        ),
        (json!({"name": "X"}), "invalid_body"),
        (
            json!({"name": "X", "email": "x@example.com", "role": "admin"}),
            "invalid_body",
        ),
    ] {
        let (status, answer) = server.post_as(agent, "/v1/users", body.clone()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (422, Some(code)),
            "{body}"
        );
    }
    let response = server
        .client
        .post(server.url("/v1/users"))
        .bearer_auth(agent)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 400).await, "malformed_json");
    let (status, body) = server
        .send_as(Method::GET, agent, "/v1/users/not-a-uuid", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_id"))
    );
    let ghost = uuid::Uuid::now_v7();
    let (status, body) = server
        .send_as(Method::GET, agent, &format!("/v1/users/{ghost}"), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    // Paging, newest first.
    for i in 0..3 {
        let (status, _) = server
            .post_as(
                agent,
                "/v1/users",
                json!({"name": "U", "email": format!("u{i}@example.com")}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let first = server.get_as(agent, "/v1/users?limit=2").await;
    assert_eq!(first["users"][0]["email"], "u2@example.com");
    let cursor = first["nextCursor"].as_str().unwrap();
    let rest = server
        .get_as(agent, &format!("/v1/users?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(rest["users"].as_array().unwrap().len(), 2);
    assert_eq!(rest["users"][1]["email"], "ana@example.com");
    assert!(rest["nextCursor"].is_null());
    for query in ["limit=0", "limit=101", "cursor=garbage"] {
        let (status, body) = server
            .send_as(Method::GET, agent, &format!("/v1/users?{query}"), None)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_query")),
            "{query}"
        );
    }
    id
}

/// Files, reads and updates one ticket; returns its id.
async fn tickets(server: &Server, agent: &str, agent_id: &str, user: &str) -> String {
    let ticket = server
        .file(
            agent,
            json!({"title": "Charged twice", "description": "My invoice shows a double payment, please refund it",
                   "createdBy": user}),
        )
        .await;
    assert_eq!(
        ticket["aiStatus"], "done",
        "classified within the request: {ticket}"
    );
    assert_eq!(
        (ticket["category"].as_str(), ticket["aiSource"].as_str()),
        (Some("billing"), Some("local"))
    );
    assert!(ticket["aiConfidence"].as_f64().unwrap() > 0.0);
    assert_eq!(
        (ticket["status"].as_str(), ticket["createdBy"].as_str()),
        (Some("open"), Some(user))
    );
    assert!(ticket["conversationId"].is_null() && ticket["aiReason"].is_null());
    let id = ticket["id"].as_str().unwrap().to_string();
    assert_eq!(
        server.get_as(agent, &format!("/v1/tickets/{id}")).await,
        ticket
    );
    assert_eq!(
        server.get_as(agent, &format!("/tickets/{id}")).await,
        ticket
    );

    let seed = server
        .file(agent, json!({"title": "App crashes", "description": "The app crashes on login with an error"}))
        .await;
    assert_eq!(
        (seed["category"].as_str(), seed["createdBy"].as_str()),
        (Some("technical"), None)
    );
    let (status, _) = server
        .post_as(
            agent,
            "/tickets",
            json!({"title": "Seed path", "description": "Where is my order?"}),
        )
        .await;
    assert_eq!(status, 201, "the seed's path files too");

    let ghost = uuid::Uuid::now_v7();
    for (body, status, code) in [
        (
            json!({"title": "t", "description": "d", "createdBy": ghost}),
            404,
            "user_not_found",
        ),
        (
            json!({"title": "t", "description": "d", "createdBy": "nope"}),
            422,
            "invalid_field",
        ),
        (
            json!({"title": " ", "description": "d"}),
            422,
            "invalid_field",
        ),
        (
            json!({"title": "t".repeat(201), "description": "d"}),
            422,
            "invalid_field",
        ),
        (json!({"title": "t"}), 422, "invalid_body"),
        (
            json!({"title": "t", "description": "d", "category": "billing"}),
            422,
            "invalid_body",
        ),
        (
            json!({"title": "t", "description": "d", "conversationId": ghost}),
            404,
            "conversation_not_found",
        ),
    ] {
        let (got, answer) = server.post_as(agent, "/v1/tickets", body.clone()).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }
    let (status, body) = server
        .send_as(Method::GET, agent, &format!("/v1/tickets/{ghost}"), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    // An agent's override is kept and marked; closing is not an override.
    let path = format!("/v1/tickets/{id}");
    let (status, moved) = server
        .send_as(
            Method::PATCH,
            agent,
            &path,
            Some(json!({"category": "technical", "priority": "high"})),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        (moved["category"].as_str(), moved["priority"].as_str()),
        (Some("technical"), Some("high"))
    );
    assert_eq!(
        (
            moved["categoryOverridden"].as_bool(),
            moved["priorityOverridden"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert_eq!(moved["overriddenBy"].as_str(), Some(agent_id));
    assert_eq!(moved["aiStatus"], "done");
    // Nothing to change: the ticket as it is.
    for nothing in [json!({}), json!({"priority": null})] {
        let (status, same) = server
            .send_as(Method::PATCH, agent, &path, Some(nothing))
            .await;
        assert_eq!(status, 200);
        assert_eq!(same, moved);
    }
    for (body, code) in [
        (json!({"category": "astrology"}), "unknown_label"),
        (json!({"priority": "whenever"}), "unknown_label"),
        (json!({"status": "archived"}), "invalid_field"),
        (json!({"aiStatus": "done"}), "invalid_body"),
    ] {
        let (status, answer) = server
            .send_as(Method::PATCH, agent, &path, Some(body.clone()))
            .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (422, Some(code)),
            "{body}"
        );
    }
    let (status, _) = server
        .send_as(
            Method::PATCH,
            agent,
            &format!("/v1/tickets/{ghost}"),
            Some(json!({"status": "closed"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, closed) = server
        .send_as(
            Method::PATCH,
            agent,
            &format!("/tickets/{id}"),
            Some(json!({"status": "closed"})),
        )
        .await;
    assert_eq!((status, closed["status"].as_str()), (200, Some("closed")));
    assert_eq!(closed["category"], "technical");
    id
}

async fn listing(server: &Server, agent: &str, user: &str) {
    let mut filed = Vec::new();
    for i in 0..5 {
        let (title, description) = if i % 2 == 0 {
            (
                format!("Refund {i}"),
                "I was charged twice, refund 100% of it",
            )
        } else {
            (format!("Crash {i}"), "the app crashes with an error")
        };
        let ticket = server
            .file(
                agent,
                json!({"title": title, "description": description, "createdBy": user}),
            )
            .await;
        filed.push(ticket["id"].as_str().unwrap().to_string());
    }
    let mine = format!("/v1/tickets?createdBy={user}&limit=2&total=true");
    let first = server.get_as(agent, &mine).await;
    assert_eq!(first["total"], 6, "five here and the one filed before");
    let ids = |page: &Value| -> Vec<String> {
        page["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&first), vec![filed[4].clone(), filed[3].clone()]);
    // Filing in between does not shift the next page.
    server
        .file(
            agent,
            json!({"title": "Late", "description": "late", "createdBy": user}),
        )
        .await;
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = server
        .get_as(
            agent,
            &format!("/v1/tickets?createdBy={user}&limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(ids(&second), vec![filed[2].clone(), filed[1].clone()]);
    assert!(second.get("total").is_none(), "total only when asked");

    let count = |query: String| async move {
        server
            .get_as(
                agent,
                &format!("/v1/tickets?createdBy={user}&total=true&{query}"),
            )
            .await["total"]
            .clone()
    };
    assert_eq!(
        count("category=billing".into()).await,
        3,
        "the first was moved to technical"
    );
    assert_eq!(
        count("category=technical".into()).await,
        3,
        "two crashes and the override"
    );
    assert_eq!(count("category=technical&status=closed".into()).await, 1);
    assert_eq!(count("status=open&aiStatus=done".into()).await, 6);
    assert_eq!(count("aiStatus=fallback".into()).await, 0);
    // Charged twice is money taken wrongly: high; crashes and lateness medium.
    assert_eq!(count("priority=high".into()).await, 4);
    assert_eq!(count("priority=medium".into()).await, 3);
    assert_eq!(count("q=REFUND%20100%25".into()).await, 3);
    assert_eq!(count("q=crash%203".into()).await, 1);
    for query in [
        "category=astrology",
        "priority=soon",
        "status=archived",
        "aiStatus=maybe",
        "createdBy=nope",
        "limit=500",
        "cursor=12.x",
    ] {
        let (status, body) = server
            .send_as(Method::GET, agent, &format!("/v1/tickets?{query}"), None)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_query")),
            "{query}"
        );
    }

    // Deleting the user keeps their tickets, with createdBy null.
    let (status, _) = server
        .send_as(Method::DELETE, agent, &format!("/v1/users/{user}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .send_as(Method::DELETE, agent, &format!("/users/{user}"), None)
        .await;
    assert_eq!(status, 404);
    let kept = server
        .get_as(agent, &format!("/v1/tickets/{}", filed[0]))
        .await;
    assert!(kept["createdBy"].is_null(), "{kept}");
    assert_eq!(kept["title"], "Refund 0");
}

async fn from_conversations(server: &Server, agent: &str) {
    let first = server
        .say(
            "I was charged twice for order 1042. I want a refund of the second charge",
            None,
        )
        .await;
    let session = first["sessionId"].as_str().unwrap();
    server
        .say("Can I talk to a human please?", Some(session))
        .await;
    let inbox = server
        .get_as(agent, "/v1/agent/conversations?q=order%201042")
        .await;
    let conversation = inbox["conversations"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/conversations/{conversation}/ticket");
    let (status, ticket) = server.post_as(agent, &path, json!({})).await;
    assert_eq!(status, 201, "{ticket}");
    assert_eq!(ticket["title"], "I was charged twice for order 1042.");
    let description = ticket["description"].as_str().unwrap();
    assert!(
        description.starts_with("Customer: I was charged twice for order 1042."),
        "{description}"
    );
    assert!(
        description.contains("Customer: Can I talk to a human please?"),
        "{description}"
    );
    assert_eq!(
        ticket["conversationId"].as_str(),
        Some(conversation.as_str())
    );
    assert_eq!(
        (ticket["category"].as_str(), ticket["aiStatus"].as_str()),
        (Some("billing"), Some("done"))
    );
    let (status, body) = server.post_as(agent, &path, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("ticket_exists"))
    );
    let filter = server
        .get_as(agent, &format!("/v1/tickets?q={}", "order%201042"))
        .await;
    assert_eq!(filter["tickets"][0]["id"], ticket["id"]);
    let by_conversation = server
        .get_as(
            agent,
            &format!("/v1/tickets?conversationId={conversation}&total=true"),
        )
        .await;
    assert_eq!(
        (
            by_conversation["tickets"][0]["id"].clone(),
            by_conversation["total"].clone()
        ),
        (ticket["id"].clone(), json!(1))
    );
    let other = uuid::Uuid::now_v7();
    let none = server
        .get_as(agent, &format!("/v1/tickets?conversationId={other}"))
        .await;
    assert_eq!(none["tickets"], json!([]));
    let (status, _) = server
        .send_as(Method::GET, agent, "/v1/tickets?conversationId=nope", None)
        .await;
    assert_eq!(status, 400);
    let ghost = uuid::Uuid::now_v7();
    let (status, body) = server
        .post_as(
            agent,
            &format!("/v1/conversations/{ghost}/ticket"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("conversation_not_found"))
    );
    let (status, body) = server
        .post_as(agent, "/v1/conversations/nope/ticket", json!({}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_id"))
    );
}

async fn classify(server: &Server, agent: &str, admin: &str) {
    let before = server.get_as(agent, "/v1/tickets?total=true&limit=1").await["total"].clone();
    let (status, c) = server
        .post_as(
            agent,
            "/v1/classify",
            json!({"text": "The app crashes every time I open my invoices"}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        (c["category"].as_str(), c["source"].as_str()),
        (Some("technical"), Some("local"))
    );
    assert!(c["confidence"].as_f64().unwrap() > 0.0);
    let (status, body) = server
        .post_as(agent, "/v1/classify", json!({"text": "  "}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_field"))
    );
    // CLASSIFY_RATE_LIMIT=3 per agent per minute: the fourth is refused.
    let (status, _) = server
        .post_as(agent, "/v1/classify", json!({"text": "hello"}))
        .await;
    assert_eq!(status, 200);
    let response = server
        .call(
            Method::POST,
            "/v1/classify",
            Some(agent),
            Some(json!({"text": "hello"})),
        )
        .await;
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(error_code(response, 429).await, "rate_limited");
    let (status, _) = server
        .post_as(admin, "/v1/classify", json!({"text": "hello"}))
        .await;
    assert_eq!(status, 200, "each agent has their own allowance");
    let after = server.get_as(agent, "/v1/tickets?total=true&limit=1").await["total"].clone();
    assert_eq!(before, after, "classify stores nothing");
}

/// With a model configured, tickets are classified and summarised by it;
/// a slow or failing model records the fallback, never fails the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_classifies_and_a_failing_one_falls_back() {
    let (base, fake) = fake_openai::start().await.unwrap();
    let with_model = |model: &str, timeout_ms: u64| Options {
        openai_base_url: Some(base.clone()),
        openai_model: Some(model.into()),
        ai_timeout_ms: Some(timeout_ms),
        ..sqlite_options()
    };
    let server = Server::start(with_model("tickets", 5_000)).await;
    let agent = server.admin_token().await;
    let ticket = server
        .file(
            agent.as_str(),
            json!({"title": "Help", "description": "Something about my account"}),
        )
        .await;
    assert_eq!(ticket["aiStatus"], "done");
    assert_eq!(
        (ticket["category"].as_str(), ticket["priority"].as_str()),
        (Some("billing"), Some("high"))
    );
    assert_eq!(
        (ticket["aiSource"].as_str(), ticket["aiConfidence"].as_f64()),
        (Some("llm"), Some(0.9))
    );
    let sent = fake.last_body.lock().unwrap().clone().unwrap();
    assert_eq!(sent["response_format"]["type"], "json_object", "{sent}");
    assert!(
        sent["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("Something about my account")
    );

    let first = server.say("I was charged twice", None).await;
    let session = first["sessionId"].as_str().unwrap();
    server.say("I need a human", Some(session)).await;
    let inbox = server.get_as(&agent, "/v1/agent/conversations").await;
    let id = inbox["conversations"][0]["id"].as_str().unwrap();
    let (status, ticket) = server
        .post_as(&agent, &format!("/v1/conversations/{id}/ticket"), json!({}))
        .await;
    assert_eq!(status, 201, "{ticket}");
    assert_eq!(
        ticket["title"], "Refund for a double charge",
        "the model's summary"
    );
    assert!(
        ticket["description"]
            .as_str()
            .unwrap()
            .contains("charged twice")
    );

    for (model, timeout_ms, reason) in [
        ("slow", 500, "ai_timeout"),
        ("broken", 10_000, "llm_upstream_error"),
        ("malformed", 10_000, "llm_invalid_response"),
    ] {
        let server = Server::start(with_model(model, timeout_ms)).await;
        let token = server.admin_token().await;
        let started = std::time::Instant::now();
        let ticket = server
            .file(
                &token,
                json!({"title": "Refund", "description": "charged twice"}),
            )
            .await;
        if model == "slow" {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(2),
                "AI_TIMEOUT_MS bounds the wait"
            );
        }
        assert_eq!(ticket["aiStatus"], "fallback", "{model}: {ticket}");
        assert_eq!(
            (ticket["category"].as_str(), ticket["priority"].as_str()),
            (Some("general"), Some("medium"))
        );
        assert_eq!(
            (ticket["aiConfidence"].as_f64(), ticket["aiReason"].as_str()),
            (Some(0.0), Some(reason)),
            "{model}"
        );
        let (status, c) = server
            .post_as(&token, "/v1/classify", json!({"text": "charged twice"}))
            .await;
        assert_eq!(
            (status, c["source"].as_str()),
            (200, Some("fallback")),
            "{model}"
        );
    }
}
