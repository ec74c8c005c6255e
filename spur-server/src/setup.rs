//! From validated [`Settings`] to a running [`AppState`]: the store, the
//! knowledge base, the provider, the engine, the limiter. Each failure names
//! the setting behind it.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;

use spur_core::accounts::AccountStore;
use spur_core::classify::LlmClassifier;
use spur_core::events::{BroadcastEvents, EventBus, EventSink};
use spur_core::knowledge::web::{WebFetcher, WebLimits};
use spur_core::knowledge::{OpenAiEmbedder, TextEmbedder, VectorCache, local_model};
use spur_core::llm::{LlmProvider, OpenAiConfig, OpenAiProvider};
use spur_core::store::{ConversationStore, PostgresStore, SqliteStore};
use spur_core::tickets::{TicketClassifier, TicketDesk, TicketStore};
use spur_core::tools::{CreateTicket, HttpTool, ToolRegistry};
use spur_core::{EngineConfig, SupportEngine};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Auth, TokenKeys};
use crate::config::{ConfigError, EventBusSettings, QueueBackend, Settings, ToolsFile};
use crate::event_bus::{self, SharedEvents};
use crate::knowledge_source::KnowledgeSource;
use crate::limit::{KeyedLimit, Limiter, LocalLimiter, RedisLimiter};
use crate::metrics::{self, MeteredEvents};
use crate::queue::{JobContext, Queue};
use crate::redis_link::RedisLink;
use crate::state::{AppState, HttpSettings, Tickets};
use crate::ticket_events::TicketRelay;
use spur_core::clock::{Clock, SystemClock};

fn bad(setting: &'static str, error: impl std::fmt::Display) -> ConfigError {
    ConfigError {
        setting,
        message: error.to_string(),
    }
}

/// One database, seen through the core's storage seams.
#[derive(Clone)]
pub struct Stores {
    pub conversations: Arc<dyn ConversationStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub tickets: Arc<dyn TicketStore>,
    /// A remote embedding model's vectors, kept across restarts.
    pub vectors: Arc<dyn VectorCache>,
    /// Replies bound for other channels.
    pub outbox: Arc<dyn spur_core::channels::OutboxStore>,
    /// The PostgreSQL pool, for the job queue that lives beside the store.
    pub postgres: Option<sqlx::PgPool>,
}

impl Stores {
    fn of<
        S: ConversationStore
            + AccountStore
            + TicketStore
            + VectorCache
            + spur_core::channels::OutboxStore
            + 'static,
    >(
        store: S,
        postgres: Option<sqlx::PgPool>,
    ) -> Self {
        let store = Arc::new(store);
        Self {
            conversations: store.clone(),
            accounts: store.clone(),
            tickets: store.clone(),
            vectors: store.clone(),
            outbox: store,
            postgres,
        }
    }
}

/// Opens the database named by `DATABASE_URL`, applying the migrations.
pub async fn connect_store(url: &str) -> Result<Stores, ConfigError> {
    Ok(if url.starts_with("postgres") {
        let store = PostgresStore::connect(url)
            .await
            .map_err(|e| bad("DATABASE_URL", e))?;
        let pool = store.pool().clone();
        Stores::of(store, Some(pool))
    } else {
        Stores::of(
            SqliteStore::connect(url)
                .await
                .map_err(|e| bad("DATABASE_URL", e))?,
            None,
        )
    })
}

/// Sign-in for agents and admins over the accounts in `stores`.
pub fn auth(settings: &Settings, stores: &Stores) -> Auth {
    if settings.jwt_secret.is_none() {
        tracing::warn!(
            "JWT_SECRET is not set: agent tokens are signed with a random key and end with this process"
        );
    }
    accounts(settings, stores)
}

/// [`auth`] for commands that sign no tokens (`seed`): accounts only, and
/// no warning about a key they never use.
pub fn accounts(settings: &Settings, stores: &Stores) -> Auth {
    let keys = match &settings.jwt_secret {
        Some(secret) => TokenKeys::new(secret.expose_secret().as_bytes()),
        None => TokenKeys::random(),
    };
    Auth::new(
        stores.accounts.clone(),
        keys,
        settings.token_ttl,
        settings.login_rate_limit,
    )
}

fn provider(settings: &Settings) -> Result<Option<Arc<dyn LlmProvider>>, ConfigError> {
    openai(settings, OpenAiConfig::default().max_retries)
}

