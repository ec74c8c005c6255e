//! Messenger and Instagram: the same Graph webhook framing (the handshake,
//! `X-Hub-Signature-256`), `{"object":"page"|"instagram","entry":[{"id":..,"messaging":[..]}]}`
//! read into [`InboundEvent`]s and delivery [`StatusUpdate`]s, and the Send
//! API (`POST /{page-or-account-id}/messages`). A reply to the customer's
//! message goes as `RESPONSE` (within 24 hours of it); an agent's as
//! `MESSAGE_TAG` `HUMAN_AGENT` (Meta allows it for 7 days).

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::graph::{self, Webhook};
use super::media::{FetchError, Fetched, MediaFetcher};
use super::{
    ChannelSender, DeliveryState, ExternalThread, InboundEvent, MessageKind, OutboxItem, SendError,
    StatusUpdate,
};
use crate::conversation::Sender;

/// [`ExternalThread::channel`] of Messenger conversations (a Facebook Page).
pub const MESSENGER: &str = "messenger";
/// ... and of Instagram conversations (a professional account).
pub const INSTAGRAM: &str = "instagram";

/// The longest text each takes.
const MAX_MESSENGER_CHARS: usize = 2000;
const MAX_INSTAGRAM_CHARS: usize = 1000;

/// Reads a Messenger (`object: page`) or Instagram (`object: instagram`)
/// webhook body; another object is read as nothing.
pub fn parse_webhook(body: &[u8]) -> Result<Webhook, serde_json::Error> {
    let payload: Payload = serde_json::from_slice(body)?;
    let channel = match payload.object.as_str() {
        "page" => MESSENGER,
        "instagram" => INSTAGRAM,
        _ => return Ok(Webhook::default()),
    };
    let mut webhook = Webhook::default();
    for entry in payload.entry {
        for event in entry.messaging {
            // The shop's side is the recipient of what customers send.
            let account = event.recipient.map_or_else(|| entry.id.clone(), |r| r.id);
            if let Some(delivery) = event.delivery {
                for mid in delivery.mids {
                    webhook.statuses.push(StatusUpdate {
                        provider_id: mid,
                        state: DeliveryState::Delivered,
                        error: None,
                    });
                }
                continue;
            }
            let Some(sender) = event.sender else {
                webhook.ignored += 1;
                continue;
            };
            let thread = ExternalThread::new(channel, account, sender.id);
            if let Some(message) = event.message {
                if message.is_echo || message.mid.is_empty() {
                    webhook.ignored += 1;
                    continue;
                }
                let kind = message
                    .attachments
                    .first()
                    .map_or(MessageKind::Text, |a| a.message_kind());
                // Files come as URLs on Meta's CDN; a location or a shared
                // post has none and is not a file.
                let attachments = message
                    .attachments
                    .iter()
                    .filter_map(|a| {
                        let url = a.payload.as_ref()?.url.clone()?;
                        let kind = a.message_kind();
                        matches!(
                            kind,
                            MessageKind::Image
                                | MessageKind::Audio
                                | MessageKind::Video
                                | MessageKind::Document
                                | MessageKind::Sticker
                        )
                        .then(|| super::Attachment::at(kind, url))
                    })
                    .collect();
                webhook.events.push(InboundEvent {
                    thread,
                    external_id: message.mid,
                    sender_name: None,
                    kind,
                    text: message.text,
                    sender_email: None,
                    subject: None,
                    attachments,
                });
            } else if let Some(postback) = event.postback {
                // A button the customer pressed: its title is what they said.
                let id = postback
                    .mid
                    .unwrap_or_else(|| format!("postback:{}", event.timestamp.unwrap_or_default()));
                webhook.events.push(InboundEvent {
                    thread,
                    external_id: id,
                    sender_name: None,
                    kind: MessageKind::Interactive,
                    text: postback.title,
                    sender_email: None,
                    subject: None,
                    attachments: Vec::new(),
                });
            } else {
                // Reads (a watermark, not message ids), reactions, referrals.
                webhook.ignored += 1;
            }
        }
    }
    Ok(webhook)
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    id: String,
    #[serde(default)]
    messaging: Vec<Messaging>,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Option<Party>,
    recipient: Option<Party>,
    timestamp: Option<i64>,
    message: Option<Message>,
    postback: Option<Postback>,
    delivery: Option<Delivery>,
}

