//! Terms a passage is indexed by that no word of it spells: what it says
//! rather than the words it says it with. "NZD 39" states a cost without
//! the word "cost"; "any other country" speaks of every country the
//! knowledge does not name; "outside the EU" of every place not in it.

use crate::classify::lexicon::normalize;

/// Indexed in passages that state an amount of money ("NZD 6", "$20",
/// "40 euros"): a question about what something costs is answered by one.
pub(crate) const MONEY: &str = "said:money";

/// Indexed in passages about every place they do not name ("any other
/// country", "the rest of the world"): the answer for a place the
/// knowledge never names.
pub(crate) const ELSEWHERE: &str = "said:elsewhere";

/// Phrases (normalised) that speak of all the places a text does not name.
const ELSEWHERE_PHRASES: &[&str] = &[
    "other country",
    "other countries",
    "other destinations",
    "rest of the world",
    "anywhere else",
    "elsewhere",
    "all countries",
    "every other country",
];

/// Currency symbols written before or after an amount.
const SYMBOLS: &[char] = &[
    '$', '€', '£', '¥', '₹', '₩', '₽', '₺', '₪', '₱', '₫', '฿', '₦',
];

/// Currency words written after an amount ("40 euros", "500 rupees").
const CURRENCY_WORDS: &[&str] = &[
    "dollar", "dollars", "euro", "euros", "pound", "pounds", "rupee", "rupees", "rs", "yen",
    "franc", "francs", "krona", "kronor", "krone", "kroner", "zloty", "rand", "peso", "pesos",
    "cents",
];

/// Three capitals after a time are a time zone, not a currency ("9 CET").
const TIME_ZONES: &[&str] = &[
    "UTC", "GMT", "CET", "EET", "WET", "BST", "IST", "EST", "EDT", "CST", "CDT", "MST", "MDT",
    "PST", "PDT", "AET", "JST", "KST", "HKT", "SGT", "NZT", "WIB",
];

/// The derived terms of `text`, without the places ones (see
/// `places::outside_regions`).
pub(crate) fn terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    if states_money(text) {
        terms.push(MONEY.to_string());
    }
    let normalized = format!(" {} ", normalize(text));
    if ELSEWHERE_PHRASES
        .iter()
        .any(|p| normalized.contains(&format!(" {p} ")))
    {
        terms.push(ELSEWHERE.to_string());
    }
    terms
}

/// Whether `text` states an amount of money: a number next to a currency
/// symbol, an ISO 4217-style code ("NZD 6", "60 EUR") or a currency word.
fn states_money(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    let has_digit = |w: &str| w.chars().any(|c| c.is_ascii_digit());
    let is_code = |w: &str| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric());
        w.len() == 3 && w.chars().all(|c| c.is_ascii_uppercase()) && !TIME_ZONES.contains(&w)
    };
    let is_currency_word = |w: &str| {
        let w = w
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        CURRENCY_WORDS.contains(&w.as_str())
    };
    words.iter().enumerate().any(|(i, word)| {
        if word.contains(SYMBOLS) && has_digit(word) {
            return true;
        }
        if !has_digit(word) {
            return false;
        }
        let before = i.checked_sub(1).and_then(|j| words.get(j));
        let after = words.get(i + 1);
        before.is_some_and(|w| is_code(w) || w.ends_with(SYMBOLS))
            || after.is_some_and(|w| is_code(w) || is_currency_word(w) || w.starts_with(SYMBOLS))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_of_money_are_told_from_other_numbers() {
        for text in [
            "Standard courier is NZD 6 per order.",
            "It costs $20.",
            "Free over €40, else 4,95 €.",
            "Postage is 60 EUR.",
            "Returns cost 500 rupees.",
            "A fee of £3.50 applies.",
        ] {
            assert_eq!(terms(text), vec![MONEY.to_string()], "{text}");
        }
        for text in [
            "Returns within 30 days.",
            "Open 9am to 5pm, Monday to Friday.",
            "Boxes ship on the 25th; 3 teas per box.",
            "Order 5 kg or more. USA and EU.",
            "We answer from 9 CET.",
        ] {
            assert!(terms(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn catch_all_places_are_recognised() {
        for text in [
            "We are not able to send orders to any other country.",
            "Shipping to the rest of the world costs more.",
            "We do not ship elsewhere.",
        ] {
            assert!(terms(text).contains(&ELSEWHERE.to_string()), "{text}");
        }
        assert!(terms("Other items can be returned.").is_empty());
    }
}
