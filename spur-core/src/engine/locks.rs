//! One writer at a time per conversation inside this process, so that
//! concurrent messages in one session queue up instead of exhausting the
//! store's compare-and-swap retries. Other processes still meet at the
//! store's version check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

use crate::conversation::ConversationId;

type Lock = tokio::sync::Mutex<()>;

/// A conversation's turn, released on drop.
pub(crate) struct Held {
    _guard: OwnedMutexGuard<()>,
    pub(crate) waited: bool,
}

#[derive(Default)]
pub(crate) struct ConversationLocks {
    inner: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    locks: HashMap<ConversationId, Weak<Lock>>,
    /// Forget idle entries when the table reaches this size.
    sweep_at: usize,
}

const MIN_SWEEP: usize = 64;

impl ConversationLocks {
    /// Waits for the conversation's turn; the guard releases it. `waited`
    /// says whether another writer went first (what was read before may be stale).
    pub(crate) async fn lock(&self, id: ConversationId) -> Held {
        let lock = {
            let mut table = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let table = &mut *table;
            let lock = match table.locks.get(&id).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(Lock::new(()));
                    table.locks.insert(id, Arc::downgrade(&lock));
                    lock
                }
            };
            if table.locks.len() >= table.sweep_at.max(MIN_SWEEP) {
                table.locks.retain(|_, weak| weak.strong_count() > 0);
                table.sweep_at = table.locks.len() * 2;
            }
            lock
        };
        match lock.clone().try_lock_owned() {
            Ok(guard) => Held {
                _guard: guard,
                waited: false,
            },
            Err(_) => Held {
                _guard: lock.lock_owned().await,
                waited: true,
            },
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.inner.lock().map(|t| t.locks.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_per_conversation_and_idle_entries_are_forgotten() {
        let locks = Arc::new(ConversationLocks::default());
        let a = ConversationId(uuid::Uuid::now_v7());
        let held = locks.lock(a).await;
        assert!(!held.waited);
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move { locks.lock(a).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "a second writer waits");
        // Another conversation is not held up.
        drop(locks.lock(ConversationId(uuid::Uuid::now_v7())).await);
        drop(held);
        assert!(waiter.await.unwrap().waited);
        for _ in 0..200 {
            drop(locks.lock(ConversationId(uuid::Uuid::now_v7())).await);
        }
        assert!(locks.tracked() < 200, "idle locks are swept");
    }
}
