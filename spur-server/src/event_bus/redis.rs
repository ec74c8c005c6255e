//! `EVENT_BUS=redis`: the shared log is a Redis stream (XADD, trimmed to
//! about [`RETAIN`] entries), read by each instance with XREAD BLOCK.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncConnectionConfig;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamMaxlen, StreamReadOptions, StreamReadReply};
use spur_core::clock::Clock;
use spur_core::events::{BroadcastEvents, EngineEvent};
use tokio_util::sync::CancellationToken;

use super::{Append, RETAIN, RETRY, Run, SharedEvents};

/// How long one XREAD waits for new entries.
const BLOCK: Duration = Duration::from_secs(5);

/// Entries read per XREAD.
const BATCH: usize = 256;

impl SharedEvents {
    /// Connects (failing at start when Redis is unreachable) and starts
    /// the appender and the reader on `tasks` until `shutdown`.
    pub async fn redis(url: &str, stream: &str, run: Run<'_>) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let writer = client
            .get_connection_manager_with_config(
                ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(run.timeout.max(Duration::from_millis(200))))
                    .set_response_timeout(Some(run.timeout)),
            )
            .await?;
        // A blocking read holds its connection: it gets one of its own.
        let reader_config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(run.timeout.max(Duration::from_millis(200))))
            .set_response_timeout(Some(BLOCK + run.timeout));
        let reader = client
            .get_multiplexed_async_connection_with_config(&reader_config)
            .await?;
        let (events, queue) = SharedEvents::new();
        // This instance's mark on what it appends: its own entries are
        // skipped when read back (its feeds had them at once).
        let origin = uuid::Uuid::new_v4().to_string();
        let stream: Arc<str> = Arc::from(stream);
        let log = Stream {
            conn: writer,
            stream: Arc::clone(&stream),
            origin: origin.clone(),
        };
        run.tasks
            .spawn(super::drain_queue(queue, run.shutdown.clone(), log));
        let reading = Reader {
            client,
            config: reader_config,
            stream,
            origin,
            local: events.local.clone(),
            clock: run.clock,
        };
        run.tasks.spawn(reading.run(reader, run.shutdown.clone()));
        Ok(events)
    }
}

/// The stream events are appended to, with this instance's mark.
struct Stream {
    conn: ConnectionManager,
    stream: Arc<str>,
    origin: String,
}

impl Append for Stream {
    async fn append(&mut self, event: &EngineEvent) {
        let Ok(json) = serde_json::to_string(event) else {
            return;
        };
        let fields = [("origin", self.origin.as_str()), ("event", json.as_str())];
        let appended: Result<Option<String>, _> = redis::AsyncCommands::xadd_maxlen(
            &mut self.conn,
            &*self.stream,
            StreamMaxlen::Approx(RETAIN),
            "*",
            &fields,
        )
        .await;
        if let Err(error) = appended {
            super::record_error("append", &error);
        }
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
                    super::record_error("read", &error);
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
                // An entry's id starts with its append time (Redis's clock, ms).
                if let Some(ms) = entry.id.split('-').next().and_then(|ms| ms.parse().ok()) {
                    super::record_lag(ms, clock.as_ref());
                }
                let ours = entry.get::<String>("origin").as_deref() == Some(origin.as_str());
                let Some(json) = entry.get::<String>("event") else {
                    continue;
                };
                super::deliver(&local, ours, json.as_bytes());
            }
        }
    }
}
