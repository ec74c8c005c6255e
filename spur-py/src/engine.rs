//! `spur.Engine` (blocking, GIL released), `spur.AsyncEngine` (awaitables on
//! the extension's own Tokio runtime) and `spur.OpenAI` (LLM settings).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_async_runtimes::tokio::{future_into_py, get_runtime};
use spur_core::clock::SystemClock;
use spur_core::conversation::SessionId;
use spur_core::facts::ShopFacts;
use spur_core::knowledge::{OpenAiEmbedder, TextEmbedder, VectorCache};
use spur_core::llm::{OpenAiConfig, OpenAiProvider};
use spur_core::store::{ConversationStore, MemoryStore, PostgresStore, SqliteStore};
use spur_core::validate::parse_session_id;
use spur_core::{EngineConfig, Inbound, KnowledgeBase, StreamEvent, SupportEngine};
use tokio::sync::mpsc;

use crate::errors::{config_error, engine_error, store_error};
use crate::repr;
use crate::types::{Message, Reply};

/// A positive, finite number of seconds (a `ConfigError` naming `what`
/// otherwise).
pub(crate) fn seconds(what: &str, value: f64) -> PyResult<Duration> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(config_error(format!(
            "{what} must be a positive number of seconds"
        )))
    }
}

/// An OpenAI-compatible LLM (OpenAI, Azure, vLLM, Ollama, llama.cpp, LiteLLM…).
#[pyclass(frozen, module = "spur")]
#[derive(Clone)]
pub struct OpenAI {
    #[pyo3(get)]
    base_url: Option<String>,
    api_key: Option<String>,
    #[pyo3(get)]
    model: String,
    /// Seconds per HTTP attempt.
    #[pyo3(get)]
    timeout: f64,
    #[pyo3(get)]
    max_output_tokens: u32,
    #[pyo3(get)]
    max_retries: u32,
}

#[pymethods]
impl OpenAI {
    #[new]
    #[pyo3(signature = (model = "gpt-4o-mini".to_string(), *, base_url = None, api_key = None, timeout = 15.0, max_output_tokens = 250, max_retries = 2))]
    fn new(
        model: String,
        base_url: Option<String>,
        api_key: Option<String>,
        timeout: f64,
        max_output_tokens: u32,
        max_retries: u32,
    ) -> PyResult<Self> {
        seconds("timeout", timeout)?;
        if max_output_tokens == 0 {
            return Err(config_error("max_output_tokens must be greater than 0"));
        }
        Ok(Self {
            base_url,
            api_key,
            model,
            timeout,
            max_output_tokens,
            max_retries,
        })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        // Never the key.
        Ok(format!(
            "OpenAI(model={}, base_url={}, api_key={})",
            repr::py(py, &self.model)?,
            repr::py(py, &self.base_url)?,
            if self.api_key.is_some() {
                "'***'"
            } else {
                "None"
            }
        ))
    }
}

/// An embedding model on an OpenAI-compatible server, for dense retrieval
/// (`embedding_model=` of the engines and `load_knowledge`).
#[pyclass(frozen, module = "spur")]
#[derive(Clone)]
pub struct OpenAIEmbeddings {
    #[pyo3(get)]
    model: String,
    #[pyo3(get)]
    base_url: Option<String>,
    api_key: Option<String>,
    /// Length of the vectors (text-embedding-3 models shorten theirs to it).
    #[pyo3(get)]
    dims: usize,
    /// Seconds per HTTP attempt.
    #[pyo3(get)]
    timeout: f64,
    #[pyo3(get)]
    max_retries: u32,
}

#[pymethods]
impl OpenAIEmbeddings {
    #[new]
    #[pyo3(signature = (model = "text-embedding-3-small".to_string(), *, base_url = None, api_key = None, dims = 256, timeout = 15.0, max_retries = 2))]
    fn new(
        model: String,
        base_url: Option<String>,
        api_key: Option<String>,
        dims: usize,
        timeout: f64,
        max_retries: u32,
    ) -> PyResult<Self> {
        seconds("timeout", timeout)?;
        if dims == 0 {
            return Err(config_error("dims must be greater than 0"));
        }
        Ok(Self {
            model,
            base_url,
            api_key,
            dims,
            timeout,
            max_retries,
        })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        // Never the key.
        Ok(format!(
            "OpenAIEmbeddings(model={}, base_url={}, dims={})",
            repr::py(py, &self.model)?,
            repr::py(py, &self.base_url)?,
            self.dims
        ))
    }
}

