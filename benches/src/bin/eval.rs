//! Evaluates the local classifier and the handoff detector on the shared
//! reference data (never copied into this repository).
//!
//! `cargo run --release -p spur-benches --bin spur-eval -- [DATA_DIR]`
//! (default: `$SPUR_DATA`, else `../shared/data` beside the workspace).

use std::path::PathBuf;
use std::time::Instant;

use serde::Deserialize;
use spur_core::classify::LocalClassifier;
use spur_core::classify::eval::Evaluation;
use spur_core::escalation::{EscalationPolicy, HandoffDetector};

#[derive(Deserialize)]
struct Ticket {
    subject: Option<String>,
    body: String,
    priority: String,
    spur_category: String,
}

#[derive(Deserialize)]
struct Bitext {
    instruction: String,
    intent: String,
    category: String,
}

fn bitext_category(row: &Bitext) -> &'static str {
    match row.category.as_str() {
        "INVOICE" | "PAYMENT" | "REFUND" | "CANCELLATION_FEE" => "billing",
        _ if row.intent == "recover_password" || row.intent == "registration_problems" => {
            "technical"
        }
        _ => "general",
    }
}

fn data_dir() -> PathBuf {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("SPUR_DATA").ok())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = data_dir();
    let classifier = LocalClassifier::default();
    let categories = ["billing", "technical", "general"];

    let tickets: Vec<Ticket> =
        std::fs::read_to_string(dir.join("support_tickets/tickets_en.jsonl"))
            .map_err(|e| format!("{}: {e}", dir.join("support_tickets").display()))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
    let mut category = Evaluation::new(&categories);
    let mut priority = Evaluation::new(&["low", "medium", "high"]);
    let started = Instant::now();
    for t in &tickets {
        let text = format!("{}\n{}", t.subject.as_deref().unwrap_or_default(), t.body);
        let c = classifier.classify_text(&text);
        category.add(&t.spur_category, &c.category);
        priority.add(&t.priority, &c.priority);
    }
    let per_ticket = started.elapsed() / tickets.len().max(1) as u32;
    println!("{}", category.report("support_tickets category"));
    println!("{}", priority.report("support_tickets priority"));
    println!("  ({per_ticket:?} per ticket, debug or release as built)\n");

    let mut reader =
        csv::Reader::from_path(dir.join("bitext/bitext_cs_4514rows_commit8b6ca3d_2023-08-18.csv"))?;
    let rows: Vec<Bitext> = reader.deserialize().collect::<Result<_, _>>()?;
    let mut bitext = Evaluation::new(&categories);
    let detector = HandoffDetector::default();
    let threshold = EscalationPolicy::default().request_threshold;
    let (mut tp, mut fn_, mut fp, mut tn) = (0usize, 0usize, 0usize, 0usize);
    let mut misses = Vec::new();
    let mut false_alarms = Vec::new();
    for row in &rows {
        bitext.add(
            bitext_category(row),
            &classifier.classify_text(&row.instruction).category,
        );
        let asks = detector.request_score(&row.instruction) >= threshold;
        let wants_person =
            row.intent == "contact_human_agent" || row.intent == "contact_customer_service";
        match (wants_person, asks) {
            (true, true) => tp += 1,
            (true, false) => {
                fn_ += 1;
                misses.push(&row.instruction);
            }
            (false, true) => {
                fp += 1;
                false_alarms.push(format!("[{}] {}", row.intent, row.instruction));
            }
            (false, false) => tn += 1,
        }
    }
    println!("{}", bitext.report("bitext category"));
    println!(
        "\nbitext handoff detection: recall={:.1}% ({tp}/{}) false handoffs={:.2}% ({fp}/{})",
        100.0 * tp as f64 / (tp + fn_).max(1) as f64,
        tp + fn_,
        100.0 * fp as f64 / (fp + tn).max(1) as f64,
        fp + tn
    );
    if std::env::var("SPUR_EVAL_VERBOSE").is_ok() {
        for m in misses.iter().take(20) {
            println!("  missed: {m}");
        }
        for f in false_alarms.iter().take(20) {
            println!("  false:  {f}");
        }
    }
    Ok(())
}
