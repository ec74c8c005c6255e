//! Replies by email over SMTP (lettre), in the customer's thread: `Re:`
//! the thread's subject, `In-Reply-To` and `References` naming its root,
//! and a `Message-ID` that is the same on every try of one message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{CHANNEL, EmailAccount, EmailThread, reply_message_id};
use crate::channels::{ChannelSender, OutboxItem, SUBJECT_KEY, SendError};
use crate::conversation::Sender;
use crate::store::ConversationStore;

/// Why the SMTP transport could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("SMTP URL: {0}")]
pub struct SmtpError(String);

/// Sends email replies through one SMTP server, from the mailbox each
/// thread was written to.
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    accounts: HashMap<String, EmailAccount>,
    /// Where the thread's subject is read from.
    store: Arc<dyn ConversationStore>,
}

impl EmailSender {
    /// `smtp_url` as lettre reads it: `smtp://user:pass@host:587?tls=required`,
    /// `smtps://host:465`, or `smtp://127.0.0.1:2525` (plain, for a local relay).
    pub fn new(
        smtp_url: &str,
        accounts: Vec<EmailAccount>,
        store: Arc<dyn ConversationStore>,
        timeout: Duration,
    ) -> Result<Self, SmtpError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| SmtpError(e.to_string()))?
            .timeout(Some(timeout))
            .build();
        Ok(Self {
            transport,
            accounts: accounts
                .into_iter()
                .map(|a| (a.address.to_lowercase(), a))
                .collect(),
            store,
        })
    }

    async fn subject(&self, item: &OutboxItem) -> Result<String, SendError> {
        let conversation = self
            .store
            .conversation(item.conversation_id)
            .await
            .map_err(|e| SendError::Retry(format!("reading the conversation: {e}")))?;
        let subject = conversation
            .as_ref()
            .and_then(|c| c.metadata[SUBJECT_KEY].as_str())
            .map(super::base_subject)
            .filter(|s| !s.is_empty());
        Ok(match subject {
            Some(subject) => format!("Re: {subject}"),
            None => "Re: your message".to_string(),
        })
    }

    fn message(
        &self,
        item: &OutboxItem,
        account: &EmailAccount,
        thread: &EmailThread,
        subject: String,
    ) -> Result<(Message, String), SendError> {
        let mailbox = |name: Option<String>, address: &str| {
            let address = address
                .parse()
                .map_err(|e| SendError::Permanent(format!("address {address}: {e}")))?;
            Ok::<_, SendError>(Mailbox::new(name, address))
        };
        let domain = account
            .address
            .rsplit_once('@')
            .map_or("spur.invalid", |(_, d)| d);
        let id = reply_message_id(item.message_id, &thread.root, domain);
        let root = format!("<{}>", thread.root);
        let mut builder = Message::builder()
            .from(mailbox(account.name.clone(), &account.address)?)
            .to(mailbox(None, &thread.customer)?)
            .subject(subject)
            .message_id(Some(format!("<{id}>")))
            .in_reply_to(root.clone())
            .references(root)
            .header(ContentType::TEXT_PLAIN);
        // RFC 3834: the assistant's answers are automatic, so the
        // customer's own auto-responder does not answer them back.
        if matches!(item.sender, Sender::Assistant | Sender::System) {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-replied".into(),
            ));
        }
        let message = builder
            .body(item.text.clone())
            .map_err(|e| SendError::Permanent(format!("building the email: {e}")))?;
        Ok((message, id))
    }
}

#[async_trait::async_trait]
impl ChannelSender for EmailSender {
    fn channel(&self) -> &str {
        CHANNEL
    }

    async fn send(&self, item: &OutboxItem) -> Result<String, SendError> {
        let account = self
            .accounts
            .get(&item.thread.account.to_lowercase())
            .ok_or_else(|| {
                SendError::Permanent(format!("no mailbox {} configured", item.thread.account))
            })?;
        let thread = EmailThread::decode(&item.thread.thread).ok_or_else(|| {
            SendError::Permanent(format!("not an email thread: {}", item.thread.thread))
        })?;
        let subject = self.subject(item).await?;
        let (message, id) = self.message(item, account, &thread, subject)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(id),
            // A 5xx answer (no such mailbox, relaying denied) will not change.
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::Retry(format!("SMTP: {e}"))),
        }
    }
}
