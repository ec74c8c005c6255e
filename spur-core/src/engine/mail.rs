//! Email made ready for the engine: its attachments kept, and a reply
//! whose client dropped the threading headers joined to its thread by
//! subject.

use super::{EngineError, SupportEngine};
use crate::channels::InboundEvent;
use crate::channels::SUBJECT_KEY;
use crate::channels::email::{EmailThread, Mail};
use crate::store::ConversationFilter;

/// How long a thread can be found by its subject alone.
const SUBJECT_THREAD_AGE: time::Duration = time::Duration::days(30);

impl SupportEngine {
    /// An email made ready to receive: its files kept, and when it answers a
    /// subject without threading headers, joined to that sender's newest
    /// email thread with the same subject in the same mailbox (active in the
    /// last 30 days), if there is one.
    pub async fn prepare_mail(&self, mail: Mail) -> Result<InboundEvent, EngineError> {
        let Mail {
            mut event,
            files,
            answers_subject,
        } = mail;
        self.keep_files(&mut event, files).await;
        if answers_subject
            && let (Some(sender), Some(subject)) = (&event.sender_email, &event.subject)
        {
            let filter = ConversationFilter {
                contact_email: Some(sender.clone()),
                ..Default::default()
            };
            let since = self.now() - SUBJECT_THREAD_AGE;
            let page = self
                .inner
                .store
                .list_conversations(&filter, None, 20)
                .await?;
            let thread = page
                .conversations
                .iter()
                .map(|listed| &listed.conversation)
                .filter(|c| c.updated_at >= since)
                .filter(|c| c.metadata[SUBJECT_KEY].as_str() == Some(subject))
                .filter_map(|c| c.channel_thread())
                .find(|t| {
                    t.channel == event.thread.channel
                        && t.account == event.thread.account
                        && EmailThread::decode(&t.thread).is_some_and(|t| t.customer == *sender)
                });
            if let Some(thread) = thread {
                event.thread = thread;
            }
        }
        Ok(event)
    }
}