/// The configured model's client, with `max_retries` of its own.
fn openai(
    settings: &Settings,
    max_retries: u32,
) -> Result<Option<Arc<dyn LlmProvider>>, ConfigError> {
    let Some(llm) = &settings.llm else {
        return Ok(None);
    };
    let provider = OpenAiProvider::new(OpenAiConfig {
        base_url: llm.base_url.clone(),
        api_key: llm.api_key.clone(),
        model: llm.model.clone(),
        timeout: settings.llm_timeout,
        max_retries,
        ..OpenAiConfig::default()
    })
    .map_err(|e| bad("OPENAI_BASE_URL", e))?;
    Ok(Some(Arc::new(provider)))
}

/// Where the knowledge comes from, as configured, with the embedding model
/// (`EMBEDDING_MODEL`) loaded once for every reload; a remote model's
/// vectors are kept in `stores`.
pub fn knowledge_source(
    settings: &Settings,
    stores: &Stores,
) -> Result<KnowledgeSource, ConfigError> {
    let embedder = match (&settings.embedding_model, &settings.openai_embedding_model) {
        (Some(dir), _) => {
            let model = local_model(dir).map_err(|e| bad("EMBEDDING_MODEL", e))?;
            tracing::info!(model = %dir.display(), dims = model.dims(), "dense retrieval on");
            Some(model)
        }
        (None, Some((model, dims))) => {
            let llm = settings.llm.as_ref().ok_or_else(|| {
                bad(
                    "OPENAI_EMBEDDING_MODEL",
                    "needs OPENAI_BASE_URL or OPENAI_API_KEY",
                )
            })?;
            let config = OpenAiConfig {
                base_url: llm.base_url.clone(),
                api_key: llm.api_key.clone(),
                model: model.clone(),
                timeout: settings.llm_timeout,
                ..OpenAiConfig::default()
            };
            let embedder = OpenAiEmbedder::new(&config, *dims)
                .map_err(|e| bad("OPENAI_EMBEDDING_MODEL", e))?
                .with_cache(stores.vectors.clone(), Arc::new(SystemClock));
            tracing::info!(%model, dims, "dense retrieval on, embedded by the server");
            Some(Arc::new(embedder) as Arc<dyn TextEmbedder>)
        }
        (None, None) => None,
    };
    let web = WebFetcher::new(WebLimits {
        allow_private: settings.knowledge_fetch_private,
        ..WebLimits::default()
    })
    .map_err(|e| bad("KNOWLEDGE_FETCH_PRIVATE", e))?;
    Ok(KnowledgeSource {
        dir: settings.knowledge.clone(),
        shop: settings.shop.clone(),
        embedder,
        web,
        reloading: tokio::sync::Mutex::new(()),
    })
}

/// The engine as configured over `store`, publishing to `events`.
pub async fn engine(
    settings: &Settings,
    knowledge: &KnowledgeSource,
    store: Arc<dyn ConversationStore>,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
) -> Result<SupportEngine, ConfigError> {
    let knowledge = knowledge.load().await?;
    let mut config = EngineConfig {
        llm_timeout: settings.llm_timeout,
        max_output_tokens: settings.max_output_tokens,
        ..EngineConfig::default()
    };
    config.prompt.max_history_messages = settings.history_limit;
    config.prompt.texts = settings.texts.clone();
    config.limits.max_chars = settings.message_max_chars;
    config.tools = settings.tools.engine();
    let mut builder = SupportEngine::builder()
        .store(store)
        .knowledge(knowledge)
        .events(Arc::new(MeteredEvents::new(events)))
        .tools(http_tools(&settings.tools)?)
        .clock(clock)
        .config(config);
    if let Some(budget) = &settings.budget {
        builder = builder.budget(budget.clone());
    }
    if let Some(provider) = provider(settings)? {
        builder = builder.provider(provider);
    }
    if let Some(media) = crate::channels::media(settings)? {
        builder = builder.media(media);
    }
    Ok(builder.build())
}

/// The `[[tools.http]]` of the file, their secrets read from the environment.
fn http_tools(tools: &ToolsFile) -> Result<ToolRegistry, ConfigError> {
    let mut registry = ToolRegistry::new();
    for config in &tools.http {
        let tool = HttpTool::new(config.clone(), &tools.allow_hosts, |name| {
            std::env::var(name).ok()
        })
        .map_err(|e| bad("tools.http", e))?;
        registry
            .register(Arc::new(tool))
            .map_err(|e| bad("tools.http", e))?;
    }
    Ok(registry)
}

/// The tools of the file's `[[tools.mcp]]` servers join the serving
/// engine (not the worker's or the seed's: they start no servers), and
/// follow their servers' changes. A server that cannot be reached is logged
/// and left out: the assistant answers without its tools rather than not
/// at all.
async fn add_mcp_tools(tools: &ToolsFile, engine: &SupportEngine) {
    for config in &tools.mcp {
        let env = |name: &str| std::env::var(name).ok();
        match engine.connect_mcp(config, &tools.allow_hosts, env).await {
            Ok(offered) => {
                tracing::info!(server = %config.name, tools = offered, "MCP server connected");
            }
            Err(error) => {
                tracing::error!(server = %config.name, %error, "an MCP server is unreachable; its tools are not offered");
            }
        }
    }
}