impl OpenAIEmbeddings {
    fn embedder(&self) -> PyResult<OpenAiEmbedder> {
        let config = OpenAiConfig {
            base_url: self.base_url.clone(),
            api_key: self.api_key.clone().map(spur_core::llm::SecretString::from),
            model: self.model.clone(),
            timeout: Duration::from_secs_f64(self.timeout),
            max_retries: self.max_retries,
            ..OpenAiConfig::default()
        };
        OpenAiEmbedder::new(&config, self.dims)
            .map_err(|e| config_error(format!("embedding_model: {e}")))
    }
}

/// `embedding_model=`: a static model's directory, or a server's model.
pub enum EmbeddingChoice {
    Dir(String),
    Remote(OpenAIEmbeddings),
}

impl EmbeddingChoice {
    pub fn from_py(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Self>> {
        let Some(value) = value else {
            return Ok(None);
        };
        if let Ok(remote) = value.cast::<OpenAIEmbeddings>() {
            return Ok(Some(Self::Remote(remote.get().clone())));
        }
        Ok(Some(Self::Dir(value.extract()?)))
    }

    pub fn embedder(&self) -> PyResult<Arc<dyn TextEmbedder>> {
        self.embedder_with(None)
    }

    /// A server's model keeps the knowledge's vectors in `cache` (the
    /// engine's database), so a restart embeds only what changed.
    fn embedder_with(
        &self,
        cache: Option<Arc<dyn VectorCache>>,
    ) -> PyResult<Arc<dyn TextEmbedder>> {
        match (self, cache) {
            (Self::Dir(dir), _) => crate::functions::embedding_model(dir),
            (Self::Remote(remote), None) => Ok(Arc::new(remote.embedder()?)),
            (Self::Remote(remote), Some(cache)) => Ok(Arc::new(
                remote.embedder()?.with_cache(cache, Arc::new(SystemClock)),
            )),
        }
    }
}

/// `kb` with dense retrieval by `embedder` (a remote model embeds it now).
pub async fn embedded(
    kb: KnowledgeBase,
    embedder: Arc<dyn TextEmbedder>,
) -> PyResult<KnowledgeBase> {
    kb.with_remote_embedder(embedder)
        .await
        .map_err(|e| config_error(format!("embedding_model: {e}")))
}

/// The operator's facts from a dict: `name`, `time_zone`, `hours`
/// ("Mon-Fri 09:00-18:00"), `holidays` (["2026-12-25"]), `contact`.
fn facts_from(py: Python<'_>, dict: &Bound<'_, PyDict>) -> PyResult<ShopFacts> {
    let json: String = py
        .import("json")?
        .call_method1("dumps", (dict,))?
        .extract()?;
    let facts: ShopFacts =
        serde_json::from_str(&json).map_err(|e| config_error(format!("facts: {e}")))?;
    facts
        .validate()
        .map_err(|e| config_error(format!("facts: {e}")))?;
    Ok(facts)
}

/// Everything an engine is built from (the constructors' arguments).
struct Setup {
    database_url: Option<String>,
    knowledge: Option<String>,
    facts: Option<ShopFacts>,
    embedding_model: Option<EmbeddingChoice>,
    llm: Option<OpenAI>,
    llm_timeout: Option<f64>,
    history_limit: Option<usize>,
    max_input_tokens: Option<usize>,
    message_max_chars: Option<usize>,
}

impl Setup {
    async fn build(self) -> PyResult<SupportEngine> {
        let (store, vectors): (Arc<dyn ConversationStore>, Option<Arc<dyn VectorCache>>) =
            match self.database_url.as_deref() {
                None => (Arc::new(MemoryStore::new()), None),
                Some(url) if url.starts_with("postgres") => {
                    let store = Arc::new(PostgresStore::connect(url).await.map_err(store_error)?);
                    (store.clone(), Some(store))
                }
                Some(url) if url.starts_with("sqlite:") => {
                    let store = Arc::new(SqliteStore::connect(url).await.map_err(store_error)?);
                    (store.clone(), Some(store))
                }
                Some(_) => {
                    return Err(config_error(
                        "database_url must start with sqlite: or postgres://",
                    ));
                }
            };
        let mut config = EngineConfig::default();
        if let Some(timeout) = self.llm_timeout {
            config.llm_timeout = seconds("llm_timeout", timeout)?;
        }
        if let Some(n) = self.history_limit {
            config.prompt.max_history_messages = n;
        }
        if let Some(n) = self.max_input_tokens {
            config.prompt.max_input_tokens = n;
        }
        if let Some(n) = self.message_max_chars {
            config.limits.max_chars = n;
        }
        let mut builder = SupportEngine::builder().store(store);
        let embedder = self
            .embedding_model
            .as_ref()
            .map(|choice| choice.embedder_with(vectors))
            .transpose()?;
        let knowledge = match (self.knowledge, self.facts) {
            (Some(dir), facts) => {
                let kb = KnowledgeBase::from_dir(&dir)
                    .map_err(|e| config_error(format!("knowledge: {e}")))?;
                Some(match facts {
                    Some(facts) => kb.with_facts(facts),
                    None => kb,
                })
            }
            (None, Some(_)) => {
                return Err(config_error(
                    "facts describe your shop: give its knowledge directory too",
                ));
            }
            (None, None) => embedder.is_some().then(KnowledgeBase::demo),
        };
        builder = match (knowledge, embedder) {
            (Some(kb), Some(embedder)) => builder.knowledge(embedded(kb, embedder).await?),
            (Some(kb), None) => builder.knowledge(kb),
            (None, _) => builder.shared_knowledge(crate::functions::demo_knowledge()),
        };
        if let Some(llm) = self.llm {
            config.max_output_tokens = llm.max_output_tokens;
            let provider = OpenAiProvider::new(OpenAiConfig {
                base_url: llm.base_url,
                api_key: llm.api_key.map(spur_core::llm::SecretString::from),
                model: llm.model,
                timeout: Duration::from_secs_f64(llm.timeout),
                max_retries: llm.max_retries,
                ..OpenAiConfig::default()
            })
            .map_err(|e| config_error(format!("llm: {e}")))?;
            builder = builder.provider(Arc::new(provider));
        }
        Ok(builder.config(config).build())
    }
}

fn session(id: Option<&str>) -> PyResult<Option<SessionId>> {
    id.map(parse_session_id)
        .transpose()
        .map_err(|e| engine_error(e.into()))
}

/// The ids and rating of `rate_reply`, checked.
fn rating_args(
    session_id: &str,
    message_id: &str,
    rating: &str,
) -> PyResult<(
    SessionId,
    spur_core::conversation::MessageId,
    spur_core::insight::Rating,
)> {
    let session = required_session(session_id)?;
    let message = message_id
        .parse()
        .map_err(|_| crate::errors::validation_error("message_id is not a message id"))?;
    let rating = spur_core::insight::Rating::parse(rating)
        .ok_or_else(|| crate::errors::validation_error("rating is \"up\" or \"down\""))?;
    Ok((session, message, rating))
}

/// `analytics`' arguments as the core's options, on the engine's clock.
fn analytics_options(
    engine: &SupportEngine,
    from_day: Option<&str>,
    to_day: Option<&str>,
    quiet_hours: f64,
    prices: Option<(f64, f64)>,
) -> PyResult<spur_core::insight::AnalyticsOptions> {
    use spur_core::insight::analytics::{Date, zone_of};
    let day = |text: Option<&str>, name: &str| -> PyResult<Option<Date>> {
        text.map(|t| {
            t.parse::<Date>().map_err(|_| {
                crate::errors::validation_error(&format!("{name} must be a date, YYYY-MM-DD"))
            })
        })
        .transpose()
    };
    if !(quiet_hours.is_finite() && quiet_hours > 0.0 && quiet_hours <= 24.0 * 366.0) {
        return Err(crate::errors::validation_error(
            "quiet_hours must be more than 0 and at most a year",
        ));
    }
    if prices.is_some_and(|(i, o)| !(i.is_finite() && o.is_finite() && i >= 0.0 && o >= 0.0)) {
        return Err(crate::errors::validation_error("prices are 0 or more"));
    }
    let mut options = spur_core::insight::AnalyticsOptions::new(
        zone_of(&engine.facts()),
        day(from_day, "from_day")?,
        day(to_day, "to_day")?,
        engine.now(),
    );
    options.quiet = std::time::Duration::from_secs_f64(quiet_hours * 3600.0);
    options.prices = prices;
    Ok(options)
}

/// A serialisable value as plain Python (dicts, lists, numbers) via JSON.
fn to_python<'py>(
    py: Python<'py>,
    value: &spur_core::insight::Analytics,
) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_string(value)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    py.import("json")?.getattr("loads")?.call1((json,))
}

