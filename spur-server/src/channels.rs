//! Other channels in the server: the outbox's deliverer (woken by every
//! reply the engine stores, on any instance when the event bus is shared,
//! and polling for retries falling due) and the webhooks' secrets.

use std::sync::Arc;

use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use spur_core::SupportEngine;
use spur_core::blobs::LocalBlobStore;
use spur_core::channels::delivery::{Deliverer, DeliveryPolicy};
use spur_core::channels::email::{EmailAccount, EmailSender};
use spur_core::channels::media::{Media, MediaLimits};
use spur_core::channels::messenger::{INSTAGRAM, MESSENGER, MessengerSender};
use spur_core::channels::whatsapp::WhatsAppSender;
use spur_core::channels::{ChannelSender, OutboxStore};
use spur_core::clock::Clock;
use spur_core::conversation::Sender;
use spur_core::events::{EngineEvent, EventBus};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{ConfigError, Settings};

/// Fetches and keeps the files customers send, when a channel that
/// carries files is configured: WhatsApp media by id, Messenger and
/// Instagram files by URL, email attachments as they come.
pub fn media(settings: &Settings) -> Result<Option<Media>, ConfigError> {
    if settings.whatsapp.is_none() && settings.meta.is_none() && settings.email.is_none() {
        return Ok(None);
    }
    let blobs = Arc::new(LocalBlobStore::new(&settings.files_dir));
    let mut media = Media::new(blobs).limits(MediaLimits {
        max_bytes: settings.files_max_bytes,
        ..MediaLimits::default()
    });
    if let Some(whatsapp) = &settings.whatsapp {
        let fetcher = WhatsAppSender::new(
            &whatsapp.graph_url,
            whatsapp.accounts.clone(),
            FETCH_TIMEOUT,
        )
        .map_err(graph_client_error)?;
        media = media.fetcher(Arc::new(fetcher));
    }
    if let Some(meta) = &settings.meta {
        for channel in [MESSENGER, INSTAGRAM] {
            let fetcher =
                MessengerSender::new(channel, &meta.graph_url, &meta.accounts, FETCH_TIMEOUT)
                    .map_err(graph_client_error)?;
            media = media.fetcher(Arc::new(fetcher));
        }
    }
    Ok(Some(media))
}

/// A Graph API client that could not be built.
fn graph_client_error(e: spur_core::channels::SendClientError) -> ConfigError {
    ConfigError {
        setting: "META_GRAPH_URL",
        message: e.to_string(),
    }
}

/// How long fetching one file may take (a video is larger than a reply).
const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long one send to a channel's API may take: 10 s, or half the
/// outbox lease when that is shorter (a send must end before its message
/// can be leased again, or it could go out twice).
fn send_timeout(settings: &Settings) -> std::time::Duration {
    std::time::Duration::from_secs(10).min(settings.outbox_lease / 2)
}

/// A webhook's secrets: the handshake's token, the signing app secret.
pub struct Hook {
    pub verify_token: SecretString,
    pub app_secret: SecretString,
}

/// The email webhook's token and the mailboxes mail is read for.
pub struct EmailHook {
    pub token: SecretString,
    pub accounts: Vec<EmailAccount>,
}

pub struct Channels {
    pub whatsapp: Option<Hook>,
    /// Messenger and Instagram (one Meta app).
    pub meta: Option<Hook>,
    pub email: Option<EmailHook>,
    /// Status webhooks move messages on here.
    pub outbox: Arc<dyn OutboxStore>,
    pub deliverer: Arc<Deliverer>,
    /// The time status updates are recorded at.
    pub clock: Arc<dyn Clock>,
}

/// How long a channel message waits unanswered before the sweep answers
/// it: longer than any turn under way on a live instance takes.
const PENDING_AFTER: std::time::Duration = std::time::Duration::from_secs(300);

/// How often the sweep looks.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Starts the deliverer, and the sweep for messages a crash left
/// unanswered, when a channel is configured.
pub fn start(
    settings: &Settings,
    engine: &SupportEngine,
    outbox: Arc<dyn OutboxStore>,
    events: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<Option<Arc<Channels>>, ConfigError> {
    let mut senders: Vec<Arc<dyn ChannelSender>> = Vec::new();
    let send_timeout = send_timeout(settings);
    if let Some(whatsapp) = &settings.whatsapp {
        let sender =
            WhatsAppSender::new(&whatsapp.graph_url, whatsapp.accounts.clone(), send_timeout)
                .map_err(graph_client_error)?;
        senders.push(Arc::new(sender));
    }
    if let Some(meta) = &settings.meta {
        for channel in [MESSENGER, INSTAGRAM] {
            if meta.accounts.iter().any(|a| a.channel == channel) {
                let sender =
                    MessengerSender::new(channel, &meta.graph_url, &meta.accounts, send_timeout)
                        .map_err(graph_client_error)?;
                senders.push(Arc::new(sender));
            }
        }
    }
    if let Some(email) = &settings.email {
        let sender = EmailSender::new(
            email.smtp_url.expose_secret(),
            email.accounts.clone(),
            engine.store().clone(),
            send_timeout,
        )
        .map_err(|e| ConfigError {
            setting: "SMTP_URL",
            message: e.to_string(),
        })?;
        senders.push(Arc::new(sender));
    }
    if senders.is_empty() {
        return Ok(None);
    }
    let deliverer = Arc::new(Deliverer::new(
        outbox.clone(),
        senders,
        clock.clone(),
        DeliveryPolicy {
            lease: settings.outbox_lease,
            ..DeliveryPolicy::default()
        },
    ));
    let running = deliverer.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move { running.run(stop).await });
    let waker = deliverer.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move { wake_on_replies(events, &waker, stop).await });
    let sweeper = engine.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move { answer_pending(sweeper, stop).await });
    Ok(Some(Arc::new(Channels {
        whatsapp: settings.whatsapp.as_ref().map(|w| Hook {
            verify_token: w.verify_token.clone(),
            app_secret: w.app_secret.clone(),
        }),
        meta: settings.meta.as_ref().map(|m| Hook {
            verify_token: m.verify_token.clone(),
            app_secret: m.app_secret.clone(),
        }),
        email: settings.email.as_ref().map(|e| EmailHook {
            token: e.webhook_token.clone(),
            accounts: e.accounts.clone(),
        }),
        outbox,
        deliverer,
        clock,
    })))
}

/// Answers channel messages a crashed instance stored and never answered
/// (their webhooks were acknowledged: nobody delivers them again).
async fn answer_pending(engine: SupportEngine, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        match engine.answer_pending(PENDING_AFTER).await {
            Ok(0) => {}
            Ok(answered) => tracing::warn!(answered, "answered channel messages left unanswered"),
            Err(error) => tracing::warn!(%error, "looking for unanswered channel messages failed"),
        }
    }
}

/// Wakes the deliverer whenever something not from a customer is stored
/// (a reply, an agent's message, a notice): most of it is web chat, where
/// the look finds nothing, one indexed query.
async fn wake_on_replies(
    events: Arc<dyn EventBus>,
    deliverer: &Deliverer,
    stop: CancellationToken,
) {
    let mut stream = events.subscribe();
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = stream.next() => event,
        };
        match event {
            Some(Ok(EngineEvent::MessageStored { message, .. }))
                if message.sender != Sender::Customer =>
            {
                deliverer.wake();
            }
            // Events were dropped: one of them may have been a reply.
            Some(Err(_)) => deliverer.wake(),
            Some(Ok(_)) => {}
            None => return,
        }
    }
}
