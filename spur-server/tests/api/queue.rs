//! Queued classification (`USE_QUEUE=true`) on real PostgreSQL and real
//! Redis: tickets come back `pending` and are classified by workers; a
//! provider that fails is retried until it recovers (or the fallback is
//! recorded); a worker process killed mid-job loses nothing; many tickets at
//! once are each classified exactly once.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use spur_core::testing::fake_openai::{self, Fake};
use spur_server::config::Options;

use crate::support::{Server, postgres_options, redis_url, sqlite_options, sse_events};

#[derive(Clone, Copy, Debug)]
enum Backend {
    Postgres,
    /// Redis jobs, SQLite store.
    Redis,
}

/// The store, queue and model settings for one test.
struct Setup {
    database_url: String,
    backend: Backend,
    queue_name: String,
    llm_base: String,
}

impl Setup {
    async fn new(backend: Backend, llm_base: &str) -> Self {
        let base = match backend {
            Backend::Postgres => postgres_options().await,
            Backend::Redis => sqlite_options(),
        };
        Self {
            database_url: base.database_url.unwrap(),
            backend,
            // Tests share one Redis: each has its own queue.
            queue_name: format!("spur-test-{}", uuid::Uuid::new_v4()),
            llm_base: llm_base.to_string(),
        }
    }

    fn env(&self, model: &str, workers: usize, retries: usize) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("DATABASE_URL", self.database_url.clone()),
            ("USE_QUEUE", "true".into()),
            ("QUEUE_NAME", self.queue_name.clone()),
            ("QUEUE_WORKERS", workers.to_string()),
            ("QUEUE_RETRIES", retries.to_string()),
            ("QUEUE_HEARTBEAT_MS", "1000".into()),
            ("OPENAI_BASE_URL", self.llm_base.clone()),
            ("OPENAI_MODEL", model.into()),
            ("AI_TIMEOUT_MS", "10000".into()),
        ];
        if let Backend::Redis = self.backend {
            env.push(("QUEUE_BACKEND", "redis".into()));
            env.push(("REDIS_URL", redis_url()));
        }
        env
    }

    async fn server(&self, model: &str, workers: usize, retries: usize) -> Server {
        let env = self.env(model, workers, retries);
        let get = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
        Server::start(Options {
            database_url: get("DATABASE_URL"),
            use_queue: Some(true),
            queue_name: get("QUEUE_NAME"),
            queue_workers: Some(workers),
            queue_retries: Some(retries),
            queue_heartbeat_ms: Some(1000),
            queue_backend: get("QUEUE_BACKEND"),
            redis_url: get("REDIS_URL"),
            openai_base_url: get("OPENAI_BASE_URL"),
            openai_model: get("OPENAI_MODEL"),
            ai_timeout_ms: Some(10_000),
            ..sqlite_options()
        })
        .await
    }

    /// `spur-server worker` as its own process (killed when dropped).
    fn worker_process(&self, model: &str) -> WorkerProcess {
        let log = std::env::temp_dir().join(format!("{}-{model}.log", self.queue_name));
        Command::new(env!("CARGO_BIN_EXE_spur-server"))
            .arg("worker")
            .env_clear()
            .envs(self.env(model, 1, 3))
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::inherit())
            .spawn()
            .map(WorkerProcess)
            .unwrap()
    }
}

/// A worker process that never outlives its test, even a failing one.
struct WorkerProcess(Child);

impl WorkerProcess {
    /// SIGKILL: no graceful anything.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn file(server: &Server, token: &str, title: &str) -> Value {
    let (status, ticket) = server
        .post_as(
            token,
            "/v1/tickets",
            json!({"title": title, "description": "I was charged twice"}),
        )
        .await;
    assert_eq!(status, 201, "{ticket}");
    ticket
}

