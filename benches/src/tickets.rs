//! `spur-eval tickets`: the local classifier on hand-written tickets in
//! several languages (eval/tickets/*.jsonl), by language and overall.
//!
//! A ticket line (JSONL): `{"lang": "es", "text": "...", "category":
//! "billing", "priority": "high"}`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use spur_core::classify::LocalClassifier;
use spur_core::classify::eval::Evaluation;

const CATEGORIES: [&str; 3] = ["billing", "technical", "general"];
const PRIORITIES: [&str; 3] = ["low", "medium", "high"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ticket {
    lang: String,
    text: String,
    category: String,
    priority: String,
}

/// `spur-eval tickets --tickets FILE [--verbose] [--min-category PCT]
/// [--min-priority PCT]`: exits non-zero below the thresholds.
pub fn main(args: &[String]) -> Result<bool, String> {
    let mut path: Option<PathBuf> = None;
    let (mut verbose, mut min_category, mut min_priority) = (false, 0.0f64, 0.0f64);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--tickets" => path = Some(value()?.into()),
            "--verbose" | "-v" => verbose = true,
            "--min-category" => min_category = value()?.parse().map_err(|e| format!("{e}"))?,
            "--min-priority" => min_priority = value()?.parse().map_err(|e| format!("{e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let path = path.ok_or("--tickets FILE.jsonl is required")?;
    let tickets: Vec<Ticket> = crate::read_jsonl(&path)?;
    let classifier = LocalClassifier::default();
    let mut category = Evaluation::new(&CATEGORIES);
    let mut priority = Evaluation::new(&PRIORITIES);
    // Per language: (tickets, category right, priority right).
    let mut by_lang: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for t in &tickets {
        let c = classifier.classify_text(&t.text);
        category.add(&t.category, &c.category);
        priority.add(&t.priority, &c.priority);
        let slot = by_lang.entry(t.lang.as_str()).or_default();
        slot.0 += 1;
        slot.1 += usize::from(c.category == t.category);
        slot.2 += usize::from(c.priority == t.priority);
        if verbose && (c.category != t.category || c.priority != t.priority) {
            let mark = |ok: bool| if ok { ' ' } else { '!' };
            println!(
                "{}{} {:>9}/{:<6} (gold {}/{}) [{}] {}",
                mark(c.category == t.category),
                mark(c.priority == t.priority),
                c.category,
                c.priority,
                t.category,
                t.priority,
                t.lang,
                t.text
            );
        }
    }
    let name = path.display();
    println!("{}", category.report(&format!("{name} category")));
    println!("{}", priority.report(&format!("{name} priority")));
    for (lang, (n, cat, pri)) in &by_lang {
        println!(
            "  {lang:<9} n={n:<3} category {:.1}%  priority {:.1}%",
            100.0 * *cat as f64 / *n as f64,
            100.0 * *pri as f64 / *n as f64
        );
    }
    let (cat, pri) = (100.0 * category.accuracy(), 100.0 * priority.accuracy());
    let pass = cat >= min_category && pri >= min_priority;
    if !pass {
        println!(
            "FAILED: category {cat:.1}% (minimum {min_category}%), priority {pri:.1}% (minimum {min_priority}%)"
        );
    }
    Ok(pass)
}
