//! A weighted phrase lexicon: phrases of one to three words, each adding a
//! weight to one label. Matching is one lowercase pass and one hash lookup per
//! word (longer phrases are only tried where a shorter prefix is known), so a
//! ticket of a few hundred words scores in a few microseconds.

pub(crate) mod defaults;

use rustc_hash::FxHashMap;

#[derive(Clone, Debug, Default)]
struct Entry {
    weights: Vec<(usize, f32)>,
    /// Some longer phrase starts with this one.
    continues: bool,
}

/// One matched phrase, for explanations.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    pub label: usize,
    pub phrase: String,
    pub weight: f32,
}

/// Phrases to labels, matched on normalised words.
#[derive(Clone, Debug, Default)]
pub struct Lexicon {
    entries: FxHashMap<String, Entry>,
    labels: usize,
    longest: usize,
}

/// Lowercases, drops apostrophes ("can't" -> "cant") and turns everything
/// that is not a letter or digit into a separator.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            // The common case, without Unicode tables.
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if c != '\'' {
                out.push(' ');
            }
        } else if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if c != '\u{2019}' {
            out.push(' ');
        }
    }
    out
}

impl Lexicon {
    pub fn new(labels: usize) -> Self {
        Self {
            entries: FxHashMap::default(),
            labels,
            longest: 1,
        }
    }

    pub fn labels(&self) -> usize {
        self.labels
    }

    /// Adds `weight` to `label` whenever `phrase` occurs. Phrases longer than
    /// three words and labels out of range are ignored.
    pub fn add(&mut self, label: usize, phrase: &str, weight: f32) {
        if label >= self.labels {
            return;
        }
        let normalized = normalize(phrase);
        let words: Vec<&str> = normalized.split_whitespace().collect();
        if words.is_empty() || words.len() > 3 {
            return;
        }
        self.longest = self.longest.max(words.len());
        for len in 1..words.len() {
            self.entries
                .entry(words[..len].join(" "))
                .or_default()
                .continues = true;
        }
        let entry = self.entries.entry(words.join(" ")).or_default();
        match entry.weights.iter_mut().find(|(l, _)| *l == label) {
            Some((_, w)) => *w += weight,
            None => entry.weights.push((label, weight)),
        }
    }

    /// Adds every phrase's weight to `scores[label]` (which must have
    /// [`Self::labels`] slots).
    pub fn score_into(&self, text: &str, scores: &mut [f32]) {
        let normalized = normalize(text);
        let words: Vec<&str> = normalized.split_whitespace().collect();
        self.score_words(&words, scores);
    }

    /// [`Self::score_into`] over words already normalised (see [`normalize`]),
    /// so several lexicons can share one pass over the text.
    pub fn score_words(&self, words: &[&str], scores: &mut [f32]) {
        self.walk_words(words, |label, _, weight| {
            if let Some(slot) = scores.get_mut(label) {
                *slot += weight;
            }
        });
    }

    /// Summed weight per label.
    pub fn score(&self, text: &str) -> Vec<f32> {
        let mut scores = vec![0.0; self.labels];
        self.score_into(text, &mut scores);
        scores
    }

    /// Every phrase that matched, in text order.
    pub fn matches(&self, text: &str) -> Vec<Match> {
        let mut found = Vec::new();
        self.walk(text, |label, phrase, weight| {
            found.push(Match {
                label,
                phrase: phrase.to_string(),
                weight,
            })
        });
        found
    }

    fn walk(&self, text: &str, on_match: impl FnMut(usize, &str, f32)) {
        let normalized = normalize(text);
        let words: Vec<&str> = normalized.split_whitespace().collect();
        self.walk_words(&words, on_match);
    }

    fn walk_words(&self, words: &[&str], mut on_match: impl FnMut(usize, &str, f32)) {
        let mut key = String::new();
        for (start, word) in words.iter().enumerate() {
            // Single words are looked up in place; a key is built only for
            // phrases that some entry continues.
            let Some(mut entry) = self.entries.get(*word) else {
                continue;
            };
            for &(label, weight) in &entry.weights {
                on_match(label, word, weight);
            }
            key.clear();
            key.push_str(word);
            for next in words[start + 1..].iter().take(self.longest - 1) {
                if !entry.continues {
                    break;
                }
                key.push(' ');
                key.push_str(next);
                match self.entries.get(key.as_str()) {
                    Some(found) => entry = found,
                    None => break,
                }
                for &(label, weight) in &entry.weights {
                    on_match(label, &key, weight);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_phrases_of_one_to_three_words() {
        let mut lex = Lexicon::new(2);
        lex.add(0, "refund", 2.0);
        lex.add(0, "money back", 3.0);
        lex.add(1, "as soon as", 1.0);
        lex.add(1, "can't log in", 4.0);
        let scores = lex.score("I want my MONEY back as soon as possible; I cant log in!");
        assert_eq!(scores, vec![3.0, 5.0]);
        let phrases: Vec<String> = lex
            .matches("Refund, please")
            .into_iter()
            .map(|m| m.phrase)
            .collect();
        assert_eq!(phrases, vec!["refund"]);
    }

    #[test]
    fn ignores_out_of_range_labels_and_long_phrases() {
        let mut lex = Lexicon::new(1);
        lex.add(3, "refund", 2.0);
        lex.add(0, "one two three four", 2.0);
        assert_eq!(lex.score("refund one two three four"), vec![0.0]);
    }
}
