//! Configuration: defaults < TOML file (`--config`) < environment < flags.
//! Environment names are the seed apps' (`PORT`, `DATABASE_URL`, `OPENAI_API_KEY`…).
//! Every bad value fails at start with a message naming the setting.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use spur_core::facts::{ShopFacts, WeeklyHours};

mod channels;
mod email;
pub use channels::{ChannelsFile, MetaAccountFile, MetaSettings, WhatsAppNumber, WhatsAppSettings};
pub use email::{EmailSettings, MailboxFile};

/// `[tools]` in the TOML file.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolsFile {
    /// Rounds of tool calls per reply (default 4).
    pub max_rounds: Option<u32>,
    /// Per call, unless a tool sets its own (default 5000).
    pub timeout_ms: Option<u64>,
    /// A larger result is not given to the model (default 16384).
    pub max_result_bytes: Option<usize>,
    /// Offer `search_knowledge(query)`.
    pub search_knowledge: bool,
    /// Offer `handoff_to_human(reason)`.
    pub handoff_to_human: bool,
    /// Offer `create_ticket(title, description)`: the model files a ticket
    /// for this conversation (one per conversation), classified and
    /// announced like the agents' tickets.
    pub create_ticket: bool,
    /// Hosts (`name` or `name:port`) HTTP tools may call over plain http
    /// and on private addresses; every other call is https to a public address.
    pub allow_hosts: Vec<String>,
    pub http: Vec<spur_core::tools::HttpToolConfig>,
    /// MCP servers whose tools join (`{name}__{tool}`); `allow_hosts`
    /// applies to their URLs too.
    pub mcp: Vec<spur_core::tools::McpServerConfig>,
}

impl ToolsFile {
    /// The engine's view: limits and built-ins.
    pub fn engine(&self) -> spur_core::tools::ToolsConfig {
        let defaults = spur_core::tools::ToolsConfig::default();
        spur_core::tools::ToolsConfig {
            max_rounds: self.max_rounds.unwrap_or(defaults.max_rounds),
            timeout: self
                .timeout_ms
                .map_or(defaults.timeout, Duration::from_millis),
            max_result_bytes: self.max_result_bytes.unwrap_or(defaults.max_result_bytes),
            search_knowledge: self.search_knowledge,
            handoff_to_human: self.handoff_to_human,
        }
    }
}

#[derive(Debug, Parser)]
#[command(name = "spur-server", version, about = "The Spur support-chat server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub options: Options,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Prepare a database for a first look: apply the migrations, create
    /// the admin account from ADMIN_EMAIL/ADMIN_PASSWORD when both are set
    /// (an existing account with that email gets this password and the
    /// admin role back), and store one demo conversation when the database
    /// has none. Safe to run again.
    Seed,
    /// Run ticket-classification workers only (needs `USE_QUEUE=true`).
    Worker,
}

