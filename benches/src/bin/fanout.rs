//! Fan-out latency across instances: an agent's reply on instance B reaching
//! the customer's live feed on instance A through the event bus, while
//! thousands of other customers' feeds sit open on A.
//!
//! `cargo build --release -p spur-server && cargo run --release -p spur-benches --bin spur-fanout -- [--feeds 1000,10000] [--samples 200] [--bus redis|nats]`
//!
//! Two release servers on one fresh PostgreSQL database (offline responder),
//! `EVENT_BUS=redis` (`REDIS_URL`, default loopback) and then `nats`
//! (`NATS_URL`, default loopback). For each size: that many idle customer
//! feeds are opened on A; then, one sample at a time, a waiting customer's
//! feed is opened on A, the agent replies on B, and the time from sending
//! the reply to its `message` event on A's feed is recorded (the reply's
//! own request on B is in it, and reported beside it).

// A bench tool: a histogram with constant valid bounds cannot fail.
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use spur_benches::server::{
    Failure, Running, conversations, first_answer, free_port, open_feeds, rss_kib, say, seed, start,
};

const ADMIN_EMAIL: &str = "bench@example.com";
const ADMIN_PASSWORD: &str = "bench-password-0123456789";

/// `--feeds 1000,10000 --samples 200 --bus redis|nats`.
#[derive(clap::Parser)]
struct Args {
    /// Idle customer feeds open on A, one size after another.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    feeds: Vec<usize>,
    /// Replies timed per size.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Only this bus (default: redis, then nats).
    #[arg(long)]
    bus: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let args = <Args as clap::Parser>::parse();
    let binary = spur_benches::server::binary()?;
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let nats = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let buses: Vec<(&str, &str, &str)> = [
        ("redis", "REDIS_URL", redis.as_str()),
        ("nats", "NATS_URL", nats.as_str()),
    ]
    .into_iter()
    .filter(|(name, ..)| args.bus.as_deref().is_none_or(|b| b == *name))
    .collect();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .timeout(Duration::from_secs(60))
        .build()?;
    for (bus, url_var, url) in buses {
        for &n in &args.feeds {
            let database = spur_core::testing::postgres::fresh_database().await?;
            let stream = format!("spur-fanout-{}", uuid::Uuid::new_v4().simple());
            let env = [
                ("EVENT_BUS", bus),
                (url_var, url),
                ("EVENT_BUS_STREAM", stream.as_str()),
                ("JWT_SECRET", "fanout-bench-secret-0123456789abcdef"),
                ("ADMIN_EMAIL", ADMIN_EMAIL),
                ("ADMIN_PASSWORD", ADMIN_PASSWORD),
                ("FEEDS_PER_SESSION", "0"),
            ];
            seed(&binary, &database, &env)?;
            let (port_a, port_b) = (free_port()?, free_port()?);
            let a = Running(start(&binary, port_a, &database, &env)?);
            let base_a = format!("http://127.0.0.1:{port_a}");
            first_answer(&client, &base_a).await?;
            let _b = Running(start(&binary, port_b, &database, &env)?);
            let base_b = format!("http://127.0.0.1:{port_b}");
            first_answer(&client, &base_b).await?;
            let run = Run {
                client: client.clone(),
                a: base_a,
                b: base_b,
            };
            run.measure(bus, n, args.samples, &a).await?;
        }
    }
    Ok(())
}

struct Run {
    client: reqwest::Client,
    a: String,
    b: String,
}

