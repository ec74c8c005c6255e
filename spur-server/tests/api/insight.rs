//! Feedback (`/v1/chat/feedback`, `/v1/chat/csat`) and analytics
//! (`/v1/admin/analytics`) over real TCP, on SQLite and PostgreSQL.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use spur_core::clock::ManualClock;
use spur_server::config::Options;

use crate::support::{Server, error_code, postgres_options, sqlite_options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_and_analytics_on_sqlite() {
    feedback_and_analytics(sqlite_options()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_and_analytics_on_postgres() {
    feedback_and_analytics(postgres_options().await).await;
}

async fn rate(server: &Server, body: Value) -> reqwest::Response {
    server.post("/v1/chat/feedback", body).await
}

async fn csat(server: &Server, body: Value) -> reqwest::Response {
    server.post("/v1/chat/csat", body).await
}

async fn analytics(server: &Server, token: &str, query: &str) -> Value {
    server
        .get_as(token, &format!("/v1/admin/analytics{query}"))
        .await
}

async fn feedback_and_analytics(options: Options) {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let server = Server::start_with_clock(options, clock.clone()).await;
    let admin = server.admin_token().await;

    // Three customers: one pleased, one not, one who asks for a person.
    let pleased = server.say("How do I return an item?", None).await;
    let displeased = server.say("How do I return an item?", None).await;
    let handed = server.say("I want to talk to a human", None).await;
    for turn in [&pleased, &displeased] {
        assert_eq!(turn["usedFallback"], false, "{turn}");
        assert!(turn["replyId"].is_string(), "{turn}");
    }
    assert!(
        handed["replyId"].is_null(),
        "a handoff has no reply: {handed}"
    );
    let session = |turn: &Value| turn["sessionId"].as_str().unwrap().to_string();
    let reply = |turn: &Value| turn["replyId"].as_str().unwrap().to_string();

    let up = json!({"sessionId": session(&pleased), "messageId": reply(&pleased), "rating": "up"});
    assert_eq!(rate(&server, up.clone()).await.status(), 204);
    assert_eq!(
        rate(&server, up).await.status(),
        204,
        "rated again: one rating"
    );
    // Up first, then changed to down: only the down counts.
    let mut down =
        json!({"sessionId": session(&displeased), "messageId": reply(&displeased), "rating": "up"});
    assert_eq!(rate(&server, down.clone()).await.status(), 204);
    down["rating"] = json!("down");
    down["comment"] = json!("  It did not say how long it takes.  ");
    assert_eq!(rate(&server, down).await.status(), 204);

    // Another customer's answer, one's own message, an unknown session.
    let theirs =
        json!({"sessionId": session(&pleased), "messageId": reply(&displeased), "rating": "down"});
    assert_eq!(
        error_code(rate(&server, theirs).await, 404).await,
        "message_not_found"
    );
    let own = json!({"sessionId": session(&pleased), "messageId": pleased["messageId"], "rating": "down"});
    assert_eq!(
        error_code(rate(&server, own).await, 404).await,
        "message_not_found"
    );
    let nobody =
        json!({"sessionId": uuid::Uuid::new_v4(), "messageId": reply(&pleased), "rating": "down"});
    assert_eq!(
        error_code(rate(&server, nobody).await, 404).await,
        "session_not_found"
    );
    // Malformed input.
    let bad_id = json!({"sessionId": session(&pleased), "messageId": "42", "rating": "up"});
    assert_eq!(
        error_code(rate(&server, bad_id).await, 400).await,
        "invalid_id"
    );
    let bad_rating =
        json!({"sessionId": session(&pleased), "messageId": reply(&pleased), "rating": "meh"});
    assert_eq!(rate(&server, bad_rating).await.status(), 422);
    let long = json!({"sessionId": session(&pleased), "messageId": reply(&pleased), "rating": "up", "comment": "x".repeat(1_001)});
    assert_eq!(
        error_code(rate(&server, long).await, 400).await,
        "comment_too_long"
    );

    // CSAT: nothing to rate before anyone answered; 1-5 only; changeable.
    let waiting = json!({"sessionId": session(&handed), "score": 4});
    assert_eq!(
        error_code(csat(&server, waiting).await, 409).await,
        "nothing_to_rate"
    );
    for score in [0, 6, -1] {
        let body = json!({"sessionId": session(&pleased), "score": score});
        assert_eq!(
            error_code(csat(&server, body).await, 400).await,
            "invalid_score"
        );
    }
    let fine = json!({"sessionId": session(&pleased), "score": 2});
    assert_eq!(csat(&server, fine).await.status(), 204);
    let better = json!({"sessionId": session(&pleased), "score": 5, "comment": "Quick!"});
    assert_eq!(csat(&server, better).await.status(), 204);
    let nobody = json!({"sessionId": uuid::Uuid::new_v4(), "score": 5});
    assert_eq!(
        error_code(csat(&server, nobody).await, 404).await,
        "session_not_found"
    );

    // Today: three conversations, none settled yet but the handoff.
    let now = analytics(&server, &admin, "").await;
    let totals = &now["totals"];
    assert_eq!(totals["conversations"], 3, "{now}");
    assert_eq!(totals["settled"], 1, "only the handoff is decided: {now}");
    assert_eq!(totals["handoffs"], 1);
    assert_eq!(totals["automatedResolutions"], 0);
    assert_eq!(
        totals["feedback"],
        json!({"up": 1, "down": 1, "bot": {"up": 1, "down": 1}, "agent": {"up": 0, "down": 0}})
    );
    assert_eq!(totals["csat"]["count"], 1);
    assert_eq!(totals["csat"]["average"], 5.0);
    assert_eq!(totals["csat"]["bot"]["count"], 1);
    assert_eq!(
        now["days"].as_array().unwrap().len(),
        30,
        "the last 30 days by default"
    );
    assert_eq!(now["timeZone"], "Asia/Kolkata", "the demo shop's days");

    // A day later the quiet ones are settled: the pleased customer's is
    // resolved by the assistant, the displeased one's is not.
    clock.advance(std::time::Duration::from_secs(25 * 3600));
    let admin = server.admin_token().await; // the morning's sign-in has expired
    let later = analytics(&server, &admin, "").await;
    let totals = &later["totals"];
    assert_eq!(totals["settled"], 3, "{later}");
    assert_eq!(totals["automatedResolutions"], 1);
    let rate = totals["automatedResolutionRate"].as_f64().unwrap();
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{rate}");
    let rate = totals["handoffRate"].as_f64().unwrap();
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{rate}");
    let started: i64 = later["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["conversations"].as_i64().unwrap())
        .sum();
    assert_eq!(started, 3);

    // A period without them, one channel, the CSV, and refused periods.
    let empty = analytics(&server, &admin, "?from=2020-01-01&to=2020-01-31").await;
    assert_eq!(empty["totals"]["conversations"], 0);
    assert_eq!(empty["days"].as_array().unwrap().len(), 31);
    let email = analytics(&server, &admin, "?channel=email").await;
    assert_eq!(email["totals"]["conversations"], 0);
    let csv = server
        .call(
            Method::GET,
            "/v1/admin/analytics?format=csv",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{:?}",
        csv.headers()
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 31, "a header and 30 days");
    assert!(lines[0].starts_with("day,conversations,settled,automated_resolutions"));
    // Any two dates make a period: swapped when backwards, the last 366
    // days of a longer one; the answer says which days were counted.
    let swapped = analytics(&server, &admin, "?from=2026-03-01&to=2026-02-01").await;
    assert_eq!(
        (&swapped["from"], &swapped["to"]),
        (&json!("2026-02-01"), &json!("2026-03-01"))
    );
    let long = analytics(&server, &admin, "?from=2024-01-01&to=2026-01-01").await;
    assert_eq!(long["from"], "2025-01-01");
    assert_eq!(long["days"].as_array().unwrap().len(), 366);
    let ancient = analytics(&server, &admin, "?from=0000-01-01&to=0000-01-02").await;
    assert_eq!(ancient["from"], "1970-01-01");
    let score = json!({"sessionId": session(&pleased), "score": 4.0});
    assert_eq!(csat(&server, score).await.status(), 204, "JSON's 4.0 is 4");
    let half = json!({"sessionId": session(&pleased), "score": 4.5});
    assert_eq!(
        error_code(csat(&server, half).await, 400).await,
        "invalid_score"
    );
    for (query, code) in [
        ("?from=yesterday", "invalid_query"),
        ("?from=2026-02-30", "invalid_query"),
        ("?format=xml", "invalid_query"),
    ] {
        let response = server
            .call(
                Method::GET,
                &format!("/v1/admin/analytics{query}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(error_code(response, 400).await, code, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_stops_the_model_calls_and_says_so() {
    use std::sync::atomic::Ordering;
    let (base, fake) = spur_core::testing::fake_openai::start().await.unwrap();
    let options = Options {
        openai_base_url: Some(base),
        openai_api_key: Some(String::from("sk-test").into()),
        openai_model: Some("good".into()),
        // 42 prompt tokens a call: about 45 cents.
        llm_price_input_per_mtok: Some(10_000.0),
        llm_price_output_per_mtok: Some(10_000.0),
        llm_budget_daily_usd: Some(1.0),
        ..sqlite_options()
    };
    let server = Server::start(options).await;
    let admin = server.admin_token().await;
    let mut paid = 0;
    for _ in 0..10 {
        let turn = server.say("Do you ship to India?", None).await;
        assert_eq!(turn["usedFallback"], false, "{turn}");
        assert!(turn["reply"].as_str().unwrap().contains("India"), "{turn}");
        if fake.calls.load(Ordering::SeqCst) == paid {
            break; // answered without the model
        }
        paid += 1;
    }
    assert!(
        (2..10).contains(&paid),
        "{paid} calls before the budget ran out"
    );
    server.say("Do you ship to India?", None).await;
    assert_eq!(
        fake.calls.load(Ordering::SeqCst),
        paid,
        "no more calls today"
    );

    let report = analytics(&server, &admin, "").await;
    let budget = &report["budget"];
    assert_eq!(budget["exceeded"], true, "{report}");
    assert!(
        budget["day"]["spentUsd"].as_f64().unwrap() >= 1.0,
        "{budget}"
    );
    assert_eq!(budget["day"]["limitUsd"], 1.0);
    assert_eq!(server.metric("spur_llm_budget_exceeded").await, 1.0);
    assert_eq!(
        server
            .metric("spur_llm_budget_limit_usd{period=\"day\"}")
            .await,
        1.0
    );
}

#[test]
fn a_budget_needs_prices_and_sane_amounts() {
    use spur_server::config::Settings;
    let load = |options: Options| Settings::load(options).map(|_| ()).unwrap_err().to_string();
    let budget = Options {
        llm_budget_daily_usd: Some(5.0),
        ..sqlite_options()
    };
    assert!(load(budget).contains("LLM_PRICE_INPUT_PER_MTOK"));
    let negative = Options {
        llm_budget_monthly_usd: Some(-1.0),
        llm_price_input_per_mtok: Some(1.0),
        ..sqlite_options()
    };
    assert!(load(negative).contains("LLM_BUDGET_MONTHLY_USD"));
    let mode = Options {
        llm_budget_daily_usd: Some(5.0),
        llm_price_input_per_mtok: Some(1.0),
        llm_budget_when_spent: Some("panic".into()),
        ..sqlite_options()
    };
    assert!(load(mode).contains("LLM_BUDGET_WHEN_SPENT"));
}