fn required_session(id: &str) -> PyResult<SessionId> {
    parse_session_id(id).map_err(|e| engine_error(e.into()))
}

/// `customer`: the id of a customer the host has verified (its own sign-in);
/// tools that act for a customer are offered only with it.
fn inbound(
    text: String,
    session_id: Option<&str>,
    key: Option<String>,
    customer: Option<String>,
) -> PyResult<Inbound> {
    Ok(Inbound {
        text,
        session: session(session_id)?,
        idempotency_key: key,
        verified_customer: customer,
        ..Inbound::default()
    })
}

/// Runs a future on the extension's runtime with the GIL released.
pub(crate) fn block_on<T: Send>(py: Python<'_>, future: impl Future<Output = T> + Send) -> T {
    py.detach(|| get_runtime().block_on(future))
}

/// The support engine, blocking: safe to call from many threads at once.
#[pyclass(frozen, module = "spur")]
pub struct Engine {
    engine: SupportEngine,
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (database_url = None, knowledge = None, llm = None, *, facts = None, embedding_model = None, llm_timeout = None, history_limit = None, max_input_tokens = None, message_max_chars = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        database_url: Option<String>,
        knowledge: Option<String>,
        llm: Option<&Bound<'_, OpenAI>>,
        facts: Option<&Bound<'_, PyDict>>,
        embedding_model: Option<&Bound<'_, PyAny>>,
        llm_timeout: Option<f64>,
        history_limit: Option<usize>,
        max_input_tokens: Option<usize>,
        message_max_chars: Option<usize>,
    ) -> PyResult<Self> {
        let facts = match facts {
            Some(dict) => Some(facts_from(py, dict)?),
            None => None,
        };
        let setup = Setup {
            database_url,
            knowledge,
            facts,
            embedding_model: EmbeddingChoice::from_py(embedding_model)?,
            llm: llm.map(|l| l.get().clone()),
            llm_timeout,
            history_limit,
            max_input_tokens,
            message_max_chars,
        };
        Ok(Self {
            engine: block_on(py, setup.build())?,
        })
    }

