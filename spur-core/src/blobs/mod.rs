//! Where the bytes of files customers send are kept: the [`BlobStore`]
//! seam, a local directory ([`LocalBlobStore`], the server's default) and
//! memory ([`MemoryBlobStore`], for tests and embedders that keep nothing).
//!
//! Blobs are content-addressed: the key is the SHA-256 of the bytes in hex,
//! so the same file sent twice is kept once, a key names nothing but what
//! it was made from, and a key read from a request cannot reach a path
//! outside the store ([`valid_key`]). An S3-compatible store goes behind
//! the same trait.

mod local;

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

pub use local::LocalBlobStore;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob store i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a blob key")]
    InvalidKey,
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    /// Keeps `bytes`; their key ([`key_of`]).
    async fn put(&self, bytes: &[u8]) -> Result<String, BlobError>;
    /// The bytes kept under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;
}

/// The key `bytes` are kept under: their SHA-256, 64 lowercase hex digits.
pub fn key_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `key` has the shape of [`key_of`]'s keys (and so no `/`, `..`).
pub fn valid_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Blobs in memory: gone with the process.
#[derive(Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryBlobStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>>, BlobError> {
        self.blobs
            .lock()
            .map_err(|_| BlobError::Unavailable("a writer panicked".into()))
    }
}

#[async_trait::async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, bytes: &[u8]) -> Result<String, BlobError> {
        let key = key_of(bytes);
        self.lock()?.insert(key.clone(), bytes.to_vec());
        Ok(key)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        if !valid_key(key) {
            return Err(BlobError::InvalidKey);
        }
        Ok(self.lock()?.get(key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every store must do; run on each.
    pub(super) async fn conformance(store: &dyn BlobStore) {
        let key = store.put(b"a photo").await.unwrap();
        assert_eq!(key, key_of(b"a photo"));
        assert!(valid_key(&key), "{key}");
        assert_eq!(
            store.get(&key).await.unwrap().as_deref(),
            Some(&b"a photo"[..])
        );
        assert_eq!(store.put(b"a photo").await.unwrap(), key, "kept once");
        assert_eq!(store.get(&key_of(b"other")).await.unwrap(), None);
        for bad in ["../../etc/passwd", "", &key[..63], &key.to_uppercase()] {
            assert!(
                matches!(store.get(bad).await, Err(BlobError::InvalidKey)),
                "{bad}"
            );
        }
        let empty = store.put(b"").await.unwrap();
        assert_eq!(store.get(&empty).await.unwrap(), Some(Vec::new()));
    }

    #[tokio::test]
    async fn memory_store_conforms() {
        conformance(&MemoryBlobStore::new()).await;
    }
}