#[derive(Deserialize)]
struct Party {
    id: String,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    mid: String,
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type", default)]
    kind: String,
    payload: Option<AttachmentPayload>,
}

#[derive(Deserialize)]
struct AttachmentPayload {
    url: Option<String>,
    /// Set on stickers (which also carry a URL).
    sticker_id: Option<i64>,
}

impl Attachment {
    fn message_kind(&self) -> MessageKind {
        match self.kind.as_str() {
            _ if self
                .payload
                .as_ref()
                .is_some_and(|p| p.sticker_id.is_some()) =>
            {
                MessageKind::Sticker
            }
            "image" => MessageKind::Image,
            "audio" => MessageKind::Audio,
            "video" => MessageKind::Video,
            "file" => MessageKind::Document,
            "location" => MessageKind::Location,
            "sticker" => MessageKind::Sticker,
            _ => MessageKind::Unsupported,
        }
    }
}

#[derive(Deserialize)]
struct Postback {
    mid: Option<String>,
    title: Option<String>,
}

#[derive(Deserialize)]
struct Delivery {
    #[serde(default)]
    mids: Vec<String>,
}

/// One Page (Messenger) or Instagram professional account the shop answers from.
#[derive(Clone)]
pub struct MetaAccount {
    /// [`MESSENGER`] or [`INSTAGRAM`].
    pub channel: String,
    /// The Page id or the Instagram account id.
    pub id: String,
    pub access_token: String,
}

impl std::fmt::Debug for MetaAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaAccount")
            .field("channel", &self.channel)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Sends on one of the two channels, from the account each thread is on.
pub struct MessengerSender {
    channel: &'static str,
    graph_url: String,
    accounts: HashMap<String, MetaAccount>,
    client: reqwest::Client,
}

impl MessengerSender {
    /// `channel`: [`MESSENGER`] or [`INSTAGRAM`]; the accounts of other
    /// channels are left out.
    pub fn new(
        channel: &'static str,
        graph_url: &str,
        accounts: &[MetaAccount],
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            channel,
            graph_url: graph_url.trim_end_matches('/').to_string(),
            accounts: accounts
                .iter()
                .filter(|a| a.channel == channel)
                .map(|a| (a.id.clone(), a.clone()))
                .collect(),
            client: graph::client(timeout)?,
        })
    }
}

#[derive(Deserialize)]
struct SendResponse {
    message_id: Option<String>,
}

/// Messenger's "not now": the Send API's rate limits.
const RETRY_CODES: [i64; 2] = [80006, 1200];
/// Outside the window the message's type allows (code 10, subcode 2018278;
/// code 551 for a person who cannot be reached now).
fn outside_window(code: i64, subcode: Option<i64>) -> bool {
    code == 10 && subcode == Some(2_018_278)
}

#[async_trait::async_trait]
impl ChannelSender for MessengerSender {
    fn channel(&self) -> &str {
        self.channel
    }

    async fn send(&self, item: &OutboxItem) -> Result<String, SendError> {
        let account = self.accounts.get(&item.thread.account).ok_or_else(|| {
            SendError::Permanent(format!(
                "no access token for {} account {}",
                self.channel, item.thread.account
            ))
        })?;
        let max = if self.channel == INSTAGRAM {
            MAX_INSTAGRAM_CHARS
        } else {
            MAX_MESSENGER_CHARS
        };
        let mut request = serde_json::json!({
            "recipient": { "id": item.thread.thread },
            "messaging_type": "RESPONSE",
            "message": { "text": graph::clipped(&item.text, max) },
        });
        if item.sender == Sender::Agent {
            request["messaging_type"] = "MESSAGE_TAG".into();
            request["tag"] = "HUMAN_AGENT".into();
        }
        let url = format!("{}/{}/messages", self.graph_url, account.id);
        let answer = graph::post(
            &self.client,
            &url,
            &account.access_token,
            &request,
            |code| RETRY_CODES.contains(&code),
            outside_window,
        )
        .await?;
        let sent: SendResponse = serde_json::from_str(&answer)
            .map_err(|e| SendError::Retry(format!("{} answer unreadable: {e}", self.channel)))?;
        sent.message_id.ok_or_else(|| {
            SendError::Retry(format!("{} answered without a message id", self.channel))
        })
    }
}

