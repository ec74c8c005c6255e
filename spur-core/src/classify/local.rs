use std::sync::LazyLock;

use super::lexicon::{Lexicon, normalize};
use super::{
    Classification, ClassificationSource, Classifier, Label, Taxonomy, TaxonomyError, UrgencyReader,
};

/// Words too common to say anything about a category.
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "and",
    "are",
    "as",
    "at",
    "be",
    "but",
    "by",
    "can",
    "do",
    "for",
    "from",
    "has",
    "have",
    "how",
    "i",
    "if",
    "in",
    "is",
    "it",
    "its",
    "me",
    "my",
    "no",
    "not",
    "of",
    "on",
    "or",
    "our",
    "so",
    "that",
    "the",
    "their",
    "there",
    "this",
    "to",
    "was",
    "we",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "you",
    "your",
    "everything",
    "else",
    "something",
    "does",
    "need",
    "needs",
];

/// Below this summed weight a priority word is not enough to leave the default.
const PRIORITY_THRESHOLD: f32 = 2.0;

/// Offline classifier over weighted phrase lexicons. Needs no network and no
/// training data; classifies a ticket in microseconds.
#[derive(Clone, Debug)]
pub struct LocalClassifier {
    taxonomy: Taxonomy,
    categories: Lexicon,
    priorities: Lexicon,
    default_category: usize,
    default_priority: usize,
    /// Set when the priorities are named low, medium and high: their
    /// positions, read by impact and urgency instead of keywords.
    levels: Option<[usize; 3]>,
}

/// The cue lexicon is fixed, so every classifier shares one.
static URGENCY: LazyLock<UrgencyReader> = LazyLock::new(UrgencyReader::default);

/// Positions of the priorities named low, medium and high, if all three exist.
fn levels_of(priorities: &[Label]) -> Option<[usize; 3]> {
    let find = |name: &str| priorities.iter().position(|l| l.name == name);
    Some([find("low")?, find("medium")?, find("high")?])
}

fn lexicon_for(labels: &[Label]) -> Lexicon {
    let mut lexicon = Lexicon::new(labels.len());
    for (i, label) in labels.iter().enumerate() {
        if label.keywords.is_empty() {
            // An operator's label with no keywords: learn from its own words.
            let words = normalize(&format!(
                "{} {} {}",
                label.name,
                label.description,
                label.examples.join(" ")
            ));
            let mut seen: Vec<&str> = Vec::new();
            for word in words.split_whitespace() {
                if !STOPWORDS.contains(&word) && !seen.contains(&word) {
                    seen.push(word);
                    lexicon.add(i, word, 1.0);
                }
            }
        } else {
            for (phrase, weight) in &label.keywords {
                lexicon.add(i, phrase, *weight);
            }
        }
    }
    lexicon
}

fn argmax(scores: &[f32]) -> Option<(usize, f32, f32)> {
    let mut best: Option<(usize, f32)> = None;
    let mut second = 0.0f32;
    for (i, &score) in scores.iter().enumerate() {
        match best {
            Some((_, b)) if score <= b => second = second.max(score),
            Some((_, b)) => {
                second = b;
                best = Some((i, score));
            }
            None => best = Some((i, score)),
        }
    }
    best.map(|(i, b)| (i, b, second))
}

impl LocalClassifier {
    pub fn new(taxonomy: Taxonomy) -> Result<Self, TaxonomyError> {
        taxonomy.validate()?;
        let position =
            |labels: &[Label], name: &str| labels.iter().position(|l| l.name == name).unwrap_or(0);
        Ok(Self {
            categories: lexicon_for(&taxonomy.categories),
            priorities: lexicon_for(&taxonomy.priorities),
            default_category: position(&taxonomy.categories, &taxonomy.default_category),
            default_priority: position(&taxonomy.priorities, &taxonomy.default_priority),
            levels: levels_of(&taxonomy.priorities),
            taxonomy,
        })
    }

    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    /// Classifies synchronously (this is pure CPU work).
    pub fn classify_text(&self, text: &str) -> Classification {
        let normalized = normalize(text);
        let words: Vec<&str> = normalized.split_whitespace().collect();
        let mut category_scores = vec![0.0; self.categories.labels()];
        self.categories.score_words(&words, &mut category_scores);

        let (category, confidence) = match argmax(&category_scores) {
            Some((i, best, second)) if best > 0.0 => (i, best / (best + second + 1.0)),
            _ => (self.default_category, 0.1),
        };
        let priority = match self.levels {
            Some(levels) => levels[URGENCY.read(text, &words).level() as usize],
            None => {
                let mut scores = vec![0.0; self.priorities.labels()];
                self.priorities.score_words(&words, &mut scores);
                match argmax(&scores) {
                    Some((i, best, _)) if best >= PRIORITY_THRESHOLD => i,
                    _ => self.default_priority,
                }
            }
        };
        let name =
            |labels: &[Label], i: usize| labels.get(i).map(|l| l.name.clone()).unwrap_or_default();
        Classification {
            category: name(&self.taxonomy.categories, category),
            priority: name(&self.taxonomy.priorities, priority),
            confidence: confidence.clamp(0.0, 1.0),
            source: ClassificationSource::Local,
        }
    }
}

