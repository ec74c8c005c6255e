//! Dense retrieval: an embedding model turns a question and every section
//! into vectors; sections rank by cosine similarity. This finds the section
//! a customer means when they share no word with it ("can I send it back?"
//! and "Change of mind returns"), which the lexical ranking cannot.
//!
//! Vectors are normalised on entry, so cosine is a dot product over one
//! contiguous `f32` buffer: exact search, no approximate index, fast enough
//! to 100k sections.

use std::fmt;
use std::sync::Arc;

/// Turns text into a vector. `embed` is synchronous (search is): a static
/// model computes it in microseconds; a remote model answers from the
/// vectors [`RemoteEmbedder::prepare`] fetched ahead.
pub trait TextEmbedder: Send + Sync {
    /// A name for logs and reports (the model's directory or id).
    fn name(&self) -> &str;
    /// Length of every vector `embed` returns.
    fn dims(&self) -> usize;
    fn embed(&self, text: &str) -> Vec<f32>;
    /// Where this model's cosines mean "the passage says what was asked".
    fn calibration(&self) -> Calibration {
        Calibration::default()
    }
    /// The asynchronous side of a model reached over the network, or too
    /// slow to run on an async worker.
    fn remote(&self) -> Option<&dyn RemoteEmbedder> {
        None
    }
}

/// The similarities at which the offline responder trusts a passage
/// (`OfflineConfig::calibrated`), measured per model with `spur-eval
/// answers` on the dev shops (README): they are not comparable across
/// models.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calibration {
    /// A passage this similar to the question, with some coverage of its
    /// words, answers.
    pub min_similarity: f32,
    /// A best passage with a sentence this similar answers on its own; off
    /// for models too coarse for it (a static model's sentence vectors).
    pub min_focus: Option<f32>,
}

impl Default for Calibration {
    /// The static model distilled from all-MiniLM-L6-v2, and remote models.
    fn default() -> Self {
        Self {
            min_similarity: 0.6,
            min_focus: None,
        }
    }
}

/// A model reached over the network: texts are embedded ahead, in batches,
/// and `embed` reads the result (a text never prepared embeds to zeros,
/// which leaves the ranking to the lexical side).
#[async_trait::async_trait]
pub trait RemoteEmbedder: Send + Sync {
    /// Fetches the vectors of the `texts` not fetched before, and keeps
    /// them (the knowledge's sections and sentences).
    async fn prepare(&self, texts: &[String]) -> Result<(), EmbeddingError>;
    /// Fetches one question's vector, kept a while (questions are many).
    async fn prepare_query(&self, text: &str) -> Result<(), EmbeddingError> {
        self.prepare(&[text.to_string()]).await
    }
}

/// Why an embedding model could not be loaded or reached.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddingError {
    #[error("cannot load the embedding model from {path}: {message}")]
    Load { path: String, message: String },
    #[error("the embeddings endpoint failed: {0}")]
    Remote(String),
    #[error("the embedding model stopped: {0}")]
    Stopped(String),
}

/// A static embedding model in model2vec format (`model.safetensors`,
/// `tokenizer.json`, `config.json`), read from a directory or from bytes
/// (the wasm widget). `scripts/distill-static-model.py` makes one from
/// all-MiniLM-L6-v2; nothing is downloaded at run time.
#[cfg(feature = "embeddings")]
pub struct StaticEmbedder {
    model: model2vec_rs::model::StaticModel,
    name: String,
}

#[cfg(feature = "embeddings")]
impl StaticEmbedder {
    pub fn from_dir(dir: impl AsRef<std::path::Path>) -> Result<Self, EmbeddingError> {
        let dir = dir.as_ref();
        let read = |file: &str| {
            std::fs::read(dir.join(file)).map_err(|e| EmbeddingError::Load {
                path: dir.join(file).display().to_string(),
                message: e.to_string(),
            })
        };
        let (tokenizer, model, config) = (
            read("tokenizer.json")?,
            read("model.safetensors")?,
            read("config.json")?,
        );
        Self::from_bytes(&dir.display().to_string(), &tokenizer, &model, &config)
    }

