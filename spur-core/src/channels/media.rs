//! The files customers send, fetched from their channel and kept: each
//! channel's [`MediaFetcher`] gets the bytes (WhatsApp by media id through
//! the Graph API, Messenger and Instagram from the URL in the webhook),
//! [`Media`] checks their size and type against [`MediaLimits`] and keeps
//! them in a [`BlobStore`], and the message's [`Attachment`] records the
//! key, or why the file was not kept. The engine does this after the
//! message is stored, off the webhook's path.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Attachment, ExternalThread};
use crate::blobs::BlobStore;

/// A file as its channel handed it over.
#[derive(Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// The `Content-Type` the channel gave, if any.
    pub mime: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Failed(String),
}

/// Gets the files one channel's customers send.
#[async_trait::async_trait]
pub trait MediaFetcher: Send + Sync {
    /// The channel it fetches for ([`ExternalThread::channel`]).
    fn channel(&self) -> &str;

    /// The bytes at `source` (a media id, a URL) as the shop's `account`
    /// on the channel sees them; [`FetchError::TooLarge`] as soon as more
    /// than `max_bytes` arrive.
    async fn fetch(
        &self,
        account: &str,
        source: &str,
        max_bytes: u64,
    ) -> Result<Fetched, FetchError>;
}

/// Which files are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaLimits {
    /// The largest file kept (10 MiB by default).
    pub max_bytes: u64,
    /// Types kept: a full type (`application/pdf`) or a family ending in
    /// `/` (`audio/`). Images are listed one by one: an SVG is a document
    /// that can run scripts, not a photo.
    pub types: Vec<String>,
}