/// Every setting, from a flag or its environment variable. `None` falls back
/// to the TOML file (the same fields, snake_case keys), then to the default.
/// Raw settings as given. Not `Debug`-derived: URLs and secrets in it
/// must never reach a log (see the manual impl).
#[derive(Default, Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// A TOML file with any of the settings below (snake_case keys).
    #[arg(long, env = "SPUR_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    #[arg(long, env = "HOST", global = true)]
    pub host: Option<IpAddr>,
    #[arg(long, env = "PORT", global = true)]
    pub port: Option<u16>,
    /// `sqlite://spur.db` (default) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Shares rate limits across instances.
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// Each Redis call answers within this, or the instance counts alone.
    #[arg(long, env = "REDIS_TIMEOUT_MS", global = true)]
    pub redis_timeout_ms: Option<u64>,
    /// A directory of Markdown articles (+ faq.yaml); the demo shop when unset.
    #[arg(long, env = "SPUR_KNOWLEDGE", global = true)]
    pub knowledge: Option<PathBuf>,
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true, global = true, value_parser = secret)]
    pub openai_api_key: Option<SecretString>,
    /// Any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LiteLLM…).
    #[arg(long, env = "OPENAI_BASE_URL", global = true)]
    pub openai_base_url: Option<String>,
    #[arg(long, env = "OPENAI_MODEL", global = true)]
    pub openai_model: Option<String>,
    /// The customer gets an answer (the fallback if need be) within this.
    #[arg(long, env = "LLM_TIMEOUT_MS", global = true)]
    pub llm_timeout_ms: Option<u64>,
    #[arg(long, env = "LLM_HISTORY_LIMIT", global = true)]
    pub llm_history_limit: Option<usize>,
    #[arg(long, env = "LLM_MAX_OUTPUT_TOKENS", global = true)]
    pub llm_max_output_tokens: Option<u32>,
    /// USD per million input tokens, for the admin log's cost totals.
    #[arg(long, env = "LLM_PRICE_INPUT_PER_MTOK", global = true)]
    pub llm_price_input_per_mtok: Option<f64>,
    /// USD per million output tokens.
    #[arg(long, env = "LLM_PRICE_OUTPUT_PER_MTOK", global = true)]
    pub llm_price_output_per_mtok: Option<f64>,
    /// The LLM's daily budget in USD (needs the prices): at 80% a warning,
    /// at 100% the offline responder answers until the shop's next day.
    #[arg(long, env = "LLM_BUDGET_DAILY_USD", global = true)]
    pub llm_budget_daily_usd: Option<f64>,
    /// The same for the calendar month.
    #[arg(long, env = "LLM_BUDGET_MONTHLY_USD", global = true)]
    pub llm_budget_monthly_usd: Option<f64>,
    /// Past a budget: `offline` (the offline responder answers, default) or
    /// `handoff` (it answers and the conversation goes to a person).
    #[arg(long, env = "LLM_BUDGET_WHEN_SPENT", global = true)]
    pub llm_budget_when_spent: Option<String>,
    /// A minute with this many times the last hour's average tokens per
    /// minute is reported as a spike (default 5).
    #[arg(long, env = "LLM_SPIKE_FACTOR", global = true)]
    pub llm_spike_factor: Option<f64>,
    /// Signs agent and admin tokens (HS256). Unset: a random key per
    /// process (tokens end with the process and differ between instances).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, global = true, value_parser = secret)]
    pub jwt_secret: Option<SecretString>,
    /// Shared with the shop's backend, which signs customer ids with it
    /// (`customerHash`); at least 32 characters. Unset: no customer is verified.
    #[arg(long, env = "IDENTITY_SECRET", hide_env_values = true, global = true, value_parser = secret)]
    pub identity_secret: Option<SecretString>,
    /// How long an agent's or admin's token lasts.
    #[arg(long, env = "TOKEN_TTL_SECS", global = true)]
    pub token_ttl_secs: Option<u64>,
    /// Sign-in attempts per client IP per 15 minutes (0 = off).
    #[arg(long, env = "LOGIN_RATE_LIMIT", global = true)]
    pub login_rate_limit: Option<u32>,
    #[arg(long, env = "ADMIN_EMAIL", global = true)]
    pub admin_email: Option<String>,
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true, global = true, value_parser = secret)]
    pub admin_password: Option<SecretString>,
    /// The built widget (`spur-wasm/build.sh` output) to serve at `/widget/`;
    /// default `spur-wasm/dist` when it exists.
    #[arg(long, env = "SPUR_WIDGET_DIR", global = true)]
    pub widget_dir: Option<PathBuf>,
    /// Comma-separated origins allowed to call the API from a browser.
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',', global = true)]
    pub cors_origins: Option<Vec<String>>,
    /// `/metrics` asks for `Authorization: Bearer <token>` when set.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true, global = true, value_parser = secret)]
    pub metrics_token: Option<SecretString>,
    /// Serve `/metrics` on this address only (e.g. 127.0.0.1:9090), not on the API's.
    #[arg(long, env = "METRICS_ADDR", global = true)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Request headers must arrive within this; also the longest an idle
    /// connection stays open.
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", global = true)]
    pub header_read_timeout_ms: Option<u64>,
    /// A request body must arrive within this.
    #[arg(long, env = "BODY_READ_TIMEOUT_MS", global = true)]
    pub body_read_timeout_ms: Option<u64>,
    /// Open connections per peer address (0: no cap; trusted proxies are never capped).
    #[arg(long, env = "CONNECTIONS_PER_IP", global = true)]
    pub connections_per_ip: Option<usize>,
    /// Open live feeds per client address (0: no cap).
    #[arg(long, env = "FEEDS_PER_IP", global = true)]
    pub feeds_per_ip: Option<usize>,
    /// Open live feeds per customer session on this instance (0: no cap).
    #[arg(long, env = "FEEDS_PER_SESSION", global = true)]
    pub feeds_per_session: Option<usize>,
    /// Show customers "Source: <section title>" under answers (default false).
    #[arg(long, env = "SHOW_SOURCES", global = true)]
    pub show_sources: Option<bool>,
    /// Questions the widget offers before a conversation starts, separated
    /// by `|` (at most 6, each at most 120 characters).
    #[arg(long, env = "WIDGET_SUGGESTIONS", value_delimiter = '|', global = true)]
    pub widget_suggestions: Option<Vec<String>>,
    /// Apply changes to the knowledge directory without a restart (default true).
    #[arg(long, env = "KNOWLEDGE_WATCH", global = true)]
    pub knowledge_watch: Option<bool>,
    /// Let admins import web pages from private, loopback and link-local
    /// addresses (an intranet wiki); default false: public addresses only.
    #[arg(long, env = "KNOWLEDGE_FETCH_PRIVATE", global = true)]
    pub knowledge_fetch_private: Option<bool>,
    /// A local embedding model directory for dense retrieval fused with the
    /// lexical ranking: a static model (model2vec format) or a BERT-family
    /// sentence model (all-MiniLM-L6-v2: config.json, tokenizer.json,
    /// model.safetensors); off when unset.
    #[arg(long, env = "EMBEDDING_MODEL", global = true)]
    pub embedding_model: Option<PathBuf>,
    /// An embedding model on the OpenAI-compatible server
    /// (`OPENAI_BASE_URL`, `OPENAI_API_KEY`), e.g. text-embedding-3-small,
    /// instead of a local `EMBEDDING_MODEL`.
    #[arg(long, env = "OPENAI_EMBEDDING_MODEL", global = true)]
    pub openai_embedding_model: Option<String>,
    /// Length of the server model's vectors (default 256; text-embedding-3
    /// models shorten theirs to it, others must be given their own).
    #[arg(long, env = "EMBEDDING_DIMS", global = true)]
    pub embedding_dims: Option<usize>,
    /// Every sentence Spur says or tells the model: `[texts]` in the TOML
    /// file (keys of `spur_core::prompt::PromptTexts`; unset keys keep
    /// their defaults). Too many sentences for flags or variables.
    #[arg(skip)]
    pub texts: Option<spur_core::prompt::PromptTexts>,
    /// Tools the model may call: `[tools]` in the TOML file (built-in
    /// tools, limits, `allow_hosts`) and `[[tools.http]]` (the shop's HTTP
    /// APIs). File only, like `[texts]`.
    #[arg(skip)]
    pub tools: Option<ToolsFile>,
    /// The shop's name (greetings, persona). Overrides the knowledge's shop.yaml.
    #[arg(long, env = "SHOP_NAME", global = true)]
    pub shop_name: Option<String>,
    /// IANA time zone of the support hours, e.g. Europe/Berlin.
    #[arg(long, env = "SHOP_TIME_ZONE", global = true)]
    pub shop_time_zone: Option<String>,
    /// When people answer, e.g. "Mon-Fri 09:00-18:00; Sat 10:00-14:00".
    #[arg(long, env = "SHOP_HOURS", global = true)]
    pub shop_hours: Option<String>,
    /// Comma-separated closed days (YYYY-MM-DD).
    #[arg(long, env = "SHOP_HOLIDAYS", value_delimiter = ',', global = true)]
    pub shop_holidays: Option<Vec<String>>,
    /// How else customers reach people (an email address, a phone number).
    #[arg(long, env = "SHOP_CONTACT", global = true)]
    pub shop_contact: Option<String>,
    /// On SIGTERM/SIGINT: how long to wait for requests, streamed replies
    /// and jobs in flight before exiting.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", global = true)]
    pub shutdown_grace_secs: Option<u64>,
    #[arg(long, env = "MESSAGE_MAX_CHARS", global = true)]
    pub message_max_chars: Option<usize>,
    #[arg(long, env = "REQUEST_TIMEOUT_MS", global = true)]
    pub request_timeout_ms: Option<u64>,
    /// Messages per client IP per window (0 = off).
    #[arg(long, env = "RATE_LIMIT_PER_IP", global = true)]
    pub rate_limit_per_ip: Option<u32>,
    /// Messages per session per window (0 = off).
    #[arg(long, env = "RATE_LIMIT_PER_SESSION", global = true)]
    pub rate_limit_per_session: Option<u32>,
    #[arg(long, env = "RATE_LIMIT_WINDOW_SECS", global = true)]
    pub rate_limit_window_secs: Option<u64>,
    /// Messages per client IP per UTC day (0 = off).
    #[arg(long, env = "RATE_LIMIT_PER_IP_DAY", global = true)]
    pub rate_limit_per_ip_day: Option<u32>,
    /// Messages per second over all clients (0 = off).
    #[arg(long, env = "RATE_LIMIT_GLOBAL_PER_SEC", global = true)]
    pub rate_limit_global_per_sec: Option<u32>,
    /// Comma-separated proxy addresses or CIDRs whose X-Forwarded-For is believed.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', global = true)]
    pub trusted_proxies: Option<Vec<String>>,
    /// One ticket classification attempt gets this long.
    #[arg(long, env = "AI_TIMEOUT_MS", global = true)]
    pub ai_timeout_ms: Option<u64>,
    /// Classify tickets from a durable job queue instead of in the request.
    #[arg(long, env = "USE_QUEUE", global = true)]
    pub use_queue: Option<bool>,
    /// Where engine events cross instances: `local` (one process, the
    /// default), `redis` (a Redis stream on `REDIS_URL`) or `nats` (a NATS
    /// JetStream stream on `NATS_URL`).
    #[arg(long, env = "EVENT_BUS", global = true)]
    pub event_bus: Option<String>,
    /// The stream of `EVENT_BUS` (default `spur:events` on Redis,
    /// `spur-events` on NATS).
    #[arg(long, env = "EVENT_BUS_STREAM", global = true)]
    pub event_bus_stream: Option<String>,
    /// The NATS server of `EVENT_BUS=nats` (`nats://host:4222`).
    #[arg(long, env = "NATS_URL", global = true)]
    pub nats_url: Option<String>,
    /// `postgres` (the store's database, the default there) or `redis` (`REDIS_URL`).
    #[arg(long, env = "QUEUE_BACKEND", global = true)]
    pub queue_backend: Option<String>,
    /// Classification workers inside the server (0: run `spur-server worker` instead).
    #[arg(long, env = "QUEUE_WORKERS", global = true)]
    pub queue_workers: Option<usize>,
    /// Retries of a failed classification (exponential backoff) before the fallback.
    #[arg(long, env = "QUEUE_RETRIES", global = true)]
    pub queue_retries: Option<usize>,
    /// A worker whose heartbeat stops for this long has its job re-queued.
    #[arg(long, env = "QUEUE_HEARTBEAT_MS", global = true)]
    pub queue_heartbeat_ms: Option<u64>,
    /// The queue's name: deployments sharing one Redis need their own.
    #[arg(long, env = "QUEUE_NAME", global = true)]
    pub queue_name: Option<String>,
    /// `POST /v1/classify` calls per agent per minute (0 = off).
    #[arg(long, env = "CLASSIFY_RATE_LIMIT", global = true)]
    pub classify_rate_limit: Option<u32>,
    /// WhatsApp: the token Meta's webhook subscription handshake presents.
    #[arg(long, env = "WHATSAPP_VERIFY_TOKEN", hide_env_values = true, global = true, value_parser = secret)]
    pub whatsapp_verify_token: Option<SecretString>,
    /// WhatsApp: the Meta app's secret, which signs every webhook POST.
    #[arg(long, env = "WHATSAPP_APP_SECRET", hide_env_values = true, global = true, value_parser = secret)]
    pub whatsapp_app_secret: Option<SecretString>,
    /// WhatsApp: the number's access token (more numbers: `[[channels.whatsapp]]`).
    #[arg(long, env = "WHATSAPP_ACCESS_TOKEN", hide_env_values = true, global = true, value_parser = secret)]
    pub whatsapp_access_token: Option<SecretString>,
    /// WhatsApp: the number's phone-number id (digits, from Meta's app dashboard).
    #[arg(long, env = "WHATSAPP_PHONE_NUMBER_ID", global = true)]
    pub whatsapp_phone_number_id: Option<String>,
    /// WhatsApp: the approved template (body `{{1}}`) replies go out as once
    /// the 24-hour window has closed; without one they are held, marked failed.
    #[arg(long, env = "WHATSAPP_TEMPLATE", global = true)]
    pub whatsapp_template: Option<String>,
    /// WhatsApp: the template's language code (default `en`).
    #[arg(long, env = "WHATSAPP_TEMPLATE_LANGUAGE", global = true)]
    pub whatsapp_template_language: Option<String>,
    /// Meta's Graph API base (default `https://graph.facebook.com/v23.0`).
    #[arg(long, env = "META_GRAPH_URL", global = true)]
    pub meta_graph_url: Option<String>,
    /// Messenger and Instagram: the token Meta's subscription handshake presents.
    #[arg(long, env = "META_VERIFY_TOKEN", hide_env_values = true, global = true, value_parser = secret)]
    pub meta_verify_token: Option<SecretString>,
    /// Messenger and Instagram: the Meta app's secret, which signs every webhook POST.
    #[arg(long, env = "META_APP_SECRET", hide_env_values = true, global = true, value_parser = secret)]
    pub meta_app_secret: Option<SecretString>,
    /// Messenger: the Facebook Page's id (more: `[[channels.messenger]]`).
    #[arg(long, env = "MESSENGER_PAGE_ID", global = true)]
    pub messenger_page_id: Option<String>,
    /// Messenger: the Page's access token.
    #[arg(long, env = "MESSENGER_ACCESS_TOKEN", hide_env_values = true, global = true, value_parser = secret)]
    pub messenger_access_token: Option<SecretString>,
    /// Instagram: the professional account's id (more: `[[channels.instagram]]`).
    #[arg(long, env = "INSTAGRAM_ACCOUNT_ID", global = true)]
    pub instagram_account_id: Option<String>,
    /// Instagram: the account's access token.
    #[arg(long, env = "INSTAGRAM_ACCESS_TOKEN", hide_env_values = true, global = true, value_parser = secret)]
    pub instagram_access_token: Option<SecretString>,
    /// Email: the shop's mailbox replies come from (more: `[[channels.email]]`).
    #[arg(long, env = "EMAIL_ADDRESS", global = true)]
    pub email_address: Option<String>,
    /// Email: the name replies come from ("Acme Support").
    #[arg(long, env = "EMAIL_NAME", global = true)]
    pub email_name: Option<String>,
    /// Email: the token `POST /webhooks/email` must present (Bearer, or the
    /// Basic-auth password), at least 16 characters.
    #[arg(long, env = "EMAIL_WEBHOOK_TOKEN", hide_env_values = true, global = true, value_parser = secret)]
    pub email_webhook_token: Option<SecretString>,
    /// Email: where replies are sent, `smtp://user:pass@host:587?tls=required` or `smtps://host:465`.
    #[arg(long, env = "SMTP_URL", hide_env_values = true, global = true, value_parser = secret)]
    pub smtp_url: Option<SecretString>,
    /// How long a send to a channel may hold its message before it is sent
    /// again (by another instance, or this one after a crash), in seconds
    /// (default 60). Sends time out at half of it (at most 10 s), so a slow
    /// send never overlaps its retry.
    #[arg(long, env = "OUTBOX_LEASE_SECS", global = true)]
    pub outbox_lease_secs: Option<u64>,
    /// Analytics: how many hours without a message settle a conversation
    /// the customer did not close (default 24; a closed one settles 24
    /// hours after its last change, when it can no longer be reopened).
    #[arg(long, env = "RESOLUTION_QUIET_HOURS", global = true)]
    pub resolution_quiet_hours: Option<u64>,
    /// Where the files customers send on channels (photos, voice notes,
    /// documents) are kept (default `spur-files`, in the working directory).
    #[arg(long, env = "FILES_DIR", global = true)]
    pub files_dir: Option<PathBuf>,
    /// The largest such file kept, in bytes (default 10 MiB).
    #[arg(long, env = "FILES_MAX_BYTES", global = true)]
    pub files_max_bytes: Option<u64>,
    /// `[[channels.whatsapp]]` in the TOML file: more numbers, each
    /// `phone_number_id` and `access_token_env`. File only.
    #[arg(skip)]
    pub channels: Option<ChannelsFile>,
}

