//! Engine events across server instances (`EVENT_BUS=redis` or `nats`).
//! Every event reaches this process's feeds at once and is queued for the
//! shared log (a Redis stream, or a NATS JetStream stream), bounded to
//! about [`RETAIN`] entries; each instance reads the log from the time it
//! started and hands other instances' events to its own feeds. A
//! customer's feed on one instance so sees the agent who replied on
//! another. Feeds read the store when they open, so a bus outage costs
//! other instances' live updates until it is back, never a stored message.

mod nats;
mod redis;

use std::time::Duration;

use std::sync::Arc;

use spur_core::clock::Clock;
use spur_core::events::{BroadcastEvents, EngineEvent, EventBus, EventSink, EventStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use nats::NatsError;

/// Log entries kept (approximately): minutes of traffic, for readers that
/// reconnect; older events are in the store.
const RETAIN: usize = 10_000;

/// Events waiting to be appended; past this, publishing drops them (the
/// local feeds already have them) and counts the drop.
const PENDING: usize = 4096;

/// How long shutdown waits to append the events still pending.
const DRAIN: Duration = Duration::from_secs(2);

/// A pause after a failed read or append before trying again.
const RETRY: Duration = Duration::from_millis(500);

/// What a shared bus runs with, whichever engine carries it.
pub struct Run<'a> {
    /// For connecting and for each request to the engine.
    pub timeout: Duration,
    /// Ends the appender (after a last [`DRAIN`]) and the reader.
    pub shutdown: &'a CancellationToken,
    /// Where the appender and the reader run.
    pub tasks: &'a TaskTracker,
    /// Reads the bus lag.
    pub clock: Arc<dyn Clock>,
}

/// The in-process bus, extended across instances by a shared log: local
/// feeds get each event at once, the appender task the same event through
/// `pending`, and the reader task publishes other instances' events to
/// `local`.
#[derive(Clone)]
pub struct SharedEvents {
    local: BroadcastEvents,
    pending: mpsc::Sender<EngineEvent>,
}

impl std::fmt::Debug for SharedEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedEvents").finish_non_exhaustive()
    }
}

impl SharedEvents {
    /// The local bus and the queue the appender drains.
    fn new() -> (Self, mpsc::Receiver<EngineEvent>) {
        let (pending, queue) = mpsc::channel(PENDING);
        let local = BroadcastEvents::new(1024);
        (Self { local, pending }, queue)
    }
}

impl EventSink for SharedEvents {
    fn publish(&self, event: EngineEvent) {
        self.local.publish(event.clone());
        if self.pending.try_send(event).is_err() {
            metrics::counter!("spur_event_bus_dropped_total").increment(1);
        }
    }
}

impl EventBus for SharedEvents {
    fn subscribe(&self) -> EventStream {
        self.local.subscribe()
    }

    fn subscribe_conversation(
        &self,
        conversation: spur_core::conversation::ConversationId,
    ) -> EventStream {
        self.local.subscribe_conversation(conversation)
    }
}

/// An event read from the log, by its bytes: published to this process's
/// feeds unless this instance appended it (its feeds had it at once).
fn deliver(local: &BroadcastEvents, ours: bool, bytes: &[u8]) {
    if ours {
        return;
    }
    match serde_json::from_slice::<EngineEvent>(bytes) {
        Ok(event) => local.publish(event),
        // Another version's event: skipped, never fatal.
        Err(error) => tracing::debug!(%error, "skipped an event this version cannot read"),
    }
}

/// Seconds from an entry's append (`appended_ms`, unix milliseconds on
/// the bus's clock) to its reading here.
fn record_lag(appended_ms: i128, clock: &dyn Clock) {
    let now = clock.now().unix_timestamp_nanos() / 1_000_000;
    let lag = (now - appended_ms).max(0) as f64 / 1000.0;
    metrics::histogram!("spur_event_bus_lag_seconds").record(lag);
}

/// The bus failed an operation (`op`: append or read).
fn record_error(op: &'static str, error: &dyn std::fmt::Display) {
    metrics::counter!("spur_event_bus_errors_total", "op" => op).increment(1);
    tracing::warn!(%error, op, "the event bus between instances failed; retrying");
}

/// What appends one event to the shared log.
trait Append {
    async fn append(&mut self, event: &EngineEvent);
}

/// Appends every queued event until shutdown, then what is still queued
/// (for at most [`DRAIN`]).
async fn drain_queue(
    mut queue: mpsc::Receiver<EngineEvent>,
    shutdown: tokio_util::sync::CancellationToken,
    mut log: impl Append,
) {
    loop {
        let event = tokio::select! {
            event = queue.recv() => event,
            _ = shutdown.cancelled() => break,
        };
        let Some(event) = event else { return };
        log.append(&event).await;
    }
    let _ = tokio::time::timeout(DRAIN, async {
        while let Ok(event) = queue.try_recv() {
            log.append(&event).await;
        }
    })
    .await;
}
