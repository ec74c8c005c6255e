//! Channels other than Spur's own web chat (WhatsApp, Messenger, email...):
//! their messages normalised into [`InboundEvent`]s that the engine handles
//! like any customer message ([`crate::SupportEngine::receive`]), and the
//! replies delivered back through a durable outbox.
//!
//! A conversation on a channel is bound to its [`ExternalThread`] when it is
//! created; from then on every message not from the customer is queued in
//! the outbox in the same transaction as the message itself
//! ([`crate::store::Change::deliver`]), and a [`delivery::Deliverer`] sends
//! what is due through the channel's [`ChannelSender`].

mod attachment;
#[cfg(all(any(test, feature = "test-util"), feature = "runtime"))]
pub mod conformance;
#[cfg(feature = "runtime")]
pub mod delivery;
#[cfg(feature = "email")]
pub mod email;
#[cfg(feature = "meta")]
pub mod graph;
#[cfg(feature = "media")]
pub mod media;
#[cfg(feature = "meta")]
pub mod messenger;
mod outbox;
#[cfg(feature = "meta")]
pub mod whatsapp;

use serde::{Deserialize, Serialize};

/// Why a channel's HTTP client could not be built.
#[cfg(feature = "meta")]
pub type SendClientError = reqwest::Error;

pub use attachment::Attachment;
pub use outbox::{Delivery, DeliveryState, OutboxItem, OutboxStore, StatusUpdate};

/// Where a conversation lives on another channel: the channel, the shop's
/// account on it (a WhatsApp phone-number id, a Page id, a mailbox) and the
/// customer's thread there (their WhatsApp id, their address...).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExternalThread {
    pub channel: String,
    pub account: String,
    pub thread: String,
}

impl ExternalThread {
    pub fn new(
        channel: impl Into<String>,
        account: impl Into<String>,
        thread: impl Into<String>,
    ) -> Self {
        Self {
            channel: channel.into(),
            account: account.into(),
            thread: thread.into(),
        }
    }

    /// The one string the store keys threads by. The parts are
    /// length-prefixed, so no two threads share an address whatever
    /// characters their ids hold.
    pub fn address(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.channel,
            self.account.len(),
            self.account,
            self.thread.len(),
            self.thread
        )
    }

    /// The thread an [`Self::address`] was made from.
    pub fn parse(address: &str) -> Option<Self> {
        let (channel, rest) = address.split_once(':')?;
        let (account, rest) = take_counted(rest)?;
        let (thread, rest) = take_counted(rest)?;
        rest.is_empty().then(|| Self::new(channel, account, thread))
    }
}

/// `<len>:<that many bytes>` at the start of `text`, and what follows it
/// (after one ':' when something does).
fn take_counted(text: &str) -> Option<(&str, &str)> {
    let (len, rest) = text.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let value = rest.get(..len)?;
    let after = &rest[len..];
    let after = after.strip_prefix(':').unwrap_or(after);
    Some((value, after))
}

/// How long after the customer's last message a channel takes free-form
/// replies: WhatsApp's customer-service window and Messenger's and
/// Instagram's standard messaging window are 24 hours (after it WhatsApp
/// takes only templates, Messenger an agent's `HUMAN_AGENT` reply for 7
/// days). `None`: no such window (email, the web chat).
pub fn reply_window(channel: &str) -> Option<time::Duration> {
    matches!(channel, "whatsapp" | "messenger" | "instagram").then(|| time::Duration::hours(24))
}

/// Where a conversation from a channel with subjects (email) keeps the
/// thread's subject in its metadata (replies answer `Re:` it).
pub const SUBJECT_KEY: &str = "subject";

/// What kind of message came in. Only text (and the caption of media) is
/// answered by the assistant; other kinds get [`crate::prompt::PromptTexts`]'
/// `unsupported_kind_reply`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    #[default]
    Text,
    Image,
    Audio,
    Video,
    Document,
    Location,
    /// A button or list reply: its title is the text.
    Interactive,
    Sticker,
    Unsupported,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Document => "document",
            Self::Location => "location",
            Self::Interactive => "interactive",
            Self::Sticker => "sticker",
            Self::Unsupported => "unsupported",
        }
    }
}

