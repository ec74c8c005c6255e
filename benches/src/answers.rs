//! `spur-eval answers`: how a shop's customers fare. Each question goes
//! through a real engine (its own conversation) over the shop's knowledge
//! directory; the outcome is correct, handed off or wrong.
//!
//! A question line (JSONL): `{"q": "...", "expect": ["facts a right answer
//! states"], "forbid": ["facts it must not state"], "handoff": true (the
//! knowledge does not answer it), "smalltalk": true, "article": "id the
//! retriever should find"}`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use spur_core::knowledge::{KnowledgeBase, local_model};
use spur_core::llm::LlmProvider;
use spur_core::{EngineConfig, Inbound, SupportEngine};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub q: String,
    #[serde(default)]
    pub expect: Vec<String>,
    #[serde(default)]
    pub forbid: Vec<String>,
    #[serde(default)]
    pub handoff: bool,
    #[serde(default)]
    pub smalltalk: bool,
    pub article: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Correct,
    HandedOff,
    Wrong,
}

/// One question's result.
#[derive(Debug)]
pub struct Graded {
    pub question: Question,
    pub outcome: Outcome,
    /// What the customer read (reply, then notice).
    pub said: String,
    pub grounding: Option<String>,
    pub top3: Vec<String>,
    /// The best passage's measures: "coverage/title coverage/similarity".
    pub best: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub graded: Vec<Graded>,
}

impl Report {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.graded.iter().filter(|g| g.outcome == outcome).count()
    }

    /// Recall@k over the questions naming their article.
    pub fn recall(&self, k: usize) -> Option<f64> {
        let named: Vec<&Graded> = self
            .graded
            .iter()
            .filter(|g| g.question.article.is_some())
            .collect();
        if named.is_empty() {
            return None;
        }
        let hits = named
            .iter()
            .filter(|g| {
                let want = g.question.article.as_deref().unwrap_or_default();
                g.top3.iter().take(k).any(|id| id == want)
            })
            .count();
        Some(hits as f64 / named.len() as f64)
    }

    pub fn summary(&self, name: &str) -> String {
        let n = self.graded.len();
        let pct = |x: usize| 100.0 * x as f64 / n.max(1) as f64;
        let (c, h, w) = (
            self.count(Outcome::Correct),
            self.count(Outcome::HandedOff),
            self.count(Outcome::Wrong),
        );
        let recall = |k| {
            self.recall(k)
                .map_or("n/a".to_string(), |r| format!("{:.1}%", 100.0 * r))
        };
        let verdicts = |v: &str| {
            self.graded
                .iter()
                .filter(|g| g.grounding.as_deref() == Some(v))
                .count()
        };
        format!(
            "{name}: n={n} correct={c} ({:.1}%) handed_off={h} ({:.1}%) wrong={w} ({:.1}%) \
             recall@1={} recall@3={} grounding supported={} repaired={} blocked={}",
            pct(c),
            pct(h),
            pct(w),
            recall(1),
            recall(3),
            verdicts("Supported"),
            verdicts("Repaired"),
            verdicts("Blocked"),
        )
    }
}

pub fn read_questions(path: &Path) -> Result<Vec<Question>, String> {
    crate::read_jsonl(path)
}

fn contains(text: &str, fact: &str) -> bool {
    text.to_lowercase().contains(&fact.to_lowercase())
}

/// Grades what the customer read. A handoff is right only where the
/// knowledge has no answer; an answer is right only with every expected
/// fact; a forbidden fact anywhere is wrong.
fn grade(question: &Question, reply: &str, handed_off: bool, said: &str) -> Outcome {
    if question.forbid.iter().any(|f| contains(said, f)) {
        return Outcome::Wrong;
    }
    if question.handoff {
        return if handed_off {
            Outcome::Correct
        } else {
            Outcome::Wrong
        };
    }
    if handed_off {
        return Outcome::HandedOff;
    }
    if question.expect.iter().all(|f| contains(reply, f)) {
        Outcome::Correct
    } else {
        Outcome::Wrong
    }
}

