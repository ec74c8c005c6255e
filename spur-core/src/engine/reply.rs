//! Producing the assistant's reply: prompt, provider call under a timeout
//! (whole or streamed), fallback, storage.

use std::time::Instant;

use futures::StreamExt;
use tokio::sync::mpsc;

use std::sync::Arc;

use super::{EngineError, Inbound, Intake, MAX_ATTEMPTS, Shop, StreamEvent, SupportEngine, Turn};
use crate::conversation::{
    Conversation, ConversationId, Event, Gap, Message, MessageId, MessageMeta, PendingAction,
    Sender, Source, Status, ToolRecord, transition,
};
use crate::escalation::EscalationReason;
use crate::events::EngineEvent;
use crate::grounding;
use crate::llm::{CompletionRequest, ProviderError, ToolCall, ToolCallAssembly, ToolChoice, Usage};
use crate::prompt::eligible;
use crate::prompt::{PromptInput, PromptMessage, PromptTexts};
use crate::store::{Applied, Change, HistoryPage, StoreError};
use crate::tools::{
    Decision, HANDOFF_TO_HUMAN, Offer, ToolContext, ToolRegistry, ToolsConfig, decision, describe,
};

/// Everything needed to call the provider for one reply.
pub(super) struct Prepared {
    /// The knowledge and prompts this turn answers from.
    shop: Arc<Shop>,
    /// The id the reply will be stored under (streamed deltas carry it).
    reply_id: MessageId,
    request: CompletionRequest,
    prompt_tokens: usize,
    best_confidence: Option<f32>,
    /// Fallback replies in a row just before this turn.
    prior_fallbacks: u32,
    /// The tools of this turn, what they see, and what they offer.
    tools: Arc<ToolRegistry>,
    tool_context: ToolContext,
    offered: Offer,
    /// The calls made so far, and what their results let the reply state.
    records: Vec<ToolRecord>,
    evidence: Vec<String>,
    /// A call that changes something, held for the customer's yes: the
    /// turn ends asking for it.
    pending: Option<PendingAction>,
    /// Who answers: the configured provider, or the offline responder once
    /// a budget is spent (`over_budget` says what to do then).
    provider: Arc<dyn crate::llm::LlmProvider>,
    over_budget: Option<crate::insight::WhenSpent>,
}

/// What [`SupportEngine::preview`] found.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Preview {
    pub passages: Vec<crate::knowledge::Passage>,
    pub reply: String,
    pub handoff: bool,
    pub grounding: Option<grounding::Grounding>,
    pub sources: Vec<Source>,
}

/// The provider's outcome, before storage.
pub(super) struct Generated {
    reply_id: MessageId,
    text: String,
    meta: MessageMeta,
    handoff: bool,
    best_confidence: Option<f32>,
    consecutive_fallbacks: u32,
    /// The model handed the conversation over (`handoff_to_human`), saying why.
    handed_over: Option<String>,
}

/// Pages of history read at most for one prompt.
const HISTORY_PAGES: usize = 4;

impl SupportEngine {
    /// Messages in the prompt history's first page: the kept ones and a
    /// few more, for the notices and fallbacks that are skipped.
    pub(super) fn first_history_page(&self) -> usize {
        self.inner.config.prompt.max_history_messages + 4
    }

    /// A reply in the engine's own words (no provider, nothing retrieved):
    /// full confidence, so the low-confidence rule does not hand it over.
    pub(super) fn fixed_reply(&self, text: String) -> Generated {
        Generated {
            reply_id: self.inner.ids.message_id(),
            text,
            meta: MessageMeta::default(),
            handoff: false,
            best_confidence: Some(1.0),
            consecutive_fallbacks: 0,
            handed_over: None,
        }
    }

