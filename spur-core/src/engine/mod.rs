//! `SupportEngine`: the channel-agnostic life of a customer message.
//!
//! Receive -> validate -> store the customer's message first -> update the
//! state -> (if the bot holds the conversation) retrieve, build the prompt,
//! call the provider under a timeout -> store the reply with its metadata ->
//! publish events. Provider failures become a polite fallback reply.

#[cfg(feature = "media")]
mod attachments;
mod build;
mod config;
mod error;
mod feedback;
mod locks;
#[cfg(feature = "email")]
mod mail;
#[cfg(feature = "mcp")]
mod mcp;
mod pending;
mod reply;
mod replying;
mod turn;

use std::sync::Arc;

use tracing::Instrument;

use time::OffsetDateTime;

use crate::channels::{InboundEvent, MessageKind};
use crate::classify::LocalClassifier;
use crate::clock::{Clock, IdGenerator};
use crate::conversation::CHANNEL_THREAD;
use crate::conversation::{
    CannedReply, Conversation, ConversationId, ConversationState, Event, Message, MessageId,
    MessageMeta, Note, Sender, SessionId, Status, TransitionError, transition,
};
use crate::escalation::{EscalationReason, HandoffDetector};
use crate::events::{EngineEvent, EventSink};
use crate::facts::{Availability, ShopFacts};
use crate::knowledge::KnowledgeBase;
use crate::llm::LlmProvider;
use crate::prompt::{PromptBuilder, TokenCounter};
use crate::smalltalk::{self, SmallTalk};
use crate::store::{Applied, Change, ConversationStore, HistoryPage, StoreError};
use crate::tools::{Tool, ToolError, ToolRegistry};

#[cfg(feature = "media")]
pub use attachments::KeptFile;
pub use build::EngineBuilder;
pub use config::EngineConfig;
pub use error::EngineError;
pub use reply::Preview;
pub use turn::{Inbound, StreamEvent, Turn};

/// How often a change is retried when the conversation moved underneath it.
const MAX_ATTEMPTS: usize = 8;

/// The knowledge a turn answers from and the prompts rendered for it:
/// swapped whole when the operator's knowledge changes, so a turn that
/// started on one version finishes on it.
pub(crate) struct Shop {
    pub(crate) knowledge: Arc<KnowledgeBase>,
    pub(crate) prompts: PromptBuilder,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn ConversationStore>,
    pub(crate) provider: Arc<dyn LlmProvider>,
    /// The spending guard, and who answers once a budget is spent.
    pub(crate) budget: Option<Budget>,
    pub(crate) shop: std::sync::RwLock<Arc<Shop>>,
    pub(crate) classifier: LocalClassifier,
    pub(crate) detector: HandoffDetector,
    pub(crate) tokens: Arc<dyn TokenCounter>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdGenerator>,
    pub(crate) events: Arc<dyn EventSink>,
    pub(crate) config: EngineConfig,
    /// One writer per conversation in this process.
    pub(crate) locks: locks::ConversationLocks,
    /// Replies generated off the caller's task (streaming): waited for on shutdown.
    pub(crate) tasks: tokio_util::task::TaskTracker,
    /// Swapped whole when a tool is added: a turn keeps the set it started with.
    pub(crate) tools: std::sync::RwLock<Arc<ToolRegistry>>,
    #[cfg(feature = "mcp")]
    pub(crate) mcp_servers: mcp::McpServers,
    /// The messages this process is answering.
    pub(crate) replying: Arc<replying::Replying>,
    /// Fetches and keeps the files customers send on channels.
    #[cfg(feature = "media")]
    pub(crate) media: Option<Arc<crate::channels::media::Media>>,
}

pub(crate) struct Budget {
    pub(crate) guard: crate::insight::SpendingGuard,
    pub(crate) offline: Arc<dyn LlmProvider>,
}

/// One customer message's turn, on the engine's task: a child of the
/// caller's span (the request), so a trace shows the whole turn.
fn turn_span() -> tracing::Span {
    tracing::info_span!("spur.turn")
}

/// The support engine. Cheap to clone (one `Arc`); share it freely.
#[derive(Clone)]
pub struct SupportEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SupportEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupportEngine")
            .field("provider", &self.inner.provider.name())
            .field("model", &self.inner.provider.model())
            .field("knowledge", &self.shop().knowledge)
            .finish()
    }
}

/// What `accept` decided. One per call: not worth boxing.
#[allow(clippy::large_enum_variant)]
enum Intake {
    /// Nothing more to do (agent holds it, escalated, or a replay).
    Done(Turn),
    /// The bot owes a reply to `message`.
    Reply {
        conversation: Conversation,
        message: Message,
        /// The first page of the prompt's history, when the store read it
        /// with the message.
        history: Option<HistoryPage>,
        /// Held until the reply is stored: a retry of `message` waits.
        replying: replying::ReplyingGuard,
    },
}

impl Shop {
    pub(crate) fn new(
        knowledge: Arc<KnowledgeBase>,
        config: &EngineConfig,
        tokens: &dyn TokenCounter,
    ) -> Self {
        let prompts = PromptBuilder::new(
            config.prompt.clone(),
            tokens,
            knowledge.policies(),
            knowledge.facts(),
        );
        Self { knowledge, prompts }
    }
}

impl SupportEngine {
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The knowledge answered from now.
    pub fn knowledge(&self) -> Arc<KnowledgeBase> {
        self.shop().knowledge.clone()
    }