    /// Handles one customer message and returns the whole reply.
    #[pyo3(signature = (text, session_id = None, idempotency_key = None, *, customer = None))]
    fn send_message(
        &self,
        py: Python<'_>,
        text: String,
        session_id: Option<&str>,
        idempotency_key: Option<String>,
        customer: Option<String>,
    ) -> PyResult<Reply> {
        let inbound = inbound(text, session_id, idempotency_key, customer)?;
        let turn = block_on(py, self.engine.send_message(inbound)).map_err(engine_error)?;
        Ok(Reply::from(&turn))
    }

    /// A page of messages, oldest first; pass the first one's `seq` as `before` for older ones.
    #[pyo3(signature = (session_id, before = None, limit = 50))]
    fn history(
        &self,
        py: Python<'_>,
        session_id: &str,
        before: Option<i64>,
        limit: usize,
    ) -> PyResult<Vec<Message>> {
        let session = required_session(session_id)?;
        let page = block_on(
            py,
            self.engine.history(session, before, limit.clamp(1, 1_000)),
        )
        .map_err(engine_error)?;
        Ok(page.messages.iter().map(Message::from).collect())
    }

    /// Hands the conversation to a person; returns the new status.
    fn escalate(&self, py: Python<'_>, session_id: &str) -> PyResult<String> {
        let session = required_session(session_id)?;
        let turn = block_on(py, self.engine.escalate(session)).map_err(engine_error)?;
        Ok(turn.conversation.status.as_str().to_string())
    }

