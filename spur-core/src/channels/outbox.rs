//! The durable outbox: what is queued for a channel, and the seam the
//! stores implement to hand it out, one lease at a time.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ExternalThread;
use crate::conversation::{ConversationId, MessageId, Sender};
use crate::store::StoreError;

/// Where one outbound message is. Status updates only move it forward
/// (`sent` < `delivered` < `read`; `failed` from any of them), so updates
/// arriving out of order never take a message back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Queued,
    /// Leased by a deliverer; due again when the lease ends (a deliverer
    /// killed mid-send).
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryState {
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The rank a provider's status update may only raise.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Self::Queued | Self::Sending => 0,
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Failed => 4,
        }
    }
}

/// One message leased for sending.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxItem {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub thread: ExternalThread,
    pub sender: Sender,
    pub text: String,
    /// Sends tried so far, this one included.
    pub attempts: i64,
}

/// What the console shows of one outbound message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub message_id: MessageId,
    pub state: DeliveryState,
    pub attempts: i64,
    /// The provider's error, for a failed message (or the last retried one).
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A provider's word on a message it took (a status webhook).
#[derive(Clone, Debug, PartialEq)]
pub struct StatusUpdate {
    /// The provider's id, as [`super::ChannelSender::send`] returned it.
    pub provider_id: String,
    pub state: DeliveryState,
    pub error: Option<String>,
}

/// The outbox's side of a store. Items are queued by
/// [`crate::store::ConversationStore::apply`] (a change with
/// [`crate::store::Change::deliver`]), in the transaction that stores them.
#[async_trait::async_trait]
pub trait OutboxStore: Send + Sync {
    /// Leases the oldest due item of a thread whose earlier items are all
    /// sent or failed (a thread's messages go out in order), until
    /// `lease_until`; `None` when nothing is due.
    async fn claim_outbound(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<OutboxItem>, StoreError>;

    /// The channel took it.
    async fn outbound_sent(
        &self,
        message: MessageId,
        provider_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Try again at `due` (a failure worth retrying).
    async fn outbound_retry(
        &self,
        message: MessageId,
        error: &str,
        due: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Given up on: the error stays for the console.
    async fn outbound_failed(
        &self,
        message: MessageId,
        error: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Applies a provider's status update; whether it moved a message
    /// (an unknown id, or one already further on, changes nothing).
    async fn record_status(
        &self,
        update: &StatusUpdate,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// The outbound messages of a conversation, oldest first.
    async fn deliveries(&self, conversation: ConversationId) -> Result<Vec<Delivery>, StoreError>;
}
