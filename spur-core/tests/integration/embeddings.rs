//! Dense retrieval with a model behind an OpenAI-compatible
//! `/v1/embeddings` endpoint (the fake server, over real HTTP).

use std::sync::Arc;
use std::time::Duration;

use spur_core::KnowledgeBase;
use spur_core::knowledge::{OpenAiEmbedder, TextEmbedder};

use spur_core::llm::OpenAiConfig;
use spur_core::testing::fake_openai;

const SHOP: &str = "## Change of mind\nReturns of unworn items are accepted within 30 days. \
Keep the tags on.\n\n\
## Parcels abroad\nParcels leave within two days and travel by post.\n";

fn embedder(base: &str, model: &str) -> Arc<OpenAiEmbedder> {
    let config = OpenAiConfig {
        base_url: Some(base.into()),
        api_key: Some(String::from("sk-test").into()),
        model: model.into(),
        timeout: Duration::from_millis(500),
        max_retries: 0,
        temperature: None,
    };
    Arc::new(OpenAiEmbedder::new(&config, 8).unwrap())
}

fn sent(fake: &fake_openai::Fake) -> Vec<usize> {
    fake.embedded.lock().unwrap().clone()
}

#[tokio::test]
async fn a_remote_model_ranks_by_meaning_and_each_text_is_sent_once() {
    let (base, fake) = fake_openai::start().await.unwrap();
    let model = embedder(&base, "text-embedding-3-small");
    let kb = KnowledgeBase::from_markdown("policies", SHOP)
        .with_remote_embedder(model.clone())
        .await
        .unwrap();
    // Sections and their sentences, in one batch.
    let texts = kb.embedding_texts().len();
    assert_eq!(sent(&fake), [texts]);

    // The fake model reads "regret" and "refund" as returning.
    let question = "I regret buying it, can I get a refund?";
    kb.prepare_query(question).await;
    let best = &kb.search(question, 1)[0];
    assert_eq!(best.title, "Change of mind");
    assert!(best.similarity.unwrap() > 0.5, "{best:?}");

    // Loaded again (a reload): nothing new is sent; the question is cached.
    let again = KnowledgeBase::from_markdown("policies", SHOP)
        .with_remote_embedder(model.clone())
        .await
        .unwrap();
    again.prepare_query(question).await;
    assert_eq!(sent(&fake), [texts, 1]);
    assert_eq!(model.dims(), 8);
}

#[tokio::test]
async fn a_failing_endpoint_fails_the_load_and_leaves_questions_to_the_lexical_ranking() {
    let (base, _fake) = fake_openai::start().await.unwrap();
    for model in ["broken", "slow"] {
        let error = KnowledgeBase::from_markdown("policies", SHOP)
            .with_remote_embedder(embedder(&base, model))
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("embeddings endpoint"),
            "{model}: {error}"
        );
    }
    // Loaded while the endpoint worked, asked while it is down: the
    // question is ranked lexically, and answered.
    let (base, fake) = fake_openai::start().await.unwrap();
    let kb = KnowledgeBase::from_markdown("policies", SHOP)
        .with_remote_embedder(embedder(&base, "fine"))
        .await
        .unwrap();
    fake.failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    kb.prepare_query("when do parcels leave?").await;
    let best = &kb.search("when do parcels leave?", 1)[0];
    assert_eq!(best.title, "Parcels abroad");
    assert_eq!(
        best.similarity,
        Some(0.0),
        "no vector for the question: {best:?}"
    );
}
