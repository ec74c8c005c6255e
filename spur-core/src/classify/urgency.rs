//! Priority read from impact and urgency, not from a bag of words: a
//! ticket is high when business has stopped or the customer is shut out,
//! money was taken wrongly, someone got into the account, a lawyer is
//! named, or time pressure, repeated contact and anger add up; low when it
//! asks, suggests or says it can wait and reports nothing wrong; medium
//! otherwise. Cue phrases are in [`super::lexicon::cues`].

use super::lexicon::{Lexicon, cues};

/// The three levels every priority taxonomy named low / medium / high uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Low = 0,
    Medium = 1,
    High = 2,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// The kinds of cue a ticket can carry. [`Cue::ALL`] lists them in
/// declaration order, so `cue as usize` is a cue's slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cue {
    Urgency,
    Impact,
    Security,
    Legal,
    Fraud,
    Charge,
    Twice,
    Unauthorised,
    Repeated,
    Anger,
    Problem,
    NoRush,
    Inquiry,
    Scope,
    Blocked,
    SignIn,
    Someone,
    Account,
    Count,
    Times,
}

impl Cue {
    const ALL: [Cue; 20] = [
        Cue::Urgency,
        Cue::Impact,
        Cue::Security,
        Cue::Legal,
        Cue::Fraud,
        Cue::Charge,
        Cue::Twice,
        Cue::Unauthorised,
        Cue::Repeated,
        Cue::Anger,
        Cue::Problem,
        Cue::NoRush,
        Cue::Inquiry,
        Cue::Scope,
        Cue::Blocked,
        Cue::SignIn,
        Cue::Someone,
        Cue::Account,
        Cue::Count,
        Cue::Times,
    ];

    fn phrases(self) -> &'static [(&'static str, f32)] {
        match self {
            Cue::Urgency => cues::URGENCY,
            Cue::Impact => cues::IMPACT,
            Cue::Security => cues::SECURITY,
            Cue::Legal => cues::LEGAL,
            Cue::Fraud => cues::FRAUD,
            Cue::Charge => cues::CHARGE,
            Cue::Twice => cues::TWICE,
            Cue::Unauthorised => cues::UNAUTHORISED,
            Cue::Repeated => cues::REPEATED,
            Cue::Anger => cues::ANGER,
            Cue::Problem => cues::PROBLEM,
            Cue::NoRush => cues::NO_RUSH,
            Cue::Inquiry => cues::INQUIRY,
            Cue::Scope => cues::SCOPE,
            Cue::Blocked => cues::BLOCKED,
            Cue::SignIn => cues::SIGN_IN,
            Cue::Someone => cues::SOMEONE,
            Cue::Account => cues::ACCOUNT,
            Cue::Count => cues::COUNT,
            Cue::Times => cues::TIMES,
        }
    }
}

/// A severe cue alone makes a ticket high; lesser ones must add up to this.
const HIGH_AT: f32 = 3.0;
/// Shouting (mostly capitals, or "!!") reads as this much anger.
const SHOUTING: f32 = 2.0;

/// What a ticket's words say about its priority.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// The strongest phrase weight per cue, indexed like [`Cue::ALL`].
    strength: [f32; Cue::ALL.len()],
    question: bool,
}

impl Reading {
    pub fn cue(&self, cue: Cue) -> f32 {
        self.strength[cue as usize]
    }

    fn both(&self, a: Cue, b: Cue) -> bool {
        self.cue(a) > 0.0 && self.cue(b) > 0.0
    }

    /// Worth `weight` when both cues are there, else nothing.
    fn together(&self, a: Cue, b: Cue, weight: f32) -> f32 {
        if self.both(a, b) { weight } else { 0.0 }
    }

    /// Money taken wrongly: fraud, or charges twice, several, unauthorised
    /// or after a cancellation.
    fn money_harm(&self) -> f32 {
        let wrongly = self.cue(Cue::Twice) > 0.0
            || self.cue(Cue::Unauthorised) > 0.0
            || self.cue(Cue::Count) > 0.0;
        let charged = self.cue(Cue::Charge) > 0.0 && wrongly;
        self.cue(Cue::Fraud).max(if charged { 3.0 } else { 0.0 })
    }

    /// Business stopped (many people blocked) or the customer shut out of
    /// the account.
    fn impact(&self) -> f32 {
        self.cue(Cue::Impact)
            .max(self.together(Cue::Scope, Cue::Blocked, 3.0))
            .max(self.together(Cue::SignIn, Cue::Blocked, 3.0))
    }

    fn security(&self) -> f32 {
        self.cue(Cue::Security)
            .max(self.together(Cue::Someone, Cue::Account, 3.0))
    }

    fn repeated(&self) -> f32 {
        self.cue(Cue::Repeated)
            .max(self.together(Cue::Count, Cue::Times, 2.0))
    }

    /// How pressing the ticket reads: severe cues count in full, time
    /// pressure, repetition and anger add up with a reported problem.
    pub fn pressure(&self) -> f32 {
        let severe = self
            .impact()
            .max(self.security())
            .max(self.cue(Cue::Legal))
            .max(self.money_harm());
        let problem = self.cue(Cue::Problem).min(1.0);
        // "No rush" takes back any time pressure ("koi jaldi nahi").
        let urgency = if self.cue(Cue::NoRush) > 0.0 {
            0.0
        } else {
            self.cue(Cue::Urgency)
        };
        let lesser = urgency + self.repeated() + self.cue(Cue::Anger);
        severe.max(lesser + problem)
    }

