//! Conversations, messages and the pure state machine that moves them
//! `automated -> agent -> closed`.

pub(crate) mod ids;
mod model;
mod state;

pub use ids::{ConversationId, MessageId, SessionId};
#[cfg(feature = "runtime")]
pub(crate) use model::{CHANNEL_THREAD, CONTACT};
pub use model::{
    CannedReply, Conversation, Gap, Message, MessageMeta, Note, PendingAction, Sender, Source,
    Status, TextTokens, ToolRecord,
};
pub use state::{ConversationState, Event, TransitionError, transition};
