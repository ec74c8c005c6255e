//! Analytics bench: the queries behind `/v1/admin/analytics` (the facts of
//! every conversation of the period and the replies' break-down, then the
//! metrics computed from them) over a PostgreSQL database seeded with
//! `--conversations` conversations (default 100,000) of `--messages` messages
//! each (default 10: 1,000,000 messages) spread over 30 days, with
//! fallbacks, handoffs, ratings and scores among them.
//!
//! `cargo run --release -p spur-benches --bin spur-analytics`
//! (a fresh database on `SPUR_TEST_POSTGRES_URL` or 127.0.0.1:5432).

#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use spur_core::SupportEngine;
use spur_core::insight::AnalyticsOptions;
use spur_core::store::PostgresStore;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    conversations: i64,
    #[arg(long, default_value_t = 10)]
    messages: i64,
    /// Timed runs (after one warm-up).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

const SEED: &[&str] = &[
    // 30 days of conversations from 2026-11-01, a tenth on WhatsApp.
    "INSERT INTO conversations (id, session_id, channel, status, assignee, metadata, last_seq, version, created_at, updated_at)
     SELECT gen_random_uuid(), gen_random_uuid(), CASE WHEN i % 10 = 0 THEN 'whatsapp' ELSE 'web' END,
       CASE WHEN i % 9 = 0 THEN 'agent' WHEN i % 3 = 0 THEN 'closed' ELSE 'automated' END,
       CASE WHEN i % 9 = 0 THEN 'ana' END, '{}', $2, $2,
       TIMESTAMPTZ '2026-11-01 00:00Z' + i * (INTERVAL '30 days' / $1),
       TIMESTAMPTZ '2026-11-01 00:00Z' + i * (INTERVAL '30 days' / $1) + $2 * INTERVAL '20 seconds'
     FROM generate_series(1, $1) i",
    // Customer and assistant in turn; one reply in 40 a fallback; a handoff
    // notice and an agent's answer in the conversations agents hold.
    "INSERT INTO messages (id, conversation_id, seq, sender, text, meta, created_at)
     SELECT gen_random_uuid(), c.id, s,
       CASE WHEN c.status = 'agent' AND s = $1 - 1 THEN 'system'
            WHEN c.status = 'agent' AND s = $1 THEN 'agent'
            WHEN s % 2 = 1 THEN 'customer' ELSE 'assistant' END,
       'Some words a customer or the assistant said.',
       CASE WHEN c.status = 'agent' AND s = $1 - 1 THEN jsonb_build_object('escalation', 'customer_request')
            WHEN c.status = 'agent' AND s = $1 THEN jsonb_build_object('agent', 'ana')
            WHEN s % 2 = 1 THEN '{}'::jsonb
            ELSE jsonb_build_object('tokensIn', 480 + s, 'tokensOut', 60, 'latencyMs', (hashtext(c.id::text) & 4095) + s * 40,
              'usedFallback', (hashtext(c.id::text) + s) % 40 = 0,
              'grounding', jsonb_build_object('verdict', CASE WHEN s % 8 = 0 THEN 'repaired' ELSE 'supported' END)) END,
       c.created_at + s * INTERVAL '20 seconds'
     FROM conversations c, generate_series(1, $1) s",
    "INSERT INTO reply_ratings (message_id, conversation_id, answerer, rating, comment, created_at, updated_at)
     SELECT id, conversation_id, 'bot', CASE WHEN hashtext(id::text) % 4 = 0 THEN 'down' ELSE 'up' END, NULL, created_at, created_at
     FROM messages WHERE sender = 'assistant' AND seq = 2 AND hashtext(conversation_id::text) % 20 = 0",
    "INSERT INTO csat (conversation_id, answerer, score, comment, created_at, updated_at)
     SELECT id, CASE WHEN status = 'agent' THEN 'agent' ELSE 'bot' END, 1 + abs(hashtext(id::text)) % 5, NULL, updated_at, updated_at
     FROM conversations WHERE hashtext(id::text) % 10 = 0",
    "ANALYZE",
];

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let url = spur_core::testing::postgres::fresh_database()
        .await
        .expect("PostgreSQL must be reachable");
    let store = PostgresStore::connect(&url).await.expect("connect");
    let seeding = Instant::now();
    for (i, sql) in SEED.iter().enumerate() {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(*sql));
        if i < 2 {
            query = query.bind(if i == 0 {
                args.conversations
            } else {
                args.messages
            });
        }
        if i == 0 {
            query = query.bind(args.messages);
        }
        query.execute(store.pool()).await.expect("seed");
    }
    println!(
        "seeded {} conversations, {} messages in {:.1} s",
        args.conversations,
        args.conversations * args.messages,
        seeding.elapsed().as_secs_f64()
    );
    let store = Arc::new(store);
    let engine = SupportEngine::builder().store(store.clone()).build();
    let day = |text: &str| text.parse().expect("a date");
    let mut options = AnalyticsOptions::new(
        jiff::tz::TimeZone::get("Asia/Kolkata").expect("zone"),
        Some(day("2026-11-01")),
        Some(day("2026-11-30")),
        time::macros::datetime!(2026-12-08 00:00 UTC),
    );
    options.prices = Some((0.15, 0.6));
    // Each part alone, to say where the time goes.
    {
        use spur_core::store::ConversationStore;
        let query = options.query(None).expect("period");
        let started = Instant::now();
        let facts = store.conversation_facts(&query).await.expect("facts");
        let facts_time = started.elapsed();
        let started = Instant::now();
        let breakdown = store.reply_breakdown(&query).await.expect("breakdown");
        let breakdown_time = started.elapsed();
        let started = Instant::now();
        let _ = spur_core::insight::Analytics::compute(&facts, breakdown, &options);
        println!(
            "parts: facts query {:.0} ms ({} rows), break-down query {:.0} ms, metrics {:.0} ms",
            facts_time.as_secs_f64() * 1000.0,
            facts.len(),
            breakdown_time.as_secs_f64() * 1000.0,
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    for (label, channel) in [
        ("all channels", None),
        ("one channel", Some("whatsapp".to_string())),
    ] {
        let mut times: Vec<Duration> = Vec::new();
        let mut report = None;
        for run in 0..=args.runs {
            let started = Instant::now();
            let r = engine
                .analytics(&options, channel.clone())
                .await
                .expect("analytics");
            if run > 0 {
                times.push(started.elapsed());
            }
            report = Some(r);
        }
        times.sort();
        let report = report.expect("ran");
        println!(
            "{label}: {} conversations, resolution {:.1}%, median {:.0} ms, max {:.0} ms over {} runs",
            report.totals.conversations,
            report.totals.automated_resolution_rate.unwrap_or(0.0) * 100.0,
            times[times.len() / 2].as_secs_f64() * 1000.0,
            times[times.len() - 1].as_secs_f64() * 1000.0,
            times.len()
        );
    }
}