    /// Stores where the customer wants the answer (offered when nobody may
    /// be there); returns the notice saying when to expect it.
    fn leave_email(&self, py: Python<'_>, session_id: &str, email: &str) -> PyResult<String> {
        let session = required_session(session_id)?;
        let turn = block_on(py, self.engine.leave_email(session, email)).map_err(engine_error)?;
        Ok(turn.message.text)
    }

    /// Closes the conversation; returns the new status.
    fn close(&self, py: Python<'_>, session_id: &str) -> PyResult<String> {
        let session = required_session(session_id)?;
        let c = block_on(py, self.engine.close(session)).map_err(engine_error)?;
        Ok(c.status.as_str().to_string())
    }

    /// The customer's thumbs up (`"up"`) or down (`"down"`) on an answer of
    /// their conversation (`Reply.reply_id`, `Message.id`); rating again
    /// replaces it.
    #[pyo3(signature = (session_id, message_id, rating, comment = None))]
    fn rate_reply(
        &self,
        py: Python<'_>,
        session_id: &str,
        message_id: &str,
        rating: &str,
        comment: Option<&str>,
    ) -> PyResult<()> {
        let (session, message, rating) = rating_args(session_id, message_id, rating)?;
        block_on(
            py,
            self.engine.rate_reply(session, message, rating, comment),
        )
        .map_err(engine_error)
    }

    /// The customer's score for their conversation, 1 to 5; scoring again
    /// replaces it.
    #[pyo3(signature = (session_id, score, comment = None))]
    fn rate_conversation(
        &self,
        py: Python<'_>,
        session_id: &str,
        score: i64,
        comment: Option<&str>,
    ) -> PyResult<()> {
        let session = required_session(session_id)?;
        block_on(py, self.engine.rate_conversation(session, score, comment)).map_err(engine_error)
    }

    /// Resolution, handoffs, fallbacks, feedback, response times, tokens
    /// and cost over the days `from_day` to `to_day` (`YYYY-MM-DD` in the
    /// shop's time zone; the last 30 days by default), as the server's
    /// `GET /v1/admin/analytics` returns them.
    #[pyo3(signature = (from_day = None, to_day = None, *, channel = None, quiet_hours = 24.0, prices = None))]
    fn analytics<'py>(
        &self,
        py: Python<'py>,
        from_day: Option<&str>,
        to_day: Option<&str>,
        channel: Option<String>,
        quiet_hours: f64,
        prices: Option<(f64, f64)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = analytics_options(&self.engine, from_day, to_day, quiet_hours, prices)?;
        let report =
            block_on(py, self.engine.analytics(&options, channel)).map_err(engine_error)?;
        to_python(py, &report)
    }

    /// Registers a Python function (sync or async) as a tool the model may
    /// call: `@engine.tool` or `@engine.tool(name=..., description=...,
    /// timeout=seconds)`. Its arguments' schema comes from the type hints,
    /// its description from the docstring; a parameter named `customer`
    /// receives the verified customer (`send_message(..., customer=...)`)
    /// and the tool is offered only when there is one. An exception is
    /// told to the model as the tool's error. `writes=True`: the tool
    /// changes something, so each call waits for the customer's yes in the
    /// chat; a parameter named `idempotency_key` receives the action's key.
    #[pyo3(signature = (func = None, *, name = None, description = None, timeout = None, writes = false))]
    fn tool<'py>(
        slf: Bound<'py, Self>,
        func: Option<Bound<'py, PyAny>>,
        name: Option<String>,
        description: Option<String>,
        timeout: Option<f64>,
        writes: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        crate::tools::decorator(py, slf.into_any(), func, name, description, timeout, writes)
    }

    fn __repr__(&self) -> String {
        format!("Engine({:?})", self.engine)
    }
}

