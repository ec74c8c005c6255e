//! `GET /v1/chat/events/{session}`: everything that happens in one
//! conversation as Server-Sent Events, resumable with `Last-Event-ID`.
//!
//! Message events carry the message's `seq` as their id. On connect the
//! feed subscribes first, then sends the current status, then replays what
//! the store holds after `Last-Event-ID`, then goes live; live messages at
//! or below the last sent seq are dropped (no duplicates) and a jump in seq
//! or a lagging subscriber re-reads the store (no gaps).

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::json;
use spur_core::conversation::{ConversationId, Message, Sender};
use spur_core::events::{EngineEvent, EventStream};
use spur_core::validate::parse_session_id;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::views::MessageView;

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// Start after this message seq (a page that already shows history);
    /// a `Last-Event-ID` header takes precedence.
    #[param(minimum = 0)]
    pub after: Option<i64>,
}

/// Messages read from the store per replay query.
const REPLAY_PAGE: usize = 200;

/// The live feed of a conversation.
#[utoipa::path(get, path = "/v1/chat/events/{session}", tag = "chat",
    params(("session" = uuid::Uuid, Path), FeedQuery, ("Last-Event-ID" = Option<i64>, Header, description = "resume after this message seq")),
    responses((status = 200, content_type = "text/event-stream",
        description = "status {status, withAgent} first, then message {id, seq, sender, text, createdAt, usedFallback} with id = seq, delta {replyId, text}, escalated {reason}, typing {sender: agent}"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many live feeds open from this address or for this session (too_many_feeds)")))]
pub async fn events(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(session): Path<String>,
    Query(query): Query<FeedQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let session = parse_session_id(&session)?;
    let held = state.open_feed(peer, &headers).await?;
    let held_by_session = state.open_session_feed(session).await?;
    // This conversation's events only (the bus's registry wakes no other
    // feed), subscribed before reading the state and the backlog to send
    // first, so nothing falls between the two.
    let id = state.engine.conversation(session).await?.id;
    let live = state.events.subscribe_conversation(id);
    let conversation = state.engine.conversation(session).await?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        // A reconnect's header wins over the first connection's `after`.
        .or(query.after)
        .unwrap_or(0)
        .max(0);
    let (tx, rx) = mpsc::channel(64);
    let status = status_event(
        conversation.status.as_str(),
        conversation.assignee.as_deref(),
    );
    state.tasks.spawn(
        Feed {
            engine: state.engine.clone(),
            show_sources: state.http.show_sources,
            shutdown: state.shutdown.clone(),
            conversation: conversation.id,
            last_seq: after,
            tx,
            _held: (held, held_by_session),
        }
        .run(status, live),
    );
    Ok(Sse::new(ReceiverStream::new(rx).map(Ok)).keep_alive(KeepAlive::default()))
}

/// What an open feed holds while it waits: kept small, since an idle feed
/// costs this for as long as the customer's page is open.
struct Feed {
    engine: spur_core::engine::SupportEngine,
    show_sources: bool,
    shutdown: tokio_util::sync::CancellationToken,
    conversation: ConversationId,
    /// The newest message seq the client has.
    last_seq: i64,
    tx: mpsc::Sender<Event>,
    /// Counts against the client's and the session's open feeds while this runs.
    _held: (
        crate::state::FeedSlot,
        crate::state::FeedSlot<spur_core::conversation::SessionId>,
    ),
}

/// The client went away.
struct Gone;

impl Feed {
    async fn run(mut self, status: Event, mut live: EventStream) {
        if self.send(status).await.is_err() || Box::pin(self.replay()).await.is_err() {
            return;
        }
        let shutdown = self.shutdown.clone();
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = self.tx.try_send(crate::reconnect_event());
                    return;
                }
                _ = self.tx.closed() => return,
                received = live.next() => received,
            };
            // Boxed: the waiting future stays small; the work of an event
            // is allocated while it is done.
            let step = match received {
                Some(Ok(event)) if event.conversation() == self.conversation => {
                    Box::pin(self.forward(event)).await
                }
                Some(Ok(_)) => Ok(()),
                // Missed events: the store has every message.
                Some(Err(_missed)) => Box::pin(self.replay()).await,
                None => return,
            };
            if step.is_err() {
                return;
            }
        }
    }

    async fn forward(&mut self, event: EngineEvent) -> Result<(), Gone> {
        match event {
            EngineEvent::MessageStored { message, .. } => {
                if message.seq <= self.last_seq {
                    Ok(())
                } else if message.seq == self.last_seq + 1 {
                    self.message(&message).await
                } else {
                    self.replay().await
                }
            }
            EngineEvent::StatusChanged { to, assignee, .. } => {
                self.send(status_event(to.as_str(), assignee.as_deref()))
                    .await
            }
            EngineEvent::ReplyDelta { reply, text, .. } => {
                let data = json!({"replyId": reply, "text": text});
                self.send(Event::default().event("delta").data(data.to_string()))
                    .await
            }
            // The customer hears only about the agent typing.
            EngineEvent::Typing {
                sender: Sender::Agent,
                ..
            } => {
                let data = json!({"sender": "agent"});
                self.send(Event::default().event("typing").data(data.to_string()))
                    .await
            }
            EngineEvent::Typing { .. } => Ok(()),
            EngineEvent::Escalated { reason, .. } => {
                let data = json!({"reason": reason.code()});
                self.send(Event::default().event("escalated").data(data.to_string()))
                    .await
            }
            // Internal notes, and where a customer's files are, are for agents only.
            EngineEvent::NoteAdded { .. } | EngineEvent::FilesKept { .. } => Ok(()),
        }
    }

    /// Sends every stored message after `last_seq`.
    async fn replay(&mut self) -> Result<(), Gone> {
        loop {
            let page = match self
                .engine
                .store()
                .messages_after(self.conversation, self.last_seq, REPLAY_PAGE)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    // The client reconnects with its Last-Event-ID and misses nothing.
                    tracing::warn!(%error, "feed replay failed; closing the feed");
                    return Err(Gone);
                }
            };
            let full = page.len() == REPLAY_PAGE;
            for message in &page {
                self.message(message).await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn message(&mut self, message: &Message) -> Result<(), Gone> {
        let view = MessageView::new(message, self.show_sources);
        let data = serde_json::to_string(&view).unwrap_or_default();
        let event = Event::default()
            .event("message")
            .id(message.seq.to_string())
            .data(data);
        self.send(event).await?;
        self.last_seq = message.seq;
        Ok(())
    }

    async fn send(&self, event: Event) -> Result<(), Gone> {
        self.tx.send(event).await.map_err(|_| Gone)
    }
}

/// Whether a person holds the conversation, not who (agent ids stay inside).
fn status_event(status: &str, assignee: Option<&str>) -> Event {
    let data = json!({"status": status, "withAgent": assignee.is_some()});
    Event::default().event("status").data(data.to_string())
}
