//! Evaluates the local classifier and the handoff detector on the shared
//! reference data (never copied into this repository).
//!
//! `cargo run --release -p spur-benches --bin spur-eval -- [DATA_DIR]`
//!
//! `spur-eval answers --knowledge DIR --questions FILE.jsonl [--verbose]`
//! grades a shop's answers instead (see `spur_benches::answers`), and
//! `spur-eval tickets --tickets FILE.jsonl [--verbose]` the classifier on
//! hand-written tickets (see `spur_benches::tickets`).
//! (default: `$SPUR_DATA`, else `../shared/data` beside the workspace).
//! With `OPENAI_BASE_URL` / `OPENAI_API_KEY` set, the LLM classifier is
//! evaluated too, on the first `SPUR_EVAL_LLM_LIMIT` tickets (default 300).

use std::path::PathBuf;
use std::time::Instant;

use serde::Deserialize;
use spur_core::classify::eval::Evaluation;
use spur_core::classify::{Classification, LlmClassifier, LocalClassifier};
use spur_core::escalation::{EscalationPolicy, HandoffDetector};

#[derive(Deserialize)]
struct Ticket {
    id: String,
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

/// The LLM classifier when `OPENAI_BASE_URL` or `OPENAI_API_KEY` is set
/// (model from `OPENAI_MODEL`, default gpt-4o-mini).
fn llm_classifier() -> Result<Option<LlmClassifier>, Box<dyn std::error::Error>> {
    Ok(spur_benches::llm_provider()?
        .map(|provider| LlmClassifier::new(provider, LocalClassifier::default())))
}

fn data_dir() -> PathBuf {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("SPUR_DATA").ok())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

/// A fixed half of the tickets (by id) the lexicon was checked against
/// while it was written; the other half was never looked at.
fn dev_half(ticket: &Ticket) -> bool {
    u64::from_str_radix(ticket.id.get(..8).unwrap_or("0"), 16).unwrap_or(0) % 2 == 0
}

fn ticket_text(t: &Ticket) -> String {
    format!("{}\n{}", t.subject.as_deref().unwrap_or_default(), t.body)
}

/// Category and priority evaluations of `classify` over `tickets`.
fn evaluate<'a>(
    tickets: impl Iterator<Item = &'a Ticket>,
    mut classify: impl FnMut(&Ticket) -> Classification,
) -> (Evaluation, Evaluation) {
    let mut category = Evaluation::new(&CATEGORIES);
    let mut priority = Evaluation::new(&PRIORITIES);
    for t in tickets {
        let c = classify(t);
        category.add(&t.spur_category, &c.category);
        priority.add(&t.priority, &c.priority);
    }
    (category, priority)
}

const CATEGORIES: [&str; 3] = ["billing", "technical", "general"];
const PRIORITIES: [&str; 3] = ["low", "medium", "high"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("answers") {
        let runtime = tokio::runtime::Runtime::new()?;
        let passed = runtime.block_on(spur_benches::answers::main(&args[1..]))?;
        if !passed {
            std::process::exit(1);
        }
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("tickets") {
        if !spur_benches::tickets::main(&args[1..])? {
            std::process::exit(1);
        }
        return Ok(());
    }
    let dir = data_dir();
    let classifier = LocalClassifier::default();
    let categories = CATEGORIES;

    let tickets: Vec<Ticket> =
        std::fs::read_to_string(dir.join("support_tickets/tickets_en.jsonl"))
            .map_err(|e| format!("{}: {e}", dir.join("support_tickets").display()))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let (category, priority) = evaluate(tickets.iter(), |t| {
        classifier.classify_text(&ticket_text(t))
    });
    let per_ticket = started.elapsed() / tickets.len().max(1) as u32;
    println!("{}", category.report("support_tickets category"));
    println!("{}", priority.report("support_tickets priority"));
    println!("  ({per_ticket:?} per ticket, debug or release as built)");
    for (name, dev) in [("dev half", true), ("held-out half", false)] {
        let (category, _) = evaluate(tickets.iter().filter(|t| dev_half(t) == dev), |t| {
            classifier.classify_text(&ticket_text(t))
        });
        println!(
            "  category on the {name}: n={} accuracy={:.1}% macro-F1={:.3}",
            category.total(),
            100.0 * category.accuracy(),
            category.macro_f1()
        );
    }
    // `SPUR_EVAL_ERRORS=general:technical` prints dev-half tickets of one
    // gold category classified as another (never the held-out half).
    if let Ok(pair) = std::env::var("SPUR_EVAL_ERRORS")
        && let Some((gold, predicted)) = pair.split_once(':')
    {
        for t in tickets
            .iter()
            .filter(|t| dev_half(t) && t.spur_category == gold)
            .take(400)
        {
            let c = classifier.classify_text(&ticket_text(t));
            if c.category == predicted {
                println!(
                    "  [{gold}->{predicted}] {}",
                    ticket_text(t).replace('\n', " ")
                );
            }
        }
    }
    println!();
    if let Some(llm) = llm_classifier()? {
        let limit: usize = std::env::var("SPUR_EVAL_LLM_LIMIT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        let runtime = tokio::runtime::Runtime::new()?;
        let mut failures = 0;
        let (category, priority) = evaluate(tickets.iter().take(limit), |t| {
            runtime
                .block_on(llm.try_classify(&ticket_text(t)))
                .unwrap_or_else(|_| {
                    failures += 1;
                    Classification::fallback(classifier.taxonomy())
                })
        });
        println!(
            "{}",
            category.report(&format!("support_tickets category, LLM ({} first)", limit))
        );
        println!("{}", priority.report("support_tickets priority, LLM"));
        println!("  ({failures} calls failed and count as the fallback)\n");
    }

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
