//! The grounding guard: before a reply is stored and shown, every number,
//! amount, percentage, time, weekday and named place or name it states is
//! looked for in what the reply may rely on (the retrieved passages, the
//! store policies, the operator's facts, the customer's own message). A
//! sentence with an unsupported claim is removed; a reply left with nothing
//! is replaced by an honest handoff. Works on any provider's text.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::classify::lexicon::normalize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every claim was found in the sources.
    Supported,
    /// Sentences with unsupported claims were removed.
    Repaired,
    /// Nothing supported was left: the reply was replaced by a handoff.
    Blocked,
}

/// What the guard found, recorded in the reply's metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grounding {
    pub verdict: Verdict,
    /// The claims not found in any source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<String>,
}

/// The checked reply.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// The reply to send (`None` when blocked).
    pub text: Option<String>,
    pub grounding: Grounding,
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Everything a reply may state, indexed for lookups.
pub struct Sources {
    numbers: Vec<f64>,
    days: HashSet<usize>,
    words: HashSet<String>,
}

impl Sources {
    pub fn new<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut sources = Self {
            numbers: Vec::new(),
            days: HashSet::new(),
            words: HashSet::new(),
        };
        for text in texts {
            sources.numbers.extend(numbers(text));
            sources.days.extend(days(text));
            sources
                .words
                .extend(normalize(text).split_whitespace().map(str::to_string));
        }
        sources
    }

    fn has_number(&self, n: f64) -> bool {
        self.numbers.iter().any(|m| (m - n).abs() < 1e-9)
    }
}

/// Numbers in `text`, with clock times read as hours ("6pm" = 18, "18:00" = 18)
/// and thousands separators dropped.
fn numbers(text: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_digit()
                || ((bytes[i] == b'.' || bytes[i] == b',' || bytes[i] == b':')
                    && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)))
        {
            i += 1;
        }
        let token = &text[start..i];
        let rest = text[i..].trim_start().to_ascii_lowercase();
        let pm = rest.starts_with("pm") || rest.starts_with("p.m");
        let value = if let Some((h, m)) = token.split_once(':') {
            let (h, m) = (
                h.parse::<f64>().unwrap_or(0.0),
                m.parse::<f64>().unwrap_or(0.0),
            );
            h + m / 60.0
        } else if token.contains(',') && !token.contains('.') && token.len() > 4 {
            token.replace(',', "").parse().unwrap_or(0.0)
        } else {
            token.replace(',', ".").parse().unwrap_or(0.0)
        };
        out.push(if pm && value < 12.0 {
            value + 12.0
        } else {
            value
        });
    }
    out
}

/// Weekdays named in `text`, with ranges ("Monday to Friday",
/// "Mon-Fri") counting every day between.
fn days(text: &str) -> HashSet<usize> {
    let lower = normalize(text);
    let words: Vec<&str> = lower.split_whitespace().collect();
    let day_of = |w: &str| {
        WEEKDAYS
            .iter()
            .position(|d| *d == w || (w.len() == 3 && d.starts_with(w)))
    };
    let mut found = HashSet::new();
    for (i, w) in words.iter().enumerate() {
        let Some(first) = day_of(w.trim_end_matches('s')) else {
            continue;
        };
        found.insert(first);
        // "monday to friday", "mon fri" (the hyphen became a space), "monday through friday"
        let next = words.get(i + 1).copied();
        let after = match next {
            Some("to" | "through" | "till" | "until" | "bis" | "a") => words.get(i + 2).copied(),
            other => other,
        };
        if let Some(last) = after.and_then(|w| day_of(w.trim_end_matches('s'))) {
            let mut d = first;
            while d != last {
                d = (d + 1) % 7;
                found.insert(d);
            }
        }
    }
    if words.iter().any(|w| *w == "weekend" || *w == "weekends") {
        found.extend([5, 6]);
    }
    found
}

