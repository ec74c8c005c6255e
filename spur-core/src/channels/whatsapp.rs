//! WhatsApp Cloud API: the webhook's verification handshake and signature,
//! its payload read into [`InboundEvent`]s and [`StatusUpdate`]s, and the
//! [`ChannelSender`] that posts replies to `/{phone-number-id}/messages`.
//!
//! Shapes as Meta documents them: a webhook POST is
//! `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":..},"contacts":[..],"messages":[..],"statuses":[..]}}]}]}`.

use std::collections::HashMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{
    ChannelSender, DeliveryState, ExternalThread, InboundEvent, MessageKind, OutboxItem, SendError,
    StatusUpdate,
};

/// [`ExternalThread::channel`] of WhatsApp conversations.
pub const CHANNEL: &str = "whatsapp";

/// Meta's Graph API, the version this client was written against.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com/v23.0";

/// The longest text message WhatsApp takes.
const MAX_TEXT_CHARS: usize = 4096;

/// Longer challenges than this are not echoed (Meta's are short numbers).
const MAX_CHALLENGE_BYTES: usize = 256;

/// The subscription handshake (`GET ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..`):
/// the challenge to echo when the token is the operator's, else `None`.
pub fn subscription_challenge<'a>(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
    verify_token: &str,
) -> Option<&'a str> {
    let token_matches = token.is_some_and(|token| {
        // Both hashed first: the comparison's time says nothing about the token.
        !verify_token.is_empty() && Sha256::digest(token) == Sha256::digest(verify_token)
    });
    let challenge = challenge.filter(|c| !c.is_empty() && c.len() <= MAX_CHALLENGE_BYTES)?;
    (mode == Some("subscribe") && token_matches).then_some(challenge)
}

/// Whether `header` (`X-Hub-Signature-256: sha256=<hex>`) is the HMAC-SHA256
/// of the raw `body` under the app secret (compared in constant time).
pub fn signature_valid(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_digest) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    if app_secret.is_empty() {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// What one webhook delivery carried.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Webhook {
    pub events: Vec<InboundEvent>,
    pub statuses: Vec<StatusUpdate>,
    /// Reactions and other notifications not answered (counted for logs).
    pub ignored: usize,
}

/// Reads a webhook body. Unknown fields and kinds are tolerated (Meta adds
/// them over time); only a body that is not the documented JSON is an error.
pub fn parse_webhook(body: &[u8]) -> Result<Webhook, serde_json::Error> {
    let payload: Payload = serde_json::from_slice(body)?;
    let mut webhook = Webhook::default();
    for change in payload.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            webhook.ignored += 1;
            continue;
        }
        let value = change.value;
        let account = value.metadata.phone_number_id;
        let names: HashMap<String, String> = value
            .contacts
            .into_iter()
            .filter_map(|c| Some((c.wa_id?, c.profile?.name?)))
            .collect();
        for message in value.messages {
            let Some((kind, text)) = message.content() else {
                webhook.ignored += 1;
                continue;
            };
            webhook.events.push(InboundEvent {
                thread: ExternalThread::new(CHANNEL, account.clone(), message.from.clone()),
                external_id: message.id,
                sender_name: names.get(&message.from).cloned(),
                kind,
                text,
            });
        }
        for status in value.statuses {
            let state = match status.status.as_str() {
                "sent" => DeliveryState::Sent,
                "delivered" => DeliveryState::Delivered,
                "read" => DeliveryState::Read,
                "failed" => DeliveryState::Failed,
                _ => {
                    webhook.ignored += 1;
                    continue;
                }
            };
            let error = status.errors.first().map(|e| {
                let words = e.title.as_deref().or(e.message.as_deref()).unwrap_or("");
                format!("{}: {words}", e.code.unwrap_or_default())
            });
            webhook.statuses.push(StatusUpdate {
                provider_id: status.id,
                state,
                error,
            });
        }
    }
    Ok(webhook)
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Value,
}

#[derive(Default, Deserialize)]
struct Value {
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<WaMessage>,
    #[serde(default)]
    statuses: Vec<Status>,
}

#[derive(Default, Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: String,
}

#[derive(Deserialize)]
struct Contact {
    wa_id: Option<String>,
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    name: Option<String>,
}

#[derive(Deserialize)]
struct WaMessage {
    from: String,
    id: String,
    #[serde(rename = "type", default)]
    kind: String,
    text: Option<Body>,
    image: Option<Media>,
    video: Option<Media>,
    document: Option<Media>,
    interactive: Option<Interactive>,
    button: Option<Button>,
}

#[derive(Deserialize)]
struct Body {
    body: Option<String>,
}

#[derive(Deserialize)]
struct Media {
    caption: Option<String>,
}

#[derive(Deserialize)]
struct Interactive {
    button_reply: Option<Titled>,
    list_reply: Option<Titled>,
}

