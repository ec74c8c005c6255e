//! What Spur adds to the time to first token when it streams.
//!
//! `cargo build --release -p spur-server && cargo run --release -p spur-benches --bin spur-stream [-- --seconds N --rate R --only sqlite|postgres]`
//!
//! Starts the fake OpenAI-compatible server in this process (model
//! `timed-stream`: it notes when it hands each request's first chunk to the
//! connection), then the release server against it, and sends
//! `POST /v1/chat/stream` at a fixed rate (open loop, default 200/s for
//! 10 s, each a new conversation). For every request it takes the moment
//! the first `delta` event reached this client minus the moment the fake
//! sent that request's first chunk: Spur's share of the first token,
//! measured per request (both instants on this process's clock), never as
//! a difference of percentiles. Each message carries a probe number that
//! the fake sees in the prompt, which is how the two instants are paired.

// A bench tool: a histogram with constant valid bounds cannot fail.
#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::Mutex;

use spur_benches::server::{Failure, Running, first_answer, free_port, start};

const QUESTIONS: &[&str] = &[
    "Do you ship to India?",
    "How long does delivery take?",
    "What is your return policy?",
    "How do refunds work?",
];

/// `--seconds 10 --rate 200 --only sqlite|postgres`.
#[derive(clap::Parser)]
struct Args {
    /// How long the open loop runs, per backend.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Streams started per second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// One backend only.
    #[arg(long)]
    only: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let args = <Args as clap::Parser>::parse();
    let binary = spur_benches::server::binary()?;
    let (llm, fake) = spur_core::testing::fake_openai::start().await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let mut backends = Vec::new();
    if args.only.as_deref() != Some("postgres") {
        let path = std::env::temp_dir().join(format!("spur-stream-{}.db", uuid::Uuid::new_v4()));
        backends.push(("SQLite", format!("sqlite://{}", path.display())));
    }
    if args.only.as_deref() != Some("sqlite") {
        backends.push((
            "PostgreSQL",
            spur_core::testing::postgres::fresh_database().await?,
        ));
    }
    println!(
        "open loop {}/s for {} s, POST /v1/chat/stream, each a new conversation; fake LLM in process (5 ms per chunk)\n",
        args.rate, args.seconds
    );
    for (name, url) in backends {
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let env = [
            ("OPENAI_BASE_URL", llm.as_str()),
            ("OPENAI_API_KEY", "sk-stream"),
            ("OPENAI_MODEL", "timed-stream"),
        ];
        let _server = Running(start(&binary, port, &url, &env)?);
        first_answer(&client, &base).await?;
        if let Ok(mut first) = fake.first_chunks.lock() {
            first.clear();
        }
        let run = open_loop(&client, &base, args.rate, args.seconds).await;
        let sent = fake
            .first_chunks
            .lock()
            .map(|first| first.clone())
            .unwrap_or_default();
        let mut added = histogram();
        let mut unpaired = 0usize;
        for (text, llm_first) in &sent {
            let arrived = probe(text).and_then(|n| run.first_delta.get(&n));
            match arrived {
                Some(arrived) => {
                    let _ = added
                        .record(arrived.saturating_duration_since(*llm_first).as_micros() as u64);
                }
                None => unpaired += 1,
            }
        }
        println!("== {name}");
        println!(
            "achieved {:.0}/s, {} streams, {} errors, {} without a delta or a pairing",
            run.rate,
            run.first_delta.len(),
            run.errors,
            unpaired + run.first_delta.len().saturating_sub(sent.len())
        );
        println!(
            "first delta after the LLM's first chunk, per request: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            ms(added.value_at_quantile(0.5)),
            ms(added.value_at_quantile(0.99)),
            ms(added.max())
        );
        println!(
            "first delta after the request was due (context, includes the fake's 5 ms): p50 {:.2} ms  p99 {:.2} ms\n",
            ms(run.to_first.value_at_quantile(0.5)),
            ms(run.to_first.value_at_quantile(0.99))
        );
    }
    Ok(())
}

/// The probe number a message carries (`... [probe 17]`), wherever the
/// prompt placed the message.
fn probe(text: &str) -> Option<u64> {
    let at = text.rfind("[probe ")? + "[probe ".len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 60 s, 3 significant figures.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

struct Run {
    rate: f64,
    /// When each probe's first `delta` event arrived.
    first_delta: HashMap<u64, Instant>,
    /// From each request's due time to its first delta.
    to_first: Histogram<u64>,
    errors: u64,
}

/// Streams started at a fixed rate whatever the answers do.
async fn open_loop(client: &reqwest::Client, base: &str, rate: u64, seconds: u64) -> Run {
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let arrivals = Arc::new(Mutex::new((HashMap::new(), histogram(), 0u64)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (client, base, arrivals) = (client.clone(), base.to_string(), arrivals.clone());
        tasks.push(tokio::spawn(async move {
            let question = QUESTIONS[i as usize % QUESTIONS.len()];
            let message = format!("{question} [probe {i}]");
            let first = first_delta(&client, &base, &message).await;
            let mut arrivals = arrivals.lock().await;
            match first {
                Some(at) => {
                    arrivals.0.insert(i, at);
                    let _ = arrivals.1.record(at.duration_since(due).as_micros() as u64);
                }
                None => arrivals.2 += 1,
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (first_delta, to_first, errors) = std::mem::replace(
        &mut *arrivals.lock().await,
        (HashMap::new(), histogram(), 0),
    );
    Run {
        rate: first_delta.len() as f64 / elapsed,
        first_delta,
        to_first,
        errors,
    }
}

/// When the stream's first `delta` event arrived; the rest is read to the end.
async fn first_delta(client: &reqwest::Client, base: &str, message: &str) -> Option<Instant> {
    let mut response = client
        .post(format!("{base}/v1/chat/stream"))
        .json(&json!({ "message": message }))
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?;
    let mut seen = String::new();
    let mut first = None;
    while let Ok(Some(chunk)) = response.chunk().await {
        if first.is_none() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: delta") {
                first = Some(Instant::now());
            }
        }
    }
    first
}
