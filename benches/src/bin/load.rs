//! HTTP load bench for the real `spur-server` binary.
//!
//! `cargo build --release -p spur-server && cargo run --release -p spur-benches --bin spur-load`
//!
//! Starts a fake OpenAI-compatible server that answers at once, then the
//! release server binary against it, on SQLite and on PostgreSQL, and reports:
//! cold start to first answered request; messages/s and p50/p99 latency of
//! `POST /v1/chat/message` at several concurrency levels (closed loop); the
//! per-request latency at fixed rates (open loop), the fake LLM's own share
//! reported beside it, never subtracted (percentiles of two runs do not
//! subtract);
//! memory idle and at peak. Options: `--seconds N` per level (default 5),
//! `--only sqlite|postgres`, `--pg-query sslmode=disable` (appended to the
//! PostgreSQL URL), `--feeds N`: instead of throughput, the server's memory
//! per idle customer feed (N conversations, then N live feeds held open);
//! `--balanced`: messages/s through HAProxy to one instance and to three
//! (PostgreSQL, the Redis event bus).

// A bench tool: a histogram with constant valid bounds cannot fail.
#![allow(clippy::expect_used)]

use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use spur_benches::server::{
    Failure, Running, conversations, first_answer, free_port, open_feeds, rss_kib, start,
};

const QUESTIONS: &[&str] = &[
    "Do you ship to India?",
    "How long does delivery take?",
    "What is your return policy?",
    "When is support open?",
    "How do refunds work?",
];

