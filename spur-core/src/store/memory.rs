use std::collections::HashMap;
use std::sync::Mutex;

use time::OffsetDateTime;

use super::memory_outbox::MemoryOutbox;
use crate::channels::{Delivery, OutboxItem, OutboxStore, StatusUpdate};

use super::{
    Applied, Change, ConversationCursor, ConversationFilter, ConversationPage, ConversationStore,
    HistoryPage, ListedConversation, ReplyCursor, ReplyFilter, ReplyPage, ReplyTotals, StoreError,
    conversation_page, outbound, page_from_newest, reply_page, stamp,
};
use crate::conversation::{
    CannedReply, Conversation, ConversationId, Message, MessageId, Note, SessionId,
};

#[derive(Default)]
struct Inner {
    conversations: HashMap<ConversationId, Conversation>,
    sessions: HashMap<SessionId, ConversationId>,
    messages: HashMap<ConversationId, Vec<Message>>,
    keys: HashMap<String, (ConversationId, usize)>,
    replies: HashMap<MessageId, (ConversationId, usize)>,
    notes: HashMap<ConversationId, Vec<Note>>,
    canned: std::collections::BTreeMap<String, CannedReply>,
    outbox: MemoryOutbox,
    /// Ratings of answers (with their conversation) and conversations' CSAT.
    ratings: HashMap<MessageId, (ConversationId, crate::insight::Rating)>,
    csat: HashMap<ConversationId, (u8, crate::insight::Answerer)>,
}

/// Everything in process memory: for tests, examples and `Engine(database_url=None)`.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Corrupt("a thread panicked while holding the store".into()))
    }
}

#[async_trait::async_trait]
impl ConversationStore for MemoryStore {
    async fn apply(&self, change: Change) -> Result<Applied, StoreError> {
        let mut inner = self.lock()?;
        for message in &change.messages {
            let Some(key) = &message.idempotency_key else {
                continue;
            };
            if let Some(&(conversation, index)) = inner.keys.get(key) {
                let conversation_row = inner.conversations.get(&conversation).cloned();
                let message = inner
                    .messages
                    .get(&conversation)
                    .and_then(|m| m.get(index))
                    .cloned();
                return match (conversation_row, message) {
                    (Some(conversation), Some(message)) => Ok(Applied::Duplicate {
                        conversation,
                        message,
                    }),
                    _ => Err(StoreError::Corrupt("dangling idempotency key".into())),
                };
            }
        }
        let mut conversation = match &change.create {
            Some(new) if inner.conversations.contains_key(&new.id) => {
                return Err(StoreError::Conflict);
            }
            Some(new) => new.clone(),
            None => inner
                .conversations
                .get(&change.conversation_id)
                .cloned()
                .ok_or(StoreError::NotFound)?,
        };
        if conversation.version != change.expected_version {
            return Err(StoreError::Conflict);
        }
        if let (Some(address), Some(_)) = (&change.deliver, &change.create) {
            inner.outbox.check_free(address)?;
        }
        let mut messages = change.messages.clone();
        stamp(&mut conversation, &change, &mut messages);
        if let Some(address) = &change.deliver {
            if change.create.is_some() {
                inner.outbox.bind(address, conversation.id);
            }
            inner.outbox.queue(address, outbound(&messages))?;
        }

        let id = conversation.id;
        inner.sessions.insert(conversation.session_id, id);
        inner.conversations.insert(id, conversation.clone());
        let offset = inner.messages.get(&id).map_or(0, Vec::len);
        let history = (change.history > 0).then(|| {
            let stored = inner.messages.get(&id).map_or(&[][..], Vec::as_slice);
            let newest_first = stored.iter().rev().take(change.history + 1).cloned();
            page_from_newest(newest_first.collect(), change.history)
        });
        for (i, message) in messages.iter().enumerate() {
            if let Some(key) = &message.idempotency_key {
                inner.keys.insert(key.clone(), (id, offset + i));
            }
            if let Some(question) = message.reply_to {
                inner.replies.entry(question).or_insert((id, offset + i));
            }
        }
        inner
            .messages
            .entry(id)
            .or_default()
            .extend(messages.iter().cloned());
        Ok(Applied::Stored {
            conversation,
            messages,
            history,
        })
    }

    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, StoreError> {
        Ok(self.lock()?.conversations.get(&id).cloned())
    }

