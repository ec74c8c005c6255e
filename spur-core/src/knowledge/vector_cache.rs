//! Embedding vectors kept across restarts: a remote model's vectors stored
//! by model, length and content hash, so a restart (or another instance)
//! re-embeds only the texts that changed.

use uuid::Uuid;

/// How long a vector no knowledge load has asked for is kept.
pub const UNUSED_FOR_SECS: i64 = 30 * 24 * 3600;

/// Why the vector cache failed (an optimisation: callers log it and embed).
#[derive(Debug, thiserror::Error)]
pub enum VectorCacheError {
    #[error("vector cache backend: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

/// Which model's vectors: its name and the length it was asked for.
#[derive(Clone, Copy, Debug)]
pub struct VectorSpace<'a> {
    pub model: &'a str,
    pub dims: usize,
}

/// Where a remote model's vectors live between runs.
#[async_trait::async_trait]
pub trait VectorCache: Send + Sync {
    /// The stored vectors among `keys` (content hashes), marked used at
    /// `now` (unix seconds). A stored vector of the wrong length is left out.
    async fn vectors(
        &self,
        space: VectorSpace<'_>,
        keys: &[Uuid],
        now: i64,
    ) -> Result<Vec<(Uuid, Vec<f32>)>, VectorCacheError>;

    /// Stores `vectors` (replacing any under the same key) and drops the
    /// vectors of every model unused for [`UNUSED_FOR_SECS`].
    async fn save_vectors(
        &self,
        space: VectorSpace<'_>,
        vectors: &[(Uuid, Vec<f32>)],
        now: i64,
    ) -> Result<(), VectorCacheError>;
}

/// A vector as stored: little-endian f32s.
pub fn to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The vector in `bytes`, if it has `dims` components.
pub fn from_bytes(bytes: &[u8], dims: usize) -> Option<Vec<f32>> {
    if bytes.len() != dims * 4 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_wrong_lengths_are_refused() {
        let v = vec![0.5, -1.25, f32::MIN_POSITIVE, 3.0e7];
        let bytes = to_bytes(&v);
        assert_eq!(bytes.len(), 16);
        assert_eq!(from_bytes(&bytes, 4), Some(v));
        assert_eq!(from_bytes(&bytes, 3), None);
        assert_eq!(from_bytes(&bytes[..15], 4), None);
    }
}
