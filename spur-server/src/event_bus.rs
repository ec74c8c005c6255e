//! Engine events across server instances (`EVENT_BUS=redis`). Every event
//! reaches this process's feeds at once and is appended to a Redis stream
//! (XADD, trimmed to about [`RETAIN`] entries); each instance reads the
//! stream (XREAD BLOCK) and hands other instances' events to its own
//! feeds. A customer's feed on one instance so sees the agent who replied
//! on another. Feeds read the store when they open, so a stream outage
//! costs other instances' live updates until it is back, never a stored
//! message.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncConnectionConfig;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamMaxlen, StreamReadOptions, StreamReadReply};
use spur_core::clock::Clock;
use spur_core::events::{BroadcastEvents, EngineEvent, EventBus, EventSink, EventStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Stream entries kept (approximately): minutes of traffic, for readers
/// that reconnect; older events are in the store.
const RETAIN: usize = 10_000;

/// How long one XREAD waits for new entries.
const BLOCK: Duration = Duration::from_secs(5);

/// Entries read per XREAD.
const BATCH: usize = 256;

/// Events waiting to be appended; past this, publishing drops them (the
/// local feeds already have them) and counts the drop.
const PENDING: usize = 4096;

/// How long shutdown waits to append the events still pending.
const DRAIN: Duration = Duration::from_secs(2);

/// A pause after a failed read or append before trying again.
const RETRY: Duration = Duration::from_millis(500);

/// The in-process bus, extended across instances by a Redis stream.
#[derive(Clone)]
pub struct RedisEvents {
    local: BroadcastEvents,
    pending: mpsc::Sender<EngineEvent>,
}

impl std::fmt::Debug for RedisEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEvents").finish_non_exhaustive()
    }
}

impl RedisEvents {
    /// Connects (failing at start when Redis is unreachable) and starts
    /// the appender and the reader on `tasks` until `shutdown`.
    pub async fn start(
        url: &str,
        stream: &str,
        timeout: Duration,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let writer = client
            .get_connection_manager_with_config(
                ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout.max(Duration::from_millis(200))))
                    .set_response_timeout(Some(timeout)),
            )
            .await?;
        // A blocking read holds its connection: it gets one of its own.
        let reader_config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(200))))
            .set_response_timeout(Some(BLOCK + timeout));
        let reader = client
            .get_multiplexed_async_connection_with_config(&reader_config)
            .await?;
        let local = BroadcastEvents::new(1024);
        let (pending, queue) = mpsc::channel(PENDING);
        // This instance's mark on what it appends: its own entries are
        // skipped when read back (its feeds had them at once).
        let origin = uuid::Uuid::new_v4().to_string();
        let stream: Arc<str> = Arc::from(stream);
        tasks.spawn(append(
            writer,
            Arc::clone(&stream),
            origin.clone(),
            queue,
            shutdown.clone(),
        ));
        let reading = Reader {
            client,
            config: reader_config,
            stream,
            origin,
            local: local.clone(),
            clock,
        };
        tasks.spawn(reading.run(reader, shutdown.clone()));
        Ok(Self { local, pending })
    }
}

impl EventSink for RedisEvents {
    fn publish(&self, event: EngineEvent) {
        self.local.publish(event.clone());
        if self.pending.try_send(event).is_err() {
            metrics::counter!("spur_event_bus_dropped_total").increment(1);
        }
    }
}

impl EventBus for RedisEvents {
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

/// Appends queued events to the stream until shutdown, then what is still
/// queued (for at most [`DRAIN`]).
async fn append(
    mut conn: ConnectionManager,
    stream: Arc<str>,
    origin: String,
    mut queue: mpsc::Receiver<EngineEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            event = queue.recv() => event,
            _ = shutdown.cancelled() => break,
        };
        let Some(event) = event else { return };
        append_one(&mut conn, &stream, &origin, &event).await;
    }
    let _ = tokio::time::timeout(DRAIN, async {
        while let Ok(event) = queue.try_recv() {
            append_one(&mut conn, &stream, &origin, &event).await;
        }
    })
    .await;
}

async fn append_one(conn: &mut ConnectionManager, stream: &str, origin: &str, event: &EngineEvent) {
    let Ok(json) = serde_json::to_string(event) else {
        return;
    };
    let fields = [("origin", origin), ("event", json.as_str())];
    let appended: Result<Option<String>, _> =
        redis::AsyncCommands::xadd_maxlen(conn, stream, StreamMaxlen::Approx(RETAIN), "*", &fields)
            .await;
    if let Err(error) = appended {
        metrics::counter!("spur_event_bus_errors_total", "op" => "append").increment(1);
        tracing::warn!(%error, "could not pass an event to other instances");
    }
}

/// Reads the stream from now on and publishes other instances' events to
/// this process's feeds, reconnecting after failures and resuming after
/// the last entry read (entries trimmed meanwhile are lost to the live
/// feeds only).
struct Reader {
    client: redis::Client,
    config: AsyncConnectionConfig,
    stream: Arc<str>,
    origin: String,
    local: BroadcastEvents,
    clock: Arc<dyn Clock>,
}

impl Reader {
    async fn run(self, mut conn: redis::aio::MultiplexedConnection, shutdown: CancellationToken) {
        let Self {
            client,
            config,
            stream,
            origin,
            local,
            clock,
        } = self;
        let mut last = "$".to_string();
        let options = StreamReadOptions::default()
            .block(BLOCK.as_millis().try_into().unwrap_or(usize::MAX))
            .count(BATCH);
        while !shutdown.is_cancelled() {
            let keys = [&*stream];
            let ids = [last.as_str()];
            let reply: Result<Option<StreamReadReply>, _> = tokio::select! {
                reply = redis::AsyncCommands::xread_options(&mut conn, &keys, &ids, &options) => reply,
                _ = shutdown.cancelled() => return,
            };
            let reply = match reply {
                Ok(reply) => reply,
                Err(error) => {
                    metrics::counter!("spur_event_bus_errors_total", "op" => "read").increment(1);
                    tracing::warn!(%error, "reading other instances' events failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => {}
                        _ = shutdown.cancelled() => return,
                    }
                    if let Ok(fresh) = client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                    {
                        conn = fresh;
                    }
                    continue;
                }
            };
            for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                last.clone_from(&entry.id);
                record_lag(&entry.id, clock.as_ref());
                if entry.get::<String>("origin").as_deref() == Some(origin.as_str()) {
                    continue;
                }
                let Some(json) = entry.get::<String>("event") else {
                    continue;
                };
                match serde_json::from_str::<EngineEvent>(&json) {
                    Ok(event) => local.publish(event),
                    // Another version's event: skipped, never fatal.
                    Err(error) => {
                        tracing::debug!(%error, "skipped an event this version cannot read")
                    }
                }
            }
        }
    }
}

/// Seconds from an entry's append (its id's milliseconds, Redis's clock)
/// to its reading here.
fn record_lag(id: &str, clock: &dyn Clock) {
    let Some(appended) = id.split('-').next().and_then(|ms| ms.parse::<i128>().ok()) else {
        return;
    };
    let now = clock.now().unix_timestamp_nanos() / 1_000_000;
    let lag = (now - appended).max(0) as f64 / 1000.0;
    metrics::histogram!("spur_event_bus_lag_seconds").record(lag);
}