#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub message: String,
}

/// The shop facts given as settings (`SHOP_*`), applied over the ones the
/// knowledge directory's `shop.yaml` holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShopOverrides {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub hours: Option<WeeklyHours>,
    pub holidays: Option<Vec<String>>,
    pub contact: Option<String>,
}

impl ShopOverrides {
    fn read(
        name: Option<String>,
        time_zone: Option<String>,
        hours: Option<String>,
        holidays: Option<Vec<String>>,
        contact: Option<String>,
    ) -> Result<Self, ConfigError> {
        let hours = hours
            .map(|h| h.parse::<WeeklyHours>())
            .transpose()
            .map_err(|e| bad("SHOP_HOURS", e.to_string()))?;
        let zone_check = ShopFacts {
            time_zone: time_zone.clone(),
            ..ShopFacts::default()
        };
        zone_check
            .validate()
            .map_err(|e| bad("SHOP_TIME_ZONE", e.to_string()))?;
        let holiday_check = ShopFacts {
            holidays: holidays.clone().unwrap_or_default(),
            ..ShopFacts::default()
        };
        holiday_check
            .validate()
            .map_err(|e| bad("SHOP_HOLIDAYS", e.to_string()))?;
        Ok(Self {
            name,
            time_zone,
            hours,
            holidays,
            contact,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `base` with every fact given here put over it.
    pub fn apply(&self, base: &ShopFacts) -> Result<ShopFacts, ConfigError> {
        let facts = ShopFacts {
            name: self.name.clone().or_else(|| base.name.clone()),
            time_zone: self.time_zone.clone().or_else(|| base.time_zone.clone()),
            hours: self.hours.clone().or_else(|| base.hours.clone()),
            holidays: self
                .holidays
                .clone()
                .unwrap_or_else(|| base.holidays.clone()),
            contact: self.contact.clone().or_else(|| base.contact.clone()),
        };
        facts
            .validate()
            .map_err(|e| bad("SHOP_TIME_ZONE", e.to_string()))?;
        Ok(facts)
    }
}

fn bad(setting: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        message: message.into(),
    }
}

/// How requests are limited. A limit of 0 is off.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimits {
    pub per_ip: u32,
    pub per_session: u32,
    pub window: Duration,
    pub per_ip_day: u32,
    pub global_per_sec: u32,
}

impl Default for RateLimits {
    /// The seed apps' limits: 50 per 15 minutes per IP, 20 per session, 200 a day per IP.
    fn default() -> Self {
        Self {
            per_ip: 50,
            per_session: 20,
            window: Duration::from_secs(15 * 60),
            per_ip_day: 200,
            global_per_sec: 0,
        }
    }
}

/// The LLM, when one is configured.
#[derive(Debug)]
pub struct LlmSettings {
    pub base_url: Option<String>,
    pub api_key: Option<SecretString>,
    pub model: String,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Everything else is in `Settings`' redacted form once loaded.
        f.debug_struct("Options")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Validated settings. `Debug` shows database and Redis URLs without
/// credentials; secrets are `SecretString`s.
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub redis_timeout: Duration,
    pub knowledge: Option<PathBuf>,
    pub llm: Option<LlmSettings>,
    pub llm_timeout: Duration,
    pub history_limit: usize,
    pub max_output_tokens: u32,
    /// USD per million (input, output) tokens, when known.
    pub prices: Option<(f64, f64)>,
    /// The LLM budget, when one is set.
    pub budget: Option<spur_core::insight::BudgetConfig>,
    pub jwt_secret: Option<SecretString>,
    pub identity_secret: Option<SecretString>,
    pub token_ttl: Duration,
    pub login_rate_limit: u32,
    pub admin_email: Option<String>,
    pub admin_password: Option<SecretString>,
    pub cors_origins: Vec<String>,
    /// Where the widget's files are, if built.
    pub widget_dir: Option<PathBuf>,
    /// Questions the widget offers before a conversation starts.
    pub widget_suggestions: Vec<String>,
    pub message_max_chars: usize,
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub connections_per_ip: usize,
    pub feeds_per_ip: usize,
    pub feeds_per_session: usize,
    /// Operator facts set here; each overrides the knowledge's own.
    pub shop: ShopOverrides,
    /// What Spur says, as the operator worded it.
    pub texts: spur_core::prompt::PromptTexts,
    /// The tools offered to the model.
    pub tools: ToolsFile,
    /// Watch the knowledge directory for changes.
    pub knowledge_watch: bool,
    /// Web imports may reach private addresses.
    pub knowledge_fetch_private: bool,
    pub embedding_model: Option<PathBuf>,
    /// An embedding model on the LLM's server, and its vectors' length.
    pub openai_embedding_model: Option<(String, usize)>,
    /// Customers see the sections a reply cites.
    pub show_sources: bool,
    pub metrics_token: Option<SecretString>,
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub limits: RateLimits,
    pub trusted_proxies: Vec<IpNet>,
    pub ai_timeout: Duration,
    /// `Some` when tickets are classified from the queue.
    pub queue: Option<QueueSettings>,
    pub classify_rate_limit: u32,
    pub event_bus: EventBusSettings,
    /// WhatsApp, when configured.
    pub whatsapp: Option<WhatsAppSettings>,
    /// Messenger and Instagram, when configured.
    pub meta: Option<MetaSettings>,
    /// Email, when configured.
    pub email: Option<EmailSettings>,
    /// How long a channel send holds its outbox item.
    pub outbox_lease: Duration,
    /// Analytics: quiet this long, an open conversation is settled.
    pub resolution_quiet: Duration,
    /// Where channel files are kept, and the largest kept.
    pub files_dir: PathBuf,
    pub files_max_bytes: u64,
}

/// Where engine events (messages, status changes, typing) reach the live
/// feeds: this process only, or every instance through Redis or NATS.
/// `Debug` shows the NATS URL without credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum EventBusSettings {
    Local,
    /// A Redis stream (XADD/XREAD) on `REDIS_URL`.
    Redis {
        stream: String,
    },
    /// A NATS JetStream stream.
    Nats {
        url: String,
        stream: String,
    },
}