/// A file's URL came in the (signed) webhook; only `https` ones are
/// fetched, and with no token: Meta's CDN URLs carry their own signature.
#[async_trait::async_trait]
impl MediaFetcher for MessengerSender {
    fn channel(&self) -> &str {
        self.channel
    }

    async fn fetch(
        &self,
        _account: &str,
        source: &str,
        max_bytes: u64,
    ) -> Result<Fetched, FetchError> {
        // Or on the configured Graph host itself, as the operator set it
        // (a stand-in over plain HTTP).
        let graph_origin: String = self
            .graph_url
            .split('/')
            .take(3)
            .collect::<Vec<_>>()
            .join("/");
        if !source.starts_with("https://") && !source.starts_with(&format!("{graph_origin}/")) {
            return Err(FetchError::Failed("not an https URL".into()));
        }
        graph::download(&self.client, source, None, max_bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_messenger_and_instagram_in_meta_s_shape() {
        let page = br#"{"object":"page","entry":[{"id":"PAGE_1","time":1458692752478,"messaging":[
            {"sender":{"id":"PSID_7"},"recipient":{"id":"PAGE_1"},"timestamp":1762902671,"message":{"mid":"m_1","text":"hello, world!"}},
            {"sender":{"id":"PSID_7"},"recipient":{"id":"PAGE_1"},"timestamp":1762902672,"message":{"mid":"m_2","attachments":[{"type":"image","payload":{"url":"https://x"}}]}},
            {"sender":{"id":"PAGE_1"},"recipient":{"id":"PSID_7"},"timestamp":1762902673,"message":{"mid":"m_3","text":"our reply","is_echo":true}},
            {"sender":{"id":"PSID_7"},"recipient":{"id":"PAGE_1"},"timestamp":1762902674,"postback":{"mid":"m_4","title":"Track my order","payload":"TRACK"}},
            {"sender":{"id":"PSID_7"},"recipient":{"id":"PAGE_1"},"delivery":{"mids":["m_out_1"],"watermark":1762902675}},
            {"sender":{"id":"PSID_7"},"recipient":{"id":"PAGE_1"},"read":{"watermark":1762902676}}
        ]}]}"#;
        let webhook = parse_webhook(page).unwrap();
        let events: Vec<_> = webhook
            .events
            .iter()
            .map(|e| (e.external_id.as_str(), e.kind, e.text.as_deref()))
            .collect();
        assert_eq!(
            events,
            vec![
                ("m_1", MessageKind::Text, Some("hello, world!")),
                ("m_2", MessageKind::Image, None),
                ("m_4", MessageKind::Interactive, Some("Track my order")),
            ]
        );
        assert_eq!(
            webhook.events[0].thread,
            ExternalThread::new(MESSENGER, "PAGE_1", "PSID_7")
        );
        assert_eq!(
            webhook.events[1].attachments,
            vec![super::super::Attachment::at(
                MessageKind::Image,
                "https://x"
            )]
        );
        assert!(webhook.events[0].attachments.is_empty());
        assert_eq!(webhook.statuses[0].provider_id, "m_out_1");
        assert_eq!(webhook.statuses[0].state, DeliveryState::Delivered);
        assert_eq!(webhook.ignored, 2, "the echo and the read watermark");

        let instagram = br#"{"object":"instagram","entry":[{"id":"IG_9","time":1,"messaging":[
            {"sender":{"id":"IGSID_3"},"recipient":{"id":"IG_9"},"timestamp":1,"message":{"mid":"ig_1","text":"hi"}}]}]}"#;
        let webhook = parse_webhook(instagram).unwrap();
        assert_eq!(
            webhook.events[0].thread,
            ExternalThread::new(INSTAGRAM, "IG_9", "IGSID_3")
        );
        assert_eq!(
            parse_webhook(br#"{"object":"user","entry":[]}"#).unwrap(),
            Webhook::default()
        );
    }
}