/// Everything the router needs.
pub async fn state(
    settings: &Settings,
    shutdown: CancellationToken,
) -> Result<AppState, ConfigError> {
    state_with_clock(settings, shutdown, Arc::new(SystemClock)).await
}

/// [`state`] on `clock`: sign-in time (token and session expiry) and the
/// engine's (message times, analytics' "now").
pub async fn state_with_clock(
    settings: &Settings,
    shutdown: CancellationToken,
    clock: Arc<dyn Clock>,
) -> Result<AppState, ConfigError> {
    // Every background task of this server, waited for on shutdown.
    let tasks = TaskTracker::new();
    let run = || event_bus::Run {
        timeout: settings.redis_timeout,
        shutdown: &shutdown,
        tasks: &tasks,
        clock: clock.clone(),
    };
    let events: Arc<dyn EventBus> = match (&settings.event_bus, &settings.redis_url) {
        (EventBusSettings::Redis { stream }, Some(url)) => Arc::new(
            SharedEvents::redis(url, stream, run())
                .await
                .map_err(|e| bad("EVENT_BUS", e))?,
        ),
        (EventBusSettings::Nats { url, stream }, _) => Arc::new(
            SharedEvents::nats(url, stream, run())
                .await
                .map_err(|e| bad("NATS_URL", e))?,
        ),
        _ => Arc::new(BroadcastEvents::new(1024)),
    };
    let stores = connect_store(&settings.database_url).await?;
    let knowledge = Arc::new(knowledge_source(settings, &stores)?);
    let engine = engine(
        settings,
        &knowledge,
        stores.conversations.clone(),
        events.clone(),
        clock.clone(),
    )
    .await?;
    let redis = match &settings.redis_url {
        Some(url) => Some(
            RedisLink::connect(url, settings.redis_timeout)
                .await
                .map_err(|e| bad("REDIS_URL", e))?,
        ),
        None => None,
    };
    let auth = auth(settings, &stores).with_clock(clock.clone());
    let auth = match &redis {
        Some(link) => auth.with_shared_limits(link),
        None => auth,
    };
    let auth = Arc::new(auth);
    let limiter: Arc<dyn Limiter> = match &redis {
        Some(link) => {
            let shared = RedisLimiter::new(link.clone(), settings.limits.clone());
            let sweeper = Arc::clone(shared.fallback());
            every_minute(&shutdown, &tasks, move || sweeper.retain_recent());
            Arc::new(shared)
        }
        None => {
            let local = Arc::new(LocalLimiter::new(settings.limits.clone()));
            let sweeper = Arc::clone(&local);
            every_minute(&shutdown, &tasks, move || sweeper.retain_recent());
            local
        }
    };
    let sweeper = Arc::clone(&auth);
    every_minute(&shutdown, &tasks, move || sweeper.retain_recent());
    let tickets = tickets(
        settings,
        &stores,
        &engine,
        &shutdown,
        &tasks,
        redis.as_ref(),
    )
    .await?;
    tickets
        .relay
        .spawn_listener(tickets.desk.clone(), shutdown.clone(), &tasks);
    add_mcp_tools(&settings.tools, &engine).await;
    if settings.tools.create_ticket {
        // The desk comes after the engine: the tool joins now.
        engine
            .register_tool(Arc::new(CreateTicket::new(Arc::new(tickets.clone()))))
            .map_err(|e| bad("tools.create_ticket", e))?;
    }
    if settings.knowledge_watch {
        knowledge.watch(engine.clone(), shutdown.clone(), &tasks)?;
    }
    if let (Some(queue), Some(queue_settings)) = (&tickets.queue, &settings.queue) {
        queue.spawn_workers(
            &job_context(settings, &tickets),
            queue_settings.workers,
            &shutdown,
            &tasks,
        );
    }
    // The feed caps across instances, when there is a Redis and a cap.
    let shared_feeds = match &redis {
        Some(link) if settings.feeds_per_ip > 0 || settings.feeds_per_session > 0 => {
            Some(crate::shared_feeds::SharedFeeds::start(
                link.clone(),
                "spur:feeds",
                crate::shared_feeds::HEARTBEAT_TTL,
                &shutdown,
                &tasks,
            ))
        }
        _ => None,
    };
    let channels = crate::channels::start(
        settings,
        &engine,
        stores.outbox.clone(),
        events.clone(),
        clock.clone(),
        &shutdown,
        &tasks,
    )?;
    Ok(AppState {
        channels,
        tickets,
        engine,
        knowledge,
        auth,
        events,
        limiter,
        http: Arc::new(HttpSettings {
            cors_origins: settings.cors_origins.clone(),
            request_timeout: settings.request_timeout,
            trusted_proxies: settings.trusted_proxies.clone(),
            widget_dir: settings.widget_dir.clone(),
            shutdown_grace: settings.shutdown_grace,
            header_read_timeout: settings.header_read_timeout,
            body_read_timeout: settings.body_read_timeout,
            connections_per_ip: settings.connections_per_ip,
            feeds_per_ip: settings.feeds_per_ip,
            open_feeds: crate::open_counts::OpenCounts::default(),
            feeds_per_session: settings.feeds_per_session,
            session_feeds: crate::open_counts::OpenCounts::default(),
            shared_feeds,
            metrics_token: settings.metrics_token.clone(),
            metrics_on_api: settings.metrics_addr.is_none(),
            show_sources: settings.show_sources,
            widget_suggestions: settings.widget_suggestions.clone(),
            identity_secret: settings.identity_secret.clone(),
        }),
        metrics: metrics::handle(),
        prices: settings.prices,
        resolution_quiet: settings.resolution_quiet,
        shutdown,
        tasks,
        redis,
    })
}