    /// `first_page`: the history's first page when it was read with the
    /// message ([`Self::first_history_page`] messages before it).
    pub(super) async fn prepare(
        &self,
        conversation: &Conversation,
        message: &Message,
        first_page: Option<HistoryPage>,
        customer: Option<String>,
    ) -> Prepared {
        let history = match self.prompt_history(conversation, message, first_page).await {
            Ok(history) => history,
            Err(error) => {
                // The message is stored; answer without history rather than not at all.
                tracing::warn!(%error, "could not load history; answering without it");
                Vec::new()
            }
        };
        let prior_fallbacks = history
            .iter()
            .rev()
            .filter(|m| m.sender != Sender::Customer)
            .take_while(|m| m.sender == Sender::Assistant && m.meta.used_fallback)
            .count() as u32;
        // A remote embedding model is asked here, off the synchronous search.
        self.shop().knowledge.prepare_query(&message.text).await;
        let mut prepared = self
            .prepared(
                &message.text,
                &history,
                prior_fallbacks,
                conversation.id,
                customer,
            )
            .1;
        self.answer_held_action(&history, message, &mut prepared)
            .await;
        self.within_budget(&mut prepared).await;
        prepared
    }

    /// Past a budget, the offline responder answers this turn.
    async fn within_budget(&self, prepared: &mut Prepared) {
        let Some(budget) = &self.inner.budget else {
            return;
        };
        self.spend_synced().await;
        let now = crate::insight::facts::millis(self.now());
        if budget.guard.status(now).exceeded {
            prepared.provider = budget.offline.clone();
            prepared.over_budget = Some(budget.guard.config().when_spent);
        }
    }

    /// If the reply just before `message` asked to confirm an action, a
    /// plain yes runs it and a plain no declines it; either way the model
    /// sees the call and its result and answers from them. Anything else
    /// leaves the action unrun. A second yes finds the result reply, not
    /// the question, so an action runs once per confirmation.
    async fn answer_held_action(
        &self,
        history: &[Message],
        message: &Message,
        prepared: &mut Prepared,
    ) {
        let Some(action) = history
            .last()
            .filter(|m| m.sender == Sender::Assistant)
            .and_then(|m| m.meta.confirm.as_ref())
        else {
            return;
        };
        let outcome = match decision(&message.text) {
            Some(Decision::Confirm) => {
                prepared
                    .tools
                    .run_confirmed(action, &prepared.tool_context, &self.inner.config.tools)
                    .await
            }
            Some(Decision::Decline) => ToolRegistry::declined(action),
            None => return,
        };
        let call = ToolCall {
            id: action.id.clone(),
            name: action.tool.clone(),
            arguments: action.arguments.to_string(),
        };
        self.add_outcomes(prepared, String::new(), vec![call], vec![outcome]);
    }

    /// The messages before `message` that the prompt may show: pages back
    /// from the newest until one more than the history limit are eligible
    /// (the extra tells the trim whether the oldest reply's question is
    /// there), at most [`HISTORY_PAGES`] pages. Notices and fallbacks are
    /// skipped, so the first page holds a few more than the limit; most
    /// turns read only that one.
    async fn prompt_history(
        &self,
        conversation: &Conversation,
        message: &Message,
        mut first_page: Option<HistoryPage>,
    ) -> Result<Vec<Message>, StoreError> {
        let keep = self.inner.config.prompt.max_history_messages;
        let mut history: Vec<Message> = Vec::new();
        let mut before = Some(message.seq);
        for page in 0..HISTORY_PAGES {
            let Some(seq) = before else { break };
            let older = match first_page.take() {
                Some(read) => read,
                None => {
                    let want = if page == 0 {
                        self.first_history_page()
                    } else {
                        keep * 2 + 8
                    };
                    (self.inner.store)
                        .history(conversation.id, Some(seq), want)
                        .await?
                }
            };
            before = older.next_before;
            history.splice(0..0, older.messages);
            let eligible = history.iter().filter(|m| eligible(m)).count();
            if eligible > keep {
                break;
            }
        }
        Ok(history)
    }

