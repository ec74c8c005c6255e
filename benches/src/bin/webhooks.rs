//! Webhook bench: signed WhatsApp deliveries into the real release server,
//! replies out to a stand-in Graph API (in this process, answering in
//! Meta's shapes).
//!
//! `cargo build --release -p spur-server && cargo run --release -p spur-benches --bin spur-webhooks`
//!
//! Reports, on SQLite (default) or PostgreSQL (`--postgres URL`, a fresh database):
//! 1. acknowledgement latency of `POST /webhooks/whatsapp` (signature
//!    checked, the message stored, then 200) at a fixed rate (`--rate`,
//!    default 500/s; open loop, measured from each request's scheduled
//!    start), every message delivered three times two milliseconds apart,
//!    as Meta's retries can overlap;
//! 2. once the outbox has drained: replies per message (each message is
//!    its own customer's first, so exactly one reply is right), counting
//!    missing ones and extra ones;
//! 3. `--kill`: the Graph API made slow (sends in flight), the server
//!    SIGKILLed mid-stream, restarted on the same database; replies missing
//!    and repeated. Leased sends come due again when their lease (60 s) ends.

// A bench tool: a histogram with constant valid bounds cannot fail.
#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use spur_benches::server::{Failure, Running, binary, free_port, start};
use spur_core::testing::fake_graph::FakeGraph;
use tokio::sync::Mutex;

const APP_SECRET: &str = "bench-app-secret";
const TOKEN: &str = "bench-access-token";
const NUMBER: &str = "106540352242922";

#[derive(clap::Parser)]
struct Args {
    /// Requests per second (copies included).
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Deliveries of each message.
    #[arg(long, default_value_t = 3)]
    copies: u64,
    /// A PostgreSQL database URL instead of a SQLite file.
    #[arg(long)]
    postgres: Option<String>,
    /// Also kill the server mid-stream and count what survives.
    #[arg(long)]
    kill: bool,
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let args = <Args as clap::Parser>::parse();
    let graph = FakeGraph::start(TOKEN).await?;
    let database = match &args.postgres {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}",
            std::env::temp_dir()
                .join(format!("spur-webhooks-{}.db", uuid::Uuid::new_v4()))
                .display()
        ),
    };
    let (port, server) = launch(&graph, &database).await?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    let messages = args.rate * args.seconds / args.copies;
    let started = Instant::now();
    let run = open_loop(&client, &base, args.rate, messages, args.copies, 0).await;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "ack ({}): {} requests at {:.0}/s achieved ({} messages x{}): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  errors {}",
        if args.postgres.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        run.latency.len(),
        run.latency.len() as f64 / elapsed,
        messages,
        args.copies,
        ms(run.latency.value_at_quantile(0.5)),
        ms(run.latency.value_at_quantile(0.99)),
        ms(run.latency.max()),
        run.errors
    );
    let (missing, extra) = drained(&graph, 0, messages, Duration::from_secs(60)).await;
    println!(
        "replies after redelivery x{}: {messages} messages, missing {missing}, extra {extra}",
        args.copies
    );
    drop(server);

    if args.kill {
        let sent_before = graph.sent().len();
        graph.set_delay(Duration::from_millis(300));
        let (port, server) = launch(&graph, &database).await?;
        let base = format!("http://127.0.0.1:{port}");
        let batch = 300;
        let offset = 1_000_000;
        let load = open_loop(&client, &base, 100, batch, 1, offset);
        let killer = async {
            // Half-way through the stream, with sends in flight.
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            let mut server = server;
            let _ = server.0.kill();
            let _ = server.0.wait();
        };
        let (run, ()) = tokio::join!(load, killer);
        let acknowledged = run.latency.len();
        graph.set_delay(Duration::ZERO);
        let (_port, _server) = launch(&graph, &database).await?;
        let (missing, extra) = drained_acknowledged(
            &graph,
            sent_before,
            &run.acknowledged,
            Duration::from_secs(120),
        )
        .await;
        println!(
            "kill mid-stream: {acknowledged} messages acknowledged before the kill; after a restart: replies missing {missing}, repeated {extra}"
        );
    }
    Ok(())
}

