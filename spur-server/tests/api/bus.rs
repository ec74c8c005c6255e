//! Live events across instances: two servers on one PostgreSQL database
//! and one Redis with `EVENT_BUS=redis`. What an agent does on one reaches
//! the feeds open on the other, without a reload.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use spur_server::config::Options;

use super::support::{Server, own_redis, postgres_options, redis_url, sqlite_options, sse_events};

/// Two instances sharing a database, Redis and a stream of the test's own
/// (its name returned).
async fn two_instances(bus: &str) -> (Server, Server, String) {
    two_instances_on(bus, redis_url()).await
}

fn nats_url() -> String {
    std::env::var("SPUR_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

async fn two_instances_on(bus: &str, redis: String) -> (Server, Server, String) {
    let database_url = postgres_options().await.database_url;
    let stream = format!("spur-test-events-{}", uuid::Uuid::new_v4().simple());
    let options = || Options {
        database_url: database_url.clone(),
        redis_url: Some(redis.clone()),
        nats_url: Some(nats_url()),
        event_bus: Some(bus.into()),
        event_bus_stream: Some(stream.clone()),
        // Sign-in limits would be shared through Redis with every other
        // test signing in from 127.0.0.1: not what this test is about.
        login_rate_limit: Some(0),
        ..sqlite_options()
    };
    (
        Server::start(options()).await,
        Server::start(options()).await,
        stream,
    )
}

/// A customer on `a` who asked for a person, and Ana, an agent signed in
/// on `b`, who sees the conversation there.
struct Waiting {
    session: String,
    conversation: String,
    ana: String,
    email: String,
}

async fn customer_waits(a: &Server, b: &Server) -> Waiting {
    let admin = b.admin_token().await;
    let email = format!("ana-{}@shop.example", uuid::Uuid::new_v4().simple());
    let (_, ana) = b.agent(&admin, &email).await;
    let first = a.say("I want to talk to a human please", None).await;
    assert_eq!(first["status"], "agent", "{first}");
    let inbox = b.get_as(&ana, "/v1/agent/conversations?status=agent").await;
    Waiting {
        session: first["sessionId"].as_str().unwrap().to_string(),
        conversation: inbox["conversations"][0]["id"]
            .as_str()
            .unwrap()
            .to_string(),
        ana,
        email,
    }
}

/// Ana acts on the conversation on `b` (`claim`, `typing`, `reply`): the status.
async fn agent_does(b: &Server, waiting: &Waiting, action: &str, body: Value) -> u16 {
    let path = format!("/v1/agent/conversations/{}/{action}", waiting.conversation);
    b.post_as(&waiting.ana, &path, body).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_one_instance_reaches_a_customer_on_another() {
    let (a, b, _) = two_instances("redis").await;
    let waiting = agent_on_b_reaches_customer_on_a(&a, &b).await;

    // What crossed the bus names the conversation, never the customer's
    // session id (their secret).
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let streams: Vec<String> = redis::cmd("KEYS")
        .arg("spur-test-events-*")
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut crossed = String::new();
    for stream in streams {
        let entries: redis::Value = redis::cmd("XRANGE")
            .arg(&stream)
            .arg("-")
            .arg("+")
            .query_async(&mut redis)
            .await
            .unwrap();
        crossed.push_str(&format!("{entries:?}"));
    }
    assert!(
        crossed.contains(&waiting.conversation),
        "the events are there"
    );
    assert!(
        !crossed.contains(&waiting.session),
        "no session id on the bus"
    );
}

/// The same across NATS JetStream (`EVENT_BUS=nats`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_one_instance_reaches_a_customer_on_another_over_nats() {
    let (a, b, stream) = two_instances("nats").await;
    let waiting = agent_on_b_reaches_customer_on_a(&a, &b).await;

    // The JetStream stream holds the events, by conversation, without the
    // customer's session id.
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let mut held = js.get_stream(&stream).await.unwrap();
    let info = held.info().await.unwrap().clone();
    assert!(info.state.messages >= 3, "{:?}", info.state);
    let mut crossed = String::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        let message = held.get_raw_message(seq).await.unwrap();
        crossed.push_str(&String::from_utf8_lossy(&message.payload));
    }
    assert!(crossed.contains(&waiting.conversation), "{crossed}");
    assert!(
        !crossed.contains(&waiting.session),
        "no session id on the bus"
    );
    js.delete_stream(&stream).await.unwrap();
}

/// Ana claims, types and replies on `b`; the customer's feed and her
/// agents' feed, both open on `a`, hear all of it.
async fn agent_on_b_reaches_customer_on_a(a: &Server, b: &Server) -> Waiting {
    // The customer writes to instance A and waits there.
    let waiting = customer_waits(a, b).await;
    let customer = a.get(&format!("/v1/chat/events/{}", waiting.session)).await;
    assert_eq!(customer.status(), 200);
    let customer = tokio::spawn(sse_events(customer, |e| {
        e.event == "message" && e.json()["sender"] == "agent"
    }));
    // Ana's agents' feed is open on A too.
    let ana_on_a = a
        .token(&waiting.email, super::support::AGENT_PASSWORD)
        .await;
    let agents = a
        .call(Method::GET, "/v1/agent/events", Some(&ana_on_a), None)
        .await;
    assert_eq!(agents.status(), 200);
    let agents = tokio::spawn(sse_events(agents, |e| {
        e.event == "message" && e.json()["message"]["sender"] == "agent"
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Ana works on instance B.
    assert_eq!(agent_does(b, &waiting, "claim", json!({})).await, 200);
    assert_eq!(agent_does(b, &waiting, "typing", json!({})).await, 204);
    let text = json!({"text": "Hello from the other instance"});
    assert_eq!(agent_does(b, &waiting, "reply", text).await, 200);

    let seen = tokio::time::timeout(Duration::from_secs(10), customer)
        .await
        .expect("the customer's feed on A hears the reply made on B")
        .unwrap();
    let names: Vec<&str> = seen.iter().map(|e| e.event.as_str()).collect();
    assert!(names.contains(&"typing"), "{names:?}");
    assert!(names.contains(&"status"), "the claim: {names:?}");
    assert_eq!(
        seen.last().unwrap().json()["text"],
        "Hello from the other instance"
    );
    let seen = tokio::time::timeout(Duration::from_secs(10), agents)
        .await
        .expect("the agents' feed on A hears it too")
        .unwrap();
    assert!(
        seen.iter().any(|e| e.event == "status"),
        "the claim on B: {seen:?}"
    );

    // Each instance counts how late the other's events arrive.
    assert!(a.metric("spur_event_bus_lag_seconds_count").await >= 1.0);
    waiting
}

/// An unreachable Redis stops the start: an operator who asked for a
/// shared bus must not get a silent single-instance one.
#[tokio::test]
async fn a_bus_without_redis_is_refused() {
    let settings = spur_server::config::Settings::load(Options {
        event_bus: Some("redis".into()),
        ..sqlite_options()
    });
    let error = settings.expect_err("EVENT_BUS=redis needs REDIS_URL");
    assert!(error.to_string().contains("EVENT_BUS"), "{error}");
    let settings = spur_server::config::Settings::load(Options {
        event_bus: Some("redis".into()),
        redis_url: Some("redis://127.0.0.1:9".into()),
        redis_timeout_ms: Some(300),
        ..sqlite_options()
    })
    .unwrap();
    let started =
        spur_server::setup::state(&settings, tokio_util::sync::CancellationToken::new()).await;
    assert!(
        started.is_err(),
        "the start fails when Redis is unreachable"
    );
}

/// `EVENT_BUS=nats` needs a NATS server with JetStream, a NATS URL and a
/// stream name JetStream accepts; a server that is not there stops the start.
#[tokio::test]
async fn a_nats_bus_without_nats_is_refused() {
    let load = |nats: Option<&str>, stream: Option<&str>| {
        spur_server::config::Settings::load(Options {
            event_bus: Some("nats".into()),
            nats_url: nats.map(String::from),
            event_bus_stream: stream.map(String::from),
            ..sqlite_options()
        })
    };
    let error = load(None, None).expect_err("EVENT_BUS=nats needs NATS_URL");
    assert!(error.to_string().contains("NATS_URL"), "{error}");
    let error = load(Some("http://127.0.0.1:4222"), None).expect_err("not a NATS URL");
    assert!(error.to_string().contains("NATS_URL"), "{error}");
    let error = load(Some("nats://127.0.0.1:4222"), Some("spur.events")).expect_err("a dot");
    assert!(error.to_string().contains("EVENT_BUS_STREAM"), "{error}");
    let settings = load(Some("nats://user:pw-8c1f@127.0.0.1:9"), None).unwrap();
    // Its credentials never reach the logs.
    assert!(!format!("{settings:?}").contains("pw-8c1f"));
    let started =
        spur_server::setup::state(&settings, tokio_util::sync::CancellationToken::new()).await;
    assert!(started.is_err(), "the start fails when NATS is unreachable");
}

/// Redis dies between two agent replies: the reply sent meanwhile does not
/// reach the other instance live, and arrives there (from the store) with
/// the next one once Redis is back. Latency, never a lost message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_outage_costs_latency_never_a_message() {
    let port = super::support::free_port();
    let redis = own_redis(port).await;
    let (a, b, _) = two_instances_on("redis", format!("redis://127.0.0.1:{port}")).await;
    let waiting = customer_waits(&a, &b).await;
    assert_eq!(agent_does(&b, &waiting, "claim", json!({})).await, 200);
    let customer = a.get(&format!("/v1/chat/events/{}", waiting.session)).await;
    let customer = tokio::spawn(sse_events(customer, |e| {
        e.event == "message" && e.json()["text"] == "Second, after the outage"
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;

    drop(redis);
    let reply = |text: &str| agent_does(&b, &waiting, "reply", json!({ "text": text }));
    assert_eq!(reply("First, during the outage").await, 200);

    let _redis = own_redis(port).await;
    // The reader reconnects within a second or two; until then a reply
    // would be missed live too, so this one is sent after a pause.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(reply("Second, after the outage").await, 200);
    let seen = tokio::time::timeout(Duration::from_secs(15), customer)
        .await
        .expect("the customer's feed on A hears the reply made after the outage")
        .unwrap();
    let texts: Vec<String> = seen
        .iter()
        .filter(|e| e.event == "message")
        .map(|e| e.json()["text"].as_str().unwrap_or_default().to_string())
        .collect();
    let during = texts.iter().position(|t| t == "First, during the outage");
    let after = texts.iter().position(|t| t == "Second, after the outage");
    assert!(
        during.is_some() && during < after,
        "both replies, in order: {texts:?}"
    );
    // Both servers share this test process's metrics registry.
    assert!(
        a.metric("spur_event_bus_errors_total{op=\"read\"}").await >= 1.0,
        "the outage is counted"
    );
}
