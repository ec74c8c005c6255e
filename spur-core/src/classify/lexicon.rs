//! A weighted phrase lexicon: phrases of one to four words, each adding a
//! weight to one label. Matching is one lowercase pass and one hash lookup per
//! word (longer phrases are only tried where a shorter prefix is known), so a
//! ticket of a few hundred words scores in a few microseconds.

pub(crate) mod cues;
pub(crate) mod defaults;

use rustc_hash::FxHashMap;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

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

/// Lowercases, drops apostrophes ("can't" -> "cant"), folds accents
/// ("contraseña" -> "contrasena", "ß" -> "ss": customers often type without
/// them) and turns everything that is not a letter or digit into a separator.
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
            for lower in c.to_lowercase() {
                if lower == 'ß' {
                    out.push_str("ss");
                    continue;
                }
                // The base letter of a decomposable one, without its marks.
                out.extend(
                    std::iter::once(lower)
                        .nfd()
                        .filter(|m| !is_combining_mark(*m)),
                );
            }
        } else if c != '\u{2019}' {
            out.push(' ');
        }
    }
    out
}

/// Words shorter than this are never split as compounds.
const COMPOUND_MIN_WORD: usize = 8;
/// The known part of a compound is at least this long, and so is the rest
/// of a word read by its first part.
const COMPOUND_MIN_PART: usize = 5;
/// A word read by its last part has at least this much before it.
const COMPOUND_MIN_HEAD: usize = 3;

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
    /// four words and labels out of range are ignored.
    pub fn add(&mut self, label: usize, phrase: &str, weight: f32) {
        if label >= self.labels {
            return;
        }
        let normalized = normalize(phrase);
        let words: Vec<&str> = normalized.split_whitespace().collect();
        if words.is_empty() || words.len() > 4 {
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

    /// The longest known word that a long unknown word ends or starts with:
    /// compounds ("Rückerstattung", "Kundenkonto", "Passwortänderung",
    /// "repayment") share the meaning of their parts. Both parts must be
    /// word-sized, so "courtesy" is not read as "court".
    fn compound_part<'w>(&self, word: &'w str) -> Option<(&'w str, &Entry)> {
        // Byte offset of the k-th char, without collecting offsets: this
        // runs for every unknown long word. Normalised words are mostly ASCII.
        let ascii = word.is_ascii();
        let chars = if ascii {
            word.len()
        } else {
            word.chars().count()
        };
        if chars < COMPOUND_MIN_WORD {
            return None;
        }
        let at = |k: usize| {
            if ascii {
                k
            } else {
                word.char_indices().nth(k).map_or(word.len(), |(i, _)| i)
            }
        };
        let known = |part: &'w str| {
            self.entries
                .get(part)
                .filter(|e| !e.weights.is_empty())
                .map(|e| (part, e))
        };
        // Longest part first: a suffix after a head of at least
        // COMPOUND_MIN_HEAD chars, or a prefix before a word-sized rest.
        (COMPOUND_MIN_PART..=chars - COMPOUND_MIN_HEAD)
            .rev()
            .find_map(|len| {
                let suffix = &word[at(chars - len)..];
                let prefix = (chars - len >= COMPOUND_MIN_PART).then(|| &word[..at(len)]);
                known(suffix).or_else(|| prefix.and_then(known))
            })
    }

    pub(crate) fn walk_words(&self, words: &[&str], mut on_match: impl FnMut(usize, &str, f32)) {
        let mut key = String::new();
        for (start, word) in words.iter().enumerate() {
            // Single words are looked up in place; a key is built only for
            // phrases that some entry continues.
            let Some(mut entry) = self.entries.get(*word) else {
                if let Some((part, entry)) = self.compound_part(word) {
                    for &(label, weight) in &entry.weights {
                        on_match(label, part, weight);
                    }
                }
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
    fn matches_phrases_of_one_to_four_words() {
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
    fn folds_accents_so_either_spelling_matches() {
        assert_eq!(
            normalize("Contraseña, GRÖẞE, Größe"),
            "contrasena  grosse  grosse"
        );
        let mut lex = Lexicon::new(1);
        lex.add(0, "contraseña", 1.0);
        lex.add(0, "gebuhr", 2.0);
        assert_eq!(lex.score("la contrasena"), vec![1.0]);
        assert_eq!(lex.score("Gebühr"), vec![2.0]);
    }

    #[test]
    fn reads_long_unknown_words_by_a_known_part() {
        let mut lex = Lexicon::new(2);
        lex.add(0, "erstattung", 3.0);
        lex.add(0, "passwort", 1.0);
        lex.add(1, "court", 3.0);
        // The end of a compound, and its start when the rest is word-sized.
        assert_eq!(lex.score("Rückerstattung"), vec![3.0, 0.0]);
        assert_eq!(lex.score("Passwortänderung"), vec![1.0, 0.0]);
        // Too little left over: "courtesy" is not a court.
        assert_eq!(lex.score("with courtesy"), vec![0.0, 0.0]);
        assert_eq!(lex.matches("Rückerstattung")[0].phrase, "erstattung");
    }

    #[test]
    fn ignores_out_of_range_labels_and_long_phrases() {
        let mut lex = Lexicon::new(1);
        lex.add(3, "refund", 2.0);
        lex.add(0, "one two three four five", 2.0);
        assert_eq!(lex.score("refund one two three four five"), vec![0.0]);
        lex.add(0, "one two three four", 2.0);
        assert_eq!(lex.score("one two three four five"), vec![2.0]);
    }
}