    /// `name` says where the bytes came from, for errors and reports.
    pub fn from_bytes(
        name: &str,
        tokenizer: &[u8],
        model: &[u8],
        config: &[u8],
    ) -> Result<Self, EmbeddingError> {
        // Normalised vectors make cosine a dot product.
        let model =
            model2vec_rs::model::StaticModel::from_bytes(tokenizer, model, config, Some(true))
                .map_err(|e| EmbeddingError::Load {
                    path: name.to_string(),
                    message: format!("{e:#}"),
                })?;
        Ok(Self {
            model,
            name: name.to_string(),
        })
    }
}

#[cfg(feature = "embeddings")]
impl TextEmbedder for StaticEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dims(&self) -> usize {
        self.model.dim()
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        self.model.encode_single(text)
    }
}

#[cfg(feature = "embeddings")]
impl fmt::Debug for StaticEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticEmbedder")
            .field("name", &self.name)
            .field("dims", &self.model.dim())
            .finish()
    }
}

/// The local model in `dir`, by what its `config.json` says it is: a
/// BERT-family transformer (`"model_type": "bert"`, with the `transformer`
/// feature) or a static model in model2vec format.
#[cfg(feature = "embeddings")]
pub fn local_model(
    dir: impl AsRef<std::path::Path>,
) -> Result<Arc<dyn TextEmbedder>, EmbeddingError> {
    let dir = dir.as_ref();
    let config = dir.join("config.json");
    let load = |message: String| EmbeddingError::Load {
        path: config.display().to_string(),
        message,
    };
    let bytes = std::fs::read(&config).map_err(|e| load(e.to_string()))?;
    let kind: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| load(e.to_string()))?;
    match kind.get("model_type").and_then(|t| t.as_str()) {
        Some("bert") => transformer(dir),
        _ => Ok(Arc::new(StaticEmbedder::from_dir(dir)?)),
    }
}

#[cfg(feature = "transformer")]
fn transformer(dir: &std::path::Path) -> Result<Arc<dyn TextEmbedder>, EmbeddingError> {
    Ok(Arc::new(super::TransformerEmbedder::from_dir(dir)?))
}

#[cfg(all(feature = "embeddings", not(feature = "transformer")))]
fn transformer(dir: &std::path::Path) -> Result<Arc<dyn TextEmbedder>, EmbeddingError> {
    Err(EmbeddingError::Load {
        path: dir.display().to_string(),
        message: "a transformer model needs spur-core's `transformer` feature".into(),
    })
}

/// The sections' vectors, row-major, each normalised.
#[derive(Clone)]
pub(crate) struct DenseIndex {
    embedder: Arc<dyn TextEmbedder>,
    dims: usize,
    vectors: Vec<f32>,
}

impl fmt::Debug for DenseIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DenseIndex")
            .field("model", &self.embedder.name())
            .field("dims", &self.dims)
            .field("rows", &(self.vectors.len() / self.dims.max(1)))
            .finish()
    }
}

impl DenseIndex {
    pub(crate) fn build<'a>(
        embedder: Arc<dyn TextEmbedder>,
        texts: impl Iterator<Item = &'a str>,
    ) -> Self {
        let dims = embedder.dims();
        let mut vectors = Vec::new();
        for text in texts {
            vectors.extend(fitted(embedder.embed(text), dims));
        }
        Self {
            embedder,
            dims,
            vectors,
        }
    }

    pub(crate) fn embedder(&self) -> &Arc<dyn TextEmbedder> {
        &self.embedder
    }

    pub(crate) fn embed(&self, text: &str) -> Vec<f32> {
        fitted(self.embedder.embed(text), self.dims)
    }

    /// Cosine similarity of `query` (as from [`Self::embed`]) to every row.
    pub(crate) fn similarities(&self, query: &[f32]) -> Vec<f32> {
        if self.dims == 0 {
            return Vec::new();
        }
        self.vectors
            .chunks_exact(self.dims)
            .map(|row| dot(row, query))
            .collect()
    }

    /// Cosine similarity of `query` (as from [`Self::embed`]) to `text`.
    pub(crate) fn similarity(&self, query: &[f32], text: &str) -> f32 {
        dot(query, &self.embed(text))
    }

    /// Cosine similarity of `query` to the closest of a passage's
    /// `sentences`, each embedded under its heading ("Returns: Unworn items
    /// come back within 30 days."), or to the heading alone.
    pub(crate) fn focus(&self, query: &[f32], title: &str, sentences: &[&str]) -> f32 {
        sentences
            .iter()
            .map(|sentence| self.similarity(query, &focus_text(title, sentence)))
            .fold(self.similarity(query, title), f32::max)
    }

    /// Bytes held by the vectors (for the memory figures).
    pub fn vector_bytes(&self) -> usize {
        self.vectors.len() * std::mem::size_of::<f32>()
    }
}

