//! The sentences of a passage that answer a question: what the offline
//! responder quotes instead of a whole section.

use std::collections::HashSet;

use super::search::{Index, Query};

/// Most sentences quoted from one passage.
const MAX_SENTENCES: usize = 3;

/// How much a sentence's similarity to the question (with an embedding
/// model) adds to its share of the question's concepts: two sentences
/// naming "Afterpay" differ in which one says how it works.
const SIMILARITY_SHARE: f32 = 0.5;

/// Splits text into sentences and list items, keeping their words.
pub(crate) fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut start = 0;
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let ends = matches!(b, b'.' | b'!' | b'?')
                && bytes.get(i + 1).is_none_or(|n| *n == b' ')
                // "e.g." and "approx." are not ends: the next word starts lower case.
                && bytes
                    .get(i + 2)
                    .is_none_or(|n| n.is_ascii_uppercase() || !n.is_ascii_alphabetic());
            if ends {
                let s = line[start..=i].trim();
                if !s.is_empty() {
                    out.push(s);
                }
                start = i + 1;
            }
        }
        let rest = line[start..].trim();
        if !rest.is_empty() {
            out.push(rest);
        }
    }
    out
}

/// [`excerpt_of`], reading the sentences first.
#[cfg(test)]
pub(crate) fn excerpt(
    index: &Index,
    query: &Query,
    text: &str,
    similarity: Option<&dyn Fn(&str) -> f32>,
) -> String {
    excerpt_of(query, text, &Sentences::read(index, text), similarity)
}

/// A text's sentences and the terms each is indexed by, read once per
/// passage: the excerpt and the passage's confidence both use them.
pub(crate) struct Sentences<'a> {
    all: Vec<&'a str>,
    terms: Vec<HashSet<String>>,
}

impl<'a> Sentences<'a> {
    pub(crate) fn read(index: &Index, text: &'a str) -> Self {
        let all = sentences(text);
        let terms = all.iter().map(|s| index.terms(s)).collect();
        Self { all, terms }
    }

    /// The sentences, in their order.
    pub(crate) fn all(&self) -> &[&'a str] {
        &self.all
    }

    /// How much of the question the sentence that covers most of it covers.
    pub(crate) fn best_coverage(&self, query: &Query) -> f32 {
        self.terms
            .iter()
            .map(|terms| query.coverage(terms))
            .fold(0.0f32, f32::max)
    }
}