    /// Retrieval and the prompt for `question` after `history`, on the
    /// knowledge in use now. Also returns every passage found.
    fn prepared(
        &self,
        question: &str,
        history: &[Message],
        prior_fallbacks: u32,
        conversation: ConversationId,
        customer: Option<String>,
    ) -> (Vec<crate::knowledge::Passage>, Prepared) {
        let inner = &self.inner;
        let config = &inner.config;
        let shop = self.shop();
        let passages = {
            let span = tracing::info_span!("spur.retrieval", passages = tracing::field::Empty);
            let _in = span.enter();
            let found = shop.knowledge.search(question, config.retrieval_k);
            span.record("passages", found.len());
            found
        };
        let tools = self.tools();
        let tool_context = ToolContext::new(conversation, customer, shop.knowledge.clone());
        let offered = tools.offered(&tool_context).clone();
        // The definitions travel with every ask: their tokens come out of
        // the budget the passages and history share.
        let tool_tokens = offered.tokens(inner.tokens.as_ref());
        let limits = shop.prompts.config();
        let prompt_span = tracing::info_span!("spur.prompt").entered();
        let prompt = shop.prompts.build_within(
            inner.tokens.as_ref(),
            PromptInput {
                policies: shop.knowledge.policies(),
                facts: shop.knowledge.facts(),
                passages: &passages,
                history,
                message: question,
            },
            limits.max_history_messages,
            limits.max_input_tokens.saturating_sub(tool_tokens),
        );
        drop(prompt_span);
        let mut request = CompletionRequest::new(prompt.messages);
        request.max_output_tokens = config.max_output_tokens;
        request.temperature = config.temperature;
        request.passages = prompt.passages;
        request.shop = Some(shop.knowledge.facts().display_name().to_string());
        let prepared = Prepared {
            shop,
            reply_id: inner.ids.message_id(),
            request,
            prompt_tokens: prompt.input_tokens + tool_tokens,
            best_confidence: passages.first().map(|p| p.confidence),
            prior_fallbacks,
            tools,
            tool_context,
            offered,
            records: Vec::new(),
            evidence: Vec::new(),
            pending: None,
            provider: inner.provider.clone(),
            over_budget: None,
        };
        (passages, prepared)
    }

    fn generated(
        &self,
        prepared: &Prepared,
        outcome: Result<(String, Option<Usage>, bool, String), ProviderError>,
        started: Instant,
    ) -> Generated {
        let inner = &self.inner;
        let mut meta = MessageMeta {
            provider: Some(prepared.provider.name().to_string()),
            latency_ms: Some(started.elapsed().as_millis() as u64),
            passages: prepared
                .request
                .passages
                .iter()
                .map(|p| p.article_id.clone())
                .collect(),
            tools: prepared.records.clone(),
            confirm: prepared.pending.clone(),
            ..MessageMeta::default()
        };
        let (text, handoff) = match outcome {
            Ok((text, usage, handoff, model)) => {
                meta.model = Some(model);
                meta.tokens_in =
                    Some(usage.map_or(prepared.prompt_tokens as u32, |u| u.input_tokens));
                meta.tokens_out = Some(
                    usage.map_or_else(|| inner.tokens.count(&text) as u32, |u| u.output_tokens),
                );
                if let Some(question) = prepared.question(&inner.config.prompt.texts) {
                    // The model's words before the held call are checked
                    // (dropped if nothing holds); the question is the engine's.
                    let said = if text.trim().is_empty() || !inner.config.grounding {
                        text
                    } else {
                        match self.grounded(prepared, text, &mut meta) {
                            (said, false) => said,
                            (_, true) => String::new(),
                        }
                    };
                    let after = question_after(&said, &question);
                    (format!("{}{after}", said.trim_end()), false)
                } else if handoff || !inner.config.grounding {
                    (text, handoff)
                } else {
                    self.grounded(prepared, text, &mut meta)
                }
            }
            Err(error) => {
                tracing::warn!(code = error.code(), %error, "provider failed; sending the fallback reply");
                meta.model = Some(prepared.provider.model().to_string());
                meta.used_fallback = true;
                meta.error_code = Some(error.code().to_string());
                let texts = &inner.config.prompt.texts;
                let shop = prepared.shop.knowledge.facts().display_name();
                (texts.render(&texts.fallback_reply, shop), false)
            }
        };
        let gap = if meta.used_fallback {
            Some("fallback")
        } else if meta
            .grounding
            .as_ref()
            .is_some_and(|g| g.verdict == grounding::Verdict::Blocked)
        {
            Some("ungrounded")
        } else if handoff {
            Some("no_answer")
        } else {
            None
        };
        meta.gap = gap.map(|kind| Gap {
            kind: kind.into(),
            question: prepared.request.last_user_message().to_string(),
        });
        let mut handed_over = handed_over(&prepared.records);
        match (&inner.budget, prepared.over_budget) {
            (Some(_), Some(when)) => {
                // The offline responder costs nothing: no tokens billed.
                meta.over_budget = true;
                meta.tokens_in = None;
                meta.tokens_out = None;
                if when == crate::insight::WhenSpent::Handoff {
                    handed_over.get_or_insert_with(|| "the assistant's budget is spent".into());
                }
            }
            (Some(budget), None) => budget.guard.record(
                crate::insight::facts::millis(self.now()),
                u64::from(meta.tokens_in.unwrap_or(0)),
                u64::from(meta.tokens_out.unwrap_or(0)),
            ),
            (None, _) => {}
        }
        Generated {
            reply_id: prepared.reply_id,
            consecutive_fallbacks: prepared.prior_fallbacks + u32::from(meta.used_fallback),
            text,
            meta,
            handoff,
            best_confidence: prepared.best_confidence,
            handed_over,
        }
    }

