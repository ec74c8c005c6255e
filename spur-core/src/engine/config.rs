use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::escalation::EscalationPolicy;
use crate::prompt::PromptConfig;
use crate::validate::MessageLimits;

/// Everything the engine can be tuned with. Plain data: each host loads it
/// its own way (TOML + env for the server, keyword arguments in Python).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    pub prompt: PromptConfig,
    pub limits: MessageLimits,
    pub escalation: EscalationPolicy,
    /// The customer gets a reply (the fallback if need be) within this time.
    #[serde(with = "crate::millis")]
    pub llm_timeout: Duration,
    pub max_output_tokens: u32,
    pub temperature: Option<f32>,
    /// Knowledge passages retrieved per turn.
    pub retrieval_k: usize,
    /// Channel of conversations started without one.
    pub default_channel: String,
    /// Check every reply's facts against the knowledge before it is stored
    /// (`crate::grounding`).
    pub grounding: bool,
    /// How tools run, and which built-in tools are offered.
    pub tools: crate::tools::ToolsConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            prompt: PromptConfig::default(),
            limits: MessageLimits::default(),
            escalation: EscalationPolicy::default(),
            llm_timeout: Duration::from_secs(15),
            max_output_tokens: 250,
            temperature: None,
            retrieval_k: 3,
            default_channel: "web".into(),
            grounding: true,
            tools: crate::tools::ToolsConfig::default(),
        }
    }
}
