//! WhatsApp Cloud API: the webhook's payload read into [`InboundEvent`]s and [`StatusUpdate`]s, and the
//! [`ChannelSender`] that posts replies to `/{phone-number-id}/messages`.
//!
//! Shapes as Meta documents them: a webhook POST is
//! `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":..},"contacts":[..],"messages":[..],"statuses":[..]}}]}]}`.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::graph::{self, GraphErrorBody, Webhook};
use super::media::{FetchError, Fetched, MediaFetcher};
use super::{
    Attachment, ChannelSender, DeliveryState, ExternalThread, InboundEvent, MessageKind,
    OutboxItem, SendError, StatusUpdate,
};

/// [`ExternalThread::channel`] of WhatsApp conversations.
pub const CHANNEL: &str = "whatsapp";

/// The longest text message WhatsApp takes.
const MAX_TEXT_CHARS: usize = 4096;

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
            let attachments = message.attachment(kind).into_iter().collect();
            webhook.events.push(InboundEvent {
                thread: ExternalThread::new(CHANNEL, account.clone(), message.from.clone()),
                external_id: message.id,
                sender_name: names.get(&message.from).cloned(),
                kind,
                text,
                sender_email: None,
                subject: None,
                attachments,
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
    image: Option<WaMedia>,
    video: Option<WaMedia>,
    document: Option<WaMedia>,
    audio: Option<WaMedia>,
    sticker: Option<WaMedia>,
    interactive: Option<Interactive>,
    button: Option<Button>,
}

#[derive(Deserialize)]
struct Body {
    body: Option<String>,
}

/// A photo, video, document, voice note or sticker: WhatsApp sends its id,
/// and the file is fetched by it ([`WhatsAppSender`]'s [`MediaFetcher`]).
#[derive(Deserialize)]
struct WaMedia {
    id: Option<String>,
    caption: Option<String>,
    mime_type: Option<String>,
    filename: Option<String>,
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
        let caption = |media: &Option<WaMedia>| media.as_ref().and_then(|m| m.caption.clone());
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

impl WaMessage {
    /// The file a media message carries, to fetch by its id.
    fn attachment(&self, kind: MessageKind) -> Option<Attachment> {
        let media = match kind {
            MessageKind::Image => &self.image,
            MessageKind::Video => &self.video,
            MessageKind::Document => &self.document,
            MessageKind::Audio => &self.audio,
            MessageKind::Sticker => &self.sticker,
            _ => return None,
        };
        let media = media.as_ref()?;
        Some(Attachment {
            mime: media.mime_type.clone(),
            name: media.filename.clone(),
            ..Attachment::at(kind, media.id.clone()?)
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
    /// What replies go out as once the 24-hour window has closed.
    pub template: Option<Template>,
}

impl std::fmt::Debug for WhatsAppAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppAccount")
            .field("phone_number_id", &self.phone_number_id)
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

/// An approved message template whose body has one parameter (`{{1}}`),
/// which carries the reply: outside the 24-hour customer-service window
/// WhatsApp takes nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    /// Its language code as approved (`en`, `en_US`, `de`).
    pub language: String,
}

/// The longest reply a template parameter carries (a template's body is at
/// most 1,024 characters, its own words included).
const MAX_TEMPLATE_PARAMETER_CHARS: usize = 900;

/// The reply as `template`, its body's one parameter.
fn template_request(item: &OutboxItem, template: &Template) -> serde_json::Value {
    serde_json::json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": item.thread.thread,
        "type": "template",
        "template": {
            "name": template.name,
            "language": { "code": template.language },
            "components": [{
                "type": "body",
                "parameters": [{ "type": "text", "text": template_parameter(&item.text) }],
            }],
        },
        "biz_opaque_callback_data": item.message_id.to_string(),
    })
}

/// A reply as a template parameter: WhatsApp refuses parameters holding
/// line breaks, tabs or more than four spaces in a row (error 132018).
fn template_parameter(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    graph::clipped(&flat, MAX_TEMPLATE_PARAMETER_CHARS)
}

/// Sends replies through the Cloud API, from the number each thread is on.
pub struct WhatsAppSender {
    graph_url: String,
    accounts: HashMap<String, WhatsAppAccount>,
    client: reqwest::Client,
}

impl WhatsAppSender {
    /// `graph_url`: [`graph::DEFAULT_GRAPH_URL`], or a stand-in in tests.
    pub fn new(
        graph_url: &str,
        accounts: Vec<WhatsAppAccount>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = graph::client(timeout)?;
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

/// WhatsApp's own "not now" codes: throttling of the account or the pair.
const RETRY_CODES: [i64; 4] = [80007, 130429, 131000, 131056];
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
        let request = serde_json::json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": item.thread.thread,
            "type": "text",
            "text": { "preview_url": false, "body": graph::clipped(&item.text, MAX_TEXT_CHARS) },
            "biz_opaque_callback_data": item.message_id.to_string(),
        });
        match self.post(account, &request).await {
            // The window has closed: the operator's template carries the reply.
            Err(SendError::OutsideWindow(why)) => match &account.template {
                Some(template) => self.post(account, &template_request(item, template)).await,
                None => Err(SendError::OutsideWindow(why)),
            },
            sent => sent,
        }
    }
}