/// What a sentence is embedded as for [`DenseIndex::focus`]: under its
/// heading, so "Within 30 days." is about returns.
pub(crate) fn focus_text(title: &str, sentence: &str) -> String {
    format!("{title}: {sentence}")
}

/// Normalised and exactly `dims` long, whatever the embedder returned.
fn fitted(mut vector: Vec<f32>, dims: usize) -> Vec<f32> {
    vector.resize(dims, 0.0);
    let norm = dot(&vector, &vector).sqrt();
    if norm > f32::EPSILON {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// Eight independent sums: float addition is not associative, so a single
/// running sum cannot be vectorised; eight lanes compile to SIMD.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut sums = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            sums[lane] += x[lane] * y[lane];
        }
    }
    sums.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bag-of-letters embedder: texts sharing letters are similar. Enough
    /// to test the index without a model file.
    struct Letters;

    impl TextEmbedder for Letters {
        fn name(&self) -> &str {
            "letters"
        }
        fn dims(&self) -> usize {
            26
        }
        fn embed(&self, text: &str) -> Vec<f32> {
            let mut v = vec![0.0; 26];
            for c in text
                .to_ascii_lowercase()
                .bytes()
                .filter(u8::is_ascii_lowercase)
            {
                v[usize::from(c - b'a')] += 1.0;
            }
            v
        }
    }

    #[test]
    fn rows_rank_by_cosine_and_vectors_are_normalised() {
        let index = DenseIndex::build(Arc::new(Letters), ["aaa", "bbb", "aab"].into_iter());
        let sims = index.similarities(&index.embed("a"));
        assert!((sims[0] - 1.0).abs() < 1e-6, "{sims:?}");
        assert!(sims[1].abs() < 1e-6, "{sims:?}");
        assert!(sims[2] > 0.8 && sims[2] < 1.0, "{sims:?}");
        assert_eq!(index.vector_bytes(), 3 * 26 * 4);
        // An empty text embeds to zeros, never NaN.
        assert!(
            index
                .similarities(&index.embed(""))
                .iter()
                .all(|s| *s == 0.0)
        );
    }

    #[cfg(feature = "embeddings")]
    #[test]
    fn a_model2vec_directory_loads_and_embeds_by_meaning() {
        let dir = std::env::temp_dir().join(format!("spur-model-{}", uuid::Uuid::new_v4()));
        crate::testing::write_tiny_model(&dir).unwrap();
        let model = StaticEmbedder::from_dir(&dir).unwrap();
        assert_eq!(model.dims(), 3);
        let index = DenseIndex::build(
            Arc::new(model),
            [
                "Refunds and returns",
                "Delivery by parcel",
                "Cards accepted",
            ]
            .into_iter(),
        );
        let sims = index.similarities(&index.embed("I regret this, can I send it back?"));
        assert!(
            sims[0] > 0.99 && sims[1] < 0.01 && sims[2] < 0.01,
            "{sims:?}"
        );

        std::fs::remove_file(dir.join("model.safetensors")).unwrap();
        let error = StaticEmbedder::from_dir(&dir).unwrap_err().to_string();
        assert!(error.contains("model.safetensors"), "{error}");
        std::fs::write(dir.join("model.safetensors"), b"not a model").unwrap();
        assert!(StaticEmbedder::from_dir(&dir).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
