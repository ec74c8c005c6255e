//! Blobs as files in a directory: `<dir>/<first two hex digits>/<key>`,
//! written to a temporary name and renamed, so a reader never sees half a
//! file and a crash mid-write leaves no blob behind under its key.

use std::path::{Path, PathBuf};

use super::{BlobError, BlobStore, key_of, valid_key};

pub struct LocalBlobStore {
    dir: PathBuf,
}

impl LocalBlobStore {
    /// A store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(key)
    }
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, bytes: &[u8]) -> Result<String, BlobError> {
        let key = key_of(bytes);
        let path = self.path(&key);
        if tokio::fs::try_exists(&path).await? {
            return Ok(key);
        }
        let shard = self.dir.join(&key[..2]);
        tokio::fs::create_dir_all(&shard).await?;
        // Unique per writer: two processes keeping the same file do not
        // write into one temporary file.
        let temporary = shard.join(format!(".{key}.{}.tmp", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&temporary, bytes).await?;
        if let Err(error) = tokio::fs::rename(&temporary, &path).await {
            let _ = tokio::fs::remove_file(&temporary).await;
            return Err(error.into());
        }
        Ok(key)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        if !valid_key(key) {
            return Err(BlobError::InvalidKey);
        }
        match tokio::fs::read(self.path(key)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_store_conforms_and_keeps_files_across_instances() {
        let dir = std::env::temp_dir().join(format!("spur-blobs-{}", uuid::Uuid::new_v4()));
        let store = LocalBlobStore::new(dir.join("blobs"));
        super::super::tests::conformance(&store).await;
        let key = store.put(b"kept").await.unwrap();
        let reopened = LocalBlobStore::new(dir.join("blobs"));
        assert_eq!(
            reopened.get(&key).await.unwrap().as_deref(),
            Some(&b"kept"[..])
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("blobs").join(&key[..2]))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(leftovers, vec![key], "no temporary file left behind");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