    pub fn level(&self) -> Level {
        let pressure = self.pressure();
        if pressure >= HIGH_AT {
            return Level::High;
        }
        // "No rush" outweighs a small problem; a question or a wish is low
        // only when nothing is reported wrong.
        let calm = self.cue(Cue::NoRush) > 0.0
            || (self.cue(Cue::Problem) == 0.0
                && pressure == 0.0
                && (self.question || self.cue(Cue::Inquiry) > 0.0));
        if calm { Level::Low } else { Level::Medium }
    }
}

/// Reads [`Reading`]s; build once, share freely.
#[derive(Clone, Debug)]
pub struct UrgencyReader {
    lexicon: Lexicon,
}

impl Default for UrgencyReader {
    fn default() -> Self {
        let mut lexicon = Lexicon::new(Cue::ALL.len());
        for cue in Cue::ALL {
            for (phrase, weight) in cue.phrases() {
                lexicon.add(cue as usize, phrase, *weight);
            }
        }
        Self { lexicon }
    }
}

impl UrgencyReader {
    /// `words` as [`super::lexicon::normalize`] leaves them; `raw` for the
    /// punctuation and capitals normalising drops.
    pub fn read(&self, raw: &str, words: &[&str]) -> Reading {
        let mut strength = [0.0f32; Cue::ALL.len()];
        self.lexicon.walk_words(words, |cue, _, weight| {
            if let Some(slot) = strength.get_mut(cue) {
                *slot = slot.max(weight);
            }
        });
        if shouting(raw) {
            let anger = &mut strength[Cue::Anger as usize];
            *anger = anger.max(SHOUTING);
        }
        Reading {
            strength,
            question: raw.contains('?') || raw.contains('¿'),
        }
    }
}

/// "!!" anywhere, or most letters of a long enough text in capitals.
fn shouting(raw: &str) -> bool {
    if raw.contains("!!") {
        return true;
    }
    let (mut upper, mut letters) = (0usize, 0usize);
    for c in raw.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        upper += usize::from(c.is_uppercase());
    }
    letters >= 12 && upper * 10 >= letters * 7
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::lexicon::normalize;

    #[test]
    fn every_cue_has_its_own_slot() {
        for (i, cue) in Cue::ALL.iter().enumerate() {
            assert_eq!(*cue as usize, i, "{cue:?}");
        }
    }

    fn level(text: &str) -> Level {
        let normalized = normalize(text);
        let words: Vec<&str> = normalized.split_whitespace().collect();
        UrgencyReader::default().read(text, &words).level()
    }

    #[test]
    fn severe_cues_alone_are_high() {
        // Stopped business, shut out, hacked, a lawyer.
        assert_eq!(level("The whole site is down since 9am"), Level::High);
        assert_eq!(level("I'm locked out of my account"), Level::High);
        assert_eq!(level("Mi cuenta fue hackeada"), Level::High);
        assert_eq!(level("Ich schalte meinen Anwalt ein."), Level::High);
    }

    #[test]
    fn cues_that_count_together() {
        // Many people blocked; signed out; someone in the account; a
        // count of contacts; several charges.
        assert_eq!(
            level("Nobody on our team can open the admin, it times out"),
            Level::High
        );
        assert_ne!(level("Our team loves the new app"), Level::High);
        assert_eq!(
            level("No me deja entrar, contraseña incorrecta"),
            Level::High
        );
        assert_eq!(level("Jemand hat mein Konto benutzt"), Level::High);
        assert_eq!(
            level("Maine 4 baar call kiya, parcel late hai"),
            Level::High
        );
        assert_eq!(level("Three payments this month for one plan"), Level::High);
        assert_eq!(level("Do you charge for shipping?"), Level::Low);
    }

    #[test]
    fn a_charge_is_high_only_with_twice_or_without_consent() {
        assert_eq!(level("You charged me twice for one order"), Level::High);
        assert_eq!(level("Do baar paise kat gaye"), Level::High);
        assert_eq!(
            level("A charge I never authorized is on my card"),
            Level::High
        );
        assert_eq!(level("I was charged for my order."), Level::Medium);
    }

    #[test]
    fn lesser_cues_add_up() {
        assert_eq!(level("My parcel is late."), Level::Medium);
        assert_eq!(level("My parcel is late, I need it today!"), Level::Medium);
        assert_eq!(level("My parcel is late, urgent please"), Level::High);
        assert_eq!(level("Third time writing, this is ridiculous"), Level::High);
        assert_eq!(level("MY PARCEL IS LATE AND NOBODY CARES"), Level::High);
    }

    #[test]
    fn questions_and_wishes_without_trouble_are_low() {
        assert_eq!(level("Do you ship to Iceland?"), Level::Low);
        assert_eq!(level("Gibt es den Mantel in Blau?"), Level::Low);
        assert_eq!(level("Just a suggestion: gift wrap"), Level::Low);
        assert_eq!(level("Why is my order late?"), Level::Medium);
        assert_eq!(level("Refund still missing, no rush"), Level::Low);
        assert_eq!(level("Please cancel my order."), Level::Medium);
    }
}
