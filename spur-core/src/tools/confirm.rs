//! The customer's answer to "shall I go ahead?": an action that changes
//! something runs only on a plain yes. Anything that is not clearly yes or
//! no ("yes, but to my new address", a new question) is neither: the
//! action is dropped and the message is answered as any other, so a
//! hedged or mistaken answer never acts.

use serde_json::Value;

use crate::conversation::PendingAction;

/// `action` in words for the customer: "cancel order (order number: 1042)".
pub fn describe(action: &PendingAction) -> String {
    let words = |name: &str| name.replace(['_', '-'], " ");
    let arguments: Vec<String> = match &action.shown {
        Value::Object(map) => map
            .iter()
            .map(|(key, value)| match value {
                Value::String(s) => format!("{}: {s}", words(key)),
                other => format!("{}: {other}", words(key)),
            })
            .collect(),
        _ => Vec::new(),
    };
    if arguments.is_empty() {
        words(&action.tool)
    } else {
        format!("{} ({})", words(&action.tool), arguments.join(", "))
    }
}

/// What a message says to a held action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Confirm,
    Decline,
}

/// Whole answers (after the words in [`COURTESY`] are set aside) that
/// confirm. Short on purpose: the widget's Confirm button sends "Yes".
const YES: &[&str] = &[
    "yes",
    "y",
    "yep",
    "yeah",
    "yea",
    "yup",
    "sure",
    "ok",
    "okay",
    "k",
    "confirm",
    "confirmed",
    "i confirm",
    "go ahead",
    "do it",
    "please do",
    "correct",
    "that's right",
    "thats right",
    "absolutely",
    "of course",
    "proceed",
    "👍",
    // The widget's other languages' plain yes.
    "sí",
    "si",
    "oui",
    "ja",
    "sim",
    "да",
];

const NO: &[&str] = &[
    "no",
    "n",
    "nope",
    "nah",
    "cancel",
    "don't",
    "dont",
    "do not",
    "don't do it",
    "stop",
    "never mind",
    "nevermind",
    "not now",
    "👎",
    "non",
    "nein",
    "não",
    "nao",
    "нет",
];

/// Words around a yes or no that do not change it.
const COURTESY: &[&str] = &["please", "pls", "plz", "thanks", "thank", "you", "thx"];

/// Reads `text` as an answer to a held action.
pub fn decision(text: &str) -> Option<Decision> {
    // Long messages are not answers to a yes-or-no question.
    if text.chars().count() > 60 {
        return None;
    }
    let lowered = text.to_lowercase();
    let words: Vec<&str> = lowered
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | '!' | '?' | ';' | ':'))
        .filter(|w| !w.is_empty() && !COURTESY.contains(w))
        .collect();
    if says(&words, LEADING_YES, YES) {
        Some(Decision::Confirm)
    } else if says(&words, LEADING_NO, NO) {
        Some(Decision::Decline)
    } else {
        None
    }
}

/// Leading words that may come before a longer yes ("ok, go ahead").
const LEADING_YES: &[&str] = &["ok", "okay", "yes", "yeah", "yep", "sure", "alright"];
const LEADING_NO: &[&str] = &["no", "nope", "nah"];

/// `words` are one of `answers`, after any number of `leading` ones.
fn says(mut words: &[&str], leading: &[&str], answers: &[&str]) -> bool {
    while words.len() > 1 && leading.contains(&words[0]) {
        words = &words[1..];
    }
    answers.contains(&words.join(" ").as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_yes_confirms() {
        for yes in [
            "Yes",
            "yes please",
            "Yes!",
            "ok, go ahead",
            "Go ahead, thanks.",
            "Sure",
            "confirm",
            "👍",
        ] {
            assert_eq!(decision(yes), Some(Decision::Confirm), "{yes:?}");
        }
        for no in [
            "No",
            "no thanks",
            "Cancel",
            "don't",
            "No, don't!",
            "nevermind",
        ] {
            assert_eq!(decision(no), Some(Decision::Decline), "{no:?}");
        }
        for neither in [
            "yes but to my new address",
            "what happens to my refund?",
            "yes no",
            "maybe",
            "",
            "I'm not sure, can I change the size instead of cancelling it?",
            "yesterday",
        ] {
            assert_eq!(decision(neither), None, "{neither:?}");
        }
    }
}
