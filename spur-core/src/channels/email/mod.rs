//! Email: a raw MIME message (as inbound-mail services post it, or as an
//! IMAP poller fetches it) read into an [`InboundEvent`], and the
//! [`EmailSender`] that answers over SMTP in the same thread.
//!
//! A conversation is one email thread of one customer: its
//! [`ExternalThread::thread`] is the customer's address and the thread's
//! root `Message-ID` (the first of `References`, which every client keeps
//! when it shortens the list). Our replies' own `Message-ID`s carry that
//! root, so a client that answers with `In-Reply-To` alone still lands in
//! the thread. The sender's address is part of the thread: nobody joins
//! another customer's conversation by quoting its ids.

mod reply;
mod sender;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

pub use reply::visible_reply;
pub use sender::{EmailSender, SmtpError};

use super::media::File;
use super::{Attachment, ExternalThread, InboundEvent, MessageKind};
use crate::conversation::MessageId;

/// [`ExternalThread::channel`] of email conversations.
pub const CHANNEL: &str = "email";

/// The most of an email's new text the assistant reads: a long email is
/// cut rather than refused (a refused email would go unanswered).
pub const MAX_TEXT_CHARS: usize = 4_000;

/// Roots longer than this are not ids but damage: the message starts its own thread.
const MAX_ID_CHARS: usize = 250;

/// One of the shop's mailboxes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAccount {
    /// The address customers write to (`support@shop.example`).
    pub address: String,
    /// The name replies come from ("Acme Support").
    pub name: Option<String>,
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    #[error("the body is not a MIME message")]
    NotMime,
    #[error("the message has no usable From address")]
    NoSender,
}

/// Why a readable message is not answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// Addressed to none of the shop's mailboxes.
    NotOurs,
    /// An out-of-office reply, a bounce or list mail (RFC 3834): answering
    /// it would start a loop between two robots.
    Automatic,
    /// Sent by one of the shop's own mailboxes.
    FromUs,
}

impl Ignored {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotOurs => "not_ours",
            Self::Automatic => "automatic",
            Self::FromUs => "from_us",
        }
    }
}

/// An email thread: the customer and the thread's root `Message-ID`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailThread {
    pub customer: String,
    pub root: String,
}

impl EmailThread {
    /// As [`ExternalThread::thread`]: neither part holds whitespace.
    pub fn encode(&self) -> String {
        format!("{} {}", self.customer, self.root)
    }

    pub fn decode(thread: &str) -> Option<Self> {
        let (customer, root) = thread.split_once(' ')?;
        (!customer.is_empty() && !root.is_empty()).then(|| Self {
            customer: customer.into(),
            root: root.into(),
        })
    }
}

/// The `Message-ID` (without angle brackets) of our message `id` in the
/// thread rooted at `root`, from `domain`. The same for every try, so a
/// message sent twice after a crash is one message to mail clients.
pub fn reply_message_id(id: MessageId, root: &str, domain: &str) -> String {
    format!(
        "spur.{}.{}@{domain}",
        id.0.simple(),
        URL_SAFE_NO_PAD.encode(root)
    )
}

/// The root a [`reply_message_id`] carries.
fn root_of_reply(id: &str) -> Option<String> {
    let (local, _) = id.rsplit_once('@')?;
    let rest = local.strip_prefix("spur.")?;
    let (_, encoded) = rest.split_once('.')?;
    let root = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    String::from_utf8(root).ok().filter(|r| usable_id(r))
}

fn usable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_CHARS && !id.chars().any(unprintable)
}

