//! The storage conformance suite on every backend, and the engine across restarts.

use std::sync::Arc;

use spur_core::store::{ConversationStore, MemoryStore, PostgresStore, SqliteStore, conformance};
use spur_core::tickets::TicketStore;
use spur_core::{Inbound, SupportEngine};

/// PostgreSQL is required: these tests fail (never skip) when it is missing.
async fn fresh_postgres() -> String {
    spur_core::testing::postgres::fresh_database()
        .await
        .expect("PostgreSQL must be reachable (SPUR_TEST_POSTGRES_URL or 127.0.0.1:5432)")
}

fn temp_sqlite() -> (String, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("spur-{}.db", uuid::Uuid::new_v4()));
    (format!("sqlite://{}", path.display()), path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_conforms() {
    conformance::run_all(Arc::new(MemoryStore::new())).await;
    spur_core::channels::conformance::run_all(&MemoryStore::new()).await;
    assert!(conformance::reads_history_with_changes(&MemoryStore::new()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms() {
    let (url, path) = temp_sqlite();
    let store = SqliteStore::connect(&url).await.unwrap();
    spur_core::accounts::conformance::run_all(&store).await;
    conformance::run_all(Arc::new(store.clone())).await;
    spur_core::channels::conformance::run_all(&store).await;
    tickets_conform(store).await;
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_conforms() {
    conformance::run_all(Arc::new(
        SqliteStore::connect("sqlite::memory:").await.unwrap(),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    let url = fresh_postgres().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    spur_core::accounts::conformance::run_all(&store).await;
    conformance::run_all(Arc::new(store.clone())).await;
    assert!(
        conformance::reads_history_with_changes(&store).await,
        "the history is read in the change's statement"
    );
    spur_core::channels::conformance::run_all(&store).await;
    tickets_conform(store).await;
}

/// The tickets suite needs one stored conversation to file a ticket from.
async fn tickets_conform<S: ConversationStore + TicketStore + Clone + 'static>(store: S) {
    let engine = SupportEngine::builder()
        .store(Arc::new(store.clone()))
        .build();
    let turn = engine
        .send_message(Inbound::new("Hello there"))
        .await
        .unwrap();
    spur_core::tickets::conformance::run_all(Arc::new(store), turn.conversation.id).await;
}

async fn survives_restart(
    open: impl Fn() -> futures::future::BoxFuture<'static, Arc<dyn ConversationStore>>,
) {
    let engine = SupportEngine::builder().store(open().await).build();
    let turn = engine
        .send_message(Inbound::new("Do you ship to India?"))
        .await
        .unwrap();
    let session = turn.conversation.session_id;
    drop(engine);
    let engine = SupportEngine::builder().store(open().await).build();
    let next = engine
        .send_message(Inbound::new("what about returns?").in_session(session))
        .await
        .unwrap();
    assert_eq!(next.conversation.id, turn.conversation.id);
    let page = engine.history(session, None, 10).await.unwrap();
    assert_eq!(page.messages.len(), 4);
    assert_eq!(page.messages[1].text, turn.reply.unwrap().text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_survive_an_engine_restart_on_sqlite_and_postgres() {
    let (url, path) = temp_sqlite();
    survives_restart(|| {
        let url = url.clone();
        Box::pin(async move {
            Arc::new(SqliteStore::connect(&url).await.unwrap()) as Arc<dyn ConversationStore>
        })
    })
    .await;
    let _ = std::fs::remove_file(path);
    let url = fresh_postgres().await;
    survives_restart(|| {
        let url = url.clone();
        Box::pin(async move {
            Arc::new(PostgresStore::connect(&url).await.unwrap()) as Arc<dyn ConversationStore>
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_is_named_with_its_address_and_cause() {
    // Port 1 on loopback: nothing listens, the connection is refused.
    let error = PostgresStore::connect("postgres://postgres@127.0.0.1:1/spur")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("127.0.0.1:1"), "{error}");
    assert!(error.contains("refused"), "{error}");
}
