//! The conversation lifecycle as a pure function: `(state, event) -> state`.

use serde::{Deserialize, Serialize};

use super::Status;

/// The part of a conversation the lifecycle rules look at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationState {
    pub status: Status,
    pub assignee: Option<String>,
}

impl ConversationState {
    pub fn new() -> Self {
        Self {
            status: Status::Automated,
            assignee: None,
        }
    }
}

impl Default for ConversationState {
    fn default() -> Self {
        Self::new()
    }
}

/// Something that happens to a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The customer writes. Reopens a closed conversation (back to the bot).
    CustomerMessage,
    /// Hand the conversation to a person (customer asked, or the policy decided).
    Escalate,
    /// The customer leaves a way to reach them (an email address) for a
    /// person's answer: queued for one if the bot had it; a closed
    /// conversation takes none.
    LeaveContact,
    /// An agent takes ownership.
    AgentClaim { agent: String },
    /// The conversation is handed to `to` (by its owner or an admin: the
    /// caller checks who may), whoever held it.
    Reassign { to: String },
    /// The owning agent answers.
    AgentReply { agent: String },
    /// The owning agent gives the conversation back to the assistant.
    HandBack { agent: String },
    /// The customer, an admin or the host closes it.
    Close,
    /// An agent closes it: only one that is unclaimed or theirs.
    AgentClose { agent: String },
    /// A closed conversation is taken up again by `agent` (an admin: the
    /// caller checks who may), who then holds it.
    Reopen { agent: String },
}

/// Why an event is not allowed in the current state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the conversation is closed")]
    Closed,
    #[error("the conversation is already closed")]
    AlreadyClosed,
    #[error("the conversation is held by agent {owner}")]
    ClaimedByOther { owner: String },
    #[error("the conversation is not with a human agent")]
    NotWithAgent,
    #[error("the agent must claim the conversation first")]
    NotClaimed,
    #[error("the conversation is not closed")]
    NotClosed,
}

/// Applies `event` to `state`. Pure: no clock, no I/O, never panics.
pub fn transition(
    state: &ConversationState,
    event: &Event,
) -> Result<ConversationState, TransitionError> {
    use Status::*;
    let next = |status, assignee| ConversationState { status, assignee };
    match (state.status, event) {
        (Closed, Event::CustomerMessage) => Ok(next(Automated, None)),
        (Closed, Event::Reopen { agent }) => Ok(next(Agent, Some(agent.clone()))),
        (_, Event::Reopen { .. }) => Err(TransitionError::NotClosed),
        (_, Event::CustomerMessage) => Ok(state.clone()),

        (Closed, Event::Escalate) => Err(TransitionError::Closed),
        // Asking twice for a person is not an error: the customer is already queued.
        (_, Event::Escalate) => Ok(next(Agent, state.assignee.clone())),

        (Closed, Event::LeaveContact) => Err(TransitionError::Closed),
        // Whoever leaves an address is promised a person's answer: a
        // conversation with the bot is queued for one.
        (Automated, Event::LeaveContact) => Ok(next(Agent, None)),
        (Agent, Event::LeaveContact) => Ok(state.clone()),

        (Closed, Event::Reassign { .. }) => Err(TransitionError::Closed),
        (_, Event::Reassign { to }) => Ok(next(Agent, Some(to.clone()))),

        (Closed, Event::AgentClaim { .. }) => Err(TransitionError::Closed),
        (_, Event::AgentClaim { agent }) => match &state.assignee {
            Some(owner) if owner != agent => Err(TransitionError::ClaimedByOther {
                owner: owner.clone(),
            }),
            _ => Ok(next(Agent, Some(agent.clone()))),
        },

        (Agent, Event::AgentReply { agent } | Event::HandBack { agent }) => match &state.assignee {
            Some(owner) if owner == agent => Ok(match event {
                Event::HandBack { .. } => next(Automated, None),
                _ => state.clone(),
            }),
            Some(owner) => Err(TransitionError::ClaimedByOther {
                owner: owner.clone(),
            }),
            None => Err(TransitionError::NotClaimed),
        },
        (Closed, Event::AgentReply { .. } | Event::HandBack { .. }) => Err(TransitionError::Closed),
        (Automated, Event::AgentReply { .. } | Event::HandBack { .. }) => {
            Err(TransitionError::NotWithAgent)
        }

        (Closed, Event::Close | Event::AgentClose { .. }) => Err(TransitionError::AlreadyClosed),
        (_, Event::Close) => Ok(next(Closed, None)),
        (_, Event::AgentClose { agent }) => match &state.assignee {
            Some(owner) if owner != agent => Err(TransitionError::ClaimedByOther {
                owner: owner.clone(),
            }),
            _ => Ok(next(Closed, None)),
        },
    }
}

#[cfg(test)]
mod tests;