/// The ticket desk over `stores`: the model classifies when one is
/// configured, else the engine's local classifier.
pub async fn tickets(
    settings: &Settings,
    stores: &Stores,
    engine: &SupportEngine,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
    redis: Option<&RedisLink>,
) -> Result<Tickets, ConfigError> {
    // The engine's own client when a model is configured (the offline
    // responder answers questions; it cannot classify or summarise).
    let provider = settings.llm.is_some().then(|| engine.shared_provider());
    // Queue jobs retry with backoff themselves: the classifier's client
    // must not multiply each attempt by its own retries.
    let classifier_provider = match (&settings.queue, openai(settings, 0)?) {
        (Some(_), Some(own)) => Some(own),
        _ => provider.clone(),
    };
    let classifier = match &classifier_provider {
        Some(provider) => TicketClassifier::Llm(Arc::new(LlmClassifier::new(
            provider.clone(),
            engine.classifier().clone(),
        ))),
        None => TicketClassifier::Local(Arc::new(engine.classifier().clone())),
    };
    let desk = TicketDesk::new(stores.tickets.clone(), classifier, settings.ai_timeout);
    let queue = match &settings.queue {
        None => None,
        Some(queue) => Some(
            match (queue.backend, &stores.postgres, &settings.redis_url) {
                (QueueBackend::Postgres, Some(pool), _) => Queue::postgres(pool, queue)
                    .await
                    .map_err(|e| bad("USE_QUEUE", e))?,
                (QueueBackend::Redis, _, Some(url)) => Queue::redis(url, queue)
                    .await
                    .map_err(|e| bad("REDIS_URL", e))?,
                _ => {
                    return Err(bad(
                        "QUEUE_BACKEND",
                        "needs PostgreSQL (DATABASE_URL) or Redis (REDIS_URL)",
                    ));
                }
            },
        ),
    };
    let events = tokio::sync::broadcast::channel(256).0;
    let relay = match (&stores.postgres, &settings.redis_url) {
        (Some(pool), _) => TicketRelay::Postgres {
            pool: pool.clone(),
            events: events.clone(),
        },
        (None, Some(url)) => TicketRelay::redis(url, events.clone())
            .await
            .map_err(|e| bad("REDIS_URL", e))?,
        (None, None) => TicketRelay::Local(events.clone()),
    };
    let classify_limiter = KeyedLimit::new(settings.classify_rate_limit, Duration::from_secs(60))
        .map(|limit| match redis {
            Some(link) => limit.shared(link.clone(), "spur:classify"),
            None => limit,
        })
        .map(|limit| {
            let limiter = Arc::new(limit);
            let sweeper = Arc::clone(&limiter);
            every_minute(shutdown, tasks, move || sweeper.retain_recent());
            limiter
        });
    Ok(Tickets {
        desk,
        queue,
        events,
        relay,
        classify_limiter,
        summarizer: provider,
    })
}

/// What classification workers share.
pub fn job_context(settings: &Settings, tickets: &Tickets) -> JobContext {
    JobContext {
        desk: tickets.desk.clone(),
        retries: settings.queue.as_ref().map_or(0, |q| q.retries),
        relay: tickets.relay.clone(),
    }
}

/// Runs `sweep` once a minute until shutdown (forgetting idle limiter keys).
fn every_minute(
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
    sweep: impl Fn() + Send + 'static,
) {
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => sweep(),
            }
        }
    });
}