/// The sentences of `text` that cover the question's concepts, in their
/// order: the best one, then any that covers a concept the others do not.
/// The whole text when it is short or no sentence covers anything.
/// `similarity` scores a sentence against the question (an embedding
/// model's cosine), when there is a model.
pub(crate) fn excerpt_of(
    query: &Query,
    text: &str,
    sentences: &Sentences<'_>,
    similarity: Option<&dyn Fn(&str) -> f32>,
) -> String {
    let (all, terms) = (&sentences.all, &sentences.terms);
    if all.len() <= 2 {
        return text.trim().to_string();
    }
    let closeness: Vec<f32> = match similarity {
        Some(similarity) => all.iter().map(|s| similarity(s).max(0.0)).collect(),
        None => vec![0.0; all.len()],
    };
    let total = query.total_weight().max(f32::EPSILON);
    let mut chosen: Vec<usize> = Vec::new();
    let mut covered: HashSet<usize> = HashSet::new();
    while chosen.len() < MAX_SENTENCES {
        let gain = |i: usize| -> f32 {
            query
                .concepts
                .iter()
                .enumerate()
                .filter(|(c, concept)| !covered.contains(c) && concept.covered_by(&terms[i]))
                .map(|(_, concept)| concept.weight)
                .sum()
        };
        let best = (0..all.len())
            .filter(|i| !chosen.contains(i))
            .map(|i| (i, gain(i)))
            .filter(|(_, g)| *g > 0.0)
            .map(|(i, g)| (i, g / total + SIMILARITY_SHARE * closeness[i]))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        let Some((i, _)) = best else { break };
        chosen.push(i);
        for (c, concept) in query.concepts.iter().enumerate() {
            if concept.covered_by(&terms[i]) {
                covered.insert(c);
            }
        }
    }
    if chosen.is_empty() {
        return all[..2].join(" ");
    }
    // Every sentence about the question's subject (its heaviest idea the
    // passage names), not just the first: "Afterpay splits your purchase
    // into 4 payments" is how Afterpay works, after "We accept Afterpay".
    let subject = query
        .concepts
        .iter()
        .filter(|c| chosen.iter().any(|&i| c.covered_by(&terms[i])))
        .max_by(|a, b| a.weight.total_cmp(&b.weight));
    if let Some(subject) = subject {
        for (i, sentence) in terms.iter().enumerate() {
            if chosen.len() + usize::from(!chosen.contains(&0)) >= MAX_SENTENCES {
                break;
            }
            if !chosen.contains(&i) && subject.covered_by(sentence) {
                chosen.push(i);
            }
        }
    }
    // A section's first sentence states its rule; later ones qualify it
    // ("Unused yarn can be returned within 60 days. Wound yarn cannot
    // be."). Quoting a qualification without its rule misleads, so the
    // lead sentence always comes along.
    if !chosen.contains(&0) {
        chosen.truncate(MAX_SENTENCES - 1);
        chosen.push(0);
    }
    chosen.sort_unstable();
    chosen.iter().map(|&i| all[i]).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sentences_but_not_abbreviations() {
        assert_eq!(
            sentences("We ship e.g. shoes. Returns are free! Ask us?\n- a list item"),
            vec![
                "We ship e.g. shoes.",
                "Returns are free!",
                "Ask us?",
                "- a list item"
            ]
        );
    }

    #[test]
    fn quotes_the_sentence_that_answers() {
        let text = "Orders ship from Hamburg. Standard delivery takes 2-4 working days in Germany. \
                    Payment is by PayPal, Klarna or card. Gift wrapping costs 3 EUR.";
        let index = Index::new(vec![("Shop".to_string(), text.to_string())]);
        let query = index.analyse("Can I pay with PayPal?");
        assert_eq!(
            excerpt(&index, &query, text, None),
            "Orders ship from Hamburg. Payment is by PayPal, Klarna or card."
        );
        let query = index.analyse("how long does delivery take and is gift wrap extra?");
        let quoted = excerpt(&index, &query, text, None);
        assert!(quoted.contains("2-4 working days"), "{quoted}");
        assert!(quoted.contains("3 EUR"), "{quoted}");
        assert!(!quoted.contains("PayPal"), "{quoted}");
    }

    #[test]
    fn every_sentence_about_the_subject_is_quoted() {
        let text = "We accept cards and Afterpay. Afterpay splits a purchase into 4 payments. \
                    Cash is not accepted.";
        let index = Index::new(vec![("Payment".to_string(), text.to_string())]);
        let query = index.analyse("how does afterpay work");
        let splits = |s: &str| if s.contains("splits") { 0.9 } else { 0.1 };
        let quoted = excerpt(&index, &query, text, Some(&splits));
        assert!(quoted.contains("splits a purchase"), "{quoted}");
        assert!(!quoted.contains("Cash"), "{quoted}");
        // Without a model: every sentence about the subject, nothing else.
        assert_eq!(
            excerpt(&index, &query, text, None),
            "We accept cards and Afterpay. Afterpay splits a purchase into 4 payments."
        );
    }

    #[test]
    fn a_qualification_comes_with_the_rule_it_qualifies() {
        let text = "Unused items can be returned within 60 days. Worn items cannot be returned. \
                    Return shipping is paid by the customer.";
        let index = Index::new(vec![("Returns".to_string(), text.to_string())]);
        let query = index.analyse("can worn items be returned?");
        let quoted = excerpt(&index, &query, text, None);
        assert!(
            quoted.starts_with("Unused items can be returned"),
            "{quoted}"
        );
        assert!(quoted.contains("Worn items cannot"), "{quoted}");
    }
}
