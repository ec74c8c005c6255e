//! The replies this process is generating, by the message they answer. A
//! retry of a message (its idempotency key again: a client retrying, a
//! channel delivering twice at once) that finds it unanswered waits for the
//! reply under way instead of generating a second one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::conversation::MessageId;

#[derive(Default)]
pub(crate) struct Replying(Mutex<HashMap<MessageId, Arc<Notify>>>);

/// The right to answer one message; given back (and waiters woken) on drop.
pub(crate) struct ReplyingGuard {
    set: Arc<Replying>,
    message: MessageId,
}

impl Replying {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<MessageId, Arc<Notify>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The right to answer `message`, or, when another turn of this
    /// process holds it, `None` once that turn ends (or `limit` passes).
    pub(crate) async fn start_or_wait(
        self: &Arc<Self>,
        message: MessageId,
        limit: Duration,
    ) -> Option<ReplyingGuard> {
        let notify = {
            let mut map = self.lock();
            match map.get(&message) {
                Some(notify) => notify.clone(),
                None => {
                    map.insert(message, Arc::new(Notify::new()));
                    return Some(ReplyingGuard {
                        set: self.clone(),
                        message,
                    });
                }
            }
        };
        let notified = notify.notified();
        tokio::pin!(notified);
        // Registered before looking again: a guard dropped meanwhile is seen.
        notified.as_mut().enable();
        if self.lock().contains_key(&message) {
            let _ = tokio::time::timeout(limit, notified).await;
        }
        None
    }
}

impl Drop for ReplyingGuard {
    fn drop(&mut self) {
        if let Some(notify) = self.set.lock().remove(&self.message) {
            notify.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_caller_waits_for_the_first() {
        let set = Arc::new(Replying::default());
        let id = MessageId(uuid::Uuid::new_v4());
        let first = set.start_or_wait(id, Duration::from_secs(5)).await.unwrap();
        let waiter = {
            let set = set.clone();
            tokio::spawn(async move {
                set.start_or_wait(id, Duration::from_secs(5))
                    .await
                    .is_none()
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "it waits while the first holds it");
        drop(first);
        assert!(waiter.await.unwrap(), "woken, without the right to answer");
        assert!(
            set.start_or_wait(id, Duration::from_secs(5))
                .await
                .is_some()
        );
    }
}