impl Run {
    async fn measure(
        &self,
        bus: &str,
        n: usize,
        samples: usize,
        a: &Running,
    ) -> Result<(), Failure> {
        let token = self.login().await?;
        let waiting = self.waiting_customers(&token, samples).await?;
        let idle = conversations(&self.client, &self.a, n).await?;
        let before = rss_kib(&a.0).ok_or("no /proc status")?;
        let feeds = open_feeds(std::slice::from_ref(&self.client), &self.a, &idle).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let open = rss_kib(&a.0).ok_or("no /proc status")?;

        let mut fanout = histogram();
        let mut request = histogram();
        for (i, (session, conversation)) in waiting.iter().enumerate() {
            let text = format!("Here is your answer, number {i}.");
            let (to_feed, on_b) = self.one_reply(&token, session, conversation, &text).await?;
            fanout.record(to_feed.as_micros().max(1) as u64)?;
            request.record(on_b.as_micros().max(1) as u64)?;
        }
        drop(feeds);
        println!(
            "EVENT_BUS={bus}, {n} idle feeds on A ({:.1} KiB each): reply on B -> customer feed on A \
             p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({samples} replies); the reply's request on B p50 {:.2} ms, p99 {:.2} ms",
            open.saturating_sub(before) as f64 / n.max(1) as f64,
            ms(fanout.value_at_quantile(0.5)),
            ms(fanout.value_at_quantile(0.99)),
            ms(fanout.max()),
            ms(request.value_at_quantile(0.5)),
            ms(request.value_at_quantile(0.99)),
        );
        Ok(())
    }

    async fn login(&self) -> Result<String, Failure> {
        let login: Value = self
            .client
            .post(format!("{}/v1/auth/login", self.b))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(login["token"].as_str().ok_or("no token")?.to_string())
    }

    /// `count` customers who asked for a person on A, each claimed by the
    /// agent on B: (session, conversation id).
    async fn waiting_customers(
        &self,
        token: &str,
        count: usize,
    ) -> Result<Vec<(String, String)>, Failure> {
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let marker = format!("fanoutsample{i}x");
            let session = say(
                &self.client,
                &self.a,
                &format!("I want to talk to a human please, ref {marker}"),
            )
            .await?;
            let found: Value = self
                .client
                .get(format!("{}/v1/agent/conversations", self.b))
                .query(&[("view", "all"), ("q", marker.as_str())])
                .bearer_auth(token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let conversation = found["conversations"][0]["id"]
                .as_str()
                .ok_or_else(|| format!("{marker}: not in the inbox: {found}"))?
                .to_string();
            self.act(token, &conversation, "claim", json!({})).await?;
            out.push((session, conversation));
        }
        Ok(out)
    }

    /// Opens the customer's feed on A, replies on B, and returns the time
    /// from sending the reply to its arrival on the feed, and the reply
    /// request's own time.
    async fn one_reply(
        &self,
        token: &str,
        session: &str,
        conversation: &str,
        text: &str,
    ) -> Result<(Duration, Duration), Failure> {
        let mut feed = self
            .client
            .get(format!("{}/v1/chat/events/{session}", self.a))
            .send()
            .await?
            .error_for_status()?;
        feed.chunk().await?.ok_or("the feed ended")?;
        let wanted = text.to_string();
        let arrival = tokio::spawn(async move {
            let mut seen = String::new();
            while let Some(chunk) = feed.chunk().await? {
                seen.push_str(&String::from_utf8_lossy(&chunk));
                if seen.contains("event: message") && seen.contains(&wanted) {
                    return Ok::<_, Failure>(Instant::now());
                }
            }
            Err("the feed ended before the reply".into())
        });
        let sent = Instant::now();
        self.act(token, conversation, "reply", json!({ "text": text }))
            .await?;
        let answered = sent.elapsed();
        let arrived = tokio::time::timeout(Duration::from_secs(10), arrival)
            .await
            .map_err(|_| "the reply did not reach the feed within 10 s")???;
        Ok((arrived.duration_since(sent), answered))
    }

    async fn act(
        &self,
        token: &str,
        conversation: &str,
        action: &str,
        body: Value,
    ) -> Result<(), Failure> {
        self.client
            .post(format!(
                "{}/v1/agent/conversations/{conversation}/{action}",
                self.b
            ))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 60 s, 3 significant figures.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}