/// The release server with WhatsApp pointed at `graph`; its port once it answers.
async fn launch(graph: &FakeGraph, database: &str) -> Result<(u16, Running), Failure> {
    let port = free_port()?;
    let server = Running(start(
        &binary()?,
        port,
        database,
        &[
            ("WHATSAPP_VERIFY_TOKEN", "bench-verify"),
            ("WHATSAPP_APP_SECRET", APP_SECRET),
            ("WHATSAPP_ACCESS_TOKEN", TOKEN),
            ("WHATSAPP_PHONE_NUMBER_ID", NUMBER),
            ("META_GRAPH_URL", &graph.url),
        ],
    )?);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        if Instant::now() > deadline {
            return Err("the server did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((port, server))
}

fn customer(n: u64) -> String {
    format!("1{:010}", n)
}

/// Message `n`: its customer's first, signed.
fn delivery(n: u64) -> (Vec<u8>, String) {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
            "contacts": [{"profile": {"name": "Bench"}, "wa_id": customer(n)}],
            "messages": [{"from": customer(n), "id": format!("wamid.bench-{n}"),
                "timestamp": "1749416383", "type": "text", "text": {"body": "Do you ship to India?"}}]
        }
    }]}]})
    .to_string()
    .into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("any key length");
    mac.update(&body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    (body, signature)
}

struct Run {
    latency: Histogram<u64>,
    errors: u64,
    /// Messages with at least one 200.
    acknowledged: Vec<u64>,
}

/// `messages` messages from `offset` on, each posted `copies` times, at
/// `rate` requests per second whatever the answers do; latency from each
/// request's scheduled start (no coordinated omission).
async fn open_loop(
    client: &reqwest::Client,
    base: &str,
    rate: u64,
    messages: u64,
    copies: u64,
    offset: u64,
) -> Run {
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let errors = Arc::new(AtomicU64::new(0));
    let all = Arc::new(Mutex::new(histogram()));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..messages * copies {
        let scheduled = started + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let n = offset + i / copies;
        let (client, url, errors, all, acknowledged) = (
            client.clone(),
            format!("{base}/webhooks/whatsapp"),
            errors.clone(),
            all.clone(),
            acknowledged.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (body, signature) = delivery(n);
            let answer = client
                .post(url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", signature)
                .body(body)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => {
                    let _ = all
                        .lock()
                        .await
                        .record(scheduled.elapsed().as_micros() as u64);
                    acknowledged.lock().await.push(n);
                }
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let latency = all.lock().await.clone();
    let mut acknowledged = acknowledged.lock().await.clone();
    acknowledged.sort_unstable();
    acknowledged.dedup();
    Run {
        latency,
        errors: errors.load(Ordering::Relaxed),
        acknowledged,
    }
}

/// Waits until messages `0..messages` have a reply each (or `patience`
/// passes); replies missing and extra.
async fn drained(graph: &FakeGraph, skip: usize, messages: u64, patience: Duration) -> (u64, u64) {
    let all: Vec<u64> = (0..messages).collect();
    drained_acknowledged(graph, skip, &all, patience).await
}

async fn drained_acknowledged(
    graph: &FakeGraph,
    skip: usize,
    expected: &[u64],
    patience: Duration,
) -> (u64, u64) {
    let deadline = Instant::now() + patience;
    loop {
        let mut per_customer: HashMap<String, u64> = HashMap::new();
        for sent in graph.sent().iter().skip(skip) {
            *per_customer.entry(sent.to.clone()).or_default() += 1;
        }
        let missing = expected
            .iter()
            .filter(|n| !per_customer.contains_key(&customer(**n)))
            .count() as u64;
        let extra: u64 = per_customer.values().map(|c| c.saturating_sub(1)).sum();
        if missing == 0 || Instant::now() > deadline {
            return (missing, extra);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}
