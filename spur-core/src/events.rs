//! What the engine tells subscribers (the server's SSE feeds and inboxes).
//! Events name conversations by id, never by the customer's session id (a
//! secret): they cross buses shared by instances and reach agents' feeds.

use serde::{Deserialize, Serialize};

use crate::conversation::{ConversationId, Message, MessageId, Note, Sender, Status};
use crate::escalation::EscalationReason;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    MessageStored {
        conversation: ConversationId,
        message: Box<Message>,
    },
    StatusChanged {
        conversation: ConversationId,
        from: Status,
        to: Status,
        assignee: Option<String>,
    },
    /// A piece of a reply being streamed (the message is stored when done).
    ReplyDelta {
        conversation: ConversationId,
        reply: MessageId,
        text: String,
    },
    Escalated {
        conversation: ConversationId,
        reason: EscalationReason,
    },
    /// Someone is writing (customer or agent); never stored.
    Typing {
        conversation: ConversationId,
        sender: Sender,
    },
    /// An agent wrote an internal note: for agents' feeds only, never a
    /// customer's.
    NoteAdded {
        conversation: ConversationId,
        note: Box<Note>,
    },
    /// The files of a customer's message were fetched and kept (or given up
    /// on): its attachments changed. For agents' feeds.
    FilesKept {
        conversation: ConversationId,
        message: MessageId,
    },
}

impl EngineEvent {
    pub fn conversation(&self) -> ConversationId {
        match self {
            Self::MessageStored { conversation, .. }
            | Self::StatusChanged { conversation, .. }
            | Self::ReplyDelta { conversation, .. }
            | Self::Escalated { conversation, .. }
            | Self::Typing { conversation, .. }
            | Self::NoteAdded { conversation, .. }
            | Self::FilesKept { conversation, .. } => *conversation,
        }
    }
}

/// Receives engine events. Must not block: hosts forward to a channel.
pub trait EventSink: Send + Sync {
    fn publish(&self, event: EngineEvent);
}

/// Drops every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn publish(&self, _event: EngineEvent) {}
}

/// A subscriber fell behind and these many events were dropped for it: it
/// should re-read what it shows from the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the subscriber fell behind and missed {0} events")]
pub struct Missed(pub u64);

/// Events as a subscriber receives them; ends when the bus closes.
pub type EventStream = futures::stream::BoxStream<'static, Result<EngineEvent, Missed>>;

/// The seam live feeds read from: what the engine publishes, fanned out to
/// every subscriber. [`BroadcastEvents`] is the in-process bus; a bus shared
/// by several server instances (Redis Streams, NATS) implements the same
/// trait, and the feeds do not change.
pub trait EventBus: EventSink {
    /// Every event published from now on.
    fn subscribe(&self) -> EventStream;

    /// One conversation's events from now on. Buses that keep a subscriber
    /// registry per conversation (as [`BroadcastEvents`] does) make an
    /// event cost work for the feeds that want it only; this default
    /// filters everything.
    fn subscribe_conversation(&self, conversation: ConversationId) -> EventStream {
        use futures::StreamExt;
        self.subscribe()
            .filter(move |item| {
                futures::future::ready(
                    item.as_ref()
                        .map_or(true, |e| e.conversation() == conversation),
                )
            })
            .boxed()
    }
}

/// In-process fan-out: a tokio broadcast channel for subscribers to
/// everything (the agents' feed), and one per conversation that has
/// subscribers (customers' feeds; see [`ConversationChannels`]).
#[cfg(feature = "runtime")]
#[derive(Clone, Debug)]
pub struct BroadcastEvents {
    sender: tokio::sync::broadcast::Sender<EngineEvent>,
    conversations: std::sync::Arc<ConversationChannels>,
}

#[cfg(feature = "runtime")]
impl BroadcastEvents {
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: tokio::sync::broadcast::channel(capacity.max(1)).0,
            conversations: std::sync::Arc::default(),
        }
    }

    /// Conversations with at least one subscriber right now.
    pub fn conversations_watched(&self) -> usize {
        self.conversations.len()
    }

    /// The raw receiver (tests that want `recv` directly).
    pub fn receiver(&self) -> tokio::sync::broadcast::Receiver<EngineEvent> {
        self.sender.subscribe()
    }
}

#[cfg(feature = "runtime")]
impl EventSink for BroadcastEvents {
    fn publish(&self, event: EngineEvent) {
        self.conversations.publish(&event);
        // No subscriber is not an error.
        let _ = self.sender.send(event);
    }
}

#[cfg(feature = "runtime")]
impl EventBus for BroadcastEvents {
    fn subscribe(&self) -> EventStream {
        use futures::StreamExt;
        futures::stream::unfold(self.receiver(), |mut rx| async move {
            let item = next(&mut rx).await?;
            Some((item, rx))
        })
        .boxed()
    }

    fn subscribe_conversation(&self, conversation: ConversationId) -> EventStream {
        use futures::StreamExt;
        let subscription = Subscription {
            rx: Some(self.conversations.receiver(conversation)),
            channels: std::sync::Arc::clone(&self.conversations),
            conversation,
        };
        futures::stream::unfold(subscription, |mut sub| async move {
            let item = next(sub.rx.as_mut()?).await?;
            Some((item.map(|event| EngineEvent::clone(&event)), sub))
        })
        .boxed()
    }
}

