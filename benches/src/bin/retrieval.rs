//! Retrieval latency percentiles and memory over a large knowledge base:
//! `cargo run --release -p spur-benches --bin spur-retrieval -- [CHUNKS]`
//! (default 10,000). One thread; varied customer questions.

use std::hint::black_box;
use std::time::Instant;

use hdrhistogram::Histogram;

const QUESTIONS: &[&str] = &[
    "how long does delivery to India take for a refund",
    "can I send it back if it doesn't fit",
    "do you ship to Lyon?",
    "which payment methods do you take",
    "my gift card code is not working",
    "wie lange dauert die Lieferung",
    "where is my order",
    "is there a warranty on sizing product line 42",
    "I want my money back",
    "retrun polcy for acounts",
];

/// Resident memory in bytes (Linux).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let before = rss();
    let started = Instant::now();
    let kb = spur_benches::knowledge(n);
    let built = started.elapsed();
    let memory = rss().saturating_sub(before);
    let mut histogram = Histogram::<u64>::new(3)?;
    let mut slowest = vec![0u64; QUESTIONS.len()];
    for round in 0..200 {
        for (q, question) in QUESTIONS.iter().enumerate() {
            let t = Instant::now();
            black_box(kb.search(black_box(question), 3));
            let micros = t.elapsed().as_micros() as u64;
            if round > 0 {
                histogram.record(micros).ok();
                slowest[q] = slowest[q].max(micros);
            }
        }
    }
    if std::env::var_os("SPUR_RETRIEVAL_DETAIL").is_some() {
        for (question, micros) in QUESTIONS.iter().zip(&slowest) {
            println!("  slowest {micros:>6} us  {question:?}");
        }
    }
    println!(
        "retrieval over {n} chunks: p50 {} us, p99 {} us, max {} us ({} searches); \
         index built in {:.0?}, resident memory +{:.1} MB",
        histogram.value_at_quantile(0.5),
        histogram.value_at_quantile(0.99),
        histogram.max(),
        histogram.len(),
        built,
        memory as f64 / 1e6,
    );
    Ok(())
}