/// Capitalised words inside a sentence (names, brands, places): the first
/// word of a sentence is skipped, as are a few that are capitalised by habit.
fn names(sentence: &str) -> Vec<String> {
    const HABIT: &[&str] = &["I", "I'm", "I'll", "I've", "I'd", "OK", "FAQ", "AM", "PM"];
    sentence
        .split_whitespace()
        .skip(1)
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().count() >= 3 && w.chars().next().is_some_and(char::is_uppercase))
        .filter(|w| !HABIT.contains(w))
        .filter(|w| {
            let lower = w.to_lowercase();
            !WEEKDAYS.contains(&lower.as_str())
        })
        .map(str::to_string)
        .collect()
}

/// `text` cut after each sentence end and each line break: the pieces
/// join back into `text`, paragraph breaks included.
fn segments(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let end = b == b'\n'
            || (matches!(b, b'.' | b'!' | b'?')
                && bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace()));
        if end {
            out.push(&text[start..=i]);
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// The claims of one sentence that no source supports.
fn unsupported(sentence: &str, sources: &Sources) -> Vec<String> {
    let mut missing = Vec::new();
    for n in numbers(sentence) {
        if !sources.has_number(n) {
            missing.push(format!("{n}"));
        }
    }
    for d in days(sentence) {
        if !sources.days.contains(&d) {
            missing.push(WEEKDAYS[d].to_string());
        }
    }
    for name in names(sentence) {
        let known = normalize(&name)
            .split_whitespace()
            .all(|w| sources.words.contains(w));
        if !known {
            missing.push(name);
        }
    }
    missing
}

/// Streams a reply sentence by sentence: a sentence is released once it
/// is complete and supported, and dropped if it is not, so what a
/// customer watches arrive is what the guard lets through.
#[derive(Debug, Default)]
pub struct SentenceGate {
    pending: String,
}

impl SentenceGate {
    /// Takes a delta; returns the text that may be shown now.
    pub fn push(&mut self, delta: &str, sources: &Sources) -> String {
        self.pending.push_str(delta);
        // The last complete sentence ends at a boundary followed by more text.
        let bytes = self.pending.as_bytes();
        let mut cut = None;
        for i in 0..bytes.len().saturating_sub(1) {
            let boundary = bytes[i] == b'\n'
                || (matches!(bytes[i], b'.' | b'!' | b'?') && bytes[i + 1].is_ascii_whitespace());
            if boundary {
                cut = Some(i + 1);
            }
        }
        let Some(cut) = cut else {
            return String::new();
        };
        let complete: String = self.pending.drain(..cut).collect();
        release(&complete, sources)
    }

    /// The rest, once the reply is complete.
    pub fn finish(&mut self, sources: &Sources) -> String {
        let rest = std::mem::take(&mut self.pending);
        release(&rest, sources)
    }
}

/// `text` without its unsupported sentences; line breaks kept, so a
/// streamed reply shows its paragraphs as the stored one has them.
fn release(text: &str, sources: &Sources) -> String {
    segments(text)
        .into_iter()
        .filter(|s| s.trim().is_empty() || unsupported(s, sources).is_empty())
        .collect()
}

/// The passages a reply draws on: those holding at least half of the
/// reply's longer words (a quote, or a paraphrase of it).
pub fn cited<'a>(reply: &str, passages: impl IntoIterator<Item = (usize, &'a str)>) -> Vec<usize> {
    let normalized = normalize(reply);
    let words: HashSet<&str> = normalized
        .split_whitespace()
        .filter(|w| w.chars().count() >= 4)
        .collect();
    if words.is_empty() {
        return Vec::new();
    }
    passages
        .into_iter()
        .filter(|(_, text)| {
            let normalized = normalize(text);
            let theirs: HashSet<&str> = normalized.split_whitespace().collect();
            words.iter().filter(|w| theirs.contains(*w)).count() * 2 >= words.len()
        })
        .map(|(i, _)| i)
        .collect()
}

