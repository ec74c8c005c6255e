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

/// The engine's own work for tools, without a tool's or a model's time:
/// one round of one call (arguments parsed and checked against a schema,
/// dispatch, the result serialised, recorded and turned into evidence
/// lines) with 100 tools registered, and the definitions of 100 tools
/// offered in a turn's request.
fn tool_round(c: &mut Criterion) {
    use spur_core::conversation::ConversationId;
    use spur_core::llm::ToolCall;
    use spur_core::tools::{ToolContext, ToolRegistry, ToolsConfig, tool_fn};
    use std::sync::Arc;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Order {
        /// The order number.
        order_number: String,
        /// Whose order.
        email: Option<String>,
    }
    let mut tools = ToolRegistry::new();
    for i in 0..100 {
        let tool = tool_fn(
            format!("tool_{i}"),
            "Looks an order up by its number and returns its status.",
            |order: Order, _context| async move {
                Ok(
                    serde_json::json!({"order": order.order_number, "status": "shipped", "carrier": "DHL", "eta": "Thursday"}),
                )
            },
        );
        tools.register(Arc::new(tool)).unwrap();
    }
    let context = ToolContext::new(
        ConversationId(uuid::Uuid::nil()),
        None,
        Arc::new(KnowledgeBase::demo()),
    );
    let config = ToolsConfig::default();
    let call = [ToolCall {
        id: "call_1".into(),
        name: "tool_42".into(),
        arguments: r#"{"order_number": "1042", "email": "ana@example.com"}"#.into(),
    }];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("tool_round");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_call_100_registered", |b| {
        b.iter(|| runtime.block_on(tools.run(black_box(&call), &context, &config)))
    });
    // A turn's work for its offer: the definitions and their tokens
    // (counted once per registry; the first count is measured apart).
    let counter = tokens::for_model("gpt-4o-mini");
    group.bench_function("offer_100_tools", |b| {
        b.iter(|| {
            let offer = tools.offered(black_box(&context)).clone();
            offer.tokens(counter.as_ref())
        })
    });
    group.bench_function("count_100_definitions_first_turn", |b| {
        b.iter(|| counter.count(black_box(&tools.offered(&context).json)))
    });
    group.finish();
}

criterion_group!(
    benches,
    tool_round,
    prompt_build_and_trim,
    prompt_trim_to_budget,
    token_counting,
    retrieval,
    grounding_check,
    classification
);
criterion_main!(benches);
