//! Where the knowledge comes from (`SPUR_KNOWLEDGE`, the `SHOP_*` facts,
//! `EMBEDDING_MODEL`),
//! loading it, and applying changes without a restart: a watched directory
//! (`KNOWLEDGE_WATCH`) and the admins' reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use spur_core::knowledge::TextEmbedder;
use spur_core::{KnowledgeBase, SupportEngine};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{ConfigError, ShopOverrides};

/// Changes closer together than this are applied once.
const SETTLE: Duration = Duration::from_millis(300);

pub struct KnowledgeSource {
    /// `None`: the demo knowledge.
    pub dir: Option<PathBuf>,
    pub shop: ShopOverrides,
    /// Dense retrieval over every load (`EMBEDDING_MODEL`).
    pub embedder: Option<Arc<dyn TextEmbedder>>,
    /// Imports web pages into the directory (`KNOWLEDGE_FETCH_PRIVATE`).
    pub web: spur_core::knowledge::web::WebFetcher,
    /// One reload at a time: a load that read the directory before a file
    /// was deleted must not be applied after the reload that followed the
    /// deletion (the watcher's and an admin's reloads overlap).
    pub reloading: tokio::sync::Mutex<()>,
}

/// The knowledge as files and settings say, before any embedding.
fn read(dir: Option<&Path>, shop: &ShopOverrides) -> Result<KnowledgeBase, ConfigError> {
    let mut knowledge = match dir {
        Some(dir) => KnowledgeBase::from_dir(dir).map_err(|e| ConfigError {
            setting: "SPUR_KNOWLEDGE",
            message: e.to_string(),
        })?,
        None => KnowledgeBase::demo(),
    };
    for problem in knowledge.problems() {
        tracing::warn!(%problem, "a knowledge file was skipped");
    }
    if !shop.is_empty() {
        let facts = shop.apply(knowledge.facts())?;
        knowledge = knowledge.with_facts(facts);
    }
    Ok(knowledge)
}

fn stopped(error: &tokio::task::JoinError) -> ConfigError {
    ConfigError {
        setting: "SPUR_KNOWLEDGE",
        message: format!("loading stopped: {error}"),
    }
}

impl KnowledgeSource {
    /// Reads the knowledge with the operator's facts on it, and embeds it
    /// when a model is configured (a static model off the async workers; a
    /// remote one in batches). Skipped files are logged (and listed by the
    /// admin API); none loadable is an error, as is a remote model that
    /// cannot be reached.
    pub async fn load(&self) -> Result<KnowledgeBase, ConfigError> {
        let (dir, shop) = (self.dir.clone(), self.shop.clone());
        let knowledge = tokio::task::spawn_blocking(move || read(dir.as_deref(), &shop))
            .await
            .map_err(|e| stopped(&e))??;
        let Some(embedder) = self.embedder.clone() else {
            return Ok(knowledge);
        };
        if embedder.remote().is_some() {
            return knowledge
                .with_remote_embedder(embedder)
                .await
                .map_err(|e| ConfigError {
                    setting: "OPENAI_EMBEDDING_MODEL",
                    message: e.to_string(),
                });
        }
        tokio::task::spawn_blocking(move || knowledge.with_embedder(embedder))
            .await
            .map_err(|e| stopped(&e))
    }

    /// Loads again and answers from the result from the next turn on. On
    /// an error the engine keeps the knowledge it has.
    pub async fn reload(&self, engine: &SupportEngine) -> Result<(), ConfigError> {
        let _one_at_a_time = self.reloading.lock().await;
        let loaded = self.load().await?;
        let sections = loaded.len();
        engine.replace_knowledge(loaded);
        tracing::info!(sections, "knowledge reloaded");
        Ok(())
    }

    /// Watches the directory and reloads when files change, until shutdown.
    pub fn watch(
        self: &Arc<Self>,
        engine: SupportEngine,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<(), ConfigError> {
        use notify::Watcher as _;
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| !e.kind.is_access()) {
                    let _ = tx.send(());
                }
            })
            .map_err(|e| watch_error(&e))?;
        watcher
            .watch(&dir, notify::RecursiveMode::NonRecursive)
            .map_err(|e| watch_error(&e))?;
        let source = self.clone();
        tasks.spawn(async move {
            // Held for as long as the task runs: dropping it stops watching.
            let _watcher = watcher;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    changed = rx.recv() => if changed.is_none() { return },
                }
                // An editor's save is several events: wait for quiet.
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(SETTLE) => break,
                        more = rx.recv() => if more.is_none() { return },
                    }
                }
                if let Err(error) = source.reload(&engine).await {
                    tracing::error!(%error, "the changed knowledge was not applied");
                }
            }
        });
        Ok(())
    }
}

fn watch_error(error: &notify::Error) -> ConfigError {
    ConfigError {
        setting: "KNOWLEDGE_WATCH",
        message: format!("cannot watch the knowledge directory: {error}"),
    }
}