impl std::fmt::Debug for EventBusSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local => f.write_str("Local"),
            Self::Redis { stream } => f.debug_struct("Redis").field("stream", stream).finish(),
            Self::Nats { url, stream } => f
                .debug_struct("Nats")
                .field("url", &redact(url))
                .field("stream", stream)
                .finish(),
        }
    }
}

/// Where classification jobs wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueBackend {
    Postgres,
    Redis,
}

/// The ticket-classification queue (`USE_QUEUE=true`).
#[derive(Clone, Debug)]
pub struct QueueSettings {
    pub backend: QueueBackend,
    pub name: String,
    pub workers: usize,
    pub retries: usize,
    pub heartbeat: Duration,
}

impl Settings {
    /// Merges flags/environment over the TOML file over the defaults, and validates.
    pub fn load(options: Options) -> Result<Self, ConfigError> {
        let file = match &options.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| bad("--config", format!("{}: {e}", path.display())))?;
                toml::from_str::<Options>(&text)
                    .map_err(|e| bad("--config", format!("{}: {e}", path.display())))?
            }
            None => Options::default(),
        };
        let o = options;
        let defaults = RateLimits::default();
        let database_url = o
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| "sqlite://spur.db".into());
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            return Err(bad(
                "DATABASE_URL",
                "must start with sqlite:// or postgres://",
            ));
        }
        let redis_url = o.redis_url.or(file.redis_url).filter(|u| !u.is_empty());
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(bad("REDIS_URL", "must start with redis:// or rediss://"));
        }
        let api_key = o
            .openai_api_key
            .or(file.openai_api_key)
            .filter(|k| !k.expose_secret().is_empty());
        let base_url = o
            .openai_base_url
            .or(file.openai_base_url)
            .filter(|u| !u.is_empty());
        if let Some(url) = &base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(bad("OPENAI_BASE_URL", "must be an http:// or https:// URL"));
        }
        let model = o
            .openai_model
            .or(file.openai_model)
            .unwrap_or_else(|| "gpt-4o-mini".into());
        let llm = (api_key.is_some() || base_url.is_some()).then(|| LlmSettings {
            base_url,
            api_key,
            model,
        });
        let embedding_model = o.embedding_model.or(file.embedding_model);
        let embedding_dims = o.embedding_dims.or(file.embedding_dims).unwrap_or(256);
        if !(1..=8192).contains(&embedding_dims) {
            return Err(bad("EMBEDDING_DIMS", "must be between 1 and 8192"));
        }
        let openai_embedding_model = o
            .openai_embedding_model
            .or(file.openai_embedding_model)
            .filter(|m| !m.trim().is_empty())
            .map(|m| (m, embedding_dims));
        if openai_embedding_model.is_some() && embedding_model.is_some() {
            return Err(bad(
                "OPENAI_EMBEDDING_MODEL",
                "set it or EMBEDDING_MODEL (a local model), not both",
            ));
        }
        if openai_embedding_model.is_some() && llm.is_none() {
            return Err(bad(
                "OPENAI_EMBEDDING_MODEL",
                "needs the server: set OPENAI_BASE_URL or OPENAI_API_KEY",
            ));
        }
        let llm_timeout_ms = o.llm_timeout_ms.or(file.llm_timeout_ms).unwrap_or(15_000);
        positive("LLM_TIMEOUT_MS", llm_timeout_ms)?;
        let history_limit = o.llm_history_limit.or(file.llm_history_limit).unwrap_or(20);
        let max_output_tokens = o
            .llm_max_output_tokens
            .or(file.llm_max_output_tokens)
            .unwrap_or(250);
        positive("LLM_MAX_OUTPUT_TOKENS", u64::from(max_output_tokens))?;
        let millis = |setting: &'static str, value: Option<u64>, default: u64| {
            let value = value.unwrap_or(default);
            positive(setting, value).map(|()| Duration::from_millis(value))
        };
        let header_read_timeout = millis(
            "HEADER_READ_TIMEOUT_MS",
            o.header_read_timeout_ms.or(file.header_read_timeout_ms),
            10_000,
        )?;
        let body_read_timeout = millis(
            "BODY_READ_TIMEOUT_MS",
            o.body_read_timeout_ms.or(file.body_read_timeout_ms),
            10_000,
        )?;
        let redis_timeout = millis(
            "REDIS_TIMEOUT_MS",
            o.redis_timeout_ms.or(file.redis_timeout_ms),
            50,
        )?;
        let jwt_secret = o.jwt_secret.or(file.jwt_secret);
        if let Some(secret) = &jwt_secret
            && secret.expose_secret().len() < 32
        {
            return Err(bad("JWT_SECRET", "must be at least 32 characters"));
        }
        let identity_secret = o.identity_secret.or(file.identity_secret);
        if let Some(secret) = &identity_secret
            && secret.expose_secret().len() < 32
        {
            return Err(bad("IDENTITY_SECRET", "must be at least 32 characters"));
        }
        let price = |setting: &'static str, value: Option<f64>| match value {
            Some(v) if !(v.is_finite() && v >= 0.0) => {
                Err(bad(setting, "must be a price of 0 or more"))
            }
            other => Ok(other),
        };
        let prices = match (
            price(
                "LLM_PRICE_INPUT_PER_MTOK",
                o.llm_price_input_per_mtok.or(file.llm_price_input_per_mtok),
            )?,
            price(
                "LLM_PRICE_OUTPUT_PER_MTOK",
                o.llm_price_output_per_mtok
                    .or(file.llm_price_output_per_mtok),
            )?,
        ) {
            (None, None) => None,
            (input, output) => Some((input.unwrap_or(0.0), output.unwrap_or(0.0))),
        };
        let budget = {
            let daily = o.llm_budget_daily_usd.or(file.llm_budget_daily_usd);
            let monthly = o.llm_budget_monthly_usd.or(file.llm_budget_monthly_usd);
            for (setting, value) in [
                ("LLM_BUDGET_DAILY_USD", daily),
                ("LLM_BUDGET_MONTHLY_USD", monthly),
            ] {
                if value.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
                    return Err(bad(setting, "must be an amount greater than 0"));
                }
            }
            let when_spent = match o
                .llm_budget_when_spent
                .or(file.llm_budget_when_spent)
                .as_deref()
            {
                None | Some("offline") => spur_core::insight::WhenSpent::Offline,
                Some("handoff") => spur_core::insight::WhenSpent::Handoff,
                Some(_) => return Err(bad("LLM_BUDGET_WHEN_SPENT", "must be offline or handoff")),
            };
            let spike_factor = o.llm_spike_factor.or(file.llm_spike_factor).unwrap_or(5.0);
            if !(spike_factor.is_finite() && spike_factor > 1.0) {
                return Err(bad("LLM_SPIKE_FACTOR", "must be a number greater than 1"));
            }
            match (daily.or(monthly), prices) {
                (None, _) => None,
                (Some(_), None) => {
                    return Err(bad(
                        "LLM_BUDGET_DAILY_USD",
                        "a budget needs LLM_PRICE_INPUT_PER_MTOK and LLM_PRICE_OUTPUT_PER_MTOK",
                    ));
                }
                (Some(_), Some(prices)) => Some(spur_core::insight::BudgetConfig {
                    daily_usd: daily,
                    monthly_usd: monthly,
                    prices,
                    when_spent,
                    spike_factor,
                }),
            }
        };
        let token_ttl_secs = o.token_ttl_secs.or(file.token_ttl_secs).unwrap_or(3_600);
        positive("TOKEN_TTL_SECS", token_ttl_secs)?;
        let admin_email = o.admin_email.or(file.admin_email);
        if let Some(email) = &admin_email
            && !email.contains('@')
        {
            return Err(bad("ADMIN_EMAIL", "is not an email address"));
        }
        let message_max_chars = o
            .message_max_chars
            .or(file.message_max_chars)
            .unwrap_or(5_000);
        positive("MESSAGE_MAX_CHARS", message_max_chars as u64)?;
        let request_timeout_ms = o
            .request_timeout_ms
            .or(file.request_timeout_ms)
            .unwrap_or(30_000);
        positive("REQUEST_TIMEOUT_MS", request_timeout_ms)?;
        let window = o
            .rate_limit_window_secs
            .or(file.rate_limit_window_secs)
            .unwrap_or(defaults.window.as_secs());
        positive("RATE_LIMIT_WINDOW_SECS", window)?;
        let trusted_proxies = o
            .trusted_proxies
            .or(file.trusted_proxies)
            .unwrap_or_default()
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(parse_net)
            .collect::<Result<Vec<_>, _>>()?;
        let cors_origins: Vec<String> = o
            .cors_origins
            .or(file.cors_origins)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(origin) = cors_origins
            .iter()
            .find(|s| *s != "*" && !(s.starts_with("http://") || s.starts_with("https://")))
        {
            return Err(bad(
                "CORS_ORIGINS",
                format!("{origin:?} is not an http(s) origin"),
            ));
        }
        let ai_timeout_ms = o.ai_timeout_ms.or(file.ai_timeout_ms).unwrap_or(8_000);
        positive("AI_TIMEOUT_MS", ai_timeout_ms)?;
        let queue = if o.use_queue.or(file.use_queue).unwrap_or(false) {
            let postgres = database_url.starts_with("postgres");
            let backend = match o.queue_backend.or(file.queue_backend).as_deref() {
                None | Some("") if postgres => QueueBackend::Postgres,
                None | Some("") | Some("redis") if redis_url.is_some() => QueueBackend::Redis,
                Some("postgres") if postgres => QueueBackend::Postgres,
                None | Some("") => {
                    return Err(bad(
                        "USE_QUEUE",
                        "the job queue needs PostgreSQL (DATABASE_URL) or Redis (REDIS_URL)",
                    ));
                }
                Some("postgres") => {
                    return Err(bad(
                        "QUEUE_BACKEND",
                        "postgres needs a postgres:// DATABASE_URL",
                    ));
                }
                Some("redis") => return Err(bad("QUEUE_BACKEND", "redis needs REDIS_URL")),
                Some(other) => {
                    return Err(bad(
                        "QUEUE_BACKEND",
                        format!("{other:?} is not postgres or redis"),
                    ));
                }
            };
            let heartbeat_ms = o
                .queue_heartbeat_ms
                .or(file.queue_heartbeat_ms)
                .unwrap_or(10_000);
            positive("QUEUE_HEARTBEAT_MS", heartbeat_ms)?;
            let name = o
                .queue_name
                .or(file.queue_name)
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| "spur.classify_ticket".into());
            Some(QueueSettings {
                backend,
                name,
                workers: o.queue_workers.or(file.queue_workers).unwrap_or(1),
                retries: o.queue_retries.or(file.queue_retries).unwrap_or(4),
                heartbeat: Duration::from_millis(heartbeat_ms),
            })
        } else {
            None
        };
        let stream = o
            .event_bus_stream
            .or(file.event_bus_stream)
            .filter(|s| !s.trim().is_empty());
        let nats_url = o.nats_url.or(file.nats_url).filter(|u| !u.is_empty());
        let event_bus = match o.event_bus.or(file.event_bus).as_deref() {
            None | Some("") | Some("local") => EventBusSettings::Local,
            Some("redis") if redis_url.is_some() => EventBusSettings::Redis {
                stream: stream.unwrap_or_else(|| "spur:events".into()),
            },
            Some("redis") => return Err(bad("EVENT_BUS", "redis needs REDIS_URL")),
            Some("nats") => {
                let url = nats_url.ok_or_else(|| bad("EVENT_BUS", "nats needs NATS_URL"))?;
                if !(url.starts_with("nats://") || url.starts_with("tls://")) {
                    return Err(bad("NATS_URL", "must start with nats:// or tls://"));
                }
                let stream = stream.unwrap_or_else(|| "spur-events".into());
                // JetStream stream names: no dots, wildcards, spaces or slashes.
                if !stream
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(bad(
                        "EVENT_BUS_STREAM",
                        "a NATS stream name is letters, digits, '-' and '_'",
                    ));
                }
                EventBusSettings::Nats { url, stream }
            }
            Some(other) => {
                return Err(bad(
                    "EVENT_BUS",
                    format!("{other:?} is not local, redis or nats"),
                ));
            }
        };
        let channels_file = o.channels.or(file.channels).unwrap_or_default();
        let graph_url = o.meta_graph_url.or(file.meta_graph_url);
        let whatsapp = channels::whatsapp(
            channels::WhatsAppInput {
                verify_token: o.whatsapp_verify_token.or(file.whatsapp_verify_token),
                app_secret: o.whatsapp_app_secret.or(file.whatsapp_app_secret),
                access_token: o.whatsapp_access_token.or(file.whatsapp_access_token),
                phone_number_id: o.whatsapp_phone_number_id.or(file.whatsapp_phone_number_id),
                graph_url: graph_url.clone(),
                template: o.whatsapp_template.or(file.whatsapp_template),
                template_language: o
                    .whatsapp_template_language
                    .or(file.whatsapp_template_language),
            },
            &channels_file,
            |name| std::env::var(name).ok(),
        )?;
        let meta = channels::meta(
            channels::MetaInput {
                verify_token: o.meta_verify_token.or(file.meta_verify_token),
                app_secret: o.meta_app_secret.or(file.meta_app_secret),
                messenger_page_id: o.messenger_page_id.or(file.messenger_page_id),
                messenger_access_token: o.messenger_access_token.or(file.messenger_access_token),
                instagram_account_id: o.instagram_account_id.or(file.instagram_account_id),
                instagram_access_token: o.instagram_access_token.or(file.instagram_access_token),
                graph_url,
            },
            &channels_file,
            |name| std::env::var(name).ok(),
        )?;
        let email = email::email(
            email::EmailInput {
                address: o.email_address.or(file.email_address),
                name: o.email_name.or(file.email_name),
                webhook_token: o.email_webhook_token.or(file.email_webhook_token),
                smtp_url: o.smtp_url.or(file.smtp_url),
            },
            &channels_file.email,
        )?;
        let files_max_bytes = o
            .files_max_bytes
            .or(file.files_max_bytes)
            .unwrap_or(10 * 1024 * 1024);
        positive("FILES_MAX_BYTES", files_max_bytes)?;
        let outbox_lease_secs = o.outbox_lease_secs.or(file.outbox_lease_secs).unwrap_or(60);
        let resolution_quiet_hours = o
            .resolution_quiet_hours
            .or(file.resolution_quiet_hours)
            .unwrap_or(24);
        positive("RESOLUTION_QUIET_HOURS", resolution_quiet_hours)?;
        if resolution_quiet_hours > 24 * 90 {
            return Err(bad(
                "RESOLUTION_QUIET_HOURS",
                "must be at most 2160 (90 days)",
            ));
        }
        if outbox_lease_secs < 2 {
            return Err(bad("OUTBOX_LEASE_SECS", "must be at least 2"));
        }
        Ok(Self {
            whatsapp,
            meta,
            email,
            files_dir: o
                .files_dir
                .or(file.files_dir)
                .unwrap_or_else(|| PathBuf::from("spur-files")),
            files_max_bytes,
            outbox_lease: Duration::from_secs(outbox_lease_secs),
            resolution_quiet: Duration::from_secs(resolution_quiet_hours * 3600),
            event_bus,
            ai_timeout: Duration::from_millis(ai_timeout_ms),
            queue,
            classify_rate_limit: o
                .classify_rate_limit
                .or(file.classify_rate_limit)
                .unwrap_or(60),
            host: o.host.or(file.host).unwrap_or(IpAddr::from([127, 0, 0, 1])),
            port: o.port.or(file.port).unwrap_or(3001),
            database_url,
            redis_url,
            redis_timeout,
            knowledge: o.knowledge.or(file.knowledge),
            knowledge_watch: o.knowledge_watch.or(file.knowledge_watch).unwrap_or(true),
            knowledge_fetch_private: o
                .knowledge_fetch_private
                .or(file.knowledge_fetch_private)
                .unwrap_or(false),
            embedding_model,
            openai_embedding_model,
            show_sources: o.show_sources.or(file.show_sources).unwrap_or(false),
            widget_suggestions: suggestions(o.widget_suggestions.or(file.widget_suggestions))?,
            shop: ShopOverrides::read(
                o.shop_name.or(file.shop_name),
                o.shop_time_zone.or(file.shop_time_zone),
                o.shop_hours.or(file.shop_hours),
                o.shop_holidays.or(file.shop_holidays),
                o.shop_contact.or(file.shop_contact),
            )?,
            texts: o.texts.or(file.texts).unwrap_or_default(),
            tools: o.tools.or(file.tools).unwrap_or_default(),
            llm,
            llm_timeout: Duration::from_millis(llm_timeout_ms),
            history_limit,
            max_output_tokens,
            jwt_secret,
            identity_secret,
            token_ttl: Duration::from_secs(token_ttl_secs),
            prices,
            budget,
            login_rate_limit: o.login_rate_limit.or(file.login_rate_limit).unwrap_or(10),
            admin_email,
            admin_password: o.admin_password.or(file.admin_password),
            cors_origins,
            widget_dir: match o.widget_dir.or(file.widget_dir) {
                Some(dir) if !dir.join("spur-widget.js").is_file() => {
                    return Err(bad(
                        "SPUR_WIDGET_DIR",
                        format!(
                            "{} holds no spur-widget.js (run spur-wasm/build.sh)",
                            dir.display()
                        ),
                    ));
                }
                Some(dir) => Some(dir),
                None => Some(PathBuf::from("spur-wasm/dist"))
                    .filter(|d| d.join("spur-widget.js").is_file()),
            },
            message_max_chars,
            request_timeout: Duration::from_millis(request_timeout_ms),
            header_read_timeout,
            body_read_timeout,
            connections_per_ip: o
                .connections_per_ip
                .or(file.connections_per_ip)
                .unwrap_or(256),
            feeds_per_ip: o.feeds_per_ip.or(file.feeds_per_ip).unwrap_or(20),
            feeds_per_session: o.feeds_per_session.or(file.feeds_per_session).unwrap_or(5),
            metrics_token: o
                .metrics_token
                .or(file.metrics_token)
                .filter(|t| !t.expose_secret().is_empty()),
            metrics_addr: o.metrics_addr.or(file.metrics_addr),
            shutdown_grace: Duration::from_secs(
                o.shutdown_grace_secs
                    .or(file.shutdown_grace_secs)
                    .unwrap_or(20),
            ),
            limits: RateLimits {
                per_ip: o
                    .rate_limit_per_ip
                    .or(file.rate_limit_per_ip)
                    .unwrap_or(defaults.per_ip),
                per_session: o
                    .rate_limit_per_session
                    .or(file.rate_limit_per_session)
                    .unwrap_or(defaults.per_session),
                window: Duration::from_secs(window),
                per_ip_day: o
                    .rate_limit_per_ip_day
                    .or(file.rate_limit_per_ip_day)
                    .unwrap_or(defaults.per_ip_day),
                global_per_sec: o
                    .rate_limit_global_per_sec
                    .or(file.rate_limit_global_per_sec)
                    .unwrap_or(defaults.global_per_sec),
            },
            trusted_proxies,
        })
    }

    /// The database URL without credentials, for logs.
    pub fn database_for_logs(&self) -> String {
        redact(&self.database_url)
    }
}

