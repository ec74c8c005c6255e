//! The admin log: every reply with what produced it, filters, totals and cost.

use reqwest::Method;
use serde_json::Value;
use spur_core::testing::fake_openai;
use spur_server::config::Options;

use super::support::{Server, error_code, sqlite_options};

fn with_llm(database: &Options, base: &str, model: &str) -> Options {
    Options {
        openai_base_url: Some(base.to_string()),
        openai_api_key: Some(String::from("sk-test").into()),
        openai_model: Some(model.into()),
        llm_timeout_ms: Some(2_000),
        llm_price_input_per_mtok: Some(0.15),
        llm_price_output_per_mtok: Some(0.60),
        database_url: database.database_url.clone(),
        ..sqlite_options()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_see_every_reply_with_its_cost() {
    let (base, _fake) = fake_openai::start().await.unwrap();
    let database = sqlite_options();
    // Two answered turns, then (same database) an LLM that returns garbage.
    let good = Server::start(with_llm(&database, &base, "good")).await;
    let first = good.say("Where do you ship?", None).await;
    let session = first["sessionId"].as_str().unwrap().to_string();
    good.say("And returns?", Some(&session)).await;
    good.say("Another customer here", None).await;
    good.shutdown.cancel();
    let server = Server::start(with_llm(&database, &base, "malformed")).await;
    let failed = server.say("Is anyone there?", Some(&session)).await;
    assert_eq!(failed["usedFallback"], true);

    let admin = server.admin_token().await;
    let all = server.get_as(&admin, "/v1/admin/logs").await;
    let entries = all["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "{all}");
    let newest = &entries[0];
    assert_eq!(newest["usedFallback"], true);
    assert_eq!(newest["errorCode"], "llm_invalid_response");
    let answered = &entries[1];
    assert_eq!(answered["provider"], "openai");
    assert_eq!(answered["model"], "fake-model", "the model that answered");
    assert_eq!(
        (
            answered["tokensIn"].as_i64(),
            answered["tokensOut"].as_i64()
        ),
        (Some(42), Some(7))
    );
    assert!(answered["latencyMs"].is_u64());
    assert!(answered["replyTo"].is_string());
    let shipping = &entries[3];
    assert!(
        !shipping["passages"].as_array().unwrap().is_empty(),
        "the passages the answer was grounded in: {shipping}"
    );
    let totals = &all["totals"];
    assert_eq!(totals["replies"], 4);
    assert_eq!(totals["fallbacks"], 1);
    assert_eq!(totals["tokensIn"], 3 * 42);
    assert_eq!(totals["tokensOut"], 3 * 7);
    let cost = totals["costUsd"].as_f64().unwrap();
    let expected = (126.0 * 0.15 + 21.0 * 0.60) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");

    // One conversation's totals.
    let conversation = newest["conversationId"].as_str().unwrap();
    let one = server
        .get_as(
            &admin,
            &format!("/v1/admin/logs?conversation={conversation}"),
        )
        .await;
    assert_eq!(one["totals"]["replies"], 3);
    assert!(
        one["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["conversationId"] == conversation)
    );

    // Fallbacks only; a time window; pages.
    let fallbacks = server.get_as(&admin, "/v1/admin/logs?fallbacks=true").await;
    assert_eq!(fallbacks["entries"].as_array().unwrap().len(), 1);
    let since = newest["createdAt"].as_str().unwrap();
    let window = server
        .get_as(
            &admin,
            &format!("/v1/admin/logs?since={}", since.replace('+', "%2B")),
        )
        .await;
    assert_eq!(window["entries"].as_array().unwrap().len(), 1);
    let mut seen = Vec::new();
    let mut path = "/v1/admin/logs?limit=3".to_string();
    loop {
        let page: Value = server.get_as(&admin, &path).await;
        for e in page["entries"].as_array().unwrap() {
            seen.push(e["id"].as_str().unwrap().to_string());
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/v1/admin/logs?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let ids: Vec<String> = entries
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ids, "pages cover the log once, in order");

    for bad in [
        "since=yesterday",
        "conversation=42",
        "cursor=nope",
        "fallbacks=maybe",
    ] {
        let response = server
            .call(
                Method::GET,
                &format!("/v1/admin/logs?{bad}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    let (_, agent) = server.agent(&admin, "ana@shop.example").await;
    let response = server
        .call(Method::GET, "/v1/admin/logs", Some(&agent), None)
        .await;
    assert_eq!(error_code(response, 403).await, "forbidden");
}