    /// The grounding guard and citations: claims checked against the
    /// passages, policies, facts and the customer's words; an unsupported
    /// sentence removed; nothing left becomes "not sure" and a handoff.
    fn grounded(
        &self,
        prepared: &Prepared,
        text: String,
        meta: &mut MessageMeta,
    ) -> (String, bool) {
        let inner = &self.inner;
        let passages = &prepared.request.passages;
        let facts = prepared.shop.knowledge.facts();
        let checked = grounding::check(&text, &self.sources(prepared));
        if checked.grounding.verdict != grounding::Verdict::Supported {
            tracing::info!(
                verdict = ?checked.grounding.verdict,
                unsupported = ?checked.grounding.unsupported,
                "the grounding guard changed a reply"
            );
        }
        meta.grounding = Some(checked.grounding);
        let Some(text) = checked.text else {
            let texts = &inner.config.prompt.texts;
            return (
                texts.render(&texts.ungrounded_reply, facts.display_name()),
                true,
            );
        };
        meta.sources = grounding::cited(
            &text,
            passages
                .iter()
                .enumerate()
                .map(|(i, p)| (i, p.text.as_str())),
        )
        .into_iter()
        .map(|i| Source {
            id: passages[i].article_id.clone(),
            title: passages[i].title.clone(),
            score: passages[i].confidence,
        })
        .collect();
        (text, false)
    }

    /// What a reply to `prepared` may state: the passages (and their place
    /// notes), the policies, the operator's facts, the customer's message,
    /// what tools returned in this turn.
    fn sources(&self, prepared: &Prepared) -> grounding::Sources {
        let knowledge = &prepared.shop.knowledge;
        let passages = &prepared.request.passages;
        let facts = knowledge.facts();
        let described = facts.describe();
        let mut texts: Vec<&str> = vec![
            prepared.request.last_user_message(),
            &described,
            facts.display_name(),
        ];
        texts.extend(knowledge.policies().iter().map(|p| p.body.as_str()));
        texts.extend(prepared.evidence.iter().map(String::as_str));
        texts.extend(passages.iter().map(|p| p.text.as_str()));
        texts.extend(
            passages
                .iter()
                .flat_map(|p| p.notes.iter().map(String::as_str)),
        );
        grounding::Sources::new(texts)
    }

    /// What the assistant would answer to `question` now, without storing
    /// anything: the ranked passages, the reply after the grounding guard,
    /// whether it hands off (the admins' "try a question").
    pub async fn preview(&self, question: &str) -> Result<Preview, EngineError> {
        let inner = &self.inner;
        let question = inner.config.limits.check(question)?;
        self.shop().knowledge.prepare_query(question).await;
        let (passages, mut prepared) =
            self.prepared(question, &[], 0, inner.ids.conversation_id(), None);
        // A preview calls no tools: a call may change things in the shop's
        // systems, and nothing of a preview is kept. (Their tokens still
        // come out of the budget, so the passages are a real turn's.)
        prepared.offered.definitions = Arc::default();
        let generated = self.complete(prepared).await;
        Ok(Preview {
            passages,
            reply: generated.text,
            handoff: generated.handoff,
            grounding: generated.meta.grounding,
            sources: generated.meta.sources,
        })
    }

