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

impl SupportEngine {
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
