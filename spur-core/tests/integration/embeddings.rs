//! Dense retrieval with a model behind an OpenAI-compatible
//! `/v1/embeddings` endpoint (the fake server, over real HTTP).

use std::sync::Arc;
use std::time::Duration;

use spur_core::KnowledgeBase;
use spur_core::clock::ManualClock;
use spur_core::knowledge::{OpenAiEmbedder, TextEmbedder, VectorCache};
use spur_core::store::{PostgresStore, SqliteStore};

use spur_core::llm::OpenAiConfig;
use spur_core::testing::fake_openai;

const SHOP: &str = "## Change of mind\nReturns of unworn items are accepted within 30 days. \
Keep the tags on.\n\n\
## Parcels abroad\nParcels leave within two days and travel by post.\n";

fn embedder(base: &str, model: &str) -> Arc<OpenAiEmbedder> {
    Arc::new(unshared(base, model, 8))
}

fn unshared(base: &str, model: &str, dims: usize) -> OpenAiEmbedder {
    let config = OpenAiConfig {
        base_url: Some(base.into()),
        api_key: Some(String::from("sk-test").into()),
        model: model.into(),
        timeout: Duration::from_millis(500),
        max_retries: 0,
        temperature: None,
    };
    OpenAiEmbedder::new(&config, dims).unwrap()
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

/// One process's model over the shared cache, as a restart would build it.
fn cached(
    base: &str,
    dims: usize,
    cache: &Arc<dyn VectorCache>,
    clock: &Arc<ManualClock>,
) -> Arc<OpenAiEmbedder> {
    Arc::new(
        unshared(base, "text-embedding-3-small", dims).with_cache(cache.clone(), clock.clone()),
    )
}

/// A restart re-embeds only the texts that changed; another vector length
/// is another space; vectors unused for a month are dropped.
async fn vectors_outlive_the_process(cache: Arc<dyn VectorCache>) {
    let (base, fake) = fake_openai::start().await.unwrap();
    let start = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let kb = KnowledgeBase::from_markdown("policies", SHOP)
        .with_remote_embedder(cached(&base, 8, &cache, &clock))
        .await
        .unwrap();
    let texts = kb.embedding_texts().len();
    assert_eq!(sent(&fake), [texts]);

    // Restarted while the endpoint is down: the knowledge loads from the
    // store, and a question ranks by meaning once the endpoint is back.
    fake.failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let kb = KnowledgeBase::from_markdown("policies", SHOP)
        .with_remote_embedder(cached(&base, 8, &cache, &clock))
        .await
        .unwrap();
    fake.failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let question = "I regret buying it, can I get a refund?";
    kb.prepare_query(question).await;
    let best = &kb.search(question, 1)[0];
    assert_eq!(best.title, "Change of mind");
    assert!(best.similarity.unwrap() > 0.5, "{best:?}");
    assert_eq!(sent(&fake), [texts, 1]);

    // One sentence edited: only its section, the sentence and the sentence
    // under its heading are sent.
    let edited = SHOP.replace("Keep the tags on.", "Keep the labels on.");
    KnowledgeBase::from_markdown("policies", &edited)
        .with_remote_embedder(cached(&base, 8, &cache, &clock))
        .await
        .unwrap();
    assert_eq!(sent(&fake), [texts, 1, 3]);

    // Another vector length is another model's space.
    KnowledgeBase::from_markdown("policies", SHOP)
        .with_remote_embedder(cached(&base, 16, &cache, &clock))
        .await
        .unwrap();
    assert_eq!(sent(&fake), [texts, 1, 3, texts]);

    // A month and a day later, saving drops what no load asked for since:
    // the texts of the shipping section as it was are embedded again.
    clock.advance(std::time::Duration::from_secs(31 * 24 * 3600));
    let newer = SHOP.replace("two days", "three days");
    KnowledgeBase::from_markdown("policies", &newer)
        .with_remote_embedder(cached(&base, 8, &cache, &clock))
        .await
        .unwrap();
    assert_eq!(sent(&fake), [texts, 1, 3, texts, 3]);
    KnowledgeBase::from_markdown("policies", SHOP)
        .with_remote_embedder(cached(&base, 8, &cache, &clock))
        .await
        .unwrap();
    assert_eq!(
        sent(&fake),
        [texts, 1, 3, texts, 3, 3],
        "month-old vectors dropped"
    );
}

#[tokio::test]
async fn remote_vectors_are_kept_in_sqlite_and_postgres() {
    let path = std::env::temp_dir().join(format!("spur-vectors-{}.db", uuid::Uuid::new_v4()));
    let sqlite = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    vectors_outlive_the_process(Arc::new(sqlite)).await;
    let _ = std::fs::remove_file(path);
    let url = spur_core::testing::postgres::fresh_database()
        .await
        .expect("PostgreSQL must be reachable (SPUR_TEST_POSTGRES_URL or 127.0.0.1:5432)");
    vectors_outlive_the_process(Arc::new(PostgresStore::connect(&url).await.unwrap())).await;
}