fn positive(setting: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        Err(bad(setting, "must be greater than 0"))
    } else {
        Ok(())
    }
}

fn parse_net(text: &str) -> Result<IpNet, ConfigError> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            bad(
                "TRUSTED_PROXIES",
                format!("{text:?} is not an address or CIDR"),
            )
        })
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database_url", &redact(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact))
            .field("redis_timeout", &self.redis_timeout)
            .field("knowledge", &self.knowledge)
            .field("llm", &self.llm)
            .field("llm_timeout", &self.llm_timeout)
            .field("history_limit", &self.history_limit)
            .field("max_output_tokens", &self.max_output_tokens)
            .field("prices", &self.prices)
            .field("jwt_secret", &self.jwt_secret)
            .field("identity_secret", &self.identity_secret)
            .field("token_ttl", &self.token_ttl)
            .field("login_rate_limit", &self.login_rate_limit)
            .field("admin_email", &self.admin_email)
            .field("admin_password", &self.admin_password)
            .field("cors_origins", &self.cors_origins)
            .field("widget_dir", &self.widget_dir)
            .field("message_max_chars", &self.message_max_chars)
            .field("request_timeout", &self.request_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("connections_per_ip", &self.connections_per_ip)
            .field("feeds_per_ip", &self.feeds_per_ip)
            .field("feeds_per_session", &self.feeds_per_session)
            .field("metrics_token", &self.metrics_token)
            .field("metrics_addr", &self.metrics_addr)
            .field("limits", &self.limits)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("ai_timeout", &self.ai_timeout)
            .field("queue", &self.queue)
            .field("classify_rate_limit", &self.classify_rate_limit)
            .field("event_bus", &self.event_bus)
            .field("whatsapp", &self.whatsapp)
            .field("meta", &self.meta)
            .field("email", &self.email)
            .field("files_dir", &self.files_dir)
            .field("files_max_bytes", &self.files_max_bytes)
            .field("outbox_lease", &self.outbox_lease)
            .field("resolution_quiet", &self.resolution_quiet)
            .finish()
    }
}

