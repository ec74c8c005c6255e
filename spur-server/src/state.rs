//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use metrics_exporter_prometheus::PrometheusHandle;
use spur_core::SupportEngine;
use spur_core::events::EventBus;
use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::limit::Limiter;
use crate::queue::Queue;

/// Ticket changes (filed, classified, updated), for the agents' live feed.
pub type TicketEvents = tokio::sync::broadcast::Sender<spur_core::tickets::Ticket>;

/// `POST /v1/classify` calls per agent account.
pub type ClassifyLimiter = crate::limit::KeyedLimit;

#[derive(Clone)]
pub struct AppState {
    pub engine: SupportEngine,
    /// Where the engine's knowledge is loaded from (reloads).
    pub knowledge: Arc<crate::knowledge_source::KnowledgeSource>,
    /// Agent and admin sign-in.
    pub auth: Arc<Auth>,
    /// The engine's events, for the live feeds (in process; any [`EventBus`]).
    pub events: Arc<dyn EventBus>,
    pub limiter: Arc<dyn Limiter>,
    /// The shared Redis (limits), when `REDIS_URL` is set.
    pub redis: Option<crate::redis_link::RedisLink>,
    pub http: Arc<HttpSettings>,
    pub metrics: PrometheusHandle,
    /// USD per million (input, output) tokens, for cost totals.
    pub prices: Option<(f64, f64)>,
    /// Analytics: quiet this long, an open conversation is settled.
    pub resolution_quiet: std::time::Duration,
    /// Cancelled on shutdown: live feeds end so the server can stop.
    pub shutdown: CancellationToken,
    /// Every background task (feeds, workers, sweeps), waited for on shutdown.
    pub tasks: tokio_util::task::TaskTracker,
    pub tickets: Tickets,
    /// WhatsApp and the outbox, when a channel is configured.
    pub channels: Option<Arc<crate::channels::Channels>>,
}

/// Users, tickets and their classification.
#[derive(Clone)]
pub struct Tickets {
    pub desk: spur_core::tickets::TicketDesk,
    /// `Some` when classification is queued (`USE_QUEUE=true`).
    pub queue: Option<Queue>,
    /// What the agents' feed subscribes to.
    pub events: TicketEvents,
    /// Where changes are announced (to every instance when shared).
    pub relay: crate::ticket_events::TicketRelay,
    pub classify_limiter: Option<Arc<ClassifyLimiter>>,
    /// Summarises conversations into tickets (`None`: a deterministic extract).
    pub summarizer: Option<Arc<dyn spur_core::llm::LlmProvider>>,
}

/// A live feed's place under a cap: this instance's count and, with Redis,
/// the deployment's; both given back when the feed ends.
#[derive(Debug)]
pub struct FeedSlot<K: Eq + std::hash::Hash = std::net::IpAddr> {
    _local: crate::open_counts::Held<K>,
    _shared: Option<crate::shared_feeds::SharedHeld>,
}

/// A feed cap and the error that says it is reached.
#[derive(Clone, Copy)]
struct Cap {
    limit: usize,
    code: &'static str,
    message: &'static str,
}

impl AppState {
    /// A place for one more live feed from this client (429 when it holds
    /// `FEEDS_PER_IP` already, on any instance); freed when the feed ends.
    pub async fn open_feed(
        &self,
        peer: std::net::SocketAddr,
        headers: &axum::http::HeaderMap,
    ) -> Result<FeedSlot, crate::error::ApiError> {
        let ip = crate::client_ip::client_ip(peer.ip(), headers, &self.http.trusted_proxies);
        let under = Cap {
            limit: self.http.feeds_per_ip,
            code: "feeds_per_ip",
            message: "too many live feeds open from this address; close one first",
        };
        self.take_feed(&self.http.open_feeds, ip, format!("ip:{ip}"), under)
            .await
    }

    /// A place for one more live feed of this customer session (429 past
    /// `FEEDS_PER_SESSION`, on any instance).
    pub async fn open_session_feed(
        &self,
        session: spur_core::conversation::SessionId,
    ) -> Result<FeedSlot<spur_core::conversation::SessionId>, crate::error::ApiError> {
        let under = Cap {
            limit: self.http.feeds_per_session,
            code: "feeds_per_session",
            message: "too many live feeds open for this conversation; close one first",
        };
        let holder = format!("session:{session}");
        self.take_feed(&self.http.session_feeds, session, holder, under)
            .await
    }