#[derive(Deserialize)]
struct Titled {
    title: Option<String>,
}

#[derive(Deserialize)]
struct Button {
    text: Option<String>,
}

impl WaMessage {
    /// The kind and the readable text; `None` for what is not a message
    /// to answer (a reaction to one of ours).
    fn content(&self) -> Option<(MessageKind, Option<String>)> {
        let caption = |media: &Option<Media>| media.as_ref().and_then(|m| m.caption.clone());
        Some(match self.kind.as_str() {
            "text" => (
                MessageKind::Text,
                self.text.as_ref().and_then(|t| t.body.clone()),
            ),
            "image" => (MessageKind::Image, caption(&self.image)),
            "video" => (MessageKind::Video, caption(&self.video)),
            "document" => (MessageKind::Document, caption(&self.document)),
            "audio" => (MessageKind::Audio, None),
            "sticker" => (MessageKind::Sticker, None),
            "location" => (MessageKind::Location, None),
            "interactive" => (
                MessageKind::Interactive,
                self.interactive.as_ref().and_then(|i| {
                    i.button_reply
                        .as_ref()
                        .or(i.list_reply.as_ref())
                        .and_then(|t| t.title.clone())
                }),
            ),
            "button" => (
                MessageKind::Interactive,
                self.button.as_ref().and_then(|b| b.text.clone()),
            ),
            "reaction" => return None,
            _ => (MessageKind::Unsupported, None),
        })
    }
}

#[derive(Deserialize)]
struct Status {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    errors: Vec<GraphErrorBody>,
}

/// One of the shop's WhatsApp numbers.
#[derive(Clone)]
pub struct WhatsAppAccount {
    pub phone_number_id: String,
    pub access_token: String,
}

impl std::fmt::Debug for WhatsAppAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppAccount")
            .field("phone_number_id", &self.phone_number_id)
            .finish_non_exhaustive()
    }
}

/// Sends replies through the Cloud API, from the number each thread is on.
pub struct WhatsAppSender {
    graph_url: String,
    accounts: HashMap<String, WhatsAppAccount>,
    client: reqwest::Client,
}

impl WhatsAppSender {
    /// `graph_url`: [`DEFAULT_GRAPH_URL`], or a stand-in in tests.
    pub fn new(
        graph_url: &str,
        accounts: Vec<WhatsAppAccount>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            graph_url: graph_url.trim_end_matches('/').to_string(),
            accounts: accounts
                .into_iter()
                .map(|a| (a.phone_number_id.clone(), a))
                .collect(),
            client,
        })
    }
}

#[derive(Deserialize)]
struct SendResponse {
    #[serde(default)]
    messages: Vec<SentId>,
}

#[derive(Deserialize)]
struct SentId {
    id: String,
}

#[derive(Deserialize)]
struct GraphError {
    error: GraphErrorBody,
}

#[derive(Deserialize)]
struct GraphErrorBody {
    code: Option<i64>,
    title: Option<String>,
    message: Option<String>,
}

/// Graph error codes that mean "not now": throttling of the app, the
/// account or the pair, and temporary errors.
const RETRY_CODES: [i64; 7] = [1, 2, 4, 80007, 130429, 131000, 131056];
/// The customer's last message is more than 24 hours old.
const OUTSIDE_WINDOW: i64 = 131047;

#[async_trait::async_trait]
impl ChannelSender for WhatsAppSender {
    fn channel(&self) -> &str {
        CHANNEL
    }

