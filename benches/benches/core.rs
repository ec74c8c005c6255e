//! Core hot paths on realistic inputs. `cargo bench -p spur-benches`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use spur_benches::{knowledge, transcript};
use spur_core::classify::LocalClassifier;
use spur_core::knowledge::KnowledgeBase;
use spur_core::prompt::{PromptBuilder, PromptConfig, PromptInput, tokens};

const TICKET: &str = "Subject: Charged twice after upgrading my plan\n\nHello, I upgraded to the annual plan \
yesterday and my credit card statement shows two charges of $129. The invoice in my account only lists one. \
Could you please refund the duplicate payment as soon as possible? I also cannot log in to the billing portal \
since the upgrade, it shows an error. Thanks, Priya";

fn prompt_build_and_trim(c: &mut Criterion) {
    prompt_bench(
        c,
        "prompt_build_and_trim",
        PromptConfig::default(),
        &[10, 100, 1_000, 10_000],
    );
}

/// The trim bound by the token budget, not the message cap: every message
/// that fits a 128k-token context is kept, so the work grows with the
/// history (the capped bench above stops at 20 messages whatever the size).
fn prompt_trim_to_budget(c: &mut Criterion) {
    let config = PromptConfig {
        max_history_messages: usize::MAX,
        max_input_tokens: 128_000,
        ..PromptConfig::default()
    };
    prompt_bench(c, "prompt_trim_to_budget", config, &[100, 1_000, 10_000]);
}

/// One prompt for the returns question over histories of `sizes`,
/// printing how many prompt messages each keeps.
fn prompt_bench(c: &mut Criterion, name: &str, config: PromptConfig, sizes: &[usize]) {
    let counter = tokens::for_model("gpt-4o-mini");
    let kb = KnowledgeBase::demo();
    let passages = kb.search("can I return shoes I ordered last week?", 3);
    let builder = PromptBuilder::new(config, counter.as_ref(), kb.policies(), kb.facts());
    let build = |history: &[spur_core::conversation::Message]| {
        builder.build(
            counter.as_ref(),
            PromptInput {
                policies: kb.policies(),
                facts: kb.facts(),
                passages: &passages,
                history,
                message: "Can I return the shoes I ordered last week?",
            },
        )
    };
    let mut group = c.benchmark_group(name);
    for &n in sizes {
        let history = transcript(n);
        println!(
            "{name}/{n}: {} prompt messages kept",
            build(&history).messages.len()
        );
        group.bench_with_input(BenchmarkId::from_parameter(n), &history, |b, history| {
            b.iter(|| build(black_box(history)))
        });
    }
    group.finish();
}

fn token_counting(c: &mut Criterion) {
    let counter = tokens::for_model("gpt-4o-mini");
    let text = transcript(200)
        .iter()
        .map(|m| m.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let mut group = c.benchmark_group("count_tokens");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("o200k", |b| b.iter(|| counter.count(black_box(&text))));
    group.finish();
}

fn retrieval(c: &mut Criterion) {
    let mut group = c.benchmark_group("retrieve_top3");
    for n in [1_000, 10_000] {
        let kb = knowledge(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &kb, |b, kb| {
            b.iter(|| {
                kb.search(
                    black_box("how long does delivery to India take for a refund"),
                    3,
                )
            })
        });
    }
    group.finish();
}

/// The guard on a typical LLM reply against the passages of its turn.
fn grounding_check(c: &mut Criterion) {
    let kb = spur_core::KnowledgeBase::demo();
    let question = "How long do I have to return shoes, and when is support open?";
    let passages = kb.search(question, 3);
    let facts = kb.facts().describe();
    let reply = "You can return unused items within 14 days of delivery, in their original \
                 packaging. Our support team is open Monday to Friday, 9am to 6pm IST, and \
                 refunds go back to your original payment method.";
    c.bench_function("grounding_check", |b| {
        b.iter(|| {
            let mut texts: Vec<&str> = vec![question, &facts];
            texts.extend(kb.policies().iter().map(|p| p.body.as_str()));
            texts.extend(passages.iter().map(|p| p.text.as_str()));
            let sources = spur_core::grounding::Sources::new(texts);
            spur_core::grounding::check(black_box(reply), &sources)
        })
    });
}

fn classification(c: &mut Criterion) {
    let classifier = LocalClassifier::default();
    let mut group = c.benchmark_group("classify_local");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ticket", |b| {
        b.iter(|| classifier.classify_text(black_box(TICKET)))
    });
    group.finish();
}

criterion_group!(
    benches,
    prompt_build_and_trim,
    prompt_trim_to_budget,
    token_counting,
    retrieval,
    grounding_check,
    classification
);
criterion_main!(benches);
