//! Three real server processes behind a real HAProxy (`deploy/haproxy.cfg`),
//! on one PostgreSQL database and one Redis, as an operator runs them. One
//! instance is killed outright and another stopped gracefully while
//! customers keep writing, and all three are restarted in turn: every
//! message is answered and stored exactly once, and a live feed moved from
//! instance to instance sees every message once, in order.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Process, free_port, json_of, own_redis, postgres_options,
    sse_events, wait_ready,
};

const CUSTOMERS: usize = 6;
/// What each customer asks, one a round (the demo knowledge answers all).
const QUESTIONS: [&str; 9] = [
    "Do you ship to India?",
    "how long does delivery take?",
    "what's your return policy",
    "how do refunds work?",
    "When is support open?",
    "how can I track my package",
    "I want to cancel my order",
    "my item arrived broken",
    "I forgot my password",
];
const ROUNDS: usize = QUESTIONS.len();

fn question(round: usize) -> String {
    QUESTIONS[round].to_string()
}

/// One `spur-server` process of the cluster.
fn instance(port: u16, database_url: &str, redis_url: &str, stream: &str) -> Process {
    let child = server_command(port, database_url, redis_url, stream)
        .spawn()
        .expect("the server binary starts");
    Process(child)
}

/// The server binary with the cluster's settings.
fn server_command(port: u16, database_url: &str, redis_url: &str, stream: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spur-server"));
    command
        .env_clear()
        .envs([
            ("HOST", "127.0.0.1"),
            ("PORT", &port.to_string()),
            ("DATABASE_URL", database_url),
            ("REDIS_URL", redis_url),
            ("EVENT_BUS", "redis"),
            ("EVENT_BUS_STREAM", stream),
            ("JWT_SECRET", "balanced-test-secret-0123456789abcdef"),
            ("TRUSTED_PROXIES", "127.0.0.1/32"),
            // Every test customer writes from 127.0.0.1.
            ("RATE_LIMIT_PER_IP", "0"),
            ("RATE_LIMIT_PER_IP_DAY", "0"),
            ("RATE_LIMIT_PER_SESSION", "0"),
            ("SHUTDOWN_GRACE_SECS", "10"),
            ("ADMIN_EMAIL", ADMIN_EMAIL),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// HAProxy with the repository's configuration, in the foreground.
fn balancer(port: u16, instances: &[u16]) -> Process {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/haproxy.cfg");
    let child = Command::new("haproxy")
        // `-n`: a connection limit the test runner's open-files limit allows.
        .args(["-db", "-n", "1000", "-f", config])
        .env("SPUR_LB_BIND", format!("127.0.0.1:{port}"))
        .env("SPUR_A", format!("127.0.0.1:{}", instances[0]))
        .env("SPUR_B", format!("127.0.0.1:{}", instances[1]))
        .env("SPUR_C", format!("127.0.0.1:{}", instances[2]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy must be installed (.ci/run installs it)");
    Process(child)
}

/// Sends one message through the balancer as a client would: on a failed
/// or refused request it tries again with the same idempotency key.
async fn send(client: &reqwest::Client, lb: &str, session: Option<&str>, text: &str) -> Value {
    let key = uuid::Uuid::new_v4().to_string();
    let mut last = String::new();
    for _ in 0..20 {
        let sent = client
            .post(format!("{lb}/v1/chat/message"))
            .json(&json!({"message": text, "sessionId": session, "idempotencyKey": key}))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == 200 => return response.json().await.unwrap(),
            Ok(response) => {
                last = format!(
                    "{} {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                )
            }
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{text:?} was never accepted: {last}");
}

/// `POST /v1/chat/message` answered 200 by the instance on `port`.
async fn chat_messages_served(client: &reqwest::Client, port: u16) -> f64 {
    let text = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("spur_http_requests_total{"))
        .filter(|l| l.contains(r#"route="/v1/chat/message""#) && l.contains(r#"status="200""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Three instances on one PostgreSQL database and a Redis of the test's
/// own, after `spur-server seed` (migrations, the admin), behind HAProxy.
struct Cluster {
    instances: Vec<Option<Process>>,
    ports: [u16; 3],
    lb: String,
    /// What an instance is started with: database, Redis, event stream.
    settings: (String, String, String),
    _haproxy: Process,
    _redis: Process,
}

impl Cluster {
    async fn start() -> Self {
        let database_url = postgres_options().await.database_url.unwrap();
        let redis_port = free_port();
        let redis = own_redis(redis_port).await;
        let redis_url = format!("redis://127.0.0.1:{redis_port}");
        let stream = format!("spur-balanced-{}", uuid::Uuid::new_v4().simple());
        let ports = [free_port(), free_port(), free_port()];
        // The migrations and the admin account, as an operator starts.
        let seeded = server_command(ports[0], &database_url, &redis_url, &stream)
            .arg("seed")
            .status()
            .unwrap();
        assert!(seeded.success());
        let mut instances = Vec::new();
        for port in ports {
            instances.push(Some(instance(port, &database_url, &redis_url, &stream)));
            wait_ready(&format!("http://127.0.0.1:{port}")).await;
        }
        let lb_port = free_port();
        let haproxy = balancer(lb_port, &ports);
        let lb = format!("http://127.0.0.1:{lb_port}");
        wait_ready(&lb).await;
        Self {
            instances,
            ports,
            lb,
            settings: (database_url, redis_url, stream),
            _haproxy: haproxy,
            _redis: redis,
        }
    }

    /// A rolling restart's step: SIGTERM, the instance drains and exits by
    /// itself (within the grace period), then a new process on its port,
    /// back in the balancer once its health checks pass.
    async fn restart(&mut self, i: usize) {
        if let Some(mut stopped) = self.instances[i].take() {
            let pid = stopped.0.id().to_string();
            Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            let exited = tokio::task::spawn_blocking(move || stopped.0.wait().map(|s| s.success()));
            let exited = tokio::time::timeout(Duration::from_secs(20), exited).await;
            assert!(
                matches!(exited, Ok(Ok(Ok(true)))),
                "instance {i}: {exited:?}"
            );
        }
        let (database_url, redis_url, stream) = &self.settings;
        let port = self.ports[i];
        self.instances[i] = Some(instance(port, database_url, redis_url, stream));
        wait_ready(&format!("http://127.0.0.1:{port}")).await;
        // HAProxy checks every 500 ms and needs two good answers.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }

    /// SIGKILL: no drain, connections cut.
    fn kill(&mut self, i: usize) {
        if let Some(mut killed) = self.instances[i].take() {
            killed.0.kill().unwrap();
            killed.0.wait().unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_behind_haproxy_lose_nothing_when_one_dies() {
    let mut cluster = Cluster::start().await;
    let (lb, ports) = (cluster.lb.clone(), cluster.ports);
    let client = reqwest::Client::new();
    let mut sessions: Vec<Option<String>> = vec![None; CUSTOMERS];
    for r in 0..ROUNDS {
        if r == 3 {
            // The balancer spread the customers over all three.
            for port in ports {
                assert!(chat_messages_served(&client, port).await > 0.0, "{port}");
            }
            cluster.kill(1);
        }
        if r == 6 {
            // A rolling restart: SIGTERM; it drains and exits by itself.
            if let Some(stopped) = cluster.instances[2].as_ref() {
                let pid = stopped.0.id().to_string();
                Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            }
        }
        round(&client, &lb, &mut sessions, r).await;
    }

    // The stopped instance drained and exited on its own.
    if let Some(mut stopped) = cluster.instances[2].take() {
        let exited = tokio::task::spawn_blocking(move || stopped.0.wait().map(|s| s.success()));
        let exited = tokio::time::timeout(Duration::from_secs(20), exited).await;
        assert!(matches!(exited, Ok(Ok(Ok(true)))), "{exited:?}");
    }

    // Every message once, in order, each answered: read back through the
    // one instance left.
    each_said_once_and_answered(&client, &lb, &sessions).await;
}

/// A customer's live feed on an instance that dies reconnects through the
/// balancer with its last event id and gets, from another instance, what
/// the agent wrote meanwhile and after: no gap, no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_resumes_on_another_instance_without_gap_or_duplicate() {
    let mut cluster = Cluster::start().await;
    let lb = cluster.lb.clone();
    let client = reqwest::Client::new();
    let first = send(&client, &lb, None, "I want to talk to a human please").await;
    assert_eq!(first["status"], "agent", "{first}");
    let session = first["sessionId"].as_str().unwrap().to_string();
    let login: Value = json_of(
        client
            .post(format!("{lb}/v1/auth/login"))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
    )
    .await;
    let token = login["token"].as_str().unwrap().to_string();
    let inbox = json_of(
        client
            .get(format!("{lb}/v1/agent/conversations?status=agent"))
            .bearer_auth(&token),
    )
    .await;
    let conversation = inbox["conversations"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let act = |action: &'static str, body: Value| {
        let (client, lb, token, conversation) = (&client, &lb, &token, &conversation);
        async move {
            client
                .post(format!(
                    "{lb}/v1/agent/conversations/{conversation}/{action}"
                ))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(act("claim", json!({})).await, 200);

    // The feed is open on instance B itself (so the test knows which one dies).
    let b = format!("http://127.0.0.1:{}", cluster.ports[1]);
    let feed = client
        .get(format!("{b}/v1/chat/events/{session}"))
        .send()
        .await
        .unwrap();
    let feed = tokio::spawn(sse_events(feed, |e| {
        e.event == "message" && e.json()["text"] == "one"
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(act("reply", json!({"text": "one"})).await, 200);
    let seen = tokio::time::timeout(Duration::from_secs(10), feed)
        .await
        .expect("the reply reaches the feed on B")
        .unwrap();
    let last_id = seen
        .iter()
        .rev()
        .find_map(|e| e.id.clone())
        .expect("messages carry their seq as the event id");

    cluster.kill(1);
    // Written while the customer has no feed.
    assert_eq!(act("reply", json!({"text": "two"})).await, 200);

    let resumed = client
        .get(format!("{lb}/v1/chat/events/{session}"))
        .header("Last-Event-ID", &last_id)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    let resumed = tokio::spawn(sse_events(resumed, |e| {
        e.event == "message" && e.json()["text"] == "three"
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(act("reply", json!({"text": "three"})).await, 200);
    let seen = tokio::time::timeout(Duration::from_secs(10), resumed)
        .await
        .expect("the resumed feed hears the next reply")
        .unwrap();
    let texts: Vec<String> = seen
        .iter()
        .filter(|e| e.event == "message")
        .map(|e| e.json()["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(texts, ["two", "three"], "no gap, no duplicate");
}

/// Every customer's messages stored once each, in order, each answered.
async fn each_said_once_and_answered(
    client: &reqwest::Client,
    lb: &str,
    sessions: &[Option<String>],
) {
    for (c, session) in sessions.iter().enumerate() {
        let session = session.as_deref().unwrap();
        let history: Value =
            json_of(client.get(format!("{lb}/v1/chat/history/{session}?limit=200"))).await;
        let messages = history["messages"].as_array().unwrap();
        let said: Vec<&str> = messages
            .iter()
            .filter(|m| m["sender"] == "customer")
            .map(|m| m["text"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (0..ROUNDS).map(question).collect();
        assert_eq!(said, expected, "customer {c}: {history}");
        let answers = messages
            .iter()
            .filter(|m| m["sender"] == "assistant")
            .count();
        assert_eq!(answers, ROUNDS, "customer {c}: {history}");
    }
}

/// One round: every customer asks the round's question through the
/// balancer (retrying with its idempotency key) and gets an answer in
/// the conversation it had.
async fn round(client: &reqwest::Client, lb: &str, sessions: &mut [Option<String>], round: usize) {
    let turns = futures::future::join_all(sessions.iter().map(|session| async move {
        send(client, lb, session.as_deref(), &question(round)).await
    }))
    .await;
    for (c, turn) in turns.iter().enumerate() {
        assert!(
            turn["reply"].as_str().is_some_and(|r| !r.is_empty()),
            "customer {c} round {round}: {turn}"
        );
        let session = turn["sessionId"].as_str().unwrap().to_string();
        if let Some(known) = &sessions[c] {
            assert_eq!(known, &session, "customer {c} kept their conversation");
        }
        sessions[c] = Some(session);
    }
}

/// A customer's live feed through the balancer, reconnecting with its
/// `Last-Event-ID` whenever the instance behind it goes away (as the
/// widget does), until `expected` messages have arrived: their seqs in
/// the order seen, and how many connections it took.
async fn follow(
    client: reqwest::Client,
    lb: String,
    session: String,
    expected: usize,
) -> (Vec<i64>, usize) {
    let (mut seqs, mut connections) = (Vec::new(), 0);
    let mut last: Option<String> = None;
    while seqs.len() < expected {
        let mut request = client.get(format!("{lb}/v1/chat/events/{session}"));
        if let Some(id) = &last {
            request = request.header("last-event-id", id);
        }
        match request.send().await {
            Ok(response) if response.status() == 200 => {
                connections += 1;
                let mut seen = seqs.len();
                let events = sse_events(response, |e| {
                    seen += usize::from(e.event == "message");
                    seen >= expected
                })
                .await;
                for event in events.iter().filter(|e| e.event == "message") {
                    let id = event.id.clone().expect("messages carry their seq");
                    seqs.push(id.parse::<i64>().unwrap());
                    last = Some(id);
                }
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (seqs, connections)
}

/// All three instances restarted one after another while customers write
/// and one customer's feed stays open through the balancer: every message
/// stored once and answered, and the feed, moved from instance to instance,
/// saw every message once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_all_three_loses_nothing() {
    let mut cluster = Cluster::start().await;
    let lb = cluster.lb.clone();
    let client = reqwest::Client::new();
    let mut sessions: Vec<Option<String>> = vec![None; CUSTOMERS];
    round(&client, &lb, &mut sessions, 0).await;
    // Customer 0's messages and answers, one of each a round.
    let feed = tokio::spawn(follow(
        client.clone(),
        lb.clone(),
        sessions[0].clone().unwrap(),
        2 * ROUNDS,
    ));
    for r in 1..ROUNDS {
        if r % 3 == 1 {
            // Instances 0, 1 and 2 in turn, the round's messages in flight.
            let restarted = r / 3;
            let (client, lb) = (&client, &lb);
            tokio::join!(
                cluster.restart(restarted),
                round(client, lb, &mut sessions, r)
            );
        } else {
            round(&client, &lb, &mut sessions, r).await;
        }
    }
    each_said_once_and_answered(&client, &lb, &sessions).await;
    let (seqs, connections) = tokio::time::timeout(Duration::from_secs(30), feed)
        .await
        .expect("the feed saw every message")
        .unwrap();
    let expected: Vec<i64> = (1..=i64::try_from(2 * ROUNDS).unwrap()).collect();
    assert_eq!(seqs, expected, "no gap, no duplicate");
    assert!(
        connections >= 2,
        "the feed moved at least once: {connections}"
    );
}
