//! Small talk: greetings, thanks, goodbyes, "ok", "are you a bot?". A
//! message that is only small talk gets a short natural reply, never a
//! passage and never a handoff.

use crate::classify::lexicon::normalize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmallTalk {
    Greeting,
    Thanks,
    Acknowledgement,
    Goodbye,
    /// "Are you a bot?", "am I talking to a human?": a question, not a request.
    AreYouABot,
}

/// Phrases per kind, normalised (lower case, no punctuation). Listed in
/// the order a mixed message is read: "thanks, bye" is a goodbye.
const PHRASES: &[(SmallTalk, &[&str])] = &[
    (
        SmallTalk::AreYouABot,
        &[
            "are you a bot",
            "are you a robot",
            "are you an ai",
            "are you ai",
            "are you human",
            "are you a human",
            "are you real",
            "are you a real person",
            "is this a bot",
            "is this a robot",
            "is this a real person",
            "is this ai",
            "am i talking to a bot",
            "am i talking to a robot",
            "am i talking to a human",
            "am i talking to a person",
            "am i chatting with a bot",
            "am i chatting with a human",
            "r u a bot",
            "u a bot",
            "eres un bot",
            "eres humano",
            "eres una persona",
            "bist du ein bot",
            "bist du ein mensch",
            "es tu un robot",
            "tu es un robot",
            "are you a chatbot",
            "is this a chatbot",
            "kya tum bot ho",
            "kya aap bot ho",
            "bot ho kya",
        ],
    ),
    (
        SmallTalk::Goodbye,
        &[
            "bye",
            "goodbye",
            "good bye",
            "bye bye",
            "see you",
            "see ya",
            "cya",
            "take care",
            "have a nice day",
            "have a good day",
            "thats all",
            "that is all",
            "that's all",
            "adios",
            "adiós",
            "hasta luego",
            "tschüss",
            "tschuss",
            "auf wiedersehen",
            "au revoir",
            "ciao",
            "alvida",
            "good night",
        ],
    ),
    (
        SmallTalk::Thanks,
        &[
            "thanks",
            "thank you",
            "thank u",
            "thx",
            "ty",
            "tysm",
            "cheers",
            "many thanks",
            "thanks a lot",
            "thanks a million",
            "thanks a bunch",
            "thanks a ton",
            "thank you so much",
            "much appreciated",
            "appreciate it",
            "gracias",
            "muchas gracias",
            "danke",
            "danke schön",
            "vielen dank",
            "merci",
            "merci beaucoup",
            "shukriya",
            "dhanyavad",
            "dhanyawad",
            "thnx",
            "thanx",
        ],
    ),
    (
        SmallTalk::Acknowledgement,
        &[
            "ok",
            "okay",
            "k",
            "kk",
            "cool",
            "great",
            "perfect",
            "awesome",
            "got it",
            "alright",
            "all right",
            "fine",
            "nice",
            "understood",
            "i see",
            "sounds good",
            "good",
            "vale",
            "genial",
            "super",
            "alles klar",
            "d accord",
            "daccord",
            "theek hai",
            "thik hai",
            "acha",
            "achha",
        ],
    ),
    (
        SmallTalk::Greeting,
        &[
            "hi",
            "hello",
            "hey",
            "hiya",
            "yo",
            "gday",
            "howdy",
            "hey there",
            "hi there",
            "hello there",
            "good morning",
            "good afternoon",
            "good evening",
            "morning",
            "hola",
            "buenos dias",
            "buenos días",
            "buenas tardes",
            "buenas",
            "namaste",
            "bonjour",
            "salut",
            "hallo",
            "guten tag",
            "guten morgen",
            "servus",
            "moin",
            "ola",
            "olá",
            "greetings",
            "kia ora",
            // South African English and Afrikaans.
            "howzit",
            "heita",
            "goeie more",
            "goeiemore",
            "goeie middag",
            "sawubona",
            "ciao",
            "hej",
            "hei",
            "aloha",
            "good day",
            "salaam",
            "shalom",
        ],
    ),
];

/// Words that may sit around small talk without making it a question.
const GLUE: &[&str] = &[
    "and",
    "so",
    "very",
    "much",
    "again",
    "for",
    "the",
    "help",
    "your",
    "you",
    "a",
    "lot",
    "all",
    "oh",
    "ah",
    "well",
    "then",
    "there",
    "guys",
    "team",
    "mate",
    "friend",
    "everyone",
    "folks",
    "bot",
    "assistant",
    "really",
    "just",
    "wanted",
    "to",
    "say",
    "y",
    "und",
    "et",
    "so much",
    "sir",
    "madam",
    "ji",
    "please",
    "now",
];

/// The kind of small talk `text` is, if it is nothing but small talk.
pub fn detect(text: &str) -> Option<SmallTalk> {
    let normalized = normalize(text);
    let words: Vec<&str> = normalized.split_whitespace().collect();
    if words.is_empty() || words.len() > 12 {
        return None;
    }
    let mut covered = vec![false; words.len()];
    let mut kinds = Vec::new();
    for (kind, phrases) in PHRASES {
        for phrase in *phrases {
            let needle: Vec<&str> = phrase.split_whitespace().collect();
            if needle.is_empty() || needle.len() > words.len() {
                continue;
            }
            for start in 0..=words.len() - needle.len() {
                if words[start..start + needle.len()] == needle[..] {
                    covered[start..start + needle.len()].fill(true);
                    if !kinds.contains(kind) {
                        kinds.push(*kind);
                    }
                }
            }
        }
    }
    let only_small_talk = words
        .iter()
        .zip(&covered)
        .all(|(word, covered)| *covered || GLUE.contains(word));
    if !only_small_talk {
        return None;
    }
    // The first kind in PHRASES order that matched.
    PHRASES
        .iter()
        .map(|(kind, _)| *kind)
        .find(|kind| kinds.contains(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_small_talk_and_nothing_more() {
        for (text, kind) in [
            ("Hello!", SmallTalk::Greeting),
            ("hi there", SmallTalk::Greeting),
            ("thanks!", SmallTalk::Thanks),
            ("Thank you so much for the help", SmallTalk::Thanks),
            ("ok thanks, bye", SmallTalk::Goodbye),
            ("Are you a bot?", SmallTalk::AreYouABot),
            ("am i talking to a human", SmallTalk::AreYouABot),
            ("ok", SmallTalk::Acknowledgement),
            ("gracias", SmallTalk::Thanks),
            ("vielen Dank!", SmallTalk::Thanks),
            ("thanks a million", SmallTalk::Thanks),
            ("Howzit!", SmallTalk::Greeting),
        ] {
            assert_eq!(detect(text), Some(kind), "{text}");
        }
        for text in [
            "thanks, and how long does delivery take?",
            "hi, where is my order?",
            "ok but I want a refund",
            "",
        ] {
            assert_eq!(detect(text), None, "{text:?}");
        }
    }
}
