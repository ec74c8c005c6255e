//! `EVENT_BUS=nats`: the shared log is a NATS JetStream stream (bounded to
//! about [`RETAIN`] messages and an hour), appended with acknowledged
//! publishes and read by each instance through an ordered consumer that
//! starts at the time the instance did (and resumes where it was after a
//! reconnect).

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use spur_core::clock::Clock;
use spur_core::events::{BroadcastEvents, EngineEvent};
use tokio_util::sync::CancellationToken;

use super::{Append, RETAIN, RETRY, Run, SharedEvents};

/// Events older than this are dropped from the stream (the store has them).
const MAX_AGE: Duration = Duration::from_secs(3600);

/// The header naming the instance that appended an event.
const ORIGIN: &str = "Spur-Origin";

/// Why the NATS bus could not start.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("cannot connect to NATS: {0}")]
    Connect(String),
    #[error("JetStream stream {stream}: {message}")]
    Stream { stream: String, message: String },
}

impl SharedEvents {
    /// Connects to `url`, creates the stream `name` when missing (subject
    /// `<name>.events`), and starts the appender and the reader on `tasks`
    /// until `shutdown`. Fails at start when NATS or JetStream is not there.
    pub async fn nats(url: &str, name: &str, run: Run<'_>) -> Result<Self, NatsError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(run.timeout.max(Duration::from_millis(200)))
            .request_timeout(Some(run.timeout.max(Duration::from_secs(1))))
            .connect(url)
            .await
            .map_err(|e| NatsError::Connect(e.to_string()))?;
        let js = jetstream::new(client);
        let subject = format!("{name}.events");
        let failed = |message: String| NatsError::Stream {
            stream: name.to_string(),
            message,
        };
        let stream = js
            .get_or_create_stream(stream::Config {
                name: name.to_string(),
                subjects: vec![subject.clone()],
                max_messages: i64::try_from(RETAIN).unwrap_or(i64::MAX),
                max_age: MAX_AGE,
                storage: stream::StorageType::File,
                discard: stream::DiscardPolicy::Old,
                ..Default::default()
            })
            .await
            .map_err(|e| failed(e.to_string()))?;
        // Only what is published from now on: earlier events are in the store.
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: subject.clone(),
                deliver_policy: consumer::DeliverPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| failed(e.to_string()))?;
        let (events, queue) = SharedEvents::new();
        let origin = uuid::Uuid::new_v4().to_string();
        let log = Subject {
            js,
            subject,
            origin: origin.clone(),
        };
        run.tasks
            .spawn(super::drain_queue(queue, run.shutdown.clone(), log));
        let reader = Reader {
            consumer,
            origin,
            local: events.local.clone(),
            clock: run.clock,
        };
        run.tasks.spawn(reader.run(run.shutdown.clone()));
        Ok(events)
    }
}

/// The subject events are published to, with this instance's mark.
struct Subject {
    js: jetstream::Context,
    subject: String,
    origin: String,
}

impl Append for Subject {
    async fn append(&mut self, event: &EngineEvent) {
        let Ok(json) = serde_json::to_vec(event) else {
            return;
        };
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, self.origin.as_str());
        let published = self
            .js
            .publish_with_headers(self.subject.clone(), headers, json.into())
            .await;
        // Stored only once JetStream acknowledges it.
        let acknowledged = match published {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = acknowledged {
            super::record_error("append", &error);
        }
    }
}

/// Publishes other instances' events to this process's feeds.
struct Reader {
    consumer: consumer::Consumer<consumer::pull::OrderedConfig>,
    origin: String,
    local: BroadcastEvents,
    clock: Arc<dyn Clock>,
}

impl Reader {
    async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            // The ordered consumer recreates itself after a lost connection,
            // resuming after the last message read.
            let messages = tokio::select! {
                messages = self.consumer.clone().messages() => messages,
                _ = shutdown.cancelled() => return,
            };
            let mut messages = match messages {
                Ok(messages) => messages,
                Err(error) => {
                    super::record_error("read", &error);
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => continue,
                        _ = shutdown.cancelled() => return,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    next = messages.next() => next,
                    _ = shutdown.cancelled() => return,
                };
                let message = match next {
                    Some(Ok(message)) => message,
                    Some(Err(error)) => {
                        super::record_error("read", &error);
                        break;
                    }
                    None => break,
                };
                if let Ok(info) = message.info() {
                    let published = info.published.unix_timestamp_nanos() / 1_000_000;
                    super::record_lag(published, self.clock.as_ref());
                }
                let ours = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(ORIGIN))
                    .is_some_and(|o| o.as_str() == self.origin);
                super::deliver(&self.local, ours, &message.payload);
            }
        }
    }
}