    /// One-shot completion, tool rounds included, under the timeout.
    pub(super) async fn complete(&self, mut prepared: Prepared) -> Generated {
        let inner = &self.inner;
        let started = Instant::now();
        let timeout = inner.config.llm_timeout;
        let span = chat_span(&prepared);
        let rounds =
            tracing::Instrument::instrument(self.complete_rounds(&mut prepared), span.clone());
        let outcome = match tokio::time::timeout(timeout, rounds).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ProviderError::Timeout(timeout)),
        };
        let generated = self.generated(&prepared, outcome, started);
        record_chat(&span, &generated.meta);
        generated
    }

    /// Asks the model; while it calls tools (at most `max_rounds` rounds),
    /// runs them and asks again with their results. The last ask offers
    /// no tools, so the model answers with what it has.
    async fn complete_rounds(
        &self,
        prepared: &mut Prepared,
    ) -> Result<(String, Option<Usage>, bool, String), ProviderError> {
        let inner = &self.inner;
        let mut usage = None;
        for round in 0.. {
            let last = prepared.offer_tools(round, &inner.config.tools);
            let c = prepared.provider.complete(&prepared.request).await?;
            usage = added(usage, c.usage);
            if c.tool_calls.is_empty() || last {
                if c.text.trim().is_empty() {
                    return Err(ProviderError::Empty);
                }
                return Ok((c.text, usage, c.handoff, c.model));
            }
            if self.run_tools(prepared, c.text.clone(), c.tool_calls).await {
                return Ok((c.text, usage, false, c.model));
            }
        }
        Err(ProviderError::Empty)
    }

    /// Runs one round's calls and adds the call and its results to the
    /// prompt; results become evidence, every call a record. A call that
    /// changes something is held instead: the first one becomes the turn's
    /// pending action (the turn ends asking for it; `true`).
    async fn run_tools(&self, prepared: &mut Prepared, said: String, calls: Vec<ToolCall>) -> bool {
        let mut outcomes = prepared
            .tools
            .run(&calls, &prepared.tool_context, &self.inner.config.tools)
            .await;
        for outcome in &mut outcomes {
            let Some(mut action) = outcome.pending.take() else {
                continue;
            };
            if prepared.pending.is_some() {
                outcome.record.outcome = "not_run".into();
                outcome.record.summary = "One change is confirmed at a time.".into();
                continue;
            }
            // The model's call ids repeat across conversations; the key
            // the shop's system sees must not.
            action.id = self.inner.ids.message_id().to_string();
            prepared.pending = Some(action);
        }
        self.add_outcomes(prepared, said, calls, outcomes);
        prepared.pending.is_some()
    }

    fn add_outcomes(
        &self,
        prepared: &mut Prepared,
        said: String,
        calls: Vec<ToolCall>,
        outcomes: Vec<crate::tools::ToolOutcome>,
    ) {
        let messages = &mut prepared.request.messages;
        messages.push(PromptMessage::tool_calls(said, calls));
        for outcome in outcomes {
            messages.push(PromptMessage::tool_result(outcome.call_id, outcome.content));
            prepared.evidence.extend(outcome.evidence);
            prepared.records.push(outcome.record);
        }
    }

    /// Stores the reply (and a handoff notice if the turn escalates). If a
    /// person took the conversation meanwhile, the bot's reply is dropped:
    /// never a bot reply and an agent reply in parallel.
    pub(super) async fn finish(
        &self,
        mut conversation: Conversation,
        message: Message,
        generated: Generated,
    ) -> Result<Turn, EngineError> {
        let inner = &self.inner;
        let escalation = match generated.handed_over {
            Some(reason) => Some(EscalationReason::AssistantHandoff { reason }),
            None => inner.config.escalation.after_reply(
                generated.consecutive_fallbacks,
                generated.best_confidence,
                generated.handoff,
            ),
        };
        let mut reply = self.message(
            Sender::Assistant,
            generated.text,
            Some(message.id),
            generated.meta,
        );
        reply.id = generated.reply_id;
        let turn = inner.locks.lock(conversation.id).await;
        if turn.waited {
            conversation = self.conversation_by_id(conversation.id).await?;
        }
        for attempt in 0..MAX_ATTEMPTS {
            if conversation.status != Status::Automated {
                tracing::info!(conversation = %conversation.id, "a person took over; dropping the bot reply");
                return Ok(Turn {
                    conversation,
                    message,
                    reply: None,
                    notice: None,
                    escalation: None,
                    duplicate: false,
                });
            }
            let mut state = conversation.state();
            let mut messages = vec![reply.clone()];
            if let Some(reason) = &escalation {
                state = transition(&state, &Event::Escalate)?;
                messages.push(self.notice(&conversation, reason, None));
            }
            let before = conversation.state();
            let change = Change {
                conversation_id: conversation.id,
                create: None,
                expected_version: conversation.version,
                status: state.status,
                assignee: state.assignee,
                updated_at: reply.created_at,
                metadata: None,
                messages,
                history: 0,
                deliver: super::delivery_address(&conversation),
            };
            match inner.store.apply(change).await {
                Ok(Applied::Stored {
                    conversation,
                    messages,
                    ..
                }) => {
                    self.announce(Some(&before), &conversation, &messages, escalation.as_ref());
                    let mut stored = messages.into_iter();
                    return Ok(Turn {
                        conversation,
                        message,
                        reply: stored.next(),
                        notice: stored.next(),
                        escalation,
                        duplicate: false,
                    });
                }
                Ok(Applied::Duplicate { .. }) => {
                    return Err(EngineError::Store(StoreError::Corrupt(
                        "reply collided".into(),
                    )));
                }
                Err(StoreError::Conflict) => {
                    super::backoff(attempt).await;
                    conversation = self.conversation_by_id(conversation.id).await?;
                    // Another instance may have answered it meanwhile (it
                    // took a redelivery of the message): its answer stands.
                    if let Some(answer) = inner.store.reply_to(message.id).await? {
                        tracing::info!(conversation = %conversation.id, "already answered elsewhere; dropping this reply");
                        let (reply, notice) = match answer.sender {
                            Sender::System => (None, Some(answer)),
                            _ => (Some(answer), None),
                        };
                        return Ok(Turn {
                            conversation,
                            message,
                            reply,
                            notice,
                            escalation: None,
                            duplicate: true,
                        });
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(EngineError::Busy)
    }

    /// Handles one customer message and streams the reply. The customer's
    /// message is stored before this returns; the reply is generated on a
    /// task of its own and stored even if the receiver goes away.
    pub async fn send_message_stream(
        &self,
        inbound: Inbound,
    ) -> Result<mpsc::Receiver<StreamEvent>, EngineError> {
        let (tx, rx) = mpsc::channel(64);
        let customer = inbound.verified_customer.clone();
        let (conversation, message, history, replying) =
            match self.accept(inbound, &mut None).await? {
                Intake::Done(turn) => {
                    let _ = tx
                        .send(StreamEvent::Started {
                            conversation: Box::new(turn.conversation.clone()),
                            message: Box::new(turn.message.clone()),
                        })
                        .await;
                    let _ = tx.send(StreamEvent::Done(Box::new(turn))).await;
                    return Ok(rx);
                }
                Intake::Reply {
                    conversation,
                    message,
                    history,
                    replying,
                } => (conversation, message, history, replying),
            };
        let _ = tx
            .send(StreamEvent::Started {
                conversation: Box::new(conversation.clone()),
                message: Box::new(message.clone()),
            })
            .await;
        let engine = self.clone();
        // Tracked, so a shutdown waits for the reply to be stored.
        self.inner.tasks.spawn(tracing::Instrument::instrument(
            async move {
                let prepared = engine
                    .prepare(&conversation, &message, history, customer)
                    .await;
                let (generated, mut unsent, shown) =
                    engine.stream_reply(&conversation, prepared, &tx).await;
                // Stored first: a slow reader never holds up the reply it is reading.
                let finished = engine.finish(conversation, message, generated).await;
                // Stored (or failed): a retry of the message may look now.
                drop(replying);
                let turn = match finished {
                    Ok(turn) => turn,
                    Err(error) => {
                        tracing::error!(%error, "could not store a streamed reply");
                        return;
                    }
                };
                // What was stored but not streamed (a fallback, "not sure"):
                // the deltas always add up to the stored reply.
                if let Some(reply) = &turn.reply {
                    let rest = match (
                        reply.text.strip_prefix(shown.as_str()),
                        reply.text.strip_prefix(shown.trim()),
                    ) {
                        (Some(rest), _) | (None, Some(rest)) => rest.to_string(),
                        (None, None) if shown.trim().is_empty() => reply.text.clone(),
                        (None, None) => format!("\n\n{}", reply.text),
                    };
                    unsent.push_str(&rest);
                }
                let event = StreamEvent::Done(Box::new(turn));
                if !unsent.is_empty() {
                    let _ = tx.send(StreamEvent::Delta { text: unsent }).await;
                }
                let _ = tx.send(event).await;
            },
            super::turn_span(),
        ));
        Ok(rx)
    }

    /// Streams the provider's reply. Deltas go to `tx` without waiting: a
    /// reader that falls behind gets them merged, so the model's deadline
    /// measures the model, never the reader. Returns the reply, what is
    /// still unsent and everything shown.
    async fn stream_reply(
        &self,
        conversation: &Conversation,
        mut prepared: Prepared,
        tx: &mpsc::Sender<StreamEvent>,
    ) -> (Generated, String, String) {
        let inner = &self.inner;
        let started = Instant::now();
        let timeout = inner.config.llm_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let span = chat_span(&prepared);
        let reply_id = prepared.reply_id;
        let mut unsent = String::new();
        let mut shown = String::new();
        // Sentence by sentence through the guard, so nothing unsupported is shown.
        let mut gate_sources = inner.config.grounding.then(|| self.sources(&prepared));
        let mut gate = grounding::SentenceGate::default();
        let show = |piece: String, unsent: &mut String, shown: &mut String| {
            if piece.is_empty() {
                return;
            }
            inner.events.publish(EngineEvent::ReplyDelta {
                conversation: conversation.id,
                reply: reply_id,
                text: piece.clone(),
            });
            shown.push_str(&piece);
            unsent.push_str(&piece);
            match tx.try_send(StreamEvent::Delta {
                text: std::mem::take(unsent),
            }) {
                Ok(()) => {}
                // Behind: merged into the next delta.
                Err(mpsc::error::TrySendError::Full(StreamEvent::Delta { text })) => {
                    *unsent = text;
                }
                // Gone, or nothing to keep: a customer who left does not
                // stop the reply being stored.
                Err(_) => {}
            }
        };
        let run = async {
            let mut text = String::new();
            let mut usage = None;
            let mut handoff = false;
            for round in 0.. {
                let last = prepared.offer_tools(round, &inner.config.tools);
                let mut stream = prepared.provider.stream(&prepared.request).await?;
                let mut calls = ToolCallAssembly::default();
                let mut said = String::new();
                let mut round_usage = None;
                while let Some(delta) = stream.next().await {
                    let delta = delta?;
                    round_usage = delta.usage.or(round_usage);
                    handoff |= delta.handoff;
                    delta.tool_calls.into_iter().for_each(|c| calls.push(c));
                    if delta.text.is_empty() {
                        continue;
                    }
                    // Words said before a tool round end a paragraph.
                    let piece = if said.is_empty() && !text.is_empty() && !text.ends_with('\n') {
                        format!("\n\n{}", delta.text)
                    } else {
                        delta.text
                    };
                    said.push_str(&piece);
                    text.push_str(&piece);
                    let piece = match &gate_sources {
                        Some(sources) => gate.push(&piece, sources),
                        None => piece,
                    };
                    show(piece, &mut unsent, &mut shown);
                }
                usage = added(usage, round_usage);
                if calls.is_empty() || last {
                    break;
                }
                if self.run_tools(&mut prepared, said, calls.finish()).await {
                    break;
                }
                // What the tools returned may be stated from now on.
                if gate_sources.is_some() {
                    gate_sources = Some(self.sources(&prepared));
                }
            }
            if let Some(sources) = &gate_sources {
                show(gate.finish(sources), &mut unsent, &mut shown);
            }
            if let Some(question) = prepared.question(&inner.config.prompt.texts) {
                // The engine's own words, after what the guard let out.
                let after = question_after(&shown, &question);
                show(after, &mut unsent, &mut shown);
            } else if text.trim().is_empty() {
                return Err(ProviderError::Empty);
            }
            Ok((text, usage, handoff, prepared.provider.model().to_string()))
        };
        let outcome = match tokio::time::timeout_at(
            deadline,
            tracing::Instrument::instrument(run, span.clone()),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(ProviderError::Timeout(timeout)),
        };
        let generated = self.generated(&prepared, outcome, started);
        record_chat(&span, &generated.meta);
        (generated, unsent, shown)
    }
}

/// The model call's span, in OpenTelemetry's GenAI conventions. Prompt and
/// reply text are never recorded.
fn chat_span(prepared: &Prepared) -> tracing::Span {
    let model = prepared.provider.model();
    tracing::info_span!(
        "chat",
        otel.name = %format!("chat {model}"),
        otel.kind = "client",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = %prepared.provider.name(),
        gen_ai.request.model = %model,
        gen_ai.response.model = tracing::field::Empty,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
        gen_ai.response.finish_reasons = tracing::field::Empty,
        error.type = tracing::field::Empty,
        spur.over_budget = prepared.over_budget.is_some(),
    )
}

/// What the call came to: tokens, and how it ended.
fn record_chat(span: &tracing::Span, meta: &MessageMeta) {
    if let Some(model) = &meta.model {
        span.record("gen_ai.response.model", model.as_str());
    }
    if let Some(n) = meta.tokens_in {
        span.record("gen_ai.usage.input_tokens", n);
    }
    if let Some(n) = meta.tokens_out {
        span.record("gen_ai.usage.output_tokens", n);
    }
    match &meta.error_code {
        Some(code) => {
            span.record("error.type", code.as_str());
        }
        None => {
            span.record("gen_ai.response.finish_reasons", "stop");
        }
    }
}

impl Prepared {
    /// Offers the tools for `round` (0-based); in the round after the
    /// last they may not be called. `true` when no call will be run.
    fn offer_tools(&mut self, round: u32, config: &ToolsConfig) -> bool {
        self.request.tools = self.offered.definitions.clone();
        let last = round >= config.max_rounds || self.request.tools.is_empty();
        self.request.tool_choice = if last && !self.request.tools.is_empty() {
            ToolChoice::None
        } else {
            ToolChoice::Auto
        };
        last
    }

    /// The question asking the customer to confirm the held action.
    fn question(&self, texts: &PromptTexts) -> Option<String> {
        let action = self.pending.as_ref()?;
        Some(texts.confirm_action.replace("{action}", &describe(action)))
    }
}

/// The question as it follows what was said before it: its own paragraph,
/// or the whole text when nothing was.
fn question_after(said: &str, question: &str) -> String {
    if said.trim().is_empty() {
        question.to_string()
    } else {
        format!("\n\n{question}")
    }
}

/// Tokens billed over several calls.
fn added(total: Option<Usage>, more: Option<Usage>) -> Option<Usage> {
    match (total, more) {
        (Some(a), Some(b)) => Some(Usage {
            input_tokens: a.input_tokens + b.input_tokens,
            output_tokens: a.output_tokens + b.output_tokens,
        }),
        (a, b) => a.or(b),
    }
}

/// The reason the model gave when it handed the conversation over, if it did.
fn handed_over(records: &[ToolRecord]) -> Option<String> {
    records
        .iter()
        .find(|r| r.tool == HANDOFF_TO_HUMAN && r.outcome == "ok")
        .map(|r| {
            r.arguments["reason"]
                .as_str()
                .unwrap_or("the assistant asked for a person")
                .to_string()
        })
}
