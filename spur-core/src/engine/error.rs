use crate::conversation::TransitionError;
use crate::store::StoreError;
use crate::validate::ValidationError;

/// Why the engine refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("no conversation has this session id")]
    UnknownSession,
    #[error("no such conversation")]
    UnknownConversation,
    #[error("this idempotency key was already used with a different message")]
    IdempotencyMismatch,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Store(StoreError),
    #[error("the conversation kept changing concurrently; try again")]
    Busy,
    #[error("no canned reply has this shortcut")]
    UnknownCannedReply,
    #[error("only an admin or whoever saved it last can delete it")]
    NotYourCannedReply,
    #[error("this conversation belongs to another customer")]
    OtherCustomer,
    #[error("this conversation holds no answer with this id")]
    UnknownMessage,
    #[error("nobody has answered in this conversation yet")]
    NothingToRate,
    #[error(transparent)]
    Analytics(#[from] crate::insight::analytics::AnalyticsError),
}

impl From<StoreError> for EngineError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::UnknownConversation,
            other => Self::Store(other),
        }
    }
}