/// The next event, a gap, or `None` when the bus is gone.
#[cfg(feature = "runtime")]
async fn next<T: Clone>(rx: &mut tokio::sync::broadcast::Receiver<T>) -> Option<Result<T, Missed>> {
    use tokio::sync::broadcast::error::RecvError;
    match rx.recv().await {
        Ok(event) => Some(Ok(event)),
        Err(RecvError::Lagged(n)) => Some(Err(Missed(n))),
        Err(RecvError::Closed) => None,
    }
}

/// A broadcast channel per conversation with subscribers, made by the first
/// and dropped with the last: publishing looks up one conversation, so an
/// event costs work for the feeds that want it, not for every open feed.
#[cfg(feature = "runtime")]
#[derive(Debug, Default)]
pub struct ConversationChannels {
    channels: std::sync::Mutex<
        std::collections::HashMap<ConversationId, tokio::sync::broadcast::Sender<SharedEvent>>,
    >,
}

/// Events a conversation's subscriber may fall behind by before it is told
/// to re-read the store (a streamed reply's deltas come fastest; the feed
/// hands each on to its connection's own queue at once). The channel's
/// slots are allocated with it and held while any feed of the conversation
/// is open: 32 shared events are about 1 KB.
#[cfg(feature = "runtime")]
const CONVERSATION_CAPACITY: usize = 32;

/// One allocation however many feeds of the conversation receive it, and a
/// pointer per slot rather than an event.
#[cfg(feature = "runtime")]
type SharedEvent = std::sync::Arc<EngineEvent>;

#[cfg(feature = "runtime")]
impl ConversationChannels {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<ConversationId, tokio::sync::broadcast::Sender<SharedEvent>>,
    > {
        // The map stays consistent whatever a panicking holder did.
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn publish(&self, event: &EngineEvent) {
        if let Some(sender) = self.lock().get(&event.conversation()) {
            let _ = sender.send(std::sync::Arc::new(event.clone()));
        }
    }

    fn receiver(
        &self,
        conversation: ConversationId,
    ) -> tokio::sync::broadcast::Receiver<SharedEvent> {
        self.lock()
            .entry(conversation)
            .or_insert_with(|| tokio::sync::broadcast::channel(CONVERSATION_CAPACITY).0)
            .subscribe()
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// A conversation's receiver; its channel goes with the last one.
#[cfg(feature = "runtime")]
struct Subscription {
    rx: Option<tokio::sync::broadcast::Receiver<SharedEvent>>,
    channels: std::sync::Arc<ConversationChannels>,
    conversation: ConversationId,
}

#[cfg(feature = "runtime")]
impl Drop for Subscription {
    fn drop(&mut self) {
        let mut channels = self.channels.lock();
        // With this receiver gone under the lock, none left means nobody
        // else holds or is taking the channel.
        drop(self.rx.take());
        if channels
            .get(&self.conversation)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            channels.remove(&self.conversation);
        }
    }
}

#[cfg(all(test, feature = "runtime"))]
mod tests {
    use futures::{FutureExt, StreamExt};
    use uuid::Uuid;

    use super::*;

    fn typing(conversation: ConversationId) -> EngineEvent {
        EngineEvent::Typing {
            conversation,
            sender: Sender::Agent,
        }
    }

    #[tokio::test]
    async fn a_conversations_subscribers_get_its_events_and_no_others() {
        let bus = BroadcastEvents::new(16);
        let (a, b) = (
            ConversationId(Uuid::now_v7()),
            ConversationId(Uuid::now_v7()),
        );
        let (mut on_a, mut also_on_a) =
            (bus.subscribe_conversation(a), bus.subscribe_conversation(a));
        let mut on_b = bus.subscribe_conversation(b);
        let mut everything = bus.subscribe();
        assert_eq!(bus.conversations_watched(), 2);

        bus.publish(typing(a));
        for feed in [&mut on_a, &mut also_on_a, &mut everything] {
            assert_eq!(feed.next().await.unwrap().unwrap().conversation(), a);
        }
        assert!(
            on_b.next().now_or_never().is_none(),
            "b's feed is never woken"
        );

        // A channel lives as long as its last subscriber.
        drop(on_a);
        assert_eq!(bus.conversations_watched(), 2);
        drop(also_on_a);
        assert_eq!(bus.conversations_watched(), 1);
        drop(on_b);
        assert_eq!(bus.conversations_watched(), 0);
        bus.publish(typing(b));
        assert_eq!(bus.conversations_watched(), 0, "publishing creates none");
        assert_eq!(everything.next().await.unwrap().unwrap().conversation(), b);
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told() {
        let bus = BroadcastEvents::new(16);
        let a = ConversationId(Uuid::now_v7());
        let mut on_a = bus.subscribe_conversation(a);
        for _ in 0..=CONVERSATION_CAPACITY {
            bus.publish(typing(a));
        }
        assert_eq!(on_a.next().await.unwrap(), Err(Missed(1)));
        assert!(on_a.next().await.unwrap().is_ok());
    }
}
