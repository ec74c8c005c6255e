//! Ticket changes for the agents' live feed, across processes. A change
//! made anywhere (a request on any instance, a `spur-server worker`) is
//! announced by ticket id on PostgreSQL `NOTIFY` (when the store is
//! PostgreSQL) or Redis pub/sub (when `REDIS_URL` is set); every server
//! listens, reads the ticket from the shared store and hands it to its own
//! feed. With neither, changes stay in the process (one instance).

use std::time::Duration;

use futures::StreamExt;
use spur_core::tickets::{Ticket, TicketDesk, TicketId};
use tokio_util::sync::CancellationToken;

use crate::state::TicketEvents;

const CHANNEL: &str = "spur_ticket_changes";

#[derive(Clone)]
pub enum TicketRelay {
    /// One process: straight to the feed.
    Local(TicketEvents),
    Postgres {
        pool: sqlx::PgPool,
        events: TicketEvents,
    },
    Redis {
        client: redis::Client,
        conn: redis::aio::ConnectionManager,
        events: TicketEvents,
    },
}

impl TicketRelay {
    pub async fn redis(url: &str, events: TicketEvents) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let conn = client.get_connection_manager().await?;
        Ok(Self::Redis {
            client,
            conn,
            events,
        })
    }

    fn events(&self) -> &TicketEvents {
        match self {
            Self::Local(events) | Self::Postgres { events, .. } | Self::Redis { events, .. } => {
                events
            }
        }
    }

    /// Announces a changed ticket. If the shared channel fails, this
    /// process's feed still hears of it.
    pub async fn publish(&self, ticket: &Ticket) {
        let id = ticket.id.to_string();
        let shared = match self {
            Self::Local(events) => {
                // Nobody listening is fine.
                let _ = events.send(ticket.clone());
                return;
            }
            Self::Postgres { pool, .. } => sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(&id)
                .execute(pool)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Self::Redis { conn, .. } => redis::cmd("PUBLISH")
                .arg(CHANNEL)
                .arg(&id)
                .query_async::<i64>(&mut conn.clone())
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        };
        if let Err(error) = shared {
            tracing::warn!(%error, ticket = %id, "could not announce a ticket change to other instances");
            let _ = self.events().send(ticket.clone());
        }
    }

    /// Forwards announcements (this process's included) to the feed until
    /// `shutdown`, reconnecting after failures. Nothing to do when local.
    pub fn spawn_listener(
        &self,
        desk: TicketDesk,
        shutdown: CancellationToken,
        tasks: &tokio_util::task::TaskTracker,
    ) {
        if let Self::Local(_) = self {
            return;
        }
        let relay = self.clone();
        tasks.spawn(async move {
            while !shutdown.is_cancelled() {
                let result = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    result = relay.listen(&desk) => result,
                };
                if let Err(error) = result {
                    tracing::warn!(%error, "ticket change listener failed; reconnecting");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }

    async fn listen(&self, desk: &TicketDesk) -> Result<(), String> {
        match self {
            Self::Local(_) => Ok(()),
            Self::Postgres { pool, events } => {
                let mut listener = sqlx::postgres::PgListener::connect_with(pool)
                    .await
                    .map_err(|e| e.to_string())?;
                listener.listen(CHANNEL).await.map_err(|e| e.to_string())?;
                loop {
                    let note = listener.recv().await.map_err(|e| e.to_string())?;
                    forward(desk, events, note.payload()).await;
                }
            }
            Self::Redis { client, events, .. } => {
                let mut pubsub = client.get_async_pubsub().await.map_err(|e| e.to_string())?;
                pubsub.subscribe(CHANNEL).await.map_err(|e| e.to_string())?;
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    if let Ok(id) = message.get_payload::<String>() {
                        forward(desk, events, &id).await;
                    }
                }
                Err("the Redis subscription ended".into())
            }
        }
    }
}

/// Reads the announced ticket and hands it to the feed.
async fn forward(desk: &TicketDesk, events: &TicketEvents, id: &str) {
    let Ok(id) = id.parse::<TicketId>() else {
        return;
    };
    match desk.store().ticket(id).await {
        Ok(Some(ticket)) => {
            let _ = events.send(ticket);
        }
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "could not read an announced ticket"),
    }
}