    /// Answers from `knowledge` from the next turn on (turns under way
    /// finish on the knowledge they started with). The operator's facts
    /// come with it; the offline responder keeps the shop name it was
    /// built with.
    pub fn replace_knowledge(&self, knowledge: KnowledgeBase) {
        let shop = Arc::new(Shop::new(
            Arc::new(knowledge),
            &self.inner.config,
            self.inner.tokens.as_ref(),
        ));
        *self.inner.shop.write().unwrap_or_else(|e| e.into_inner()) = shop;
    }

    /// Adds a tool the model may call from the next turn on.
    pub fn register_tool(&self, tool: Arc<dyn Tool>) -> Result<(), ToolError> {
        let mut tools = self.inner.tools.write().unwrap_or_else(|e| e.into_inner());
        let mut next = ToolRegistry::clone(&tools);
        next.register(tool)?;
        *tools = Arc::new(next);
        Ok(())
    }

    /// The tools offered now.
    pub fn tools(&self) -> Arc<ToolRegistry> {
        self.inner
            .tools
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn shop(&self) -> Arc<Shop> {
        self.inner
            .shop
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn provider(&self) -> &dyn LlmProvider {
        self.inner.provider.as_ref()
    }

    /// The provider, to share with other work (ticket classification).
    pub fn shared_provider(&self) -> Arc<dyn LlmProvider> {
        self.inner.provider.clone()
    }

    pub fn store(&self) -> &Arc<dyn ConversationStore> {
        &self.inner.store
    }

    pub fn classifier(&self) -> &LocalClassifier {
        &self.inner.classifier
    }

    /// Waits up to `grace` for replies still being generated on the
    /// engine's own tasks (streamed turns) to be stored. `true` if all were.
    pub async fn drain(&self, grace: std::time::Duration) -> bool {
        let tasks = &self.inner.tasks;
        tasks.close();
        let drained = tokio::time::timeout(grace, tasks.wait()).await.is_ok();
        tasks.reopen();
        drained
    }

    /// Replies still being generated on the engine's own tasks.
    pub fn replies_in_flight(&self) -> usize {
        self.inner.tasks.len()
    }

    /// Handles one customer message and waits for the whole reply.
    ///
    /// The turn runs on the engine's own tracked task: a caller that goes
    /// away (a client disconnecting mid-request) does not cancel it, so the
    /// message and its reply are stored for the customer to see on
    /// reconnect, and a shutdown waits for it ([`Self::drain`]).
    pub async fn send_message(&self, inbound: Inbound) -> Result<Turn, EngineError> {
        let engine = self.clone();
        let turn = self
            .inner
            .tasks
            .spawn(async move { engine.turn(inbound, None).await }.instrument(turn_span()));
        joined(turn.await)
    }

    /// Handles one message from another channel ([`crate::channels`]): the
    /// conversation bound to its thread (a new one for a thread's first
    /// message), stored once however often the channel delivers it (the
    /// channel's message id is the idempotency key), answered like any
    /// message, the reply queued in the outbox for the channel.
    pub async fn receive(&self, event: InboundEvent) -> Result<Turn, EngineError> {
        let engine = self.clone();
        let turn = self.inner.tasks.spawn(
            async move { engine.receive_on_task(event, None).await }.instrument(turn_span()),
        );
        joined(turn.await)
    }

    /// [`Self::receive`] that returns once the message is stored: the reply
    /// follows on the engine's tracked task (a shutdown waits for it). A
    /// webhook answers the channel fast, and what it acknowledged is kept.
    pub async fn receive_stored(&self, event: InboundEvent) -> Result<Message, EngineError> {
        let engine = self.clone();
        let (stored, mut on_stored) = tokio::sync::oneshot::channel();
        let mut turn = self.inner.tasks.spawn(
            async move { engine.receive_on_task(event, Some(stored)).await }
                .instrument(turn_span()),
        );
        tokio::select! {
            biased;
            Ok(message) = &mut on_stored => Ok(message),
            done = &mut turn => joined(done).map(|turn| turn.message),
        }
    }

    async fn receive_on_task(
        &self,
        event: InboundEvent,
        mut stored: Option<tokio::sync::oneshot::Sender<Message>>,
    ) -> Result<Turn, EngineError> {
        let address = event.thread.address();
        let readable = event.readable_text().map(str::to_string);
        let mut retried = false;
        loop {
            let bound = self.inner.store.conversation_by_thread(&address).await?;
            let inbound = Inbound {
                text: readable
                    .clone()
                    .unwrap_or_else(|| format!("[{}]", event.kind.as_str())),
                session: bound.as_ref().map(|c| c.session_id),
                idempotency_key: Some(event.idempotency_key()),
                channel: Some(event.thread.channel.clone()),
                metadata: event.conversation_metadata(),
                verified_customer: None,
                thread: Some(event.thread.clone()),
                unreadable: readable.is_none().then_some(event.kind),
                attachments: event.attachments.clone(),
            };
            // The files are fetched while the reply is written: once the
            // message is stored, on this same tracked task.
            let (on_stored, message) = tokio::sync::oneshot::channel::<Message>();
            let caller = stored.take();
            let fetch = async {
                let Ok(message) = message.await else {
                    return caller;
                };
                if let Some(caller) = caller {
                    let _ = caller.send(message.clone());
                }
                self.keep_attachments(&event.thread, message).await;
                None
            };
            let (done, unused) = tokio::join!(self.turn(inbound, Some(on_stored)), fetch);
            stored = unused;
            match done {
                // Another delivery opened the thread's conversation meanwhile
                // (its binding is unique): this message joins it. (The
                // message was not stored, so `stored` was not used.)
                Err(EngineError::Store(_)) if bound.is_none() && !retried => retried = true,
                done => return done,
            }
        }
    }

    /// Without the `media` feature files stay recorded as the channel referred to them.
    #[cfg(not(feature = "media"))]
    async fn keep_attachments(&self, _thread: &crate::channels::ExternalThread, _message: Message) {
    }

    /// One message's turn; `stored` hears of the message once it is stored.
    async fn turn(
        &self,
        inbound: Inbound,
        stored: Option<tokio::sync::oneshot::Sender<Message>>,
    ) -> Result<Turn, EngineError> {
        let customer = inbound.verified_customer.clone();
        let unreadable = inbound.unreadable;
        let mut stored = stored;
        let intake = self.accept(inbound, &mut stored).await?;
        if let Some(stored) = stored {
            let message = match &intake {
                Intake::Done(turn) => turn.message.clone(),
                Intake::Reply { message, .. } => message.clone(),
            };
            let _ = stored.send(message);
        }
        match intake {
            Intake::Done(turn) => Ok(turn),
            Intake::Reply {
                conversation,
                message,
                replying: _replying,
                ..
            } if unreadable.is_some() => {
                let kind = unreadable.map_or("message", MessageKind::as_str);
                let generated = self.fixed_reply(
                    self.inner
                        .config
                        .prompt
                        .texts
                        .unsupported_kind_reply
                        .replace("{kind}", kind),
                );
                self.finish(conversation, message, generated).await
            }
            Intake::Reply {
                conversation,
                message,
                history,
                replying: _replying,
            } => {
                let prepared = self
                    .prepare(&conversation, &message, history, customer)
                    .await;
                let generated = self.complete(prepared).await;
                self.finish(conversation, message, generated).await
            }
        }
    }

    /// The conversation behind a session.
    pub async fn conversation(&self, session: SessionId) -> Result<Conversation, EngineError> {
        self.inner
            .store
            .conversation_by_session(session)
            .await?
            .ok_or(EngineError::UnknownSession)
    }

    pub async fn conversation_by_id(
        &self,
        id: ConversationId,
    ) -> Result<Conversation, EngineError> {
        self.inner
            .store
            .conversation(id)
            .await?
            .ok_or(EngineError::UnknownConversation)
    }

    /// A page of a session's messages, oldest first; pass `next_before`
    /// back as `before` for older ones.
    pub async fn history(
        &self,
        session: SessionId,
        before: Option<i64>,
        limit: usize,
    ) -> Result<HistoryPage, EngineError> {
        let conversation = self.conversation(session).await?;
        Ok(self
            .inner
            .store
            .history(conversation.id, before, limit)
            .await?)
    }

    /// The customer asks for a person ("talk to a person" button).
    pub async fn escalate(&self, session: SessionId) -> Result<Turn, EngineError> {
        let conversation = self.conversation(session).await?;
        let reason = EscalationReason::Requested;
        let (conversation, messages) = self
            .act(
                conversation,
                Event::Escalate,
                |engine, c| {
                    // Asking again while queued adds nothing.
                    (c.status != Status::Agent).then(|| engine.notice(c, &reason, None))
                },
                Some(reason.clone()),
            )
            .await?;
        Ok(self.notice_turn(conversation, messages, Some(reason)))
    }

    /// The customer leaves an email address for the answer (offered when
    /// nobody may be there to answer in the chat). Stored on the
    /// conversation (`metadata.contact.email`, see
    /// [`Conversation::contact_email`]) and confirmed in the chat with when
    /// to expect the answer; leaving another address replaces it. The
    /// confirmation promises a person's answer, so a conversation the bot
    /// had is queued for a person. A closed conversation takes none.
    pub async fn leave_email(&self, session: SessionId, email: &str) -> Result<Turn, EngineError> {
        let email = crate::validate::check_email(email)?;
        let conversation = self.conversation(session).await?;
        let (conversation, messages) = self
            .act_with(
                conversation,
                Event::LeaveContact,
                |c| Some(c.metadata_with_email(&email)),
                |engine, _| Some(engine.email_left(&email)),
                // Announced as a handoff when the bot had it.
                Some(EscalationReason::CustomerRequest),
            )
            .await?;
        Ok(self.notice_turn(conversation, messages, None))
    }

    /// The turn of an operation that stores at most a notice (and, with a
    /// notice, hands over for `reason`).
    fn notice_turn(
        &self,
        conversation: Conversation,
        messages: Vec<Message>,
        reason: Option<EscalationReason>,
    ) -> Turn {
        let notice = messages.into_iter().next();
        Turn {
            message: notice
                .clone()
                .unwrap_or_else(|| self.placeholder(&conversation)),
            escalation: notice.as_ref().and(reason),
            conversation,
            reply: None,
            notice,
            duplicate: false,
        }
    }

    /// Closes a customer's conversation.
    pub async fn close(&self, session: SessionId) -> Result<Conversation, EngineError> {
        let conversation = self.conversation(session).await?;
        Ok(self
            .act(conversation, Event::Close, |_, _| None, None)
            .await?
            .0)
    }

    /// Closes a conversation by id (agents, admins).
    pub async fn close_conversation(
        &self,
        id: ConversationId,
    ) -> Result<Conversation, EngineError> {
        let conversation = self.conversation_by_id(id).await?;
        Ok(self
            .act(conversation, Event::Close, |_, _| None, None)
            .await?
            .0)
    }

    /// An agent closes a conversation: one nobody holds, or their own. Another
    /// agent's gets [`crate::conversation::TransitionError::ClaimedByOther`].
    pub async fn agent_close(
        &self,
        id: ConversationId,
        agent: &str,
    ) -> Result<Conversation, EngineError> {
        let conversation = self.conversation_by_id(id).await?;
        let event = Event::AgentClose {
            agent: agent.to_string(),
        };
        Ok(self.act(conversation, event, |_, _| None, None).await?.0)
    }

    /// An agent takes a conversation. A second agent gets
    /// [`crate::conversation::TransitionError::ClaimedByOther`].
    pub async fn claim(
        &self,
        id: ConversationId,
        agent: &str,
    ) -> Result<Conversation, EngineError> {
        let conversation = self.conversation_by_id(id).await?;
        let event = Event::AgentClaim {
            agent: agent.to_string(),
        };
        Ok(self.act(conversation, event, |_, _| None, None).await?.0)
    }

    /// Takes up a closed conversation again: `agent` holds it and can write
    /// to the customer. Who may (admins, in the server) is the caller's
    /// rule; an open conversation gets
    /// [`crate::conversation::TransitionError::NotClosed`].
    pub async fn reopen(
        &self,
        id: ConversationId,
        agent: &str,
    ) -> Result<Conversation, EngineError> {
        let conversation = self.conversation_by_id(id).await?;
        let event = Event::Reopen {
            agent: agent.to_string(),
        };
        Ok(self.act(conversation, event, |_, _| None, None).await?.0)
    }

    /// Saves a canned reply under `shortcut` (replacing one with the same
    /// shortcut): checked like a message, the shortcut 1 to 32 of a-z, 0-9, `-`.
    pub async fn save_canned_reply(
        &self,
        shortcut: &str,
        text: &str,
        author: &str,
    ) -> Result<CannedReply, EngineError> {
        let shortcut = CannedReply::shortcut(shortcut)
            .ok_or(crate::validate::ValidationError::InvalidShortcut)?;
        let reply = CannedReply {
            shortcut,
            text: self.inner.config.limits.check(text)?.to_string(),
            author: author.to_string(),
            updated_at: self.now(),
        };
        self.inner.store.save_canned_reply(&reply).await?;
        Ok(reply)
    }

    /// Deletes the canned reply under `shortcut`: an admin (`as_admin`) any,
    /// anyone else only one they saved last.
    pub async fn delete_canned_reply(
        &self,
        shortcut: &str,
        by: &str,
        as_admin: bool,
    ) -> Result<(), EngineError> {
        let author = (!as_admin).then_some(by);
        if self
            .inner
            .store
            .delete_canned_reply(shortcut, author)
            .await?
        {
            return Ok(());
        }
        let there = self
            .inner
            .store
            .canned_replies()
            .await?
            .iter()
            .any(|c| c.shortcut == shortcut);
        Err(if there {
            EngineError::NotYourCannedReply
        } else {
            EngineError::UnknownCannedReply
        })
    }

    /// Hands the conversation to agent `to`. Only its owner may, or an
    /// admin (`as_admin`); anyone else gets
    /// [`TransitionError::ClaimedByOther`] or [`TransitionError::NotClaimed`].
    /// Who `to` is (an enabled agent) is the caller's to check.
    pub async fn reassign(
        &self,
        id: ConversationId,
        by: &str,
        as_admin: bool,
        to: &str,
    ) -> Result<Conversation, EngineError> {
        let conversation = self.conversation_by_id(id).await?;
        if !as_admin {
            match conversation.assignee.as_deref() {
                Some(owner) if owner == by => {}
                Some(owner) => {
                    return Err(TransitionError::ClaimedByOther {
                        owner: owner.to_string(),
                    }
                    .into());
                }
                None => return Err(TransitionError::NotClaimed.into()),
            }
        }
        let event = Event::Reassign { to: to.to_string() };
        Ok(self.act(conversation, event, |_, _| None, None).await?.0)
    }

    /// The owning agent answers the customer.
    pub async fn agent_reply(
        &self,
        id: ConversationId,
        agent: &str,
        text: &str,
    ) -> Result<Message, EngineError> {
        self.agent_reply_as(id, agent, None, text).await
    }

    /// [`Self::agent_reply`] signed with the name the customer sees.
    pub async fn agent_reply_as(
        &self,
        id: ConversationId,
        agent: &str,
        name: Option<&str>,
        text: &str,
    ) -> Result<Message, EngineError> {
        let text = self.inner.config.limits.check(text)?.to_string();
        let conversation = self.conversation_by_id(id).await?;
        let event = Event::AgentReply {
            agent: agent.to_string(),
        };
        let (_, messages) = self
            .act(
                conversation,
                event,
                |engine, _| {
                    Some(
                        engine.message(
                            Sender::Agent,
                            text.clone(),
                            None,
                            MessageMeta {
                                agent: Some(agent.to_string()),
                                agent_name: name
                                    .map(str::trim)
                                    .filter(|n| !n.is_empty())
                                    .map(str::to_string),
                                ..MessageMeta::default()
                            },
                        ),
                    )
                },
                None,
            )
            .await?;
        messages
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::Store(StoreError::Corrupt("reply not stored".into())))
    }

    /// An agent's internal note on a conversation (any agent, any state):
    /// for agents only, never shown to the customer, never in a prompt.
    pub async fn add_note(
        &self,
        id: ConversationId,
        agent: &str,
        name: &str,
        text: &str,
    ) -> Result<Note, EngineError> {
        let text = self.inner.config.limits.check(text)?.to_string();
        let note = Note {
            id: self.inner.ids.note_id(),
            conversation_id: id,
            author: agent.to_string(),
            author_name: name.trim().to_string(),
            text,
            created_at: self.now(),
        };
        self.inner.store.add_note(&note).await?;
        self.inner.events.publish(EngineEvent::NoteAdded {
            conversation: id,
            note: Box::new(note.clone()),
        });
        Ok(note)
    }

    /// The owning agent gives the conversation back to the assistant.
    pub async fn hand_back(
        &self,
        id: ConversationId,
        agent: &str,
    ) -> Result<Conversation, EngineError> {
        let conversation = self.conversation_by_id(id).await?;
        let event = Event::HandBack {
            agent: agent.to_string(),
        };
        Ok(self.act(conversation, event, |_, _| None, None).await?.0)
    }

    /// The customer is typing: tells the agents (nothing is stored).
    pub async fn customer_typing(&self, session: SessionId) -> Result<(), EngineError> {
        let conversation = self.conversation(session).await?;
        self.typing(&conversation, Sender::Customer);
        Ok(())
    }

    /// The owning agent is typing: tells the customer (nothing is stored).
    pub async fn agent_typing(&self, id: ConversationId, agent: &str) -> Result<(), EngineError> {
        let conversation = self.conversation_by_id(id).await?;
        if conversation.assignee.as_deref() != Some(agent) {
            return Err(EngineError::Transition(TransitionError::NotClaimed));
        }
        self.typing(&conversation, Sender::Agent);
        Ok(())
    }

    fn typing(&self, conversation: &Conversation, sender: Sender) {
        self.inner.events.publish(EngineEvent::Typing {
            conversation: conversation.id,
            sender,
        });
    }

    // ---- internals ----

    /// The engine's clock (injected: tests move it).
    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    pub(crate) fn message(
        &self,
        sender: Sender,
        text: String,
        reply_to: Option<MessageId>,
        mut meta: MessageMeta,
    ) -> Message {
        // Counted once here; every later prompt reuses it. Notices never reach a prompt.
        if sender != Sender::System && !text.is_empty() {
            meta.text_tokens = self.inner.tokens.text_tokens(&text);
        }
        Message {
            id: self.inner.ids.message_id(),
            // Set by the store when appended.
            conversation_id: ConversationId(uuid::Uuid::nil()),
            seq: 0,
            sender,
            text,
            created_at: self.now(),
            idempotency_key: None,
            reply_to,
            meta,
        }
    }

    /// Stand-in for `Turn::message` when an operation stored nothing.
    fn placeholder(&self, conversation: &Conversation) -> Message {
        let mut m = self.message(Sender::System, String::new(), None, MessageMeta::default());
        m.conversation_id = conversation.id;
        m
    }

    /// The operator's facts this engine answers with (from its knowledge).
    pub fn facts(&self) -> ShopFacts {
        self.shop().knowledge.facts().clone()
    }

    /// Whether people are there now by this shop's hours (on the engine's clock).
    pub fn availability(&self) -> Availability {
        self.shop().knowledge.facts().availability(self.now())
    }

    /// The handoff notice: true for this shop. People there now, when they
    /// are back, or (hours unknown) no promise of a time; when nobody may be
    /// there, the offer to leave an email address (unless one was left).
    pub(crate) fn notice(
        &self,
        conversation: &Conversation,
        reason: &EscalationReason,
        reply_to: Option<MessageId>,
    ) -> Message {
        let texts = &self.inner.config.prompt.texts;
        let current = self.shop();
        let facts = current.knowledge.facts();
        let shop = facts.display_name();
        let availability = facts.availability(self.now());
        // On another channel the person's answer reaches the customer
        // there, whenever it comes: no address to ask for.
        let ask_email = availability != Availability::Open
            && conversation.contact_email().is_none()
            && conversation.channel_thread().is_none()
            && !texts.email_offer.trim().is_empty();
        let mut text = match availability {
            Availability::Open => texts.render(&texts.handoff_reply, shop),
            Availability::Unknown | Availability::Closed { back: None } => {
                texts.render(&texts.handoff_unknown_hours_reply, shop)
            }
            Availability::Closed { back: Some(back) } => texts
                .render(&texts.handoff_after_hours_reply, shop)
                .replace("{back}", &back)
                .replace("{hours}", &facts.hours_label().unwrap_or_default()),
        };
        if let Some(contact) = facts.contact.as_deref().filter(|c| !c.trim().is_empty()) {
            text.push(' ');
            text.push_str(&texts.contact_line.replace("{contact}", contact.trim()));
        }
        if ask_email {
            text.push(' ');
            text.push_str(&texts.render(&texts.email_offer, shop));
        }
        self.message(
            Sender::System,
            text,
            reply_to,
            MessageMeta {
                escalation: Some(reason.code().to_string()),
                ask_email,
                ..MessageMeta::default()
            },
        )
    }

    /// Confirms the address a customer left, saying when to expect the
    /// answer: true for this shop's hours, as the handoff notice is.
    fn email_left(&self, email: &str) -> Message {
        let texts = &self.inner.config.prompt.texts;
        let current = self.shop();
        let facts = current.knowledge.facts();
        let shop = facts.display_name();
        let text = match facts.availability(self.now()) {
            Availability::Open => texts.render(&texts.email_left_reply, shop),
            Availability::Unknown | Availability::Closed { back: None } => {
                texts.render(&texts.email_left_unknown_hours_reply, shop)
            }
            Availability::Closed { back: Some(back) } => texts
                .render(&texts.email_left_after_hours_reply, shop)
                .replace("{back}", &back),
        }
        .replace("{email}", email);
        self.message(
            Sender::System,
            text,
            None,
            MessageMeta {
                email_left: true,
                ..MessageMeta::default()
            },
        )
    }

    /// The customer asks for a person while already queued for one (nobody
    /// has taken the conversation yet): they get an answer, not silence.
    fn asks_again(&self, conversation: &Conversation, text: &str) -> bool {
        let policy = &self.inner.config.escalation;
        conversation.status == Status::Agent
            && conversation.assignee.is_none()
            && policy.on_request
            && self.inner.detector.request_score(text) >= policy.request_threshold
    }

    /// The line a one-reply-per-message client shows for a turn without a
    /// reply (a person holds the conversation): `with_agent_reply`.
    pub fn with_agent_text(&self) -> String {
        let texts = &self.inner.config.prompt.texts;
        texts.render(
            &texts.with_agent_reply,
            self.shop().knowledge.facts().display_name(),
        )
    }

    fn already_waiting(&self, reply_to: MessageId) -> Message {
        let texts = &self.inner.config.prompt.texts;
        let shop = self.shop();
        let text = texts.render(
            &texts.already_waiting_reply,
            shop.knowledge.facts().display_name(),
        );
        self.message(Sender::System, text, Some(reply_to), MessageMeta::default())
    }

    /// Publishes what a stored change did. `before` is the state it was
    /// computed from (`None` for a new conversation); a change of owner
    /// (a claim) is a status event too.
    fn announce(
        &self,
        before: Option<&ConversationState>,
        conversation: &Conversation,
        messages: &[Message],
        escalation: Option<&EscalationReason>,
    ) {
        let events = &self.inner.events;
        let id = conversation.id;
        for message in messages {
            events.publish(EngineEvent::MessageStored {
                conversation: id,
                message: Box::new(message.clone()),
            });
        }
        let changed = before
            .is_none_or(|b| b.status != conversation.status || b.assignee != conversation.assignee);
        if changed || escalation.is_some() {
            events.publish(EngineEvent::StatusChanged {
                conversation: id,
                from: before.map_or(Status::Automated, |b| b.status),
                to: conversation.status,
                assignee: conversation.assignee.clone(),
            });
        }
        if let Some(reason) = escalation {
            events.publish(EngineEvent::Escalated {
                conversation: id,
                reason: reason.clone(),
            });
        }
    }

    /// Applies one lifecycle event (and the messages it produces) with
    /// compare-and-swap retries.
    async fn act(
        &self,
        conversation: Conversation,
        event: Event,
        messages: impl Fn(&Self, &Conversation) -> Option<Message>,
        escalation: Option<EscalationReason>,
    ) -> Result<(Conversation, Vec<Message>), EngineError> {
        self.act_with(conversation, event, |_| None, messages, escalation)
            .await
    }

    /// [`Self::act`] that may also replace the conversation's metadata
    /// (computed from the conversation as read, on every attempt).
    async fn act_with(
        &self,
        mut conversation: Conversation,
        event: Event,
        metadata: impl Fn(&Conversation) -> Option<serde_json::Value>,
        messages: impl Fn(&Self, &Conversation) -> Option<Message>,
        escalation: Option<EscalationReason>,
    ) -> Result<(Conversation, Vec<Message>), EngineError> {
        let turn = self.inner.locks.lock(conversation.id).await;
        if turn.waited {
            // What the writer before us stored counts.
            conversation = self.conversation_by_id(conversation.id).await?;
        }
        for attempt in 0..MAX_ATTEMPTS {
            let state = transition(&conversation.state(), &event)?;
            let new: Vec<Message> = messages(self, &conversation).into_iter().collect();
            let metadata = metadata(&conversation).filter(|m| *m != conversation.metadata);
            if state == conversation.state() && new.is_empty() && metadata.is_none() {
                return Ok((conversation, Vec::new()));
            }
            let before = conversation.state();
            let change = Change {
                conversation_id: conversation.id,
                create: None,
                expected_version: conversation.version,
                status: state.status,
                assignee: state.assignee,
                updated_at: self.now(),
                metadata,
                messages: new,
                history: 0,
                deliver: delivery_address(&conversation),
            };
            match self.inner.store.apply(change).await {
                Ok(Applied::Stored {
                    conversation,
                    messages,
                    ..
                }) => {
                    let escalated = escalation
                        .as_ref()
                        .filter(|_| before.status != Status::Agent);
                    self.announce(Some(&before), &conversation, &messages, escalated);
                    return Ok((conversation, messages));
                }
                Ok(Applied::Duplicate { .. }) => {
                    return Err(EngineError::Store(StoreError::Corrupt(
                        "unexpected idempotency conflict".into(),
                    )));
                }
                Err(StoreError::Conflict) => {
                    backoff(attempt).await;
                    conversation = self.conversation_by_id(conversation.id).await?;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(EngineError::Busy)
    }

    fn new_conversation(&self, inbound: &Inbound) -> Conversation {
        let now = self.now();
        Conversation {
            id: self.inner.ids.conversation_id(),
            session_id: self.inner.ids.session_id(),
            channel: inbound
                .channel
                .clone()
                .unwrap_or_else(|| self.inner.config.default_channel.clone()),
            status: Status::Automated,
            assignee: None,
            metadata: bound_metadata(inbound),
            last_seq: 0,
            version: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// Validates and stores the customer's message (before anything that can
    /// fail), updating the state and applying the inbound escalation rules.
    /// `stored` hears of the message as soon as it is known to be stored: a
    /// redelivery's caller is told before the wait for the reply under way.
    async fn accept(
        &self,
        inbound: Inbound,
        stored: &mut Option<tokio::sync::oneshot::Sender<Message>>,
    ) -> Result<Intake, EngineError> {
        let inner = &self.inner;
        let text = inner.config.limits.check(&inbound.text)?.to_string();
        if let Some(key) = &inbound.idempotency_key {
            crate::validate::check_idempotency_key(key)?;
        }
        let mut current = match inbound.session {
            Some(session) => Some(self.conversation(session).await?),
            None => None,
        };
        if let Some(conversation) = &current {
            check_bound(conversation, &inbound)?;
        }
        // Concurrent messages in one conversation queue here, in arrival order.
        // Released before a replay waits for a reply under way (that
        // reply's turn takes this lock to store it).
        let mut held = match &mut current {
            Some(c) => {
                let turn = inner.locks.lock(c.id).await;
                if turn.waited {
                    *c = self.conversation_by_id(c.id).await?;
                }
                Some(turn)
            }
            None => None,
        };
        if let Some(key) = &inbound.idempotency_key
            && let Some(earlier) = self.earlier_turn(current.as_ref(), key).await?
        {
            held.take();
            if let Some(stored) = stored.take().filter(|_| earlier.text == text) {
                let _ = stored.send(earlier.clone());
            }
            return self.replay(earlier, &text).await;
        }
        let classification = inner.classifier.classify_text(&text);
        let mut message = self.message(
            Sender::Customer,
            text,
            None,
            MessageMeta {
                classification: Some(classification.clone()),
                attachments: inbound.attachments.clone(),
                ..MessageMeta::default()
            },
        );
        message.idempotency_key = inbound
            .idempotency_key
            .as_deref()
            .map(|key| scoped_key(current.as_ref().map(|c| c.id), key));

        for attempt in 0..MAX_ATTEMPTS {
            let (base, create) = match &current {
                Some(c) => (c.clone(), None),
                None => {
                    let c = self.new_conversation(&inbound);
                    (c.clone(), Some(c))
                }
            };
            let mut state = transition(&base.state(), &Event::CustomerMessage)?;
            // "Are you a bot?" is a question, not a request for a person.
            let asks_about_bot = smalltalk::detect(&message.text) == Some(SmallTalk::AreYouABot);
            let escalation = if state.status == Status::Automated && !asks_about_bot {
                inner
                    .config
                    .escalation
                    .on_inbound(&inner.detector, &message.text, &classification)
            } else {
                None
            };
            let mut messages = vec![message.clone()];
            if let Some(reason) = &escalation {
                state = transition(&state, &Event::Escalate)?;
                messages.push(self.notice(&base, reason, Some(message.id)));
            } else if self.asks_again(&base, &message.text) {
                messages.push(self.already_waiting(message.id));
            }
            let before = create.is_none().then(|| base.state());
            // A reply will be written: its history comes with the message.
            let history = if state.status == Status::Automated {
                self.first_history_page()
            } else {
                0
            };
            let change = Change {
                conversation_id: base.id,
                create,
                expected_version: base.version,
                status: state.status,
                assignee: state.assignee,
                updated_at: message.created_at,
                metadata: None,
                messages,
                history,
                deliver: delivery_address(&base),
            };
            match inner.store.apply(change).await {
                Ok(Applied::Stored {
                    conversation,
                    messages,
                    history,
                }) => {
                    self.announce(
                        before.as_ref(),
                        &conversation,
                        &messages,
                        escalation.as_ref(),
                    );
                    let mut stored = messages.into_iter();
                    let (Some(message), notice) = (stored.next(), stored.next()) else {
                        return Err(EngineError::Store(StoreError::Corrupt(
                            "message not stored".into(),
                        )));
                    };
                    if conversation.status == Status::Automated {
                        // Stored: the next writer may go on while this one
                        // (or a retry of it) answers.
                        held.take();
                        let limit = self.reply_wait_limit();
                        return match inner.replying.start_or_wait(message.id, limit).await {
                            Some(replying) => Ok(Intake::Reply {
                                conversation,
                                message,
                                history,
                                replying,
                            }),
                            // A retry of it got there first and answers it.
                            None => {
                                let text = message.text.clone();
                                self.replay(message, &text).await
                            }
                        };
                    }
                    return Ok(Intake::Done(Turn {
                        conversation,
                        message,
                        reply: None,
                        notice,
                        escalation,
                        duplicate: false,
                    }));
                }
                Ok(Applied::Duplicate {
                    message: earlier, ..
                }) => {
                    held.take();
                    return self.replay(earlier, &message.text).await;
                }
                Err(StoreError::Conflict) => {
                    backoff(attempt).await;
                    if let Some(c) = &current {
                        current = Some(self.conversation_by_id(c.id).await?);
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(EngineError::Busy)
    }

    /// A retried message: answer from storage. If the first attempt died
    /// before replying and nothing happened since, reply now.
    /// How long a retry waits for the reply another turn is generating.
    fn reply_wait_limit(&self) -> std::time::Duration {
        self.inner.config.llm_timeout * 2 + std::time::Duration::from_secs(5)
    }

    async fn replay(&self, earlier: Message, text: &str) -> Result<Intake, EngineError> {
        if earlier.text != text {
            return Err(EngineError::IdempotencyMismatch);
        }
        // The right to answer is taken before reading whether it was
        // answered: a turn of this process answering it finishes first.
        let limit = self.reply_wait_limit();
        let mut replying = None;
        for _ in 0..3 {
            replying = self.inner.replying.start_or_wait(earlier.id, limit).await;
            if replying.is_some() {
                break;
            }
        }
        let conversation = self.conversation_by_id(earlier.conversation_id).await?;
        let answer = self.inner.store.reply_to(earlier.id).await?;
        let unanswered = answer.is_none()
            && conversation.status == Status::Automated
            && conversation.last_seq == earlier.seq;
        if unanswered && let Some(replying) = replying {
            return Ok(Intake::Reply {
                conversation,
                message: earlier,
                history: None,
                replying,
            });
        }
        let (reply, notice) = match answer {
            Some(m) if m.sender == Sender::System => (None, Some(m)),
            other => (other, None),
        };
        Ok(Intake::Done(Turn {
            conversation,
            message: earlier,
            reply,
            notice,
            escalation: None,
            duplicate: true,
        }))
    }
}

/// The earlier message stored under this key, if any. Keys are scoped to
/// their conversation; a key sent without a session names the message that
/// opened a conversation (and had to be unguessable to be accepted).
impl SupportEngine {
    async fn earlier_turn(
        &self,
        conversation: Option<&Conversation>,
        key: &str,
    ) -> Result<Option<Message>, EngineError> {
        let store = &self.inner.store;
        let unscoped = scoped_key(None, key);
        let opened = store.message_by_idempotency_key(&unscoped);
        let Some(conversation) = conversation else {
            return Ok(opened.await?);
        };
        if let Some(earlier) = store
            .message_by_idempotency_key(&scoped_key(Some(conversation.id), key))
            .await?
        {
            return Ok(Some(earlier));
        }
        // A retry, now with the session, of the message that opened this conversation.
        Ok(opened
            .await?
            .filter(|m| m.conversation_id == conversation.id))
    }
}

/// Where a conversation keeps the customer it was started for.
const VERIFIED_CUSTOMER: &str = "verified_customer";

/// The external thread a conversation's replies are delivered to, if any.
pub(crate) fn delivery_address(conversation: &Conversation) -> Option<String> {
    conversation.metadata[CHANNEL_THREAD]
        .as_str()
        .map(str::to_string)
}

/// A new conversation's metadata: the host's, and the verified customer
/// it is bound to (only the engine writes that key).
fn bound_metadata(inbound: &Inbound) -> serde_json::Value {
    let mut metadata = inbound
        .metadata
        .clone()
        .unwrap_or(serde_json::Value::Object(Default::default()));
    if let Some(map) = metadata.as_object_mut() {
        map.remove(VERIFIED_CUSTOMER);
        map.remove(CHANNEL_THREAD);
        if let Some(customer) = &inbound.verified_customer {
            map.insert(VERIFIED_CUSTOMER.into(), customer.clone().into());
        }
        if let Some(thread) = &inbound.thread {
            map.insert(CHANNEL_THREAD.into(), thread.address().into());
        }
    }
    metadata
}

/// A message verified as another customer than the one the conversation
/// was started for is refused: one conversation never mixes two
/// customers' data.
fn check_bound(conversation: &Conversation, inbound: &Inbound) -> Result<(), EngineError> {
    let bound = conversation.metadata[VERIFIED_CUSTOMER].as_str();
    match (bound, inbound.verified_customer.as_deref()) {
        (Some(bound), Some(now)) if bound != now => Err(EngineError::OtherCustomer),
        _ => Ok(()),
    }
}

/// How a key is stored: `c:<conversation>:<key>` inside a conversation,
/// `n:<key>` for the message that opened one. The prefixes keep the two
/// spaces apart, so no key sent without a session reaches a scoped one.
fn scoped_key(conversation: Option<ConversationId>, key: &str) -> String {
    match conversation {
        Some(id) => format!("c:{id}:{key}"),
        None => format!("n:{key}"),
    }
}

/// A turn's outcome from its task: a panic goes on up, a runtime that
/// stopped first is a store error (nothing is known to be stored).
fn joined(
    done: Result<Result<Turn, EngineError>, tokio::task::JoinError>,
) -> Result<Turn, EngineError> {
    match done {
        Ok(done) => done,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(EngineError::Store(StoreError::Backend(
            "the runtime stopped before the turn finished".into(),
        ))),
    }
}

/// A short, growing pause before retrying a change another process made stale.
async fn backoff(attempt: usize) {
    let millis = (1u64 << attempt.min(6)).min(50);
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

#[cfg(test)]
mod budget_tests;
#[cfg(test)]
mod channel_tests;
#[cfg(test)]
mod confirm_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tool_tests;