/// Polls until the ticket is no longer pending.
async fn classified(server: &Server, token: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let ticket = server.get_as(token, &format!("/v1/tickets/{id}")).await;
        if ticket["aiStatus"] != "pending" {
            return ticket;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still pending: {ticket}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn calls_reach(fake: &Fake, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while fake.calls.load(Ordering::SeqCst) < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the provider was not called {n} times"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn pending_count(server: &Server, token: &str) -> u64 {
    server
        .get_as(token, "/v1/tickets?aiStatus=pending&total=true&limit=1")
        .await["total"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_on_postgres() {
    queued(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_on_redis() {
    queued(Backend::Redis).await;
}

/// 201 at once with `pending`; a worker classifies, the agents' feed is
/// told; fifty tickets at once are each classified exactly once.
async fn queued(backend: Backend) {
    let (base, fake) = fake_openai::start().await.unwrap();
    let setup = Setup::new(backend, &base).await;
    let server = setup.server("tickets", 2, 3).await;
    let token = server.admin_token().await;
    let feed = server
        .call(Method::GET, "/v1/agent/events", Some(&token), None)
        .await;
    let ticket = file(&server, &token, "Refund").await;
    assert_eq!(ticket["aiStatus"], "pending", "{ticket}");
    assert!(ticket["category"].is_null() && ticket["aiConfidence"].is_null());
    let id = ticket["id"].as_str().unwrap().to_string();
    let done = classified(&server, &token, &id).await;
    assert_eq!(
        (done["aiStatus"].as_str(), done["aiSource"].as_str()),
        (Some("done"), Some("llm"))
    );
    assert_eq!(
        (done["category"].as_str(), done["priority"].as_str()),
        (Some("billing"), Some("high"))
    );
    let events = sse_events(feed, |e| e.event == "ticket" && e.data.contains("\"done\"")).await;
    let last: Value = serde_json::from_str(&events.last().unwrap().data).unwrap();
    assert_eq!(
        (last["id"].as_str(), last["aiStatus"].as_str()),
        (Some(id.as_str()), Some("done"))
    );

    let before = fake.calls.load(Ordering::SeqCst);
    let filed = futures::future::join_all((0..50).map(|i| {
        let (server, token) = (&server, &token);
        async move { file(server, token, &format!("Many {i}")).await }
    }))
    .await;
    assert!(filed.iter().all(|t| t["aiStatus"] == "pending"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while pending_count(&server, &token).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "tickets left pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let done = server
        .get_as(
            &token,
            "/v1/tickets?aiStatus=done&q=many&total=true&limit=1",
        )
        .await;
    assert_eq!(done["total"], 50);
    // Give a duplicate delivery time to show itself, then count model calls.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        fake.calls.load(Ordering::SeqCst) - before,
        50,
        "each ticket classified once"
    );
    server.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_postgres() {
    retries(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_redis() {
    retries(Backend::Redis).await;
}

/// A provider that is down is retried with backoff; when it comes back the
/// ticket is classified. One that stays down gets the fallback with its reason.
async fn retries(backend: Backend) {
    let (base, fake) = fake_openai::start().await.unwrap();
    fake.failing.store(true, Ordering::SeqCst);
    let setup = Setup::new(backend, &base).await;
    let server = setup.server("tickets", 1, 8).await;
    let token = server.admin_token().await;
    let id = file(&server, &token, "Refund").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Several attempts, retried by the queue with backoff.
    calls_reach(&fake, 3).await;
    let still = server.get_as(&token, &format!("/v1/tickets/{id}")).await;
    assert_eq!(
        still["aiStatus"], "pending",
        "failures so far are retried, not recorded"
    );
    fake.failing.store(false, Ordering::SeqCst);
    let done = classified(&server, &token, &id).await;
    assert_eq!(
        (done["aiStatus"].as_str(), done["aiSource"].as_str()),
        (Some("done"), Some("llm")),
        "{done}"
    );
    server.shutdown.cancel();

    let (base, fake) = fake_openai::start().await.unwrap();
    fake.failing.store(true, Ordering::SeqCst);
    let setup = Setup::new(backend, &base).await;
    let server = setup.server("tickets", 1, 1).await;
    let token = server.admin_token().await;
    let id = file(&server, &token, "Refund").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let fallback = classified(&server, &token, &id).await;
    assert_eq!(fallback["aiStatus"], "fallback", "{fallback}");
    assert_eq!(
        (fallback["category"].as_str(), fallback["priority"].as_str()),
        (Some("general"), Some("medium"))
    );
    assert_eq!(fallback["aiReason"], "llm_upstream_error");
    assert_eq!(
        fake.calls.load(Ordering::SeqCst),
        2,
        "two attempts (QUEUE_RETRIES=1), one call each: the queue's retries are not multiplied by the client's"
    );
    server.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_on_postgres() {
    killed_worker(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_on_redis() {
    killed_worker(Backend::Redis).await;
}

/// `spur-server worker` is killed (SIGKILL) while classifying; tickets
/// filed while no worker runs wait. A new worker finishes both, and the
/// server's agents hear of it.
async fn killed_worker(backend: Backend) {
    let (base, fake) = fake_openai::start().await.unwrap();
    let setup = Setup::new(backend, &base).await;
    // The API only: no workers inside.
    let server = setup.server("tickets", 0, 3).await;
    let token = server.admin_token().await;
    let mut first_worker = setup.worker_process("slow-tickets");
    let first = file(&server, &token, "Refund").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The worker has the job and is waiting on the (slow) model.
    calls_reach(&fake, 1).await;
    first_worker.kill();
    let second = file(&server, &token, "Another refund").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        pending_count(&server, &token).await,
        2,
        "nothing classified while no worker runs"
    );

    // The worker is another process: what it records reaches this server's
    // agents' feed through PostgreSQL NOTIFY or Redis pub/sub.
    let feed = server
        .call(Method::GET, "/v1/agent/events", Some(&token), None)
        .await;
    let mut next_worker = setup.worker_process("tickets");
    for id in [&first, &second] {
        let done = classified(&server, &token, id).await;
        assert_eq!(
            (done["aiStatus"].as_str(), done["category"].as_str()),
            (Some("done"), Some("billing")),
            "{done}"
        );
    }
    let done_ids = |events: &[crate::support::SseEvent]| -> std::collections::HashSet<String> {
        events
            .iter()
            .filter(|e| e.event == "ticket")
            .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
            .filter(|t| t["aiStatus"] == "done")
            .map(|t| t["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let mut seen = Vec::new();
    let events = tokio::time::timeout(
        Duration::from_secs(10),
        sse_events(feed, |e| {
            seen.push(e.clone());
            done_ids(&seen).len() == 2
        }),
    )
    .await
    .expect("the worker's results reach the feed");
    assert_eq!(
        done_ids(&events),
        [first.clone(), second.clone()].into(),
        "{events:?}"
    );
    next_worker.kill();
    server.shutdown.cancel();
}

/// A ticket stored but never queued (the process died in between) is
/// queued again by the workers' sweep once it is old enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_pending_tickets_are_queued_again() {
    use std::sync::Arc;

    use spur_core::classify::LocalClassifier;
    use spur_core::clock::FixedClock;
    use spur_core::store::PostgresStore;
    use spur_core::tickets::{AiStatus, NewTicket, TicketClassifier, TicketDesk};
    use spur_server::config::{QueueBackend, QueueSettings};
    use spur_server::queue::{JobContext, Queue};

    let url = postgres_options().await.database_url.unwrap();
    let store = PostgresStore::connect(&url).await.unwrap();
    let settings = QueueSettings {
        backend: QueueBackend::Postgres,
        name: "spur.classify_ticket".into(),
        workers: 1,
        retries: 1,
        heartbeat: Duration::from_secs(1),
    };
    let queue = Queue::postgres(store.pool(), &settings).await.unwrap();
    let desk = TicketDesk::new(
        Arc::new(store),
        TicketClassifier::Local(Arc::new(LocalClassifier::default())),
        Duration::from_secs(5),
    );
    let new = |title: &str| NewTicket {
        title: title.into(),
        description: "I was charged twice".into(),
        ..NewTicket::default()
    };
    let an_hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let lost = desk
        .clone()
        .with_clock(Arc::new(FixedClock(an_hour_ago)))
        .file(new("Lost job"))
        .await
        .unwrap();
    // Just filed: its job may still be on the way, so it is left alone.
    let recent = desk.file(new("Recent")).await.unwrap();
    // Two instances sweeping at once queue the lost ticket once between
    // them, and a sweep a minute later queues nothing (it used to queue
    // every stale ticket again on every instance every minute).
    let (a, b) = futures::join!(queue.requeue_stale(&desk), queue.requeue_stale(&desk));
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(queue.requeue_stale(&desk).await.unwrap(), 0);

    let shutdown = tokio_util::sync::CancellationToken::new();
    let ctx = JobContext {
        desk: desk.clone(),
        retries: 1,
        relay: spur_server::ticket_events::TicketRelay::Local(tokio::sync::broadcast::channel(8).0),
    };
    let workers = tokio_util::task::TaskTracker::new();
    queue.spawn_workers(&ctx, 1, &shutdown, &workers);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ticket = desk.store().ticket(lost.id).await.unwrap().unwrap();
        if ticket.ai_status == AiStatus::Done {
            assert_eq!(ticket.category.as_deref(), Some("billing"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lost job was not queued again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recent = desk.store().ticket(recent.id).await.unwrap().unwrap();
    assert_eq!(recent.ai_status, AiStatus::Pending);
    shutdown.cancel();
    workers.close();
    workers.wait().await;
}
