//! The memory store's outbox and thread bindings: the rules the SQL stores
//! state in their statements, over a list.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::channels::{Delivery, DeliveryState, ExternalThread, OutboxItem, StatusUpdate};
use crate::conversation::{ConversationId, Message, MessageId};
use crate::store::StoreError;

struct Queued {
    item: OutboxItem,
    seq: i64,
    state: DeliveryState,
    due: OffsetDateTime,
    provider_id: Option<String>,
    error: Option<String>,
    updated_at: OffsetDateTime,
}

#[derive(Default)]
pub(super) struct MemoryOutbox {
    threads: HashMap<String, ConversationId>,
    /// In the order queued, so a conversation's items are in seq order.
    queued: Vec<Queued>,
}

impl MemoryOutbox {
    pub(super) fn bound(&self, address: &str) -> Option<ConversationId> {
        self.threads.get(address).copied()
    }

    /// Whether `address` can be bound to a new conversation.
    pub(super) fn check_free(&self, address: &str) -> Result<(), StoreError> {
        match self.threads.contains_key(address) {
            true => Err(StoreError::Backend(
                "the thread is bound to another conversation".into(),
            )),
            false => Ok(()),
        }
    }

    pub(super) fn bind(&mut self, address: &str, conversation: ConversationId) {
        self.threads.insert(address.to_string(), conversation);
    }

    /// Queues the stored `messages` (the outbound ones) for `address`.
    pub(super) fn queue<'a>(
        &mut self,
        address: &str,
        messages: impl Iterator<Item = &'a Message>,
    ) -> Result<(), StoreError> {
        let thread = ExternalThread::parse(address)
            .ok_or_else(|| StoreError::Corrupt(format!("not a thread address: {address}")))?;
        for m in messages {
            self.queued.push(Queued {
                item: OutboxItem {
                    message_id: m.id,
                    conversation_id: m.conversation_id,
                    thread: thread.clone(),
                    sender: m.sender,
                    text: m.text.clone(),
                    attempts: 0,
                },
                seq: m.seq,
                state: DeliveryState::Queued,
                due: m.created_at,
                provider_id: None,
                error: None,
                updated_at: m.created_at,
            });
        }
        Ok(())
    }

    pub(super) fn claim(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Option<OutboxItem> {
        let pending =
            |q: &Queued| matches!(q.state, DeliveryState::Queued | DeliveryState::Sending);
        let index = (0..self.queued.len()).find(|&i| {
            let q = &self.queued[i];
            pending(q)
                && q.due <= now
                && !self.queued[..i].iter().any(|earlier| {
                    earlier.item.conversation_id == q.item.conversation_id
                        && earlier.seq < q.seq
                        && pending(earlier)
                })
        })?;
        let q = &mut self.queued[index];
        q.state = DeliveryState::Sending;
        q.due = lease_until;
        q.item.attempts += 1;
        q.updated_at = now;
        Some(q.item.clone())
    }

    fn find(&mut self, message: MessageId) -> Result<&mut Queued, StoreError> {
        self.queued
            .iter_mut()
            .find(|q| q.item.message_id == message)
            .ok_or(StoreError::NotFound)
    }

    pub(super) fn sent(
        &mut self,
        message: MessageId,
        provider_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let q = self.find(message)?;
        // A status update may have come before the send was recorded.
        if q.state.rank() < DeliveryState::Sent.rank() {
            q.state = DeliveryState::Sent;
        }
        q.provider_id = Some(provider_id.to_string());
        q.updated_at = now;
        Ok(())
    }

    pub(super) fn retry(
        &mut self,
        message: MessageId,
        error: &str,
        due: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let q = self.find(message)?;
        q.state = DeliveryState::Queued;
        q.due = due;
        q.error = Some(error.to_string());
        Ok(())
    }

    pub(super) fn failed(
        &mut self,
        message: MessageId,
        error: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let q = self.find(message)?;
        q.state = DeliveryState::Failed;
        q.error = Some(error.to_string());
        q.updated_at = now;
        Ok(())
    }

    pub(super) fn status(&mut self, update: &StatusUpdate, now: OffsetDateTime) -> bool {
        let Some(q) = self
            .queued
            .iter_mut()
            .find(|q| q.provider_id.as_deref() == Some(update.provider_id.as_str()))
        else {
            return false;
        };
        if update.state.rank() <= q.state.rank() {
            return false;
        }
        q.state = update.state;
        if update.error.is_some() {
            q.error.clone_from(&update.error);
        }
        q.updated_at = now;
        true
    }

    pub(super) fn deliveries(&self, conversation: ConversationId) -> Vec<Delivery> {
        self.queued
            .iter()
            .filter(|q| q.item.conversation_id == conversation)
            .map(|q| Delivery {
                message_id: q.item.message_id,
                state: q.state,
                attempts: q.item.attempts,
                error: q.error.clone(),
                updated_at: q.updated_at,
            })
            .collect()
    }
}