/// Checks `reply` against `sources`.
pub fn check(reply: &str, sources: &Sources) -> Checked {
    let mut kept = Vec::new();
    let mut missing = Vec::new();
    for sentence in segments(reply) {
        let claims = unsupported(sentence, sources);
        if claims.is_empty() {
            kept.push(sentence);
        } else {
            missing.extend(claims);
        }
    }
    if missing.is_empty() {
        return Checked {
            text: Some(reply.to_string()),
            grounding: Grounding {
                verdict: Verdict::Supported,
                unsupported: Vec::new(),
            },
        };
    }
    let repaired = kept.concat().trim().to_string();
    // A greeting alone is not an answer.
    let substantive = normalize(&repaired).split_whitespace().count() >= 4;
    Checked {
        grounding: Grounding {
            verdict: if substantive {
                Verdict::Repaired
            } else {
                Verdict::Blocked
            },
            unsupported: missing,
        },
        text: substantive.then_some(repaired),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Sources {
        Sources::new([
            "Returns are accepted within 14 days of delivery.",
            "Our support team is open Monday to Friday, 9am to 6pm IST.",
            "Payment by PayPal or card. Shipping costs $4.99 within Germany.",
            "Do you ship to Lyon?",
        ])
    }

    #[test]
    fn supported_replies_pass_untouched() {
        for reply in [
            "You can return items within 14 days of delivery.",
            "We're open Monday to Friday from 09:00 to 18:00 IST, so Wednesday works.",
            "Yes, PayPal works. Shipping within Germany is $4.99.",
            "Lyon is far away but we'll check.",
        ] {
            let checked = check(reply, &demo());
            assert_eq!(
                checked.grounding.verdict,
                Verdict::Supported,
                "{reply}: {checked:?}"
            );
            assert_eq!(checked.text.as_deref(), Some(reply));
        }
    }

    #[test]
    fn a_streamed_reply_shows_only_supported_sentences() {
        let sources = demo();
        let mut gate = SentenceGate::default();
        let reply = "Returns are accepted within 14 days. Refunds take 30 days. Ask us anytime!";
        let mut shown = String::new();
        for piece in reply.split_inclusive(' ') {
            shown.push_str(&gate.push(piece, &sources));
            assert!(!shown.contains("30"), "{shown}");
        }
        shown.push_str(&gate.finish(&sources));
        assert_eq!(
            shown,
            "Returns are accepted within 14 days. Ask us anytime!"
        );
        let checked = check(reply, &sources);
        assert_eq!(checked.text.as_deref(), Some(shown.as_str()));
    }

    /// The stream shows what is stored, paragraph breaks included (they
    /// were dropped once, and the engine then re-sent the whole reply).
    #[test]
    fn a_streamed_reply_keeps_its_paragraphs() {
        let sources = demo();
        for reply in [
            "Returns are accepted within 14 days.\n\nAsk us anytime!",
            "Returns are accepted within 14 days.\n\nRefunds take 30 days.\n\nAsk us anytime!",
            "Hello!\nReturns are accepted within 14 days of delivery.",
        ] {
            let mut gate = SentenceGate::default();
            let mut shown = String::new();
            for piece in reply.split_inclusive(' ') {
                shown.push_str(&gate.push(piece, &sources));
            }
            shown.push_str(&gate.finish(&sources));
            assert!(shown.contains('\n'), "{shown:?}");
            let stored = check(reply, &sources).text.unwrap();
            assert_eq!(shown.trim(), stored, "{reply:?}");
        }
    }

    #[test]
    fn invented_facts_are_removed_or_blocked() {
        let checked = check(
            "Returns are accepted within 14 days. Refunds take 30 days to arrive.",
            &demo(),
        );
        assert_eq!(checked.grounding.verdict, Verdict::Repaired);
        assert_eq!(
            checked.text.as_deref(),
            Some("Returns are accepted within 14 days.")
        );
        assert_eq!(checked.grounding.unsupported, vec!["30"]);

        for (reply, claim) in [
            ("We are open on Saturday too.", "saturday"),
            ("You can pay with Klarna.", "Klarna"),
            ("Shipping is free over 50 euros.", "50"),
            ("We are open until 8pm.", "20"),
            ("Sure, 20% off today.", "20"),
        ] {
            let checked = check(reply, &demo());
            assert_eq!(checked.grounding.verdict, Verdict::Blocked, "{reply}");
            assert_eq!(checked.text, None);
            assert!(
                checked.grounding.unsupported.iter().any(|c| c == claim),
                "{reply}: {:?}",
                checked.grounding.unsupported
            );
        }
    }
}
