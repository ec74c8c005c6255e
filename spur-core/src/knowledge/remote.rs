//! Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint
//! (OpenAI, Azure, vLLM, Ollama, LiteLLM) through async-openai: texts are
//! sent in batches, each distinct text once (by content hash), and search
//! reads the vectors synchronously from memory. With a [`VectorCache`] the
//! knowledge's vectors outlive the process: a restart embeds only new text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput};
use uuid::Uuid;

use super::dense::{EmbeddingError, RemoteEmbedder, TextEmbedder};
use super::vector_cache::{VectorCache, VectorSpace};
use crate::clock::{Clock, SystemClock};
use crate::llm::OpenAiConfig;

/// Reads of the vector cache tried again after a failure.
const CACHE_ATTEMPTS: u64 = 3;

/// Inputs per request (the API takes up to 2048).
const BATCH: usize = 256;
/// Questions' vectors kept; past this they are all dropped (a question
/// asked again is fetched again).
const MAX_QUERIES: usize = 4096;
/// Longest text sent (characters): far under the models' 8192 tokens.
const MAX_CHARS: usize = 8000;

/// A model behind an OpenAI-compatible embeddings endpoint.
pub struct OpenAiEmbedder {
    client: Client<OpenAIConfig>,
    model: String,
    dims: usize,
    /// The knowledge's texts, by content hash, kept until replaced.
    known: Mutex<HashMap<Uuid, Vec<f32>>>,
    /// Recent questions, by content hash.
    queries: Mutex<HashMap<Uuid, Vec<f32>>>,
    /// Where the knowledge's vectors are kept between runs.
    cache: Option<Arc<dyn VectorCache>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("model", &self.model)
            .field("dims", &self.dims)
            .field("cache", &self.cache.is_some())
            .finish()
    }
}

fn key(text: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, text.as_bytes())
}

fn clipped(text: &str) -> String {
    match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

impl OpenAiEmbedder {
    /// `config.model` is the embedding model (e.g. `text-embedding-3-small`);
    /// `dims` the length of its vectors (asked for where the model supports
    /// choosing it: text-embedding-3 and later).
    pub fn new(config: &OpenAiConfig, dims: usize) -> Result<Self, EmbeddingError> {
        if dims == 0 {
            return Err(EmbeddingError::Remote("the vector length is 0".into()));
        }
        let client =
            crate::llm::openai_client(config).map_err(|e| EmbeddingError::Remote(e.to_string()))?;
        Ok(Self {
            client,
            model: config.model.clone(),
            dims,
            known: Mutex::default(),
            queries: Mutex::default(),
            cache: None,
            clock: Arc::new(SystemClock),
        })
    }

    /// Keeps the knowledge's vectors in `cache` (the server's database),
    /// marked used at `clock`'s time. Questions' vectors are not kept.
    pub fn with_cache(mut self, cache: Arc<dyn VectorCache>, clock: Arc<dyn Clock>) -> Self {
        self.cache = Some(cache);
        self.clock = clock;
        self
    }

    fn space(&self) -> VectorSpace<'_> {
        VectorSpace {
            model: &self.model,
            dims: self.dims,
        }
    }

    /// Moves the vectors the cache holds for `missing` into memory and
    /// returns the texts still to embed. A failing cache is logged and
    /// everything is embedded.
    async fn load_cached(&self, missing: Vec<String>) -> Vec<String> {
        let Some(cache) = &self.cache else {
            return missing;
        };
        let keys: Vec<Uuid> = missing.iter().map(|t| key(t)).collect();
        let now = self.clock.now().unix_timestamp();
        // A database busy for a moment (another connection checkpointing
        // SQLite's log) is read again before everything is re-embedded.
        let mut attempt = 0;
        let found = loop {
            match cache.vectors(self.space(), &keys, now).await {
                Ok(found) => break found,
                Err(error) if attempt < CACHE_ATTEMPTS => {
                    attempt += 1;
                    tracing::debug!(%error, attempt, "the vector cache failed; reading again");
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "the vector cache failed; embedding everything");
                    return missing;
                }
            }
        };
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.extend(found);
        missing
            .into_iter()
            .filter(|t| !known.contains_key(&key(t)))
            .collect()
    }

    fn lookup(&self, id: &Uuid) -> Option<Vec<f32>> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = known.get(id) {
            return Some(v.clone());
        }
        drop(known);
        let queries = self.queries.lock().unwrap_or_else(PoisonError::into_inner);
        queries.get(id).cloned()
    }

    /// Vectors for `texts`, in order, one request per batch.
    async fn fetch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            let request = CreateEmbeddingRequest {
                model: self.model.clone(),
                input: EmbeddingInput::StringArray(batch.iter().map(|t| clipped(t)).collect()),
                encoding_format: None,
                user: None,
                dimensions: self
                    .model
                    .starts_with("text-embedding-3")
                    .then(|| u32::try_from(self.dims).unwrap_or(u32::MAX)),
            };
            let response = self
                .client
                .embeddings()
                .create(request)
                .await
                .map_err(|e| EmbeddingError::Remote(e.to_string()))?;
            let mut data = response.data;
            if data.len() != batch.len() {
                return Err(EmbeddingError::Remote(format!(
                    "{} vectors for {} texts",
                    data.len(),
                    batch.len()
                )));
            }
            data.sort_by_key(|e| e.index);
            out.extend(data.into_iter().map(|e| e.embedding));
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl RemoteEmbedder for OpenAiEmbedder {
    async fn prepare(&self, texts: &[String]) -> Result<(), EmbeddingError> {
        let mut missing: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        {
            let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
            for text in texts {
                let id = key(text);
                if !known.contains_key(&id) && seen.insert(id) {
                    missing.push(text.clone());
                }
            }
        }
        let wanted = missing.len();
        let missing = self.load_cached(missing).await;
        if missing.is_empty() {
            return Ok(());
        }
        let vectors = self.fetch(&missing).await?;
        let fetched: Vec<(Uuid, Vec<f32>)> = missing
            .iter()
            .zip(vectors)
            .map(|(text, vector)| (key(text), vector))
            .collect();
        if let Some(cache) = &self.cache {
            let now = self.clock.now().unix_timestamp();
            if let Err(error) = cache.save_vectors(self.space(), &fetched, now).await {
                tracing::warn!(%error, "the vector cache failed; vectors kept in memory only");
            }
        }
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(fetched);
        tracing::debug!(
            texts = missing.len(),
            from_cache = wanted - missing.len(),
            model = %self.model,
            "embedded"
        );
        Ok(())
    }

    async fn prepare_query(&self, text: &str) -> Result<(), EmbeddingError> {
        let id = key(text);
        if self.lookup(&id).is_some() {
            return Ok(());
        }
        let mut vectors = self.fetch(&[text.to_string()]).await?;
        let vector = vectors.pop().unwrap_or_default();
        let mut queries = self.queries.lock().unwrap_or_else(PoisonError::into_inner);
        if queries.len() >= MAX_QUERIES {
            queries.clear();
        }
        queries.insert(id, vector);
        Ok(())
    }
}

impl TextEmbedder for OpenAiEmbedder {
    fn name(&self) -> &str {
        &self.model
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        self.lookup(&key(text)).unwrap_or_else(|| {
            tracing::debug!("a text was not embedded ahead; ranking it lexically");
            vec![0.0; self.dims]
        })
    }

    fn remote(&self) -> Option<&dyn RemoteEmbedder> {
        Some(self)
    }
}
