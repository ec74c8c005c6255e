use serde::{Deserialize, Serialize};

/// One category or priority: a name, a description for the LLM, examples
/// and weighted keywords for the local classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub examples: Vec<String>,
    /// Phrases (one to three words) with their weight. Operators may leave
    /// this empty: words of the description and examples are used instead.
    #[serde(default)]
    pub keywords: Vec<(String, f32)>,
}

impl Label {
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            examples: Vec::new(),
            keywords: Vec::new(),
        }
    }

    fn with_keywords(mut self, keywords: &[(&str, f32)]) -> Self {
        self.keywords = keywords.iter().map(|(k, w)| (k.to_string(), *w)).collect();
        self
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaxonomyError {
    #[error("a taxonomy needs at least one {0}")]
    Empty(&'static str),
    #[error("the {kind} {name:?} is listed twice")]
    Duplicate { kind: &'static str, name: String },
    #[error("the default {kind} {name:?} is not one of the {kind} labels")]
    UnknownDefault { kind: &'static str, name: String },
}

/// The categories and priorities tickets are sorted into.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Taxonomy {
    pub categories: Vec<Label>,
    pub priorities: Vec<Label>,
    /// Used when nothing matches, and for the safe fallback.
    pub default_category: String,
    pub default_priority: String,
}

impl Taxonomy {
    /// Checks names are unique and the defaults exist.
    pub fn validate(&self) -> Result<(), TaxonomyError> {
        for (kind, labels, default) in [
            ("category", &self.categories, &self.default_category),
            ("priority", &self.priorities, &self.default_priority),
        ] {
            if labels.is_empty() {
                return Err(TaxonomyError::Empty(kind));
            }
            for (i, label) in labels.iter().enumerate() {
                if labels[..i].iter().any(|l| l.name == label.name) {
                    return Err(TaxonomyError::Duplicate {
                        kind,
                        name: label.name.clone(),
                    });
                }
            }
            if !labels.iter().any(|l| &l.name == default) {
                return Err(TaxonomyError::UnknownDefault {
                    kind,
                    name: default.clone(),
                });
            }
        }
        Ok(())
    }

    pub fn default_category(&self) -> &str {
        &self.default_category
    }

    pub fn default_priority(&self) -> &str {
        &self.default_priority
    }

    pub fn category(&self, name: &str) -> Option<&Label> {
        self.categories.iter().find(|l| l.name == name)
    }

    pub fn priority(&self, name: &str) -> Option<&Label> {
        self.priorities.iter().find(|l| l.name == name)
    }

    /// A taxonomy with these category names (and the default priorities),
    /// for operators who only want to rename or add categories.
    pub fn with_categories(categories: Vec<Label>) -> Result<Self, TaxonomyError> {
        let default = Self::default();
        let default_category = categories
            .iter()
            .find(|l| l.name == "general")
            .or(categories.last())
            .map(|l| l.name.clone())
            .ok_or(TaxonomyError::Empty("category"))?;
        let taxonomy = Self {
            categories,
            default_category,
            ..default
        };
        taxonomy.validate()?;
        Ok(taxonomy)
    }
}

impl Default for Taxonomy {
    /// billing / technical / general with keyword lists written from the
    /// domain, and low / medium / high (read from impact and urgency cues by
    /// the local classifier, see [`super::UrgencyReader`]).
    fn default() -> Self {
        Self {
            categories: vec![
                Label::new(
                    "billing",
                    "Money: invoices, payments, charges, refunds, fees, subscriptions and pricing.",
                )
                .with_keywords(super::lexicon::defaults::BILLING),
                Label::new(
                    "technical",
                    "Something does not work: log-in and passwords, registration problems, errors, bugs, outages, software, devices, integrations, security.",
                )
                .with_keywords(super::lexicon::defaults::TECHNICAL),
                Label::new(
                    "general",
                    "Everything else: orders, delivery and shipping, returns, accounts, feedback, sales and general questions.",
                )
                .with_keywords(super::lexicon::defaults::GENERAL),
            ],
            priorities: vec![
                Label::new(
                    "low",
                    "Questions, information requests, feedback and suggestions with no time pressure.",
                ),
                Label::new("medium", "A problem that needs handling in the normal course."),
                Label::new(
                    "high",
                    "Urgent: outages, security incidents, blocked work, money lost, angry complaints.",
                ),
            ],
            default_category: "general".into(),
            default_priority: "medium".into(),
        }
    }
}