    /// This instance's place for `key`, then the deployment's for `holder`.
    async fn take_feed<K: Eq + std::hash::Hash + Clone>(
        &self,
        counts: &crate::open_counts::OpenCounts<K>,
        key: K,
        holder: String,
        cap: Cap,
    ) -> Result<FeedSlot<K>, crate::error::ApiError> {
        let full = || too_many_feeds(cap.code, cap.message);
        let local = counts.take(key, cap.limit).ok_or_else(full)?;
        let shared = self.shared_feed(&holder, cap.limit).await;
        Ok(FeedSlot {
            _local: local,
            _shared: shared.ok_or_else(full)?,
        })
    }

    /// The deployment-wide place: `None` when full; `Some(None)` when
    /// nothing is shared (no Redis, no cap) or Redis did not answer (this
    /// instance's count has decided).
    async fn shared_feed(
        &self,
        holder: &str,
        cap: usize,
    ) -> Option<Option<crate::shared_feeds::SharedHeld>> {
        let shared = self.http.shared_feeds.as_ref().filter(|_| cap > 0);
        let Some(shared) = shared else {
            return Some(None);
        };
        match shared.take(holder, cap).await {
            Ok(Some(held)) => Some(Some(held)),
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "feed caps: Redis did not answer; this instance's count decides");
                Some(None)
            }
        }
    }
}

fn too_many_feeds(rule: &'static str, message: &'static str) -> crate::error::ApiError {
    crate::metrics::rate_limited(rule);
    crate::error::ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "too_many_feeds",
        message,
    )
}

#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub cors_origins: Vec<String>,
    pub request_timeout: Duration,
    pub trusted_proxies: Vec<IpNet>,
    /// The built widget served at `/widget/`, if any.
    pub widget_dir: Option<std::path::PathBuf>,
    /// How long a shutdown waits for requests and replies in flight.
    pub shutdown_grace: Duration,
    /// Request headers must arrive within this (also the longest idle keep-alive).
    pub header_read_timeout: Duration,
    /// A request body must arrive within this.
    pub body_read_timeout: Duration,
    /// Open connections per peer address (0: no cap; trusted proxies never capped).
    pub connections_per_ip: usize,
    /// Open live feeds per client address (0: no cap).
    pub feeds_per_ip: usize,
    /// Who holds the open feeds.
    pub open_feeds: crate::open_counts::OpenCounts,
    /// Open customer feeds per session (0: no cap): a leaked or scripted
    /// session cannot hold an address's whole allowance.
    pub feeds_per_session: usize,
    pub session_feeds: crate::open_counts::OpenCounts<spur_core::conversation::SessionId>,
    /// The caps across instances (with `REDIS_URL` and a cap set).
    pub shared_feeds: Option<Arc<crate::shared_feeds::SharedFeeds>>,
    /// `/metrics` wants this bearer token when set.
    pub metrics_token: Option<secrecy::SecretString>,
    /// `false` when `/metrics` has an address of its own (`METRICS_ADDR`).
    pub metrics_on_api: bool,
    /// Customers see the titles of the sections a reply cites.
    pub show_sources: bool,
    /// Questions the widget offers before a conversation starts.
    pub widget_suggestions: Vec<String>,
    /// Verifies customers' `customerHash` (see `crate::identity`).
    pub identity_secret: Option<secrecy::SecretString>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            request_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            widget_dir: None,
            shutdown_grace: Duration::from_secs(20),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            connections_per_ip: 256,
            feeds_per_ip: 20,
            open_feeds: crate::open_counts::OpenCounts::default(),
            feeds_per_session: 5,
            session_feeds: crate::open_counts::OpenCounts::default(),
            shared_feeds: None,
            metrics_token: None,
            metrics_on_api: true,
            show_sources: false,
            widget_suggestions: Vec::new(),
            identity_secret: None,
        }
    }
}