/// Runs every question through an engine over `knowledge` (offline, or
/// `provider` when given).
pub async fn evaluate(
    knowledge: &Path,
    embedding_model: Option<&Path>,
    questions: &[Question],
    provider: Option<Arc<dyn LlmProvider>>,
) -> Result<Report, String> {
    let mut kb = KnowledgeBase::from_dir(knowledge).map_err(|e| e.to_string())?;
    if let Some(dir) = embedding_model {
        kb = kb.with_embedder(local_model(dir).map_err(|e| e.to_string())?);
    }
    for problem in kb.problems() {
        eprintln!("warning: {problem}");
    }
    let kb = Arc::new(kb);
    let mut builder = SupportEngine::builder()
        .shared_knowledge(kb.clone())
        .config(EngineConfig::default());
    if let Some(provider) = provider {
        builder = builder.provider(provider);
    }
    let engine = builder.build();
    let mut report = Report::default();
    for question in questions {
        let passages = kb.search(&question.q, 3);
        let best = passages.first().map_or("-".into(), |p| {
            let sim = p.similarity.map_or("-".into(), |s| format!("{s:.2}"));
            format!("{:.2}/{:.2}/{sim}", p.confidence, p.title_coverage)
        });
        let top3 = passages.into_iter().map(|p| p.article_id).collect();
        let turn = engine
            .send_message(Inbound::new(question.q.clone()))
            .await
            .map_err(|e| format!("{:?}: {e}", question.q))?;
        let reply = turn
            .reply
            .as_ref()
            .map(|m| m.text.clone())
            .unwrap_or_default();
        let notice = turn.notice.as_ref().map(|m| m.text.clone());
        let handed_off = turn.escalation.is_some();
        let said = match &notice {
            Some(n) => format!("{reply}\n{n}"),
            None => reply.clone(),
        };
        let grounding = turn
            .reply
            .as_ref()
            .and_then(|m| m.meta.grounding.as_ref())
            .map(|g| format!("{:?}", g.verdict));
        report.graded.push(Graded {
            outcome: grade(question, &reply, handed_off, &said),
            question: question.clone(),
            said,
            grounding,
            top3,
            best,
        });
    }
    Ok(report)
}

/// `spur-eval answers --knowledge DIR --questions FILE [--embedding-model DIR]
/// [--verbose] [--min-correct PCT] [--max-wrong N]`: exits non-zero below
/// the thresholds.
pub async fn main(args: &[String]) -> Result<bool, String> {
    let mut knowledge: Option<PathBuf> = None;
    let mut questions: Option<PathBuf> = None;
    let mut embedding_model: Option<PathBuf> = None;
    let (mut verbose, mut min_correct, mut max_wrong) = (false, 0.0f64, usize::MAX);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--knowledge" => knowledge = Some(value()?.into()),
            "--questions" => questions = Some(value()?.into()),
            "--embedding-model" => embedding_model = Some(value()?.into()),
            "--verbose" | "-v" => verbose = true,
            "--min-correct" => min_correct = value()?.parse().map_err(|e| format!("{e}"))?,
            "--max-wrong" => max_wrong = value()?.parse().map_err(|e| format!("{e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let knowledge = knowledge.ok_or("--knowledge DIR is required")?;
    let questions_path = questions.ok_or("--questions FILE.jsonl is required")?;
    let questions = read_questions(&questions_path)?;
    let provider = crate::llm_provider().map_err(|e| e.to_string())?;
    let mode = match (provider.is_some(), embedding_model.is_some()) {
        (true, true) => "llm, dense",
        (true, false) => "llm",
        (false, true) => "offline, dense",
        (false, false) => "offline",
    };
    let report = evaluate(&knowledge, embedding_model.as_deref(), &questions, provider).await?;
    if verbose {
        for g in &report.graded {
            println!(
                "{:<9} {:?}\n          said: {}\n          top3: {:?} best (coverage/title/similarity): {} grounding: {}",
                format!("{:?}", g.outcome),
                g.question.q,
                g.said.replace('\n', " / "),
                g.top3,
                g.best,
                g.grounding.as_deref().unwrap_or("-"),
            );
        }
    }
    let name = format!("{} ({mode})", questions_path.display());
    println!("{}", report.summary(&name));
    let correct = 100.0 * report.count(Outcome::Correct) as f64 / questions.len().max(1) as f64;
    let wrong = report.count(Outcome::Wrong);
    let pass = correct >= min_correct && wrong <= max_wrong;
    if !pass {
        println!(
            "FAILED: correct {correct:.1}% (minimum {min_correct}%), wrong {wrong} (maximum {max_wrong})"
        );
    }
    Ok(pass)
}
