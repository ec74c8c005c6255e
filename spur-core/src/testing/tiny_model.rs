//! A tiny static embedding model, written in the real model2vec format
//! (tokenizer.json, model.safetensors, config.json), so tests load models
//! exactly as operators do without shipping a 30 MB file.
//!
//! Each word is one dimension per topic: "refund" and "return" point the
//! same way, "ship" another. Words outside the vocabulary embed to nothing.

use std::path::Path;

/// Topics and the words that mean them.
pub(crate) const TOPICS: &[&[&str]] = &[
    &["return", "returns", "refund", "regret"],
    &["ship", "shipping", "deliver", "delivery", "parcel"],
    &["pay", "payment", "card", "cards"],
];

/// Writes the model into `dir` (created if missing).
pub fn write_tiny_model(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut vocab = serde_json::Map::new();
    vocab.insert("[UNK]".into(), 0.into());
    let mut rows: Vec<[f32; 3]> = vec![[0.0; 3]];
    for (topic, words) in TOPICS.iter().enumerate() {
        for word in *words {
            vocab.insert((*word).into(), rows.len().into());
            let mut row = [0.0; 3];
            row[topic] = 1.0;
            rows.push(row);
        }
    }
    let tokenizer = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string())?;

    // safetensors: u64 header length, JSON header (padded to 8), raw data.
    let data: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let mut header = serde_json::json!({
        "embeddings": {"dtype": "F32", "shape": [rows.len(), 3], "data_offsets": [0, data.len()]}
    })
    .to_string();
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend(header.as_bytes());
    file.extend(data);
    std::fs::write(dir.join("model.safetensors"), file)?;

    let config = serde_json::json!({"model_type": "model2vec", "hidden_dim": 3, "normalize": true});
    std::fs::write(dir.join("config.json"), config.to_string())
}