/// The support engine for asyncio: every method returns an awaitable that
/// runs on the extension's Tokio runtime, never blocking the event loop.
#[pyclass(frozen, module = "spur")]
pub struct AsyncEngine {
    engine: SupportEngine,
}

/// The core engine of an `Engine` or an `AsyncEngine` (what a tool is
/// registered on).
pub(crate) fn core_engine(engine: &Bound<'_, PyAny>) -> PyResult<SupportEngine> {
    if let Ok(engine) = engine.cast::<Engine>() {
        return Ok(engine.get().engine.clone());
    }
    let engine = engine.cast::<AsyncEngine>()?;
    Ok(engine.get().engine.clone())
}

#[pymethods]
impl AsyncEngine {
    /// Connecting happens here, once (a short block at startup).
    #[new]
    #[pyo3(signature = (database_url = None, knowledge = None, llm = None, *, facts = None, embedding_model = None, llm_timeout = None, history_limit = None, max_input_tokens = None, message_max_chars = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        database_url: Option<String>,
        knowledge: Option<String>,
        llm: Option<&Bound<'_, OpenAI>>,
        facts: Option<&Bound<'_, PyDict>>,
        embedding_model: Option<&Bound<'_, PyAny>>,
        llm_timeout: Option<f64>,
        history_limit: Option<usize>,
        max_input_tokens: Option<usize>,
        message_max_chars: Option<usize>,
    ) -> PyResult<Self> {
        let engine = Engine::new(
            py,
            database_url,
            knowledge,
            llm,
            facts,
            embedding_model,
            llm_timeout,
            history_limit,
            max_input_tokens,
            message_max_chars,
        )?;
        Ok(Self {
            engine: engine.engine,
        })
    }

    #[pyo3(signature = (text, session_id = None, idempotency_key = None, *, customer = None))]
    fn send_message<'py>(
        &self,
        py: Python<'py>,
        text: String,
        session_id: Option<&str>,
        idempotency_key: Option<String>,
        customer: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let inbound = inbound(text, session_id, idempotency_key, customer)?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            let turn = engine.send_message(inbound).await.map_err(engine_error)?;
            Ok(Reply::from(&turn))
        })
    }

    #[pyo3(signature = (session_id, before = None, limit = 50))]
    fn history<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        before: Option<i64>,
        limit: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let session = required_session(session_id)?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            let page = engine
                .history(session, before, limit.clamp(1, 1_000))
                .await
                .map_err(engine_error)?;
            Ok(page.messages.iter().map(Message::from).collect::<Vec<_>>())
        })
    }

    fn escalate<'py>(&self, py: Python<'py>, session_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let session = required_session(session_id)?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            let turn = engine.escalate(session).await.map_err(engine_error)?;
            Ok(turn.conversation.status.as_str().to_string())
        })
    }

    fn leave_email<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        email: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let session = required_session(session_id)?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            let turn = engine
                .leave_email(session, &email)
                .await
                .map_err(engine_error)?;
            Ok(turn.message.text)
        })
    }

    fn close<'py>(&self, py: Python<'py>, session_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let session = required_session(session_id)?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            let c = engine.close(session).await.map_err(engine_error)?;
            Ok(c.status.as_str().to_string())
        })
    }

    #[pyo3(signature = (session_id, message_id, rating, comment = None))]
    fn rate_reply<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        message_id: &str,
        rating: &str,
        comment: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (session, message, rating) = rating_args(session_id, message_id, rating)?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            engine
                .rate_reply(session, message, rating, comment.as_deref())
                .await
                .map_err(engine_error)
        })
    }

    #[pyo3(signature = (session_id, score, comment = None))]
    fn rate_conversation<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        score: i64,
        comment: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let session = required_session(session_id)?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            engine
                .rate_conversation(session, score, comment.as_deref())
                .await
                .map_err(engine_error)
        })
    }

    #[pyo3(signature = (from_day = None, to_day = None, *, channel = None, quiet_hours = 24.0, prices = None))]
    fn analytics<'py>(
        &self,
        py: Python<'py>,
        from_day: Option<&str>,
        to_day: Option<&str>,
        channel: Option<String>,
        quiet_hours: f64,
        prices: Option<(f64, f64)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = analytics_options(&self.engine, from_day, to_day, quiet_hours, prices)?;
        let engine = self.engine.clone();
        future_into_py(py, async move {
            let report = engine
                .analytics(&options, channel)
                .await
                .map_err(engine_error)?;
            Python::attach(|py| to_python(py, &report).map(Bound::unbind))
        })
    }

    /// `async for delta in engine.stream(text)`: the reply as it is
    /// generated; afterwards `.reply` holds the stored outcome.
    #[pyo3(signature = (text, session_id = None, idempotency_key = None, *, customer = None))]
    fn stream(
        &self,
        text: String,
        session_id: Option<&str>,
        idempotency_key: Option<String>,
        customer: Option<String>,
    ) -> PyResult<ReplyStream> {
        Ok(ReplyStream {
            state: Arc::new(tokio::sync::Mutex::new(StreamState {
                engine: self.engine.clone(),
                pending: Some(inbound(text, session_id, idempotency_key, customer)?),
                rx: None,
                yielded: false,
            })),
            reply: Arc::new(Mutex::new(None)),
        })
    }

    /// Registers a Python function (sync or async) as a tool the model may
    /// call: `@engine.tool` or `@engine.tool(name=..., description=...,
    /// timeout=seconds)`. Its arguments' schema comes from the type hints,
    /// its description from the docstring; a parameter named `customer`
    /// receives the verified customer (`send_message(..., customer=...)`)
    /// and the tool is offered only when there is one. An exception is
    /// told to the model as the tool's error. `writes=True`: the tool
    /// changes something, so each call waits for the customer's yes in the
    /// chat; a parameter named `idempotency_key` receives the action's key.
    #[pyo3(signature = (func = None, *, name = None, description = None, timeout = None, writes = false))]
    fn tool<'py>(
        slf: Bound<'py, Self>,
        func: Option<Bound<'py, PyAny>>,
        name: Option<String>,
        description: Option<String>,
        timeout: Option<f64>,
        writes: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        crate::tools::decorator(py, slf.into_any(), func, name, description, timeout, writes)
    }

    fn __repr__(&self) -> String {
        format!("AsyncEngine({:?})", self.engine)
    }
}