impl Default for MediaLimits {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            types: [
                "image/jpeg",
                "image/png",
                "image/webp",
                "image/gif",
                "audio/",
                "video/",
                "application/pdf",
                "text/plain",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl MediaLimits {
    /// Whether files of `mime` (parameters such as `; codecs=opus` ignored) are kept.
    pub fn takes(&self, mime: &str) -> bool {
        let essence = essence(mime);
        self.types.iter().any(|t| {
            if t.ends_with('/') {
                essence.starts_with(t.as_str()) && essence.len() > t.len()
            } else {
                essence == *t
            }
        })
    }
}

/// `type/subtype`, lowercased, without parameters.
pub fn essence(mime: &str) -> String {
    mime.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A file that came with its message (an email's attachment): its bytes
/// are in hand, nothing to fetch.
#[derive(Debug, PartialEq)]
pub struct File {
    pub attachment: Attachment,
    pub bytes: Vec<u8>,
}

/// Fetches and keeps the files of messages from channels.
pub struct Media {
    blobs: Arc<dyn BlobStore>,
    fetchers: HashMap<String, Arc<dyn MediaFetcher>>,
    limits: MediaLimits,
}

impl Media {
    pub fn new(blobs: Arc<dyn BlobStore>) -> Self {
        Self {
            blobs,
            fetchers: HashMap::new(),
            limits: MediaLimits::default(),
        }
    }

    /// Fetches the files of `fetcher`'s channel.
    pub fn fetcher(mut self, fetcher: Arc<dyn MediaFetcher>) -> Self {
        self.fetchers.insert(fetcher.channel().to_string(), fetcher);
        self
    }

    pub fn limits(mut self, limits: MediaLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// Fetches and keeps each pending attachment of a message on `thread`,
    /// recording on it the key or why not; whether any changed.
    pub async fn collect(&self, thread: &ExternalThread, attachments: &mut [Attachment]) -> bool {
        let mut changed = false;
        for attachment in attachments.iter_mut() {
            // Pending: it has a source, and no key nor error yet.
            let Some(source) = attachment.source.clone().filter(|_| attachment.pending()) else {
                continue;
            };
            changed = true;
            let Some(fetcher) = self.fetchers.get(&thread.channel) else {
                attachment.error = Some(format!("no way to fetch {} files", thread.channel));
                continue;
            };
            // Refused before fetching when the channel already said what it is.
            if let Some(mime) = attachment.mime.clone()
                && !self.limits.takes(&mime)
            {
                attachment.error = Some(format!("{} files are not kept", essence(&mime)));
                continue;
            }
            match fetcher
                .fetch(&thread.account, &source, self.limits.max_bytes)
                .await
            {
                Ok(fetched) => {
                    let mime = attachment.mime.clone().or(fetched.mime);
                    self.keep(attachment, &fetched.bytes, mime).await;
                }
                Err(error) => {
                    tracing::warn!(%error, channel = %thread.channel, "a customer's file was not fetched");
                    attachment.error = Some(match error {
                        FetchError::TooLarge(max) => format!("larger than {max} bytes"),
                        FetchError::Failed(why) => format!("could not be fetched: {why}"),
                    });
                }
            }
        }
        changed
    }

    /// Keeps bytes already in hand (an email's parts) as `attachment`'s,
    /// if their size and type are taken; records the key or why not.
    pub async fn keep(&self, attachment: &mut Attachment, bytes: &[u8], mime: Option<String>) {
        let size = bytes.len() as u64;
        attachment.size = Some(size);
        attachment.mime = mime.clone();
        let refused = match &mime {
            _ if size > self.limits.max_bytes => {
                Some(format!("larger than {} bytes", self.limits.max_bytes))
            }
            Some(mime) if !self.limits.takes(mime) => {
                Some(format!("{} files are not kept", essence(mime)))
            }
            None => Some("a file of unknown type is not kept".to_string()),
            Some(_) => None,
        };
        if let Some(why) = refused {
            attachment.error = Some(why);
            return;
        }
        match self.blobs.put(bytes).await {
            Ok(key) => attachment.blob = Some(key),
            Err(error) => {
                tracing::error!(%error, "a customer's file could not be kept");
                attachment.error = Some("could not be kept".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::MemoryBlobStore;
    use crate::channels::MessageKind;

    struct Files;

    #[async_trait::async_trait]
    impl MediaFetcher for Files {
        fn channel(&self) -> &str {
            "whatsapp"
        }

        async fn fetch(
            &self,
            account: &str,
            source: &str,
            max_bytes: u64,
        ) -> Result<Fetched, FetchError> {
            assert_eq!(account, "100");
            match source {
                "photo" => Ok(Fetched {
                    bytes: b"\xff\xd8jpeg".to_vec(),
                    mime: Some("image/jpeg".into()),
                }),
                "svg" => Ok(Fetched {
                    bytes: b"<svg onload=alert(1)>".to_vec(),
                    mime: Some("image/svg+xml".into()),
                }),
                "big" => Err(FetchError::TooLarge(max_bytes)),
                _ => Err(FetchError::Failed("HTTP 404".into())),
            }
        }
    }

    #[test]
    fn types_are_matched_by_essence_and_family() {
        let limits = MediaLimits::default();
        assert!(limits.takes("audio/ogg; codecs=opus"));
        assert!(limits.takes("IMAGE/JPEG"));
        assert!(!limits.takes("image/svg+xml"));
        assert!(!limits.takes("audio/"));
        assert!(!limits.takes("application/x-msdownload"));
        assert!(!limits.takes("text/html"));
    }

    #[tokio::test]
    async fn files_are_kept_or_say_why_not() {
        let blobs = Arc::new(MemoryBlobStore::new());
        let media = Media::new(blobs.clone()).fetcher(Arc::new(Files));
        let thread = ExternalThread::new("whatsapp", "100", "44");
        let mut attachments = vec![
            Attachment::at(MessageKind::Image, "photo"),
            Attachment::at(MessageKind::Image, "svg"),
            Attachment::at(MessageKind::Video, "big"),
            Attachment::at(MessageKind::Document, "gone"),
            Attachment {
                mime: Some("application/x-msdownload".into()),
                ..Attachment::at(MessageKind::Document, "photo")
            },
        ];
        assert!(media.collect(&thread, &mut attachments).await);
        let photo = &attachments[0];
        assert_eq!(photo.mime.as_deref(), Some("image/jpeg"));
        assert_eq!(photo.size, Some(6));
        let key = photo.blob.as_deref().unwrap();
        assert_eq!(blobs.get(key).await.unwrap().unwrap(), b"\xff\xd8jpeg");
        let errors: Vec<_> = attachments.iter().map(|a| a.error.as_deref()).collect();
        assert_eq!(
            errors,
            vec![
                None,
                Some("image/svg+xml files are not kept"),
                Some("larger than 10485760 bytes"),
                Some("could not be fetched: HTTP 404"),
                Some("application/x-msdownload files are not kept"),
            ]
        );
        assert!(attachments[1..].iter().all(|a| a.blob.is_none()));
        assert!(
            !media.collect(&thread, &mut attachments).await,
            "nothing pending: nothing fetched again"
        );
        let mut other = vec![Attachment::at(MessageKind::Image, "photo")];
        let messenger = ExternalThread::new("messenger", "100", "44");
        media.collect(&messenger, &mut other).await;
        assert_eq!(
            other[0].error.as_deref(),
            Some("no way to fetch messenger files")
        );
    }
}
