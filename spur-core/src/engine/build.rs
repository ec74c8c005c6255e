use std::sync::Arc;

use super::{EngineConfig, Inner, SupportEngine};
use crate::classify::LocalClassifier;
use crate::clock::{Clock, IdGenerator, RandomIds, SystemClock};
use crate::escalation::HandoffDetector;
use crate::events::{EventSink, NoEvents};
use crate::knowledge::KnowledgeBase;
use crate::llm::{LlmProvider, OfflineConfig, OfflineResponder};
use crate::prompt::{TokenCounter, tokens};
use crate::store::{ConversationStore, MemoryStore};
use crate::tools::{HandoffToHuman, SearchKnowledge, Tool, ToolRegistry};

/// Assembles a [`SupportEngine`]. Everything has a default: an in-memory
/// store, the offline knowledge-base responder, the demo knowledge base,
/// the system clock, random ids and no event subscribers.
#[derive(Default)]
pub struct EngineBuilder {
    store: Option<Arc<dyn ConversationStore>>,
    provider: Option<Arc<dyn LlmProvider>>,
    knowledge: Option<Arc<KnowledgeBase>>,
    classifier: Option<LocalClassifier>,
    tokens: Option<Arc<dyn TokenCounter>>,
    clock: Option<Arc<dyn Clock>>,
    ids: Option<Arc<dyn IdGenerator>>,
    events: Option<Arc<dyn EventSink>>,
    tools: ToolRegistry,
    config: EngineConfig,
    #[cfg(feature = "media")]
    media: Option<Arc<crate::channels::media::Media>>,
    budget: Option<crate::insight::BudgetConfig>,
}

impl EngineBuilder {
    pub fn store(mut self, store: Arc<dyn ConversationStore>) -> Self {
        self.store = Some(store);
        self
    }

    pub fn provider(mut self, provider: Arc<dyn LlmProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    pub fn knowledge(mut self, knowledge: KnowledgeBase) -> Self {
        self.knowledge = Some(Arc::new(knowledge));
        self
    }

    pub fn shared_knowledge(mut self, knowledge: Arc<KnowledgeBase>) -> Self {
        self.knowledge = Some(knowledge);
        self
    }

    /// The classifier used on every customer message (custom taxonomies).
    pub fn classifier(mut self, classifier: LocalClassifier) -> Self {
        self.classifier = Some(classifier);
        self
    }

    /// Overrides the token counter (default: the provider's model's).
    pub fn tokens(mut self, tokens: Arc<dyn TokenCounter>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    pub fn ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = Some(ids);
        self
    }

    pub fn events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = Some(events);
        self
    }

    /// The tools the model may call (more can be added to the engine later,
    /// [`SupportEngine::register_tool`]). The built-in tools switched on in
    /// the config's `tools` join them, unless one of these has their name.
    pub fn tools(mut self, tools: ToolRegistry) -> Self {
        self.tools = tools;
        self
    }

    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// A daily / monthly LLM budget: past it, the offline responder answers
    /// (see [`crate::insight::budget`]).
    pub fn budget(mut self, budget: crate::insight::BudgetConfig) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Fetches and keeps the files customers send on channels (without
    /// it their messages record the files as the channel referred to them).
    #[cfg(feature = "media")]
    pub fn media(mut self, media: crate::channels::media::Media) -> Self {
        self.media = Some(Arc::new(media));
        self
    }

    pub fn build(self) -> SupportEngine {
        let config = self.config;
        let knowledge = self
            .knowledge
            .unwrap_or_else(|| Arc::new(KnowledgeBase::demo()));
        let offline = || -> Arc<dyn LlmProvider> {
            let calibration = knowledge.embedder().map(|e| e.calibration());
            Arc::new(
                OfflineResponder::new(
                    OfflineConfig {
                        texts: config.prompt.texts.clone(),
                        ..OfflineConfig::default()
                    }
                    .calibrated(calibration.unwrap_or_default()),
                )
                .with_shop(knowledge.facts().display_name()),
            )
        };
        let budget = self.budget.map(|config| super::Budget {
            guard: crate::insight::SpendingGuard::new(
                config,
                crate::insight::analytics::zone_of(knowledge.facts()),
            ),
            offline: offline(),
        });
        let provider = self.provider.unwrap_or_else(offline);
        let tokens = self
            .tokens
            .unwrap_or_else(|| tokens::for_model(provider.model()));
        let mut tools = self.tools;
        let builtins: [(bool, Arc<dyn Tool>); 2] = [
            (
                config.tools.search_knowledge,
                Arc::new(SearchKnowledge::new(config.retrieval_k)),
            ),
            (
                config.tools.handoff_to_human,
                Arc::new(HandoffToHuman::default()),
            ),
        ];
        for (_, tool) in builtins.into_iter().filter(|(on, _)| *on) {
            if !tools.contains(&tool.spec().name)
                && let Err(error) = tools.register(tool)
            {
                // Their definitions are fixed and tested: not reachable.
                tracing::error!(%error, "a built-in tool could not be registered");
            }
        }

        SupportEngine {
            inner: Arc::new(Inner {
                store: self.store.unwrap_or_else(|| Arc::new(MemoryStore::new())),
                shop: std::sync::RwLock::new(Arc::new(super::Shop::new(
                    knowledge,
                    &config,
                    tokens.as_ref(),
                ))),
                classifier: self.classifier.unwrap_or_default(),
                detector: HandoffDetector::default(),
                tokens,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                ids: self.ids.unwrap_or_else(|| Arc::new(RandomIds)),
                events: self.events.unwrap_or_else(|| Arc::new(NoEvents)),
                provider,
                budget,
                config,
                locks: super::locks::ConversationLocks::default(),
                tasks: tokio_util::task::TaskTracker::new(),
                tools: std::sync::RwLock::new(Arc::new(tools)),
                #[cfg(feature = "mcp")]
                mcp_servers: super::mcp::McpServers::default(),
                replying: Arc::default(),
                #[cfg(feature = "media")]
                media: self.media,
            }),
        }
    }
}
