//! The files customers send on channels: kept before their message is
//! stored when they came with it (email), fetched after when the channel
//! keeps them (WhatsApp, Messenger), and read back for agents.

use super::{EngineError, SupportEngine};
use crate::channels::{Attachment, ExternalThread, InboundEvent};
use crate::conversation::{ConversationId, Message};

/// A kept file as agents download it: what its message records of it, and its bytes.
#[derive(Debug)]
pub struct KeptFile {
    pub attachment: Attachment,
    pub bytes: Vec<u8>,
}

/// How long a thread can be found by its subject alone.
#[cfg(feature = "email")]
const SUBJECT_THREAD_AGE: time::Duration = time::Duration::days(30);

impl SupportEngine {
    /// An email made ready to receive: its files kept, and when it answers a
    /// subject without threading headers, joined to that sender's newest
    /// email thread with the same subject in the same mailbox (active in the
    /// last 30 days), if there is one.
    #[cfg(feature = "email")]
    pub async fn prepare_mail(
        &self,
        mail: crate::channels::email::Mail,
    ) -> Result<InboundEvent, EngineError> {
        let crate::channels::email::Mail {
            mut event,
            files,
            answers_subject,
        } = mail;
        self.keep_files(&mut event, files).await;
        if answers_subject
            && let (Some(sender), Some(subject)) = (&event.sender_email, &event.subject)
        {
            let filter = crate::store::ConversationFilter {
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
                .filter(|c| c.metadata[crate::channels::SUBJECT_KEY].as_str() == Some(subject))
                .filter_map(|c| c.channel_thread())
                .find(|t| {
                    t.channel == event.thread.channel
                        && t.account == event.thread.account
                        && crate::channels::email::EmailThread::decode(&t.thread)
                            .is_some_and(|t| t.customer == *sender)
                });
            if let Some(thread) = thread {
                event.thread = thread;
            }
        }
        Ok(event)
    }

    /// Keeps files that came with a message (an email's attachments) and
    /// records them on it, before it is stored: each is kept or says why
    /// not (too large, a type not taken, no blob store); never an error.
    pub async fn keep_files(
        &self,
        event: &mut InboundEvent,
        files: Vec<crate::channels::media::File>,
    ) {
        for file in files {
            let mut attachment = file.attachment;
            match &self.inner.media {
                Some(media) => {
                    let mime = attachment.mime.clone();
                    media.keep(&mut attachment, &file.bytes, mime).await;
                }
                None => {
                    attachment.size = Some(file.bytes.len() as u64);
                    attachment.error = Some("not kept: no blob store".into());
                }
            }
            event.attachments.push(attachment);
        }
    }

    /// Fetches and keeps the files of a stored message from `thread`, and
    /// records what became of each on it (then tells agents' feeds). A
    /// failure leaves them recorded as not fetched: the message and its
    /// reply never wait on a file.
    pub(super) async fn keep_attachments(&self, thread: &ExternalThread, message: Message) {
        let Some(media) = &self.inner.media else {
            return;
        };
        let mut meta = message.meta;
        if !media.collect(thread, &mut meta.attachments).await {
            return;
        }
        match self
            .inner
            .store
            .set_message_meta(message.conversation_id, message.id, &meta)
            .await
        {
            Ok(()) => self
                .inner
                .events
                .publish(crate::events::EngineEvent::FilesKept {
                    conversation: message.conversation_id,
                    message: message.id,
                }),
            Err(error) => {
                tracing::error!(%error, message = %message.id, "a message's files were fetched but not recorded");
            }
        }
    }

    /// File `index` of message `seq` of `conversation`, when it was kept;
    /// `None` when there is no such message, file, or kept bytes.
    pub async fn kept_file(
        &self,
        conversation: ConversationId,
        seq: i64,
        index: usize,
    ) -> Result<Option<KeptFile>, EngineError> {
        let Some(media) = &self.inner.media else {
            return Ok(None);
        };
        if seq < 1 {
            return Ok(None);
        }
        let found = self
            .inner
            .store
            .messages_after(conversation, seq - 1, 1)
            .await?;
        let Some(attachment) = found
            .into_iter()
            .find(|m| m.seq == seq)
            .and_then(|m| m.meta.attachments.into_iter().nth(index))
        else {
            return Ok(None);
        };
        let Some(key) = attachment.blob.as_deref() else {
            return Ok(None);
        };
        let bytes = media
            .blobs()
            .get(key)
            .await
            .map_err(|e| EngineError::Store(crate::store::StoreError::Backend(Box::new(e))))?;
        Ok(bytes.map(|bytes| KeptFile { attachment, bytes }))
    }
}