    async fn conversation_by_session(
        &self,
        session: SessionId,
    ) -> Result<Option<Conversation>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .sessions
            .get(&session)
            .and_then(|id| inner.conversations.get(id))
            .cloned())
    }

    async fn message_by_idempotency_key(&self, key: &str) -> Result<Option<Message>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .keys
            .get(key)
            .and_then(|(c, i)| inner.messages.get(c).and_then(|m| m.get(*i)))
            .cloned())
    }

    async fn conversation_by_thread(
        &self,
        address: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .outbox
            .bound(address)
            .and_then(|id| inner.conversations.get(&id))
            .cloned())
    }

    async fn reply_to(&self, message: MessageId) -> Result<Option<Message>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .replies
            .get(&message)
            .and_then(|(c, i)| inner.messages.get(c).and_then(|m| m.get(*i)))
            .cloned())
    }

    async fn rate_reply(&self, rating: &crate::insight::ReplyRating) -> Result<bool, StoreError> {
        use crate::conversation::Sender;
        let mut inner = self.lock()?;
        let answer = inner
            .messages
            .get(&rating.conversation_id)
            .is_some_and(|m| {
                m.iter().any(|m| {
                    m.id == rating.message_id
                        && matches!(m.sender, Sender::Assistant | Sender::Agent)
                })
            });
        if answer {
            inner
                .ratings
                .insert(rating.message_id, (rating.conversation_id, rating.rating));
        }
        Ok(answer)
    }

    async fn rate_conversation(&self, csat: &crate::insight::Csat) -> Result<bool, StoreError> {
        use crate::conversation::Sender;
        use crate::insight::Answerer;
        let mut inner = self.lock()?;
        let messages = inner.messages.get(&csat.conversation_id);
        let answered =
            |who: &[Sender]| messages.is_some_and(|m| m.iter().any(|m| who.contains(&m.sender)));
        if !answered(&[Sender::Assistant, Sender::Agent]) {
            return Ok(false);
        }
        let by = if answered(&[Sender::Agent]) {
            Answerer::Agent
        } else {
            Answerer::Bot
        };
        inner.csat.insert(csat.conversation_id, (csat.score, by));
        Ok(true)
    }

    async fn conversation_facts(
        &self,
        query: &crate::insight::FactsQuery,
    ) -> Result<Vec<crate::insight::ConversationFacts>, StoreError> {
        let inner = self.lock()?;
        let mut selected: Vec<&Conversation> = inner
            .conversations
            .values()
            .filter(|c| selected_by(query, c))
            .collect();
        selected.sort_by_key(|c| (c.created_at, c.id.as_uuid()));
        Ok(selected
            .into_iter()
            .map(|c| {
                let messages = inner.messages.get(&c.id).map_or(&[][..], Vec::as_slice);
                let ratings: Vec<_> = inner
                    .ratings
                    .iter()
                    .filter(|(_, (conversation, _))| *conversation == c.id)
                    .map(|(message, (_, rating))| (*message, *rating))
                    .collect();
                crate::insight::ConversationFacts::from_messages(
                    c,
                    messages,
                    &ratings,
                    inner.csat.get(&c.id).copied(),
                )
            })
            .collect())
    }

    async fn reply_breakdown(
        &self,
        query: &crate::insight::FactsQuery,
    ) -> Result<crate::insight::Breakdown, StoreError> {
        let inner = self.lock()?;
        let mut breakdown = crate::insight::Breakdown::default();
        for c in inner
            .conversations
            .values()
            .filter(|c| selected_by(query, c))
        {
            breakdown.add(inner.messages.get(&c.id).map_or(&[][..], Vec::as_slice));
        }
        Ok(breakdown)
    }

    async fn awaiting_reply(
        &self,
        since: OffsetDateTime,
        until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let inner = self.lock()?;
        let mut found: Vec<&Conversation> = inner
            .conversations
            .values()
            .filter(|c| {
                c.status == crate::conversation::Status::Automated
                    && c.channel_thread().is_some()
                    && (since..=until).contains(&c.updated_at)
                    && inner
                        .messages
                        .get(&c.id)
                        .and_then(|all| all.last())
                        .is_some_and(|m| m.sender == crate::conversation::Sender::Customer)
            })
            .collect();
        found.sort_by_key(|c| (c.updated_at, c.id.as_uuid()));
        Ok(found.into_iter().take(limit).map(|c| c.id).collect())
    }

    async fn set_message_meta(
        &self,
        conversation: ConversationId,
        message: MessageId,
        meta: &crate::conversation::MessageMeta,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let found = inner
            .messages
            .get_mut(&conversation)
            .and_then(|all| all.iter_mut().find(|m| m.id == message))
            .ok_or(StoreError::NotFound)?;
        found.meta = meta.clone();
        Ok(())
    }

    async fn messages_after(
        &self,
        conversation: ConversationId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .messages
            .get(&conversation)
            .map(|all| {
                all.iter()
                    .filter(|m| m.seq > after)
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.lock().map(|_| ())
    }

    async fn history(
        &self,
        conversation: ConversationId,
        before: Option<i64>,
        limit: usize,
    ) -> Result<HistoryPage, StoreError> {
        let inner = self.lock()?;
        let newest_first: Vec<Message> = inner
            .messages
            .get(&conversation)
            .map(|all| {
                all.iter()
                    .rev()
                    .filter(|m| before.is_none_or(|b| m.seq < b))
                    .take(limit.saturating_add(1))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Ok(page_from_newest(newest_first, limit))
    }

    async fn replies(
        &self,
        filter: &ReplyFilter,
        cursor: Option<&ReplyCursor>,
        limit: usize,
    ) -> Result<ReplyPage, StoreError> {
        let inner = self.lock()?;
        let mut all: Vec<&Message> = inner
            .messages
            .values()
            .flatten()
            .filter(|m| filter.matches(m))
            .filter(|m| cursor.is_none_or(|k| (m.created_at, m.id) < (k.created_at, k.id)))
            .collect();
        all.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
        let newest_first = all
            .into_iter()
            .take(limit.saturating_add(1))
            .cloned()
            .collect();
        Ok(reply_page(newest_first, limit))
    }

    async fn reply_totals(&self, filter: &ReplyFilter) -> Result<ReplyTotals, StoreError> {
        let inner = self.lock()?;
        let mut totals = ReplyTotals::default();
        for m in inner
            .messages
            .values()
            .flatten()
            .filter(|m| filter.matches(m))
        {
            totals.add(m);
        }
        Ok(totals)
    }

    async fn add_note(&self, note: &Note) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        if !inner.conversations.contains_key(&note.conversation_id) {
            return Err(StoreError::NotFound);
        }
        inner
            .notes
            .entry(note.conversation_id)
            .or_default()
            .push(note.clone());
        Ok(())
    }

    async fn notes(
        &self,
        conversation: ConversationId,
        limit: usize,
    ) -> Result<Vec<Note>, StoreError> {
        let inner = self.lock()?;
        let all = inner
            .notes
            .get(&conversation)
            .map_or(&[][..], Vec::as_slice);
        Ok(all[all.len().saturating_sub(limit)..].to_vec())
    }

    async fn canned_replies(&self) -> Result<Vec<CannedReply>, StoreError> {
        Ok(self.lock()?.canned.values().cloned().collect())
    }

    async fn save_canned_reply(&self, reply: &CannedReply) -> Result<(), StoreError> {
        self.lock()?
            .canned
            .insert(reply.shortcut.clone(), reply.clone());
        Ok(())
    }

    async fn delete_canned_reply(
        &self,
        shortcut: &str,
        author: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        let theirs = inner
            .canned
            .get(shortcut)
            .is_some_and(|c| author.is_none_or(|a| c.author == a));
        Ok(theirs && inner.canned.remove(shortcut).is_some())
    }

    async fn list_conversations(
        &self,
        filter: &ConversationFilter,
        cursor: Option<&ConversationCursor>,
        limit: usize,
    ) -> Result<ConversationPage, StoreError> {
        let inner = self.lock()?;
        let needle = filter.text.as_ref().map(|t| t.to_lowercase());
        let no_messages = Vec::new();
        let mut all: Vec<ListedConversation> = inner
            .conversations
            .values()
            .filter(|c| filter.status.is_none_or(|s| c.status == s))
            .filter(|c| filter.not_status.is_none_or(|s| c.status != s))
            .filter(|c| {
                filter
                    .assignee
                    .as_ref()
                    .is_none_or(|a| a.matches(c.assignee.as_deref()))
            })
            .filter(|c| cursor.is_none_or(|k| (c.updated_at, c.id) < (k.updated_at, k.id)))
            .filter(|c| {
                filter.contact_email.as_ref().is_none_or(|want| {
                    c.contact_email()
                        .is_some_and(|got| got.eq_ignore_ascii_case(want))
                })
            })
            .filter_map(|c| {
                let messages = inner.messages.get(&c.id).unwrap_or(&no_messages);
                if let Some(needle) = &needle
                    && !messages
                        .iter()
                        .any(|m| m.text.to_lowercase().contains(needle))
                {
                    return None;
                }
                let listed = ListedConversation::from_messages(c.clone(), messages);
                let wanted =
                    |want: &Option<String>, got: &Option<String>| want.is_none() || want == got;
                (wanted(&filter.category, &listed.category)
                    && wanted(&filter.priority, &listed.priority))
                .then_some(listed)
            })
            .collect();
        all.sort_by_key(|l| std::cmp::Reverse((l.conversation.updated_at, l.conversation.id)));
        all.truncate(limit.saturating_add(1));
        Ok(conversation_page(all, limit))
    }
}

#[async_trait::async_trait]
impl OutboxStore for MemoryStore {
    async fn claim_outbound(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<OutboxItem>, StoreError> {
        Ok(self.lock()?.outbox.claim(now, lease_until))
    }

    async fn outbound_sent(
        &self,
        message: MessageId,
        provider_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.lock()?.outbox.sent(message, provider_id, now)
    }

    async fn outbound_retry(
        &self,
        message: MessageId,
        error: &str,
        due: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.lock()?.outbox.retry(message, error, due)
    }

    async fn outbound_failed(
        &self,
        message: MessageId,
        error: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.lock()?.outbox.failed(message, error, now)
    }

    async fn record_status(
        &self,
        update: &StatusUpdate,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(self.lock()?.outbox.status(update, now))
    }

    async fn deliveries(&self, conversation: ConversationId) -> Result<Vec<Delivery>, StoreError> {
        Ok(self.lock()?.outbox.deliveries(conversation))
    }
}

/// Whether analytics' query selects the conversation.
fn selected_by(query: &crate::insight::FactsQuery, c: &Conversation) -> bool {
    c.created_at >= query.since
        && c.created_at < query.until
        && query.channel.as_ref().is_none_or(|ch| *ch == c.channel)
}