/// Whitespace splits a thread's parts; NUL and other controls cannot be stored.
fn unprintable(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

/// A header's words on one line: a subject or a name goes back into headers.
fn one_line(text: &str) -> String {
    printable(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` without control characters other than line breaks and tabs.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

/// An email, read.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Message(Box<Mail>),
    Ignored(Ignored),
}

/// An email to answer: the message, and its attached files as they came
/// (kept by [`crate::SupportEngine::keep_files`] before it is stored).
#[derive(Debug, PartialEq)]
pub struct Mail {
    pub event: InboundEvent,
    pub files: Vec<File>,
    /// A reply by its subject alone (`Re: ...` without `In-Reply-To` or
    /// `References`): the thread is found by the sender and the subject
    /// ([`crate::SupportEngine::prepare_mail`]).
    pub answers_subject: bool,
}

/// The most files read from one email.
const MAX_FILES: usize = 10;

/// Reads a raw MIME message sent to one of `mailboxes`.
pub fn parse_mime(raw: &[u8], mailboxes: &[EmailAccount]) -> Result<Parsed, EmailError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(EmailError::NotMime)?;
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(|a| a.trim().to_lowercase())
        .filter(|a| a.contains('@') && !a.chars().any(unprintable))
        .ok_or(EmailError::NoSender)?;
    if mailboxes
        .iter()
        .any(|m| m.address.eq_ignore_ascii_case(&from))
    {
        return Ok(Parsed::Ignored(Ignored::FromUs));
    }
    let Some(account) = addressed_mailbox(&message, mailboxes) else {
        return Ok(Parsed::Ignored(Ignored::NotOurs));
    };
    if is_automatic(&message, &from) {
        return Ok(Parsed::Ignored(Ignored::Automatic));
    }
    let own_id = message
        .message_id()
        .map(str::trim)
        .filter(|id| usable_id(id));
    let external_id = match own_id {
        Some(id) => id.to_string(),
        // No id to know a redelivery by: the bytes are.
        None => format!(
            "sha:{}",
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, raw).simple()
        ),
    };
    let replying_to = thread_root(&message);
    let root = replying_to.clone().unwrap_or_else(|| external_id.clone());
    let subject = message
        .subject()
        .map(|s| base_subject(&one_line(s)))
        .filter(|s| !s.is_empty());
    // No threading headers, but a reply's subject: a client that dropped them.
    let answers_subject = replying_to.is_none()
        && subject.is_some()
        && message.subject().is_some_and(is_reply_subject);
    let mut text = message
        .body_text(0)
        .map(|body| visible_reply(&printable(&body)))
        .unwrap_or_default();
    // A new thread's subject is often the question itself.
    if replying_to.is_none()
        && !answers_subject
        && let Some(subject) = &subject
        && !text.to_lowercase().contains(&subject.to_lowercase())
    {
        text = if text.is_empty() {
            subject.clone()
        } else {
            format!("{subject}\n\n{text}")
        };
    }
    let text = truncate_chars(&text, MAX_TEXT_CHARS);
    let files: Vec<File> = message
        .attachments()
        .take(MAX_FILES)
        .map(|part| {
            let mime = part.content_type().map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{sub}", ct.ctype()).to_ascii_lowercase(),
                None => ct.ctype().to_ascii_lowercase(),
            });
            let kind = match mime.as_deref().and_then(|m| m.split('/').next()) {
                Some("image") => MessageKind::Image,
                Some("audio") => MessageKind::Audio,
                Some("video") => MessageKind::Video,
                _ => MessageKind::Document,
            };
            File {
                attachment: Attachment {
                    kind,
                    mime,
                    name: part
                        .attachment_name()
                        .map(|n| truncate_chars(&one_line(n), 200))
                        .filter(|n| !n.is_empty()),
                    ..Attachment::default()
                },
                bytes: part.contents().to_vec(),
            }
        })
        .collect();
    let kind = files
        .first()
        .map_or(MessageKind::Text, |f| f.attachment.kind);
    let sender_name = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.name())
        .map(one_line)
        .filter(|n| !n.is_empty());
    let thread = EmailThread {
        customer: from.clone(),
        root,
    };
    let event = InboundEvent {
        thread: ExternalThread::new(CHANNEL, account.address.to_lowercase(), thread.encode()),
        external_id,
        sender_name,
        sender_email: Some(from),
        kind,
        text: (!text.is_empty()).then_some(text),
        subject,
        attachments: Vec::new(),
    };
    Ok(Parsed::Message(Box::new(Mail {
        event,
        files,
        answers_subject,
    })))
}

/// The mailbox the message was sent to: named in `To`, `Cc` or the
/// headers forwarders add; with one mailbox, that one (a Bcc'd copy names none).
fn addressed_mailbox<'a>(
    message: &mail_parser::Message<'_>,
    mailboxes: &'a [EmailAccount],
) -> Option<&'a EmailAccount> {
    let mut named: Vec<String> = [message.to(), message.cc()]
        .into_iter()
        .flatten()
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address())
        .map(str::to_lowercase)
        .collect();
    for header in [
        "Delivered-To",
        "X-Original-To",
        "X-Forwarded-To",
        "Envelope-To",
    ] {
        if let Some(raw) = message.header_raw(header) {
            named.push(raw.trim().trim_matches(['<', '>']).to_lowercase());
        }
    }
    mailboxes
        .iter()
        .find(|m| named.iter().any(|n| m.address.eq_ignore_ascii_case(n)))
        .or(match mailboxes {
            [only] => Some(only),
            _ => None,
        })
}

/// RFC 3834's marks of mail no person wrote, and the usual bounce senders.
fn is_automatic(message: &mail_parser::Message<'_>, from: &str) -> bool {
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    let auto_submitted = header("Auto-Submitted").is_some_and(|v| v != "no");
    let bulk = header("Precedence")
        .is_some_and(|v| matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply"));
    let responder = [
        "X-Autoreply",
        "X-Autorespond",
        "List-Id",
        "List-Unsubscribe",
    ]
    .iter()
    .any(|h| message.header_raw(*h).is_some());
    let null_sender = header("Return-Path").is_some_and(|v| v == "<>");
    let local = from.split('@').next().unwrap_or_default();
    let daemon = matches!(
        local,
        "mailer-daemon" | "postmaster" | "noreply" | "no-reply"
    );
    auto_submitted || bulk || responder || null_sender || daemon
}

/// The root of the thread the message answers, if it answers one.
fn thread_root(message: &mail_parser::Message<'_>) -> Option<String> {
    let references = ids(message.references());
    let replying = ids(message.in_reply_to());
    // Our own ids name the root they answer, whatever the client kept.
    if let Some(root) = references
        .iter()
        .chain(&replying)
        .find_map(|id| root_of_reply(id))
    {
        return Some(root);
    }
    references.into_iter().chain(replying).next()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    value
        .as_text_list()
        .unwrap_or_default()
        .iter()
        .map(|id| id.trim().trim_matches(['<', '>']).to_string())
        .filter(|id| usable_id(id))
        .collect()
}

/// A reply's subject prefixes: English, German, Scandinavian, Dutch,
/// Finnish, Italian, Polish.
const REPLY_PREFIXES: [&str; 7] = ["re:", "aw:", "sv:", "antw:", "vs:", "r:", "odp:"];
/// A forward's.
const FORWARD_PREFIXES: [&str; 5] = ["fwd:", "fw:", "wg:", "tr:", "rv:"];

/// The one of `prefixes` `text` starts with (ASCII case ignored).
fn prefix_of<'a>(text: &str, prefixes: &[&'a str]) -> Option<&'a str> {
    prefixes.iter().copied().find(|p| {
        text.get(..p.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(p))
    })
}

/// Whether `subject` starts as a reply's does; a forward's does not count.
fn is_reply_subject(subject: &str) -> bool {
    prefix_of(subject.trim_start(), &REPLY_PREFIXES).is_some()
}

/// The subject without its reply and forward prefixes (`Re:`, `AW:`, `Fwd:`...).
pub fn base_subject(subject: &str) -> String {
    let mut rest = subject.trim();
    while let Some(prefix) =
        prefix_of(rest, &REPLY_PREFIXES).or_else(|| prefix_of(rest, &FORWARD_PREFIXES))
    {
        rest = rest[prefix.len()..].trim_start();
    }
    rest.trim().to_string()
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests;
