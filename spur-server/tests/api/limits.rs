//! Rate limits in process, shared through real Redis, and behind proxies.

use std::time::Duration;

use serde_json::{Value, json};
use spur_server::config::Options;

use super::support::{Server, error_code, redis_url, sqlite_options};

fn limited(per_ip: u32, per_session: u32) -> Options {
    Options {
        rate_limit_per_ip: Some(per_ip),
        rate_limit_per_session: Some(per_session),
        ..sqlite_options()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_limit_answers_429_with_standard_headers() {
    let server = Server::start(limited(3, 0)).await;
    for left in ["2", "1", "0"] {
        let r = server
            .post(
                "/v1/chat/message",
                json!({"message": "Do you ship to India?"}),
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["ratelimit-limit"], "3");
        assert_eq!(r.headers()["ratelimit-remaining"], left);
    }
    let r = server
        .post(
            "/v1/chat/message",
            json!({"message": "Do you ship to India?"}),
        )
        .await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    assert_eq!(r.headers()["ratelimit-remaining"], "0");
    assert_eq!(error_code(r, 429).await, "rate_limited");
    // Probes and history are not charged.
    assert_eq!(server.get("/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_session_limit_is_separate_from_new_conversations() {
    let server = Server::start(limited(100, 2)).await;
    let limited_series = "spur_rate_limited_total{rule=\"session\"}";
    let before = server.metric(limited_series).await;
    let first = server.say("Do you ship to India?", None).await;
    let session = first["sessionId"].as_str().unwrap();
    for _ in 0..2 {
        server
            .say("How long does delivery take?", Some(session))
            .await;
    }
    let r = server
        .post(
            "/v1/chat/message",
            json!({"message": "and returns?", "sessionId": session}),
        )
        .await;
    assert_eq!(error_code(r, 429).await, "rate_limited");
    // Another conversation from the same IP is still fine.
    server.say("Do you ship to Europe?", None).await;
    assert_eq!(server.metric(limited_series).await - before, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_limits_are_shared_by_two_instances() {
    let prefix = format!("spur-test-{}", uuid::Uuid::new_v4().simple());
    let mut servers = Vec::new();
    for _ in 0..2 {
        let settings = spur_server::config::Settings::load(Options {
            redis_url: Some(redis_url()),
            ..limited(4, 0)
        })
        .unwrap();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let mut state = spur_server::setup::state(&settings, shutdown.clone())
            .await
            .expect("Redis must be reachable (SPUR_TEST_REDIS_URL or 127.0.0.1:6379)");
        let link = spur_server::redis_link::RedisLink::connect(
            &redis_url(),
            std::time::Duration::from_millis(200),
        )
        .await
        .unwrap();
        let limiter = spur_server::limit::RedisLimiter::new(link, settings.limits.clone())
            .with_prefix(prefix.clone());
        state.limiter = std::sync::Arc::new(limiter);
        servers.push(Server::serve(state, shutdown).await);
    }
    let mut statuses = Vec::new();
    for i in 0..6 {
        let r = servers[i % 2]
            .post(
                "/v1/chat/message",
                json!({"message": "Do you ship to India?"}),
            )
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 429, 429]);
}

/// A real Redis of the test's own, killed while the server runs: chat
/// answers stay prompt, limits stay on (counted per instance), `/readyz`
/// says degraded and the metrics say why; when Redis is back, so is sharing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_dies_costs_latency_nothing_and_limits_stay_on() {
    let port = super::support::free_port();
    let redis = super::support::own_redis(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let server = Server::start(Options {
        redis_url: Some(url.clone()),
        ..limited(5, 0)
    })
    .await;
    // A hang guard, not a speed claim: a dead Redis once cost 9.4 s a message.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let say = || {
        client
            .post(server.url("/v1/chat/message"))
            .json(&json!({"message": "Do you ship to India?"}))
            .send()
    };
    assert_eq!(say().await.unwrap().status(), 200);
    let ready: Value = server.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["dependencies"]["redis"], "ok");

    drop(redis);
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(say().await.expect("answered promptly").status().as_u16());
    }
    // This instance counts alone now: five more, then refused.
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 429, 429]);
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status(), 200, "degraded, still serving");
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["dependencies"]["redis"], "unreachable");
    let metrics = server.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("spur_dependency_up{dependency=\"redis\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("spur_rate_limit_errors_total"),
        "{metrics}"
    );

    // Back: after the breaker's cool-off, the shared count resumes.
    let _redis = super::support::own_redis(port).await;
    let back = async {
        loop {
            let ready: Value = server.get_json("/readyz").await;
            if ready["status"] == "ready" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), back)
        .await
        .expect("ready again once Redis is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_behind_trusted_proxies() {
    // Untrusted: X-Forwarded-For is ignored, so rotating it does not escape the limit.
    let server = Server::start(limited(2, 0)).await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let r = server
            .client
            .post(server.url("/v1/chat/message"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"message": "Do you ship to India?"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 429]);

    // Behind a trusted proxy (loopback here), each forwarded client has its own budget.
    let server = Server::start(Options {
        trusted_proxies: Some(vec!["127.0.0.1".into()]),
        ..limited(2, 0)
    })
    .await;
    let mut statuses = Vec::new();
    for ip in ["203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.2"] {
        let r = server
            .client
            .post(server.url("/v1/chat/message"))
            .header("x-forwarded-for", format!("198.51.100.9, {ip}"))
            .json(&json!({"message": "Do you ship to India?"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 429, 200]);
}
