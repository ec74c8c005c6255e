//! Retrieval latency percentiles and memory over a large knowledge base:
//! `cargo run --release -p spur-benches --bin spur-retrieval -- [CHUNKS]
//! [--embedding-model DIR]` (default 10,000 chunks; with a model, hybrid
//! retrieval: the question embedded, exact cosine over every chunk, fused
//! with the lexical ranking). One thread; varied customer questions.

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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let model = args
        .iter()
        .position(|a| a == "--embedding-model")
        .and_then(|i| args.get(i + 1));
    // The model's own tables are not the index: load it before measuring.
    let embedder = match model {
        Some(dir) => Some(std::sync::Arc::new(
            spur_core::knowledge::StaticEmbedder::from_dir(dir)?,
        )),
        None => None,
    };
    let before = rss();
    let started = Instant::now();
    let mut kb = spur_benches::knowledge(n);
    if let Some(embedder) = embedder {
        kb = kb.with_embedder(embedder);
    }
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
    let mode = if model.is_some() { "hybrid" } else { "lexical" };
    println!(
        "{mode} retrieval over {n} chunks: p50 {} us, p99 {} us, max {} us ({} searches); \
         index built in {:.0?}, resident memory +{:.1} MB (vectors {:.1} MB)",
        histogram.value_at_quantile(0.5),
        histogram.value_at_quantile(0.99),
        histogram.max(),
        histogram.len(),
        built,
        memory as f64 / 1e6,
        kb.vector_bytes() as f64 / 1e6,
    );
    Ok(())
}
