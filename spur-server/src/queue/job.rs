//! The classification job: what a worker does with one queued ticket.

use apalis::prelude::{Attempt, BoxDynError, Data};
use serde::{Deserialize, Serialize};
use spur_core::tickets::{ClassifyOutcome, TicketDesk, TicketId};

use crate::ticket_events::TicketRelay;

/// Queued when a ticket is filed: only the id, so a worker always reads the
/// ticket as stored (and finds out if someone classified it meanwhile).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifyJob {
    pub ticket: TicketId,
}

/// What every job needs, handed to workers as apalis `Data`.
#[derive(Clone)]
pub struct JobContext {
    pub desk: TicketDesk,
    /// Failed attempts retried before the fallback is recorded.
    pub retries: usize,
    /// Announces what a job recorded to the agents' feeds.
    pub relay: TicketRelay,
}

/// One attempt. Failure asks apalis to retry (with backoff) until the last
/// attempt, which records the fallback instead. A job run twice (a worker
/// died after classifying) finds the ticket classified and does nothing.
pub async fn classify(
    job: ClassifyJob,
    attempt: Attempt,
    ctx: Data<JobContext>,
) -> Result<(), BoxDynError> {
    // Attempts count from 1; `retries` failures may be retried.
    let last_attempt = attempt.current() > ctx.retries;
    match ctx.desk.classify(job.ticket, last_attempt).await? {
        ClassifyOutcome::Recorded(ticket) => {
            tracing::info!(ticket = %ticket.id, status = ticket.ai_status.as_str(), attempt = attempt.current(), "ticket classified");
            ctx.relay.publish(&ticket).await;
            Ok(())
        }
        ClassifyOutcome::AlreadyClassified | ClassifyOutcome::Missing => Ok(()),
        ClassifyOutcome::Retry { code } => {
            tracing::warn!(ticket = %job.ticket, code, attempt = attempt.current(), "ticket classification failed; will retry");
            Err(code.into())
        }
    }
}