impl WhatsAppSender {
    /// Posts one message; the id WhatsApp gave it.
    async fn post(
        &self,
        account: &WhatsAppAccount,
        request: &serde_json::Value,
    ) -> Result<String, SendError> {
        let url = format!("{}/{}/messages", self.graph_url, account.phone_number_id);
        let answer = graph::post(
            &self.client,
            &url,
            &account.access_token,
            request,
            |code| RETRY_CODES.contains(&code),
            |code, _| code == OUTSIDE_WINDOW,
        )
        .await?;
        let sent: SendResponse = serde_json::from_str(&answer)
            .map_err(|e| SendError::Retry(format!("WhatsApp answer unreadable: {e}")))?;
        sent.messages
            .into_iter()
            .next()
            .map(|m| m.id)
            .ok_or_else(|| SendError::Retry("WhatsApp answered without a message id".into()))
    }
}

/// `GET /{media-id}`: where the file is, for a few minutes.
#[derive(Deserialize)]
struct MediaUrl {
    url: String,
    mime_type: Option<String>,
}

/// A media id is fetched in two steps, both with the number's token: its
/// URL from the Graph API, then the file from that URL.
#[async_trait::async_trait]
impl MediaFetcher for WhatsAppSender {
    fn channel(&self) -> &str {
        CHANNEL
    }

    async fn fetch(
        &self,
        account: &str,
        source: &str,
        max_bytes: u64,
    ) -> Result<Fetched, FetchError> {
        let token = &self
            .accounts
            .get(account)
            .ok_or_else(|| {
                FetchError::Failed(format!("no access token for WhatsApp number {account}"))
            })?
            .access_token;
        // A media id is digits: nothing else goes into the Graph URL's path.
        if source.is_empty() || !source.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FetchError::Failed("not a WhatsApp media id".into()));
        }
        let url = format!("{}/{source}?phone_number_id={account}", self.graph_url);
        let response = self
            .client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| FetchError::Failed(format!("Graph API unreachable: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Failed(format!(
                "Graph API HTTP {}",
                status.as_u16()
            )));
        }
        let found: MediaUrl = response
            .json()
            .await
            .map_err(|e| FetchError::Failed(format!("Graph API answer unreadable: {e}")))?;
        let mut fetched = graph::download(&self.client, &found.url, Some(token), max_bytes).await?;
        fetched.mime = found.mime_type.or(fetched.mime);
        Ok(fetched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_parameter_is_one_clipped_line() {
        let reply = "Yes, we ship to India.\n\nDelivery takes\t5     days.";
        assert_eq!(
            template_parameter(reply),
            "Yes, we ship to India. Delivery takes 5 days."
        );
        let long = template_parameter(&"word ".repeat(1_000));
        assert_eq!(long.chars().count(), MAX_TEMPLATE_PARAMETER_CHARS);
    }

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
        let photo = &webhook.events[1].attachments;
        assert_eq!(
            photo,
            &vec![Attachment {
                mime: Some("image/jpeg".into()),
                ..Attachment::at(MessageKind::Image, "1003383421387256")
            }]
        );
        assert_eq!(
            webhook.events[2].attachments[0].source.as_deref(),
            Some("1")
        );
        assert!(webhook.events[0].attachments.is_empty());
        assert!(webhook.events[3].attachments.is_empty());
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
}