/// Secrets from flags and the environment go straight into a `SecretString`.
fn secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text.to_string()))
}

/// `postgres://user:secret@host/db?x` -> `postgres://host/db`.
fn redact(url: &str) -> String {
    let without_query = url.split('?').next().unwrap_or_default();
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{host}")
        }
        None => without_query.to_string(),
    }
}

/// Suggested first questions: trimmed, empty ones dropped, bounded (they
/// are sent to every visitor's widget).
fn suggestions(list: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    const MAX: usize = 6;
    const MAX_CHARS: usize = 120;
    let list: Vec<String> = list
        .unwrap_or_default()
        .into_iter()
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty())
        .collect();
    if list.len() > MAX {
        return Err(bad(
            "WIDGET_SUGGESTIONS",
            format!("{} questions; at most {MAX}", list.len()),
        ));
    }
    if let Some(long) = list.iter().find(|q| q.chars().count() > MAX_CHARS) {
        return Err(bad(
            "WIDGET_SUGGESTIONS",
            format!("\"{long}\" is over {MAX_CHARS} characters"),
        ));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flags only: the environment the tests run in (an exported
    /// `DATABASE_URL`, `PORT`, `OPENAI_API_KEY`...) is not read.
    fn load(args: &[&str]) -> Result<Settings, ConfigError> {
        use clap::{CommandFactory, FromArgMatches};
        let mut argv = vec!["spur-server"];
        argv.extend_from_slice(args);
        let command = Cli::command().mut_args(|arg| arg.env(None::<&'static str>));
        let matches = command
            .try_get_matches_from(argv)
            .map_err(|e| bad("cli", e.to_string()))?;
        let cli = Cli::from_arg_matches(&matches).map_err(|e| bad("cli", e.to_string()))?;
        Settings::load(cli.options)
    }

    #[test]
    fn suggestions_are_trimmed_and_bounded() {
        let s = load(&[
            "--widget-suggestions",
            " Where is my order? | |Can I return it?",
        ])
        .unwrap();
        assert_eq!(
            s.widget_suggestions,
            vec!["Where is my order?", "Can I return it?"]
        );
        let seven = ["q"; 7].join("|");
        let e = load(&["--widget-suggestions", &seven]).unwrap_err();
        assert!(e.to_string().contains("WIDGET_SUGGESTIONS"), "{e}");
        let long = "q".repeat(121);
        assert!(load(&["--widget-suggestions", &long]).is_err());
        assert!(load(&[]).unwrap().widget_suggestions.is_empty());
    }

    #[test]
    fn the_environment_is_not_read_by_these_tests() {
        // Whatever this process has exported, flags alone decide here.
        let s = load(&[]).unwrap();
        assert_eq!(s.database_url, "sqlite://spur.db");
        assert!(s.llm.is_none());
    }

    #[test]
    fn secrets_and_url_credentials_are_never_printed() {
        let jwt = "j".repeat(20) + "wt-secret-0123456789";
        let s = load(&[
            "--openai-api-key",
            "sk-live-secret-1",
            "--jwt-secret",
            &jwt,
            "--admin-email",
            "a@shop.example",
            "--admin-password",
            "admin-secret-2",
            "--database-url",
            "postgres://spur:db-secret-3@db/spur",
            "--redis-url",
            "redis://:redis-secret-4@cache:6379",
        ])
        .unwrap();
        let printed = format!("{s:?}");
        for secret in [
            "sk-live-secret-1",
            jwt.as_str(),
            "admin-secret-2",
            "db-secret-3",
            "redis-secret-4",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("postgres://db/spur"), "{printed}");
        // The options as parsed, too.
        let cli =
            Cli::try_parse_from(["spur-server", "--openai-api-key", "sk-live-secret-1"]).unwrap();
        assert!(!format!("{cli:?}").contains("sk-live-secret-1"));
        // The provider's configuration is neither printed nor serialised with its key.
        let config = spur_core::llm::OpenAiConfig {
            api_key: s.llm.and_then(|l| l.api_key),
            ..Default::default()
        };
        assert!(config.api_key.is_some());
        assert!(!format!("{config:?}").contains("sk-live-secret-1"));
        let json = serde_json::to_string(&config).unwrap();
        assert!(
            !json.contains("sk-live-secret-1") && !json.contains("api_key"),
            "{json}"
        );
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let s = load(&[]).unwrap();
        assert_eq!(s.port, 3001);
        assert_eq!(s.host.to_string(), "127.0.0.1");
        assert_eq!(s.database_url, "sqlite://spur.db");
        assert!(s.llm.is_none(), "no key and no base URL: offline responder");
        assert_eq!(s.limits, RateLimits::default());
        assert_eq!(s.message_max_chars, 5_000);
    }

    #[test]
    fn a_base_url_alone_enables_the_llm() {
        let s = load(&["--openai-base-url", "http://127.0.0.1:11434/v1"]).unwrap();
        let llm = s.llm.unwrap();
        assert!(llm.api_key.is_none());
        assert_eq!(llm.model, "gpt-4o-mini");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cases: &[(&[&str], &str)] = &[
            (&["--database-url", "mysql://x"], "DATABASE_URL"),
            (&["--redis-url", "http://x"], "REDIS_URL"),
            (&["--event-bus", "redis"], "EVENT_BUS"),
            (&["--event-bus", "nats"], "EVENT_BUS"),
            (&["--event-bus", "kafka"], "EVENT_BUS"),
            (&["--openai-base-url", "localhost"], "OPENAI_BASE_URL"),
            (&["--llm-timeout-ms", "0"], "LLM_TIMEOUT_MS"),
            (&["--jwt-secret", "short"], "JWT_SECRET"),
            (&["--cors-origins", "example.com"], "CORS_ORIGINS"),
            (&["--trusted-proxies", "10.0.0.0/8,nope"], "TRUSTED_PROXIES"),
            (&["--rate-limit-window-secs", "0"], "RATE_LIMIT_WINDOW_SECS"),
            (
                &["--openai-embedding-model", "e3"],
                "OPENAI_EMBEDDING_MODEL",
            ),
            (
                &[
                    "--openai-base-url",
                    "http://127.0.0.1:1/v1",
                    "--openai-embedding-model",
                    "e3",
                    "--embedding-model",
                    "models/minilm",
                ],
                "OPENAI_EMBEDDING_MODEL",
            ),
            (&["--embedding-dims", "0"], "EMBEDDING_DIMS"),
        ];
        for (args, setting) in cases {
            let error = load(args).unwrap_err();
            assert_eq!(error.setting, *setting, "{args:?}: {error}");
        }
        let error = load(&["--port", "seventy"]).unwrap_err();
        assert!(error.message.contains("--port"), "{error}");
    }

    #[test]
    fn the_queue_follows_the_database_or_redis() {
        let s = load(&[]).unwrap();
        assert!(s.queue.is_none(), "classified in the request by default");
        assert_eq!(s.ai_timeout, Duration::from_secs(8));
        let pg = [
            "--use-queue",
            "true",
            "--database-url",
            "postgres://db/spur",
        ];
        let queue = load(&pg).unwrap().queue.unwrap();
        assert_eq!(queue.backend, QueueBackend::Postgres);
        assert_eq!(
            (queue.workers, queue.retries, queue.name.as_str()),
            (1, 4, "spur.classify_ticket")
        );
        let redis = load(&["--use-queue", "true", "--redis-url", "redis://127.0.0.1"]).unwrap();
        assert_eq!(
            redis.queue.unwrap().backend,
            QueueBackend::Redis,
            "SQLite store, Redis jobs"
        );
        let cases: &[(&[&str], &str)] = &[
            (&["--use-queue", "true"], "USE_QUEUE"),
            (
                &["--use-queue", "true", "--queue-backend", "redis"],
                "QUEUE_BACKEND",
            ),
            (
                &["--use-queue", "true", "--queue-backend", "postgres"],
                "QUEUE_BACKEND",
            ),
            (
                &[
                    "--use-queue",
                    "true",
                    "--queue-backend",
                    "kafka",
                    "--redis-url",
                    "redis://x",
                ],
                "QUEUE_BACKEND",
            ),
            (&["--ai-timeout-ms", "0"], "AI_TIMEOUT_MS"),
        ];
        for (args, setting) in cases {
            let error = load(args).unwrap_err();
            assert_eq!(error.setting, *setting, "{args:?}: {error}");
        }
    }

    #[test]
    fn the_file_is_read_and_flags_win() {
        let path = std::env::temp_dir().join(format!("spur-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(
            &path,
            "port = 4000\nrate_limit_per_ip = 7\ncors_origins = [\"https://shop.example\"]\n",
        )
        .unwrap();
        let file = path.to_string_lossy().to_string();
        let s = load(&["--config", &file, "--port", "5000"]).unwrap();
        assert_eq!(s.port, 5000);
        assert_eq!(s.limits.per_ip, 7);
        assert_eq!(s.cors_origins, vec!["https://shop.example"]);
        std::fs::write(&path, "prot = 1\n").unwrap();
        let error = load(&["--config", &file]).unwrap_err();
        assert_eq!(error.setting, "--config");
        assert!(error.message.contains("prot"), "{error}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn the_files_tools_table_configures_tools() {
        let path = std::env::temp_dir().join(format!("spur-{}.toml", uuid::Uuid::new_v4()));
        let toml = r#"
[tools]
max_rounds = 2
handoff_to_human = true
allow_hosts = ["127.0.0.1:8099"]

[[tools.http]]
name = "lookup_order"
description = "Where an order is."
url = "http://127.0.0.1:8099/orders/{order_number}"
headers = { Authorization = "Bearer ${ORDERS_KEY}" }
fields = ["status", "eta"]
parameters = { type = "object", properties = { order_number = { type = "string" } }, required = ["order_number"] }
"#;
        std::fs::write(&path, toml).unwrap();
        let file = path.to_string_lossy().to_string();
        let s = load(&["--config", &file]).unwrap();
        let engine = s.tools.engine();
        assert_eq!(engine.max_rounds, 2);
        assert!(engine.handoff_to_human && !engine.search_knowledge);
        assert_eq!(
            engine.timeout,
            spur_core::tools::ToolsConfig::default().timeout
        );
        assert_eq!(s.tools.http.len(), 1);
        assert_eq!(s.tools.http[0].method, "GET");
        assert_eq!(s.tools.http[0].fields, ["status", "eta"]);
        assert_eq!(load(&[]).unwrap().tools, ToolsFile::default());
        std::fs::write(
            &path,
            "[tools]
max_round = 2
",
        )
        .unwrap();
        let error = load(&["--config", &file]).unwrap_err();
        assert!(error.message.contains("max_round"), "{error}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn the_files_texts_table_rewords_what_spur_says() {
        let path = std::env::temp_dir().join(format!("spur-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(
            &path,
            "[texts]\nhandoff_reply = \"Someone from the Tea Co. team writes back soon.\"\n",
        )
        .unwrap();
        let file = path.to_string_lossy().to_string();
        let s = load(&["--config", &file]).unwrap();
        let defaults = spur_core::prompt::PromptTexts::default();
        assert_eq!(
            s.texts.handoff_reply,
            "Someone from the Tea Co. team writes back soon."
        );
        assert_eq!(s.texts.persona, defaults.persona, "unset keys keep theirs");
        assert_eq!(load(&[]).unwrap().texts, defaults);
        std::fs::write(&path, "[texts]\nhandof_reply = \"typo\"\n").unwrap();
        let error = load(&["--config", &file]).unwrap_err();
        assert!(error.message.contains("handof_reply"), "{error}");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn credentials_never_reach_the_logs() {
        assert_eq!(
            redact("postgres://spur:hunter2@db:5432/spur?sslmode=require"),
            "postgres://db:5432/spur"
        );
        assert_eq!(redact("sqlite://spur.db"), "sqlite://spur.db");
    }
}
