//! Sends what the outbox holds: leased one item at a time per thread (so a
//! thread's messages go out in order), several threads at once (so one slow
//! channel does not hold up the others), retried with backoff, given up on
//! after [`DeliveryPolicy::max_attempts`].
//!
//! A deliverer killed mid-send leaves its item leased; the lease ends and
//! the item is sent again. Sends are at least once: a kill between the
//! provider's answer and [`OutboxStore::outbound_sent`] repeats that one
//! message (providers without an idempotency key cannot tell).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{ChannelSender, OutboxItem, OutboxStore, SendError};
use crate::clock::Clock;
use crate::store::StoreError;

/// How the deliverer paces itself.
#[derive(Clone, Debug)]
pub struct DeliveryPolicy {
    /// How long a send may hold its item before another deliverer takes it.
    pub lease: Duration,
    /// Tries before a message is marked failed.
    pub max_attempts: i64,
    /// The wait after the first failure; doubled after each, up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// How often the outbox is looked at when nothing wakes the deliverer
    /// (retries falling due, another instance's messages).
    pub poll: Duration,
    /// Items sent at once.
    pub batch: usize,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            max_attempts: 8,
            first_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            poll: Duration::from_secs(1),
            batch: 16,
        }
    }
}

impl DeliveryPolicy {
    /// The wait before try `attempts + 1`.
    fn backoff(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        self.first_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }
}

/// What one pass over the outbox did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

impl Pass {
    fn handled(&self) -> usize {
        self.sent + self.retried + self.failed
    }
}

/// How a channel's last send went, for readiness probes: `None` before the
/// first send; a failure that concerns one customer (the reply window)
/// says nothing about the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelHealth {
    Ok,
    Failing,
}

/// The outbox's sender: one per process is enough (several, in several
/// processes, share the work through the leases).
pub struct Deliverer {
    store: Arc<dyn OutboxStore>,
    senders: HashMap<String, Arc<dyn ChannelSender>>,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
    wake: Notify,
    health: std::sync::Mutex<HashMap<String, ChannelHealth>>,
}

impl Deliverer {
    pub fn new(
        store: Arc<dyn OutboxStore>,
        senders: Vec<Arc<dyn ChannelSender>>,
        clock: Arc<dyn Clock>,
        policy: DeliveryPolicy,
    ) -> Self {
        let senders = senders
            .into_iter()
            .map(|sender| (sender.channel().to_string(), sender))
            .collect();
        Self {
            store,
            senders,
            clock,
            policy,
            wake: Notify::new(),
            health: std::sync::Mutex::default(),
        }
    }

    /// Each configured channel and how its last send went (`None`: none yet).
    pub fn health(&self) -> Vec<(String, Option<ChannelHealth>)> {
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let mut channels: Vec<_> = self
            .senders
            .keys()
            .map(|channel| (channel.clone(), health.get(channel).copied()))
            .collect();
        channels.sort_by(|a, b| a.0.cmp(&b.0));
        channels
    }

    fn note(&self, channel: &str, outcome: &Result<String, SendError>) {
        let health = match outcome {
            Ok(_) => ChannelHealth::Ok,
            Err(SendError::OutsideWindow(_)) => return,
            Err(_) => ChannelHealth::Failing,
        };
        if self.senders.contains_key(channel) {
            let mut map = self.health.lock().unwrap_or_else(|p| p.into_inner());
            map.insert(channel.to_string(), health);
        }
    }

    /// Something was queued: look now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Delivers until cancelled. Store errors are logged and retried at the
    /// next poll: the items stay in the outbox.
    pub async fn run(&self, cancel: CancellationToken) {
        loop {
            loop {
                match self.deliver_due().await {
                    Ok(pass) if pass.handled() > 0 => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(%error, "outbox: reading what is due failed");
                        break;
                    }
                }
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.policy.poll) => {}
            }
        }
    }

    /// Leases up to a batch of due items and sends them together.
    pub async fn deliver_due(&self) -> Result<Pass, StoreError> {
        let mut items = Vec::new();
        while items.len() < self.policy.batch {
            let now = self.clock.now();
            match self
                .store
                .claim_outbound(now, now + self.policy.lease)
                .await?
            {
                Some(item) => items.push(item),
                None => break,
            }
        }
        let outcomes =
            futures::future::join_all(items.iter().map(|item| self.send_one(item))).await;
        let mut pass = Pass::default();
        for (item, outcome) in items.iter().zip(outcomes) {
            self.record(item, outcome, &mut pass).await?;
        }
        Ok(pass)
    }

    async fn send_one(&self, item: &OutboxItem) -> Result<String, SendError> {
        let Some(sender) = self.senders.get(&item.thread.channel) else {
            return Err(SendError::Retry(format!(
                "no sender configured for channel {}",
                item.thread.channel
            )));
        };
        // The sender has its own timeouts; this one bounds a sender that
        // forgot them, inside the lease so no second deliverer starts.
        match tokio::time::timeout(self.policy.lease / 2, sender.send(item)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(SendError::Retry("the send timed out".into())),
        }
    }

    async fn record(
        &self,
        item: &OutboxItem,
        outcome: Result<String, SendError>,
        pass: &mut Pass,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.note(&item.thread.channel, &outcome);
        match outcome {
            Ok(provider_id) => {
                self.store
                    .outbound_sent(item.message_id, &provider_id, now)
                    .await?;
                pass.sent += 1;
            }
            Err(SendError::Retry(error)) if item.attempts < self.policy.max_attempts => {
                tracing::info!(message = %item.message_id, attempts = item.attempts, %error, "outbox: will retry");
                let due = now + self.policy.backoff(item.attempts);
                self.store
                    .outbound_retry(item.message_id, &error, due)
                    .await?;
                pass.retried += 1;
            }
            Err(error) => {
                tracing::warn!(message = %item.message_id, attempts = item.attempts, %error, "outbox: gave up");
                self.store
                    .outbound_failed(item.message_id, &error.to_string(), now)
                    .await?;
                pass.failed += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = DeliveryPolicy::default();
        assert_eq!(policy.backoff(1), Duration::from_secs(2));
        assert_eq!(policy.backoff(2), Duration::from_secs(4));
        assert_eq!(policy.backoff(5), Duration::from_secs(32));
        assert_eq!(policy.backoff(40), Duration::from_secs(300));
    }
}
