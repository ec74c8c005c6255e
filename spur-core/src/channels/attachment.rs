//! A file a customer sent on a channel (a photo, a voice note, a document),
//! as their message records it: what the channel said of it, where the
//! channel keeps it, and, once fetched ([`super::media::Media`]), the key
//! its bytes are kept under, or why they were not.

use serde::{Deserialize, Serialize};

use super::MessageKind;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Attachment {
    pub kind: MessageKind,
    /// Its type as the channel or the fetched bytes give it (`image/jpeg`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    /// Its file name, where the channel gives one (documents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Bytes, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Where the channel keeps it: a WhatsApp media id, a Messenger URL.
    /// Only the engine fetches it (a URL may itself be a credential).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The blob store's key for its bytes, once kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// Why it was not kept (too large, a type not taken, the channel failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Attachment {
    /// A file the channel keeps at `source`, not fetched yet.
    pub fn at(kind: MessageKind, source: impl Into<String>) -> Self {
        Self {
            kind,
            source: Some(source.into()),
            ..Self::default()
        }
    }

    /// Still to fetch: neither kept nor given up on.
    pub fn pending(&self) -> bool {
        self.blob.is_none() && self.error.is_none() && self.source.is_some()
    }
}