    async fn send(&self, item: &OutboxItem) -> Result<String, SendError> {
        let account = self.accounts.get(&item.thread.account).ok_or_else(|| {
            SendError::Permanent(format!(
                "no access token for WhatsApp number {}",
                item.thread.account
            ))
        })?;
        let body: String = item.text.chars().take(MAX_TEXT_CHARS).collect();
        let request = serde_json::json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": item.thread.thread,
            "type": "text",
            "text": { "preview_url": false, "body": body },
            "biz_opaque_callback_data": item.message_id.to_string(),
        });
        let url = format!("{}/{}/messages", self.graph_url, account.phone_number_id);
        let response = self
            .client
            .post(&url)
            .bearer_auth(&account.access_token)
            .json(&request)
            .send()
            .await
            .map_err(|e| SendError::Retry(format!("WhatsApp unreachable: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| SendError::Retry(format!("WhatsApp answer cut short: {e}")))?;
        if status.is_success() {
            let sent: SendResponse = serde_json::from_str(&text)
                .map_err(|e| SendError::Retry(format!("WhatsApp answer unreadable: {e}")))?;
            return sent
                .messages
                .into_iter()
                .next()
                .map(|m| m.id)
                .ok_or_else(|| SendError::Retry("WhatsApp answered without a message id".into()));
        }
        let error = serde_json::from_str::<GraphError>(&text)
            .ok()
            .map(|e| e.error);
        let code = error.as_ref().and_then(|e| e.code);
        let words = error
            .as_ref()
            .and_then(|e| e.message.clone().or_else(|| e.title.clone()))
            .unwrap_or_else(|| format!("HTTP {status}"));
        let described = format!("{}: {words}", code.unwrap_or(i64::from(status.as_u16())));
        Err(match code {
            Some(OUTSIDE_WINDOW) => SendError::OutsideWindow(described),
            Some(code) if RETRY_CODES.contains(&code) => SendError::Retry(described),
            _ if status.is_server_error() || status.as_u16() == 429 => SendError::Retry(described),
            _ => SendError::Permanent(described),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}},{"from":"16505551234","id":"wamid.B","timestamp":"1749416384","type":"image","image":{"caption":"this one","mime_type":"image/jpeg","sha256":"x","id":"1003383421387256"}},{"from":"16505551234","id":"wamid.C","timestamp":"1749416385","type":"audio","audio":{"mime_type":"audio/ogg; codecs=opus","id":"1"}},{"from":"16505551234","id":"wamid.D","timestamp":"1749416386","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"yes","title":"Yes"}}},{"from":"16505551234","id":"wamid.E","timestamp":"1749416387","type":"reaction","reaction":{"message_id":"wamid.X","emoji":"\ud83d\udc4d"}},{"from":"16505551234","id":"wamid.F","timestamp":"1749416388","type":"unsupported","errors":[{"code":131051,"title":"Message type unknown"}]}],"statuses":[{"id":"wamid.OUT","status":"failed","timestamp":"1749416390","recipient_id":"16505551234","errors":[{"code":131047,"title":"Re-engagement message"}]},{"id":"wamid.OUT2","status":"read","timestamp":"1749416391","recipient_id":"16505551234"}]},"field":"messages"}]}]}"#;

    #[test]
    fn reads_messages_and_statuses_in_meta_s_shape() {
        let webhook = parse_webhook(BODY.as_bytes()).unwrap();
        let kinds: Vec<_> = webhook
            .events
            .iter()
            .map(|e| (e.kind, e.text.as_deref()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (MessageKind::Text, Some("Does it come in another color?")),
                (MessageKind::Image, Some("this one")),
                (MessageKind::Audio, None),
                (MessageKind::Interactive, Some("Yes")),
                (MessageKind::Unsupported, None),
            ]
        );
        let first = &webhook.events[0];
        assert_eq!(
            first.thread,
            ExternalThread::new("whatsapp", "106540352242922", "16505551234")
        );
        assert_eq!(first.sender_name.as_deref(), Some("Sheena Nelson"));
        assert!(first.external_id.starts_with("wamid.HBgL"));
        assert_eq!(webhook.ignored, 1, "the reaction");
        assert_eq!(
            webhook.statuses,
            vec![
                StatusUpdate {
                    provider_id: "wamid.OUT".into(),
                    state: DeliveryState::Failed,
                    error: Some("131047: Re-engagement message".into()),
                },
                StatusUpdate {
                    provider_id: "wamid.OUT2".into(),
                    state: DeliveryState::Read,
                    error: None,
                },
            ]
        );
        assert!(parse_webhook(b"not json").is_err());
        assert_eq!(parse_webhook(b"{}").unwrap(), Webhook::default());
    }

    #[test]
    fn signatures_are_checked_against_the_raw_body() {
        let secret = "app-secret";
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(BODY.as_bytes());
        let header = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signature_valid(secret, BODY.as_bytes(), Some(&header)));
        assert!(!signature_valid(secret, BODY.as_bytes(), None));
        assert!(!signature_valid("other", BODY.as_bytes(), Some(&header)));
        assert!(!signature_valid(secret, b"{}", Some(&header)));
        assert!(!signature_valid(secret, BODY.as_bytes(), Some("sha256=zz")));
        assert!(!signature_valid(
            secret,
            BODY.as_bytes(),
            Some(&header[7..])
        ));
        assert!(!signature_valid("", BODY.as_bytes(), Some(&header)));
    }

    #[test]
    fn the_handshake_echoes_only_for_the_operators_token() {
        let echo = |mode, token| subscription_challenge(mode, token, Some("1158201444"), "s3cret");
        assert_eq!(echo(Some("subscribe"), Some("s3cret")), Some("1158201444"));
        assert_eq!(echo(Some("subscribe"), Some("wrong")), None);
        assert_eq!(echo(Some("subscribe"), None), None);
        assert_eq!(echo(Some("unsubscribe"), Some("s3cret")), None);
        assert_eq!(
            subscription_challenge(Some("subscribe"), Some(""), Some("1"), ""),
            None,
            "no token configured: no handshake"
        );
    }
}
