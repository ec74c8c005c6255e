//! When the bot hands a conversation to a person, and what it tells the customer.

use serde::{Deserialize, Serialize};

use crate::classify::{Classification, Lexicon, lexicon::defaults};

/// Why a conversation went to a person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EscalationReason {
    /// The customer asked for a person.
    CustomerRequest,
    /// The explicit "talk to a person" action (`POST /v1/chat/escalate`).
    Requested,
    /// The assistant failed this many times in a row.
    RepeatedFailures { count: u32 },
    /// No knowledge passage was confident enough.
    LowConfidence { confidence: f32 },
    /// The responder itself said it cannot answer (offline responder).
    NoAnswer,
    /// A high-priority complaint.
    UrgentComplaint,
    /// The model called the `handoff_to_human` tool, with this reason.
    AssistantHandoff { reason: String },
}

impl EscalationReason {
    pub fn code(&self) -> &'static str {
        match self {
            Self::CustomerRequest => "customer_request",
            Self::Requested => "requested",
            Self::RepeatedFailures { .. } => "repeated_failures",
            Self::LowConfidence { .. } => "low_confidence",
            Self::NoAnswer => "no_answer",
            Self::UrgentComplaint => "urgent_complaint",
            Self::AssistantHandoff { .. } => "assistant_handoff",
        }
    }

    /// One line for the agent.
    pub fn describe(&self) -> String {
        match self {
            Self::CustomerRequest => "The customer asked to talk to a person.".into(),
            Self::Requested => "The customer pressed \"talk to a person\".".into(),
            Self::RepeatedFailures { count } => {
                format!("The assistant failed to answer {count} times in a row.")
            }
            Self::LowConfidence { confidence } => format!(
                "No knowledge article matched well enough (best confidence {confidence:.2})."
            ),
            Self::NoAnswer => "The assistant had no answer in the knowledge base.".into(),
            Self::UrgentComplaint => "An urgent complaint.".into(),
            Self::AssistantHandoff { reason } => format!("The assistant handed over: {reason}"),
        }
    }
}

/// The escalation rules. Every rule can be switched off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationPolicy {
    /// Escalate when the customer asks for a person.
    pub on_request: bool,
    /// Summed phrase weight that counts as asking for a person.
    pub request_threshold: f32,
    /// Escalate after this many fallback replies in a row (0 = never).
    pub max_consecutive_fallbacks: u32,
    /// Escalate when the best passage is below this confidence (LLM mode;
    /// `None` = never). The offline responder hands off on its own.
    pub min_knowledge_confidence: Option<f32>,
    /// Escalate high-priority complaints.
    pub urgent_complaints: bool,
}

impl Default for EscalationPolicy {
    fn default() -> Self {
        Self {
            on_request: true,
            request_threshold: 2.0,
            max_consecutive_fallbacks: 2,
            min_knowledge_confidence: None,
            urgent_complaints: true,
        }
    }
}

/// Recognises "let me talk to a person" in several phrasings and languages,
/// and angry complaints.
#[derive(Clone, Debug)]
pub struct HandoffDetector {
    request: Lexicon,
    /// "when is customer service open?" names the team without asking for it.
    about_support: Lexicon,
    complaint: Lexicon,
}

impl Default for HandoffDetector {
    fn default() -> Self {
        let mut request = Lexicon::new(1);
        for (phrase, weight) in defaults::HANDOFF {
            request.add(0, phrase, *weight);
        }
        let mut about_support = Lexicon::new(1);
        for (phrase, weight) in defaults::ABOUT_SUPPORT {
            about_support.add(0, phrase, *weight);
        }
        let mut complaint = Lexicon::new(1);
        for (phrase, weight) in defaults::COMPLAINT {
            complaint.add(0, phrase, *weight);
        }
        Self {
            request,
            about_support,
            complaint,
        }
    }
}

impl HandoffDetector {
    /// How strongly `text` asks for a person: the summed weights of its
    /// request phrases, less those of a question about the team's hours or
    /// contact details (which the knowledge answers).
    pub fn request_score(&self, text: &str) -> f32 {
        let score = |lexicon: &Lexicon| lexicon.score(text).first().copied().unwrap_or(0.0);
        (score(&self.request) - score(&self.about_support)).max(0.0)
    }