impl Default for LocalClassifier {
    fn default() -> Self {
        let taxonomy = Taxonomy::default();
        Self {
            categories: lexicon_for(&taxonomy.categories),
            priorities: lexicon_for(&taxonomy.priorities),
            default_category: 2,
            default_priority: 1,
            levels: levels_of(&taxonomy.priorities),
            taxonomy,
        }
    }
}

#[cfg_attr(not(target_family = "wasm"), async_trait::async_trait)]
#[cfg_attr(target_family = "wasm", async_trait::async_trait(?Send))]
impl Classifier for LocalClassifier {
    async fn classify(&self, text: &str) -> Classification {
        self.classify_text(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(text: &str) -> (String, String) {
        let c = LocalClassifier::default().classify_text(text);
        assert_eq!(c.source, ClassificationSource::Local);
        (c.category, c.priority)
    }

    #[test]
    fn reads_the_default_categories() {
        assert_eq!(classify("I was charged twice on my invoice").0, "billing");
        assert_eq!(
            classify("I can't log in, password reset fails").0,
            "technical"
        );
        assert_eq!(
            classify("Where is my order? Tracking shows nothing").0,
            "general"
        );
    }

    #[test]
    fn reads_priorities() {
        assert_eq!(
            classify("URGENT: production outage, everything is down").1,
            "high"
        );
        assert_eq!(
            classify("Just a question about your newsletter, no rush").1,
            "low"
        );
        assert_eq!(classify("My order has a problem").1, "medium");
    }

    #[test]
    fn reads_spanish_german_and_hinglish() {
        assert_eq!(
            classify("Me cobraron dos veces el mismo pedido"),
            ("billing".into(), "high".into())
        );
        assert_eq!(
            classify("¿Tenéis la chaqueta en talla M?"),
            ("general".into(), "low".into())
        );
        assert_eq!(
            classify("Die App stürzt beim Öffnen ab, Fehlermeldung 0x12"),
            ("technical".into(), "medium".into())
        );
        assert_eq!(
            classify("Rückerstattung fehlt seit drei Wochen"),
            ("billing".into(), "medium".into())
        );
        assert_eq!(
            classify("OTP nahi aa raha, login nahi ho raha"),
            ("technical".into(), "high".into())
        );
    }

    #[test]
    fn operator_priority_names_are_read_by_their_keywords() {
        let taxonomy = Taxonomy {
            priorities: vec![
                Label {
                    keywords: vec![("vip".into(), 3.0)],
                    ..Label::new("p1", "VIP customers")
                },
                Label::new("p2", "everything else"),
            ],
            default_priority: "p2".into(),
            ..Taxonomy::default()
        };
        let classifier = LocalClassifier::new(taxonomy).unwrap();
        assert_eq!(classifier.classify_text("VIP here, hello").priority, "p1");
        // Urgency cues do not apply to labels they do not name.
        assert_eq!(classifier.classify_text("URGENT outage!!").priority, "p2");
    }

    #[test]
    fn nothing_to_read_gives_the_default_with_low_confidence() {
        let c = LocalClassifier::default().classify_text("");
        assert_eq!(
            (c.category.as_str(), c.priority.as_str()),
            ("general", "medium")
        );
        assert!(c.confidence < 0.2);
    }

    #[test]
    fn operator_categories_learn_from_their_descriptions() {
        let taxonomy = Taxonomy::with_categories(vec![
            Label {
                examples: vec!["my parcel never arrived".into()],
                ..Label::new("logistics", "parcels, couriers and warehouses")
            },
            Label::new("general", "anything else"),
        ])
        .unwrap();
        let classifier = LocalClassifier::new(taxonomy).unwrap();
        assert_eq!(
            classifier
                .classify_text("The courier lost my parcel")
                .category,
            "logistics"
        );
        assert_eq!(classifier.classify_text("hello there").category, "general");
    }

    #[test]
    fn invalid_taxonomies_are_refused() {
        let taxonomy = Taxonomy {
            default_category: "nope".into(),
            ..Taxonomy::default()
        };
        assert!(matches!(
            LocalClassifier::new(taxonomy),
            Err(TaxonomyError::UnknownDefault { .. })
        ));
    }
}