/// The options in this file's header.
#[derive(clap::Parser)]
struct Args {
    /// Seconds per concurrency level and rate.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// One backend only: sqlite or postgres.
    #[arg(long)]
    only: Option<String>,
    /// Appended to the PostgreSQL URL (e.g. `sslmode=disable`).
    #[arg(long)]
    pg_query: Option<String>,
    /// Measure memory per idle feed with this many feeds instead.
    #[arg(long)]
    feeds: Option<usize>,
    /// Compare 1 and 3 instances behind HAProxy instead.
    #[arg(long)]
    balanced: bool,
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let args = <Args as clap::Parser>::parse();
    // One descriptor per feed here and in the server (which inherits it).
    if let Some(n) = args.feeds {
        let wanted = u64::try_from(n * 2 + 1024).unwrap_or(u64::MAX);
        // Past the hard limit only as root; otherwise as far as it allows.
        if rlimit::Resource::NOFILE.set(wanted, wanted).is_err() {
            rlimit::increase_nofile_limit(wanted)?;
        }
        let (allowed, _) = rlimit::Resource::NOFILE.get()?;
        if allowed < wanted {
            println!(
                "open files limited to {allowed} (raising the hard limit needs CAP_SYS_RESOURCE): feeds past about {} fail",
                allowed.saturating_sub(1024)
            );
        }
    }
    let binary = spur_benches::server::binary()?;
    let (llm, _fake) = spur_core::testing::fake_openai::start().await?;
    println!("fake LLM at {llm} (answers at once)\n");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let fake_direct = fake_latency(&client, &llm).await?;
    println!(
        "fake LLM alone (direct, 200/s): p50 {:.2} ms, p99 {:.2} ms\n",
        ms(fake_direct.value_at_quantile(0.5)),
        ms(fake_direct.value_at_quantile(0.99))
    );
    if args.balanced {
        return balanced(&binary, &client, &llm, args.seconds).await;
    }
    let mut backends = Vec::new();
    if args.only.as_deref() != Some("postgres") {
        let path = std::env::temp_dir().join(format!("spur-load-{}.db", uuid::Uuid::new_v4()));
        backends.push(("SQLite", format!("sqlite://{}", path.display())));
    }
    if args.only.as_deref() != Some("sqlite") {
        let mut url = spur_core::testing::postgres::fresh_database().await?;
        if let Some(query) = &args.pg_query {
            url = format!("{url}?{query}");
        }
        backends.push(("PostgreSQL", url));
    }
    for (name, url) in backends {
        println!("== {name}");
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let mut child = spur_benches::server::start(
            &binary,
            port,
            &url,
            &[
                ("OPENAI_BASE_URL", &llm),
                ("OPENAI_API_KEY", "sk-load"),
                ("OPENAI_MODEL", "fast"),
            ],
        )?;
        let first = first_answer(&client, &base).await;
        let cold = started.elapsed();
        if let Err(error) = first {
            let _ = child.kill();
            return Err(format!("{name}: server did not answer: {error}").into());
        }
        println!(
            "cold start to first answered request: {:.0} ms",
            cold.as_secs_f64() * 1000.0
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        println!("memory idle: {}", memory(&child));
        if let Some(n) = args.feeds {
            let measured = idle_feeds(&base, &child, n).await;
            let _ = child.kill();
            let _ = child.wait();
            measured?;
            continue;
        }
        for concurrency in [1usize, 10, 50, 100] {
            let run = closed_loop(&client, &base, concurrency, args.seconds).await;
            println!("c={concurrency:<3} {}", run.summary());
        }
        for rate in [200u64, 1_000] {
            let run = open_loop(&client, &base, rate, args.seconds).await;
            let p50 = ms(run.latency.value_at_quantile(0.5));
            let p99 = ms(run.latency.value_at_quantile(0.99));
            println!(
                "open loop {rate:>5}/s: achieved {:>6.0}/s  per request (server + fake LLM): p50 {p50:.2} ms  p99 {p99:.2} ms  errors {}",
                run.rate, run.errors
            );
        }
        println!("memory at peak: {}\n", memory(&child));
        let _ = child.kill();
        let _ = child.wait();
    }
    Ok(())
}

/// Opens `n` customer feeds on `n` conversations, one connection each as
/// browsers hold them, and reports the server's resident memory per feed.
/// Past 20,000 the feeds come from several loopback addresses (127.0.0.2,
/// ...): one address has about 28,000 ports towards one server port.
async fn idle_feeds(base: &str, child: &Child, n: usize) -> Result<(), Failure> {
    let client = reqwest::Client::new();
    let sessions = conversations(&client, base, n).await?;
    let clients = (0..n.div_ceil(FEEDS_PER_ADDRESS).max(1))
        .map(|i| {
            let address = std::net::Ipv4Addr::new(127, 0, 0, u8::try_from(2 + i).unwrap_or(254));
            reqwest::Client::builder()
                .local_address(std::net::IpAddr::V4(address))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(child).ok_or("no /proc status")?;
    let feeds = open_feeds(&clients, base, &sessions).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open = rss_kib(child).ok_or("no /proc status")?;
    println!(
        "{n} idle customer feeds: RSS {:.1} -> {:.1} MiB, {:.1} KiB per feed",
        before as f64 / 1024.0,
        open as f64 / 1024.0,
        open.saturating_sub(before) as f64 / n as f64
    );
    drop(feeds);
    Ok(())
}

/// Messages/s through HAProxy (`deploy/haproxy.cfg`) to one instance and
/// to three, on one PostgreSQL database with the Redis event bus.
async fn balanced(
    binary: &std::path::Path,
    client: &reqwest::Client,
    llm: &str,
    seconds: u64,
) -> Result<(), Failure> {
    let database = spur_core::testing::postgres::fresh_database().await?;
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let stream = format!("spur-load-{}", uuid::Uuid::new_v4().simple());
    let env = [
        ("OPENAI_BASE_URL", llm),
        ("OPENAI_API_KEY", "sk-load"),
        ("OPENAI_MODEL", "fast"),
        ("EVENT_BUS", "redis"),
        ("REDIS_URL", redis.as_str()),
        ("EVENT_BUS_STREAM", stream.as_str()),
        ("JWT_SECRET", "load-bench-secret-0123456789abcdef"),
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
    ];
    spur_benches::server::seed(binary, &database, &env)?;
    for count in [1usize, 3] {
        let mut servers = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..count {
            let port = free_port()?;
            servers.push(Running(start(binary, port, &database, &env)?));
            first_answer(client, &format!("http://127.0.0.1:{port}")).await?;
            ports.push(port);
        }
        let lb_port = free_port()?;
        let address = |i: usize| format!("127.0.0.1:{}", ports[i % ports.len()]);
        let _lb = Running(
            std::process::Command::new("haproxy")
                .args(["-db", "-n", "4000", "-f", "deploy/haproxy.cfg"])
                .env("SPUR_LB_BIND", format!("127.0.0.1:{lb_port}"))
                .env("SPUR_A", address(0))
                .env("SPUR_B", address(1))
                .env("SPUR_C", address(2))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| format!("haproxy: {e}"))?,
        );
        let lb = format!("http://127.0.0.1:{lb_port}");
        first_answer(client, &lb).await?;
        // The balancer's health checks mark every instance up first.
        tokio::time::sleep(Duration::from_secs(2)).await;
        for concurrency in [10usize, 50] {
            let run = closed_loop(client, &lb, concurrency, seconds).await;
            println!(
                "{count} instance(s) behind HAProxy, c={concurrency:<3} {}",
                run.summary()
            );
        }
    }
    Ok(())
}

/// Feeds opened from one source address.
const FEEDS_PER_ADDRESS: usize = 20_000;

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// Resident and peak memory of the server process.
fn memory(child: &Child) -> String {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or_else(|| "?".into(), |kb| format!("{:.0} MiB", kb as f64 / 1024.0))
    };
    format!("RSS {} (peak {})", field("VmRSS:"), field("VmHWM:"))
}

struct Run {
    rate: f64,
    latency: Histogram<u64>,
    errors: u64,
}

impl Run {
    /// Rate, p50, p99 and errors, as each closed-loop line prints them.
    fn summary(&self) -> String {
        format!(
            "{:>7.0} msg/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
            self.rate,
            ms(self.latency.value_at_quantile(0.5)),
            ms(self.latency.value_at_quantile(0.99)),
            self.errors
        )
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 60 s, 3 significant figures.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// One message; a customer asks five questions per conversation.
async fn send(
    client: &reqwest::Client,
    base: &str,
    session: &mut Option<String>,
    n: usize,
) -> bool {
    if n.is_multiple_of(QUESTIONS.len()) {
        *session = None;
    }
    let body = json!({"message": QUESTIONS[n % QUESTIONS.len()], "sessionId": session});
    let Ok(response) = client
        .post(format!("{base}/v1/chat/message"))
        .json(&body)
        .send()
        .await
    else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    match response.json::<Value>().await {
        Ok(v) => {
            *session = v["sessionId"].as_str().map(str::to_string);
            true
        }
        Err(_) => false,
    }
}

/// `concurrency` customers each sending as fast as answered.
async fn closed_loop(
    client: &reqwest::Client,
    base: &str,
    concurrency: usize,
    seconds: u64,
) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let all = Arc::new(Mutex::new(histogram()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, base, stop, errors, all) = (
            client.clone(),
            base.to_string(),
            stop.clone(),
            errors.clone(),
            all.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut local = histogram();
            let mut session = None;
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                if send(&client, &base, &mut session, n).await {
                    let _ = local.record(t.elapsed().as_micros() as u64);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            let _ = all.lock().await.add(&local);
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let latency = all.lock().await.clone();
    Run {
        rate: latency.len() as f64 / elapsed,
        latency,
        errors: errors.load(Ordering::Relaxed),
    }
}

/// Requests started at a fixed rate whatever the answers do; latency from
/// the scheduled start (no coordinated omission).
async fn open_loop(client: &reqwest::Client, base: &str, rate: u64, seconds: u64) -> Run {
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let errors = Arc::new(AtomicU64::new(0));
    let all = Arc::new(Mutex::new(histogram()));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = started + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let (client, base, errors, all) = (
            client.clone(),
            base.to_string(),
            errors.clone(),
            all.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut session = None;
            if send(&client, &base, &mut session, 0).await {
                let _ = all
                    .lock()
                    .await
                    .record(scheduled.elapsed().as_micros() as u64);
            } else {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let latency = all.lock().await.clone();
    Run {
        rate: latency.len() as f64 / elapsed,
        latency,
        errors: errors.load(Ordering::Relaxed),
    }
}

/// The fake LLM's own latency at 200/s, so the server's share can be told apart.
async fn fake_latency(client: &reqwest::Client, llm: &str) -> Result<Histogram<u64>, Failure> {
    let mut h = histogram();
    let body = json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..1_000 {
        let t = Instant::now();
        client
            .post(format!("{llm}/chat/completions"))
            .json(&body)
            .send()
            .await?
            .bytes()
            .await?;
        let _ = h.record(t.elapsed().as_micros() as u64);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(h)
}