/// One customer message from another channel, normalised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundEvent {
    pub thread: ExternalThread,
    /// The channel's id for this message: a second delivery of the same
    /// id stores nothing and replies nothing.
    pub external_id: String,
    /// The name the channel shows for the customer, if it gives one.
    pub sender_name: Option<String>,
    pub kind: MessageKind,
    /// The text, a media caption, or an interactive reply's title.
    pub text: Option<String>,
    /// The customer's email address, where the channel is email.
    #[serde(default)]
    pub sender_email: Option<String>,
    /// What the thread is about, where the channel has subjects (email).
    #[serde(default)]
    pub subject: Option<String>,
    /// The files that came with it, as the channel refers to them (fetched
    /// and kept after the message is stored: [`media::Media`]).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

impl InboundEvent {
    /// The text the assistant can answer, if the message has one.
    pub fn readable_text(&self) -> Option<&str> {
        self.text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// What a conversation this message opens records of it: the
    /// customer's name, their address as the contact email, the subject.
    #[cfg(feature = "runtime")]
    pub(crate) fn conversation_metadata(&self) -> Option<serde_json::Value> {
        let mut map = serde_json::Map::new();
        if let Some(name) = &self.sender_name {
            map.insert("name".into(), name.clone().into());
        }
        if let Some(email) = &self.sender_email {
            map.insert(
                crate::conversation::CONTACT.into(),
                serde_json::json!({ "email": email }),
            );
        }
        if let Some(subject) = &self.subject {
            map.insert(SUBJECT_KEY.into(), subject.clone().into());
        }
        (!map.is_empty()).then_some(serde_json::Value::Object(map))
    }

    /// The engine's idempotency key for this message: the channel's id is
    /// any string (`wamid.HBgL...=`), the key a fixed alphabet, so it is
    /// a hash of the thread and the id.
    pub fn idempotency_key(&self) -> String {
        let digest = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("{}\n{}", self.thread.address(), self.external_id).as_bytes(),
        );
        format!("ch-{}-{}", self.thread.channel_key(), digest.simple())
    }
}

impl ExternalThread {
    /// The channel's name as key characters (`A-Za-z0-9_-`), at most 16.
    fn channel_key(&self) -> String {
        self.channel
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .take(16)
            .collect()
    }
}

/// Why a channel could not take a message.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (a timeout, a 5xx, a rate limit).
    #[error("{0}")]
    Retry(String),
    /// Never going to work as it is (a bad token, a number that does not exist).
    #[error("{0}")]
    Permanent(String),
    /// The channel only takes a template now (WhatsApp's 24-hour window has
    /// closed: error 131047), and none is configured.
    #[error("outside the channel's reply window: {0}")]
    OutsideWindow(String),
}

/// Sends one outbox item on one channel.
#[async_trait::async_trait]
pub trait ChannelSender: Send + Sync {
    /// The channel this sender serves ([`ExternalThread::channel`]).
    fn channel(&self) -> &str;

    /// Sends the item; the provider's id for the sent message on success
    /// (status updates refer to it).
    async fn send(&self, item: &OutboxItem) -> Result<String, SendError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_meta_s_channels_have_a_reply_window() {
        assert_eq!(reply_window("whatsapp"), Some(time::Duration::hours(24)));
        assert_eq!(reply_window("instagram"), Some(time::Duration::hours(24)));
        assert_eq!(reply_window("email"), None);
        assert_eq!(reply_window("web"), None);
    }

    #[test]
    fn addresses_are_unambiguous_and_parse_back() {
        let a = ExternalThread::new("whatsapp", "1:2", "3");
        let b = ExternalThread::new("whatsapp", "1", "2:3");
        assert_ne!(a.address(), b.address());
        assert_eq!(ExternalThread::parse(&a.address()), Some(a));
        assert_eq!(ExternalThread::parse(&b.address()), Some(b));
        assert_eq!(ExternalThread::parse("whatsapp:9:1:3"), None);
        assert_eq!(ExternalThread::parse("whatsapp:1:1:1:3x"), None);
    }

    #[test]
    fn keys_are_valid_and_differ_by_thread_and_id() {
        let event = |thread: &str, id: &str| InboundEvent {
            thread: ExternalThread::new("whatsapp", "100", thread),
            external_id: id.into(),
            sender_name: None,
            kind: MessageKind::Text,
            text: Some("hi".into()),
            sender_email: None,
            subject: None,
            attachments: Vec::new(),
        };
        let key = event("44", "wamid.HBgL=").idempotency_key();
        assert!(
            crate::validate::check_idempotency_key(&key).is_ok(),
            "{key}"
        );
        assert_eq!(key, event("44", "wamid.HBgL=").idempotency_key());
        assert_ne!(key, event("45", "wamid.HBgL=").idempotency_key());
        assert_ne!(key, event("44", "wamid.HBgM=").idempotency_key());
    }
}