struct StreamState {
    engine: SupportEngine,
    /// The message, until the first `__anext__` sends it.
    pending: Option<Inbound>,
    rx: Option<mpsc::Receiver<StreamEvent>>,
    yielded: bool,
}

/// An async iterator of reply text deltas.
#[pyclass(frozen, module = "spur")]
pub struct ReplyStream {
    state: Arc<tokio::sync::Mutex<StreamState>>,
    reply: Arc<Mutex<Option<Reply>>>,
}

#[pymethods]
impl ReplyStream {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = Arc::clone(&self.state);
        let reply = Arc::clone(&self.reply);
        future_into_py(py, async move {
            let mut s = state.lock().await;
            if let Some(inbound) = s.pending.take() {
                let rx = s
                    .engine
                    .send_message_stream(inbound)
                    .await
                    .map_err(engine_error)?;
                s.rx = Some(rx);
            }
            loop {
                let Some(rx) = s.rx.as_mut() else {
                    return Err(PyStopAsyncIteration::new_err(()));
                };
                match rx.recv().await {
                    Some(StreamEvent::Delta { text }) => {
                        s.yielded = true;
                        return Ok(text);
                    }
                    Some(StreamEvent::Started { .. }) => continue,
                    Some(StreamEvent::Done(turn)) => {
                        let outcome = Reply::from(turn.as_ref());
                        if let Ok(mut slot) = reply.lock() {
                            *slot = Some(outcome.clone());
                        }
                        // A reply that never streamed (fallback, person notice) comes whole.
                        if !s.yielded
                            && let Some(text) = outcome.reply
                        {
                            s.yielded = true;
                            return Ok(text);
                        }
                    }
                    None => {
                        s.rx = None;
                        return Err(PyStopAsyncIteration::new_err(()));
                    }
                }
            }
        })
    }

    /// The stored outcome, once the iteration has finished.
    #[getter]
    fn reply(&self) -> Option<Reply> {
        self.reply.lock().ok().and_then(|r| r.clone())
    }
}