    pub fn complaint_score(&self, text: &str) -> f32 {
        self.complaint.score(text).first().copied().unwrap_or(0.0)
    }
}

impl EscalationPolicy {
    /// Rules that look at the customer's message before any reply.
    pub fn on_inbound(
        &self,
        detector: &HandoffDetector,
        text: &str,
        classification: &Classification,
    ) -> Option<EscalationReason> {
        if self.on_request && detector.request_score(text) >= self.request_threshold {
            return Some(EscalationReason::CustomerRequest);
        }
        if self.urgent_complaints
            && classification.priority == "high"
            && detector.complaint_score(text) >= 2.0
        {
            return Some(EscalationReason::UrgentComplaint);
        }
        None
    }

    /// Rules that look at how the turn went.
    pub fn after_reply(
        &self,
        consecutive_fallbacks: u32,
        best_confidence: Option<f32>,
        responder_handoff: bool,
    ) -> Option<EscalationReason> {
        if responder_handoff {
            return Some(EscalationReason::NoAnswer);
        }
        if self.max_consecutive_fallbacks > 0
            && consecutive_fallbacks >= self.max_consecutive_fallbacks
        {
            return Some(EscalationReason::RepeatedFailures {
                count: consecutive_fallbacks,
            });
        }
        match (self.min_knowledge_confidence, best_confidence) {
            (Some(min), Some(best)) if best < min => {
                Some(EscalationReason::LowConfidence { confidence: best })
            }
            (Some(_), None) => Some(EscalationReason::LowConfidence { confidence: 0.0 }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::LocalClassifier;

    #[test]
    fn recognises_requests_for_a_person() {
        let detector = HandoffDetector::default();
        let policy = EscalationPolicy::default();
        let classifier = LocalClassifier::default();
        let asks = |text: &str| {
            policy.on_inbound(&detector, text, &classifier.classify_text(text))
                == Some(EscalationReason::CustomerRequest)
        };
        for text in [
            "I want to talk to a human",
            "can I speak with a real person please",
            "connect me to customer service",
            "Agent please",
            "quiero hablar con un humano",
            "je veux parler à un conseiller",
            "Ich möchte mit einem Mitarbeiter sprechen",
            "get me a representative",
        ] {
            assert!(asks(text), "{text}");
        }
        for text in [
            "Where is my order?",
            "How do I reset my password?",
            "thanks!",
            // Questions about the team are answered from the shop's facts.
            "when is your customer service available",
            "what hours is your support team available",
            "what's your customer service phone number",
            "is customer support open on weekends?",
            "how can I contact you",
            "¿cuál es el horario de atención al cliente?",
        ] {
            assert!(!asks(text), "{text}");
        }
        // Asking for the team stays a request, whatever else is said.
        for text in [
            "when can I talk to a real person?",
            "I need customer service now, what are your hours",
            "how can I contact a human?",
        ] {
            assert!(asks(text), "{text}");
        }
    }

    #[test]
    fn escalates_urgent_complaints_and_repeated_failures() {
        let detector = HandoffDetector::default();
        let policy = EscalationPolicy::default();
        let text = "This is unacceptable, I was charged twice, fix it urgently!";
        let c = LocalClassifier::default().classify_text(text);
        assert_eq!(
            policy.on_inbound(&detector, text, &c),
            Some(EscalationReason::UrgentComplaint)
        );
        assert_eq!(policy.after_reply(1, Some(0.9), false), None);
        assert_eq!(
            policy.after_reply(2, Some(0.9), false),
            Some(EscalationReason::RepeatedFailures { count: 2 })
        );
        assert_eq!(
            policy.after_reply(0, None, true),
            Some(EscalationReason::NoAnswer)
        );
        let strict = EscalationPolicy {
            min_knowledge_confidence: Some(0.5),
            ..EscalationPolicy::default()
        };
        assert_eq!(
            strict.after_reply(0, Some(0.2), false),
            Some(EscalationReason::LowConfidence { confidence: 0.2 })
        );
    }
}
