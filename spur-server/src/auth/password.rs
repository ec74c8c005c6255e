//! Password hashing (argon2id, PHC strings, the crate's OWASP-sound
//! defaults: 19 MiB, 2 passes). Each hash holds ~19 MiB while it runs, so
//! at most one per core runs at a time; a request that cannot get a turn
//! soon is refused as busy rather than queued without bound (100 parallel
//! failed sign-ins once took the process from 88 MB to 2 GB).

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Failed(String),
    /// Every hashing slot stayed taken for the whole wait.
    #[error("too many sign-ins at once; try again in a moment")]
    Busy,
}

/// Shortest password an account may have.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Runs argon2 on the blocking pool, a bounded number at a time.
#[derive(Clone)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl Hasher {
    /// `slots` hashes at once; a caller waits at most `wait` for one.
    pub fn new(slots: usize, wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            wait,
        }
    }

    /// One slot per core, two seconds' wait.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores, Duration::from_secs(2))
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|_| HashError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashError::Failed(e.to_string()))
        })
        .await?
    }

    /// `Ok(false)` for a wrong password and for an unreadable stored hash.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, HashError> {
        self.run(move || {
            PasswordHash::new(&stored).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let hasher = Hasher::for_this_machine();
        let stored = hasher.hash("correct horse".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(
            stored.contains("m=19456,t=2,p=1"),
            "OWASP's argon2id: {stored}"
        );
        assert!(
            hasher
                .verify("correct horse".into(), stored.clone())
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("correct horsf".into(), stored.clone())
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("correct horse".into(), "not a hash".into())
                .await
                .unwrap()
        );
        // Salted: the same password never hashes the same twice.
        assert_ne!(hasher.hash("correct horse".into()).await.unwrap(), stored);
    }

    /// Twenty at once through two slots: those that cannot get a slot in
    /// time are refused, not queued.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashing_is_bounded_and_excess_is_refused() {
        let hasher = Hasher::new(2, Duration::from_millis(1));
        let stored = hasher.hash("correct horse".into()).await.unwrap();
        let calls = (0..20).map(|_| {
            let (hasher, stored) = (hasher.clone(), stored.clone());
            async move { hasher.verify("wrong".into(), stored).await }
        });
        let results = futures::future::join_all(calls).await;
        let busy = results
            .iter()
            .filter(|r| matches!(r, Err(HashError::Busy)))
            .count();
        assert!(busy > 0, "a 1 ms wait cannot serve twenty 19 MiB hashes");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(false) | Err(HashError::Busy)))
        );
        assert_eq!(hasher.slots.available_permits(), 2, "every slot given back");
    }
}
