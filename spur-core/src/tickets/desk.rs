//! Filing and classifying tickets: what a host's handlers and queue
//! workers call.

use std::sync::Arc;
use std::time::Duration;

use super::{
    AiResult, AiStatus, NewTicket, Ticket, TicketError, TicketId, TicketPatch, TicketStore,
};
use crate::classify::{Classification, ClassifyError, LlmClassifier, LocalClassifier, Taxonomy};
use crate::clock::{Clock, SystemClock};

/// The classifier tickets use: the model when one is configured (one
/// attempt per call; retries are the caller's), else the local lexicon,
/// which cannot fail.
#[derive(Clone)]
pub enum TicketClassifier {
    Local(Arc<LocalClassifier>),
    Llm(Arc<LlmClassifier>),
}

impl TicketClassifier {
    pub fn taxonomy(&self) -> &Taxonomy {
        match self {
            Self::Local(local) => local.taxonomy(),
            Self::Llm(llm) => llm.local().taxonomy(),
        }
    }

    pub async fn try_classify(&self, text: &str) -> Result<Classification, ClassifyError> {
        match self {
            Self::Local(local) => Ok(local.classify_text(text)),
            Self::Llm(llm) => llm.try_classify(text).await,
        }
    }
}

/// What one classification attempt did.
#[derive(Debug)]
pub enum ClassifyOutcome {
    /// `done` or `fallback` was recorded.
    Recorded(Box<Ticket>),
    /// Someone recorded a result first (a job run twice): nothing changed.
    AlreadyClassified,
    /// The attempt failed and was not the last: try again later.
    Retry { code: &'static str },
    /// The ticket does not exist (deleted meanwhile).
    Missing,
}

/// Files tickets and classifies them.
#[derive(Clone)]
pub struct TicketDesk {
    store: Arc<dyn TicketStore>,
    classifier: TicketClassifier,
    clock: Arc<dyn Clock>,
    timeout: Duration,
}

impl TicketDesk {
    /// Classification attempts time out after `timeout` (`AI_TIMEOUT_MS`).
    pub fn new(
        store: Arc<dyn TicketStore>,
        classifier: TicketClassifier,
        timeout: Duration,
    ) -> Self {
        Self {
            store,
            classifier,
            clock: Arc::new(SystemClock),
            timeout,
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long one model call for a ticket may take (`AI_TIMEOUT_MS`).
    pub fn ai_timeout(&self) -> Duration {
        self.timeout
    }

    pub fn store(&self) -> &dyn TicketStore {
        self.store.as_ref()
    }

    pub fn taxonomy(&self) -> &Taxonomy {
        self.classifier.taxonomy()
    }

    /// Stores a new ticket as `pending` (nothing is classified yet).
    pub async fn file(&self, new: NewTicket) -> Result<Ticket, TicketError> {
        let ticket = Ticket::pending(new, self.clock.now());
        self.store.create_ticket(&ticket).await?;
        Ok(ticket)
    }

    /// Files and classifies within the call: the synchronous mode. A failed
    /// classification records the fallback; it never fails the call.
    pub async fn file_and_classify(&self, new: NewTicket) -> Result<Ticket, TicketError> {
        let ticket = self.file(new).await?;
        self.classify_now(ticket).await
    }

    /// Classifies a stored ticket in this call (a last attempt: failure
    /// records the fallback) and returns it as it now stands.
    pub async fn classify_now(&self, ticket: Ticket) -> Result<Ticket, TicketError> {
        match self.classify(ticket.id, true).await? {
            ClassifyOutcome::Recorded(ticket) => Ok(*ticket),
            // Classified by someone else meanwhile, or deleted: read it back.
            _ => Ok(self.store.ticket(ticket.id).await?.unwrap_or(ticket)),
        }
    }

    /// One classification attempt for a stored ticket. On failure the last
    /// attempt records the safe fallback with the reason; earlier ones ask
    /// to be retried. Recording happens once, whoever gets there first.
    pub async fn classify(
        &self,
        id: TicketId,
        last_attempt: bool,
    ) -> Result<ClassifyOutcome, TicketError> {
        let Some(ticket) = self.store.ticket(id).await? else {
            return Ok(ClassifyOutcome::Missing);
        };
        if ticket.ai_status != AiStatus::Pending {
            return Ok(ClassifyOutcome::AlreadyClassified);
        }
        let result = match self.attempt(&ticket.text()).await {
            Ok(classification) => AiResult {
                classification,
                status: AiStatus::Done,
                reason: None,
            },
            Err(code) if !last_attempt => return Ok(ClassifyOutcome::Retry { code }),
            Err(code) => {
                tracing::warn!(ticket = %id, code, "ticket classification failed; recording the fallback");
                AiResult {
                    classification: Classification::fallback(self.taxonomy()),
                    status: AiStatus::Fallback,
                    reason: Some(code.to_string()),
                }
            }
        };
        Ok(
            match self
                .store
                .record_classification(id, &result, super::to_micros(self.clock.now()))
                .await?
            {
                Some(ticket) => ClassifyOutcome::Recorded(Box::new(ticket)),
                None => ClassifyOutcome::AlreadyClassified,
            },
        )
    }

    /// Classifies text without storing anything; the safe fallback on failure.
    pub async fn classify_text(&self, text: &str) -> Classification {
        self.attempt(text)
            .await
            .unwrap_or_else(|_| Classification::fallback(self.taxonomy()))
    }

    async fn attempt(&self, text: &str) -> Result<Classification, &'static str> {
        match tokio::time::timeout(self.timeout, self.classifier.try_classify(text)).await {
            Ok(Ok(classification)) => Ok(classification),
            Ok(Err(error)) => Err(error.code()),
            Err(_) => Err("ai_timeout"),
        }
    }

    /// Closes/reopens or overrides labels, which must be the taxonomy's.
    pub async fn update(
        &self,
        id: TicketId,
        mut patch: TicketPatch,
    ) -> Result<Ticket, TicketError> {
        let taxonomy = self.taxonomy();
        if let Some(category) = &patch.category {
            let label = taxonomy
                .category(category)
                .ok_or_else(|| TicketError::UnknownLabel(format!("category {category:?}")))?;
            patch.category = Some(label.name.clone());
        }
        if let Some(priority) = &patch.priority {
            let label = taxonomy
                .priority(priority)
                .ok_or_else(|| TicketError::UnknownLabel(format!("priority {priority:?}")))?;
            patch.priority = Some(label.name.clone());
        }
        self.store
            .update_ticket(id, &patch, super::to_micros(self.clock.now()))
            .await
    }
}
