//! Retrieval: BM25 (the bm25 crate) for ranking, and a coverage measure of
//! the question's distinctive ideas for confidence.
//!
//! A question becomes *concepts*: each content word, widened by the
//! customer-wording groups (`synonyms.rs`), places resolved to the countries
//! and regions a passage may name (`places.rs`), and close spellings of
//! words the knowledge does not contain (typos). A concept weighs what its
//! commonest form weighs (inverse document frequency), so a rare word the
//! question names (a payment provider, a country) counts for more than a
//! verb every section shares. A passage's confidence is the weighted share
//! of the question's concepts it covers; passages rank by that first and by
//! BM25 second.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use bm25::{DefaultTokenizer, Embedder, EmbedderBuilder, Language, Scorer, Tokenizer};

use super::derived;
use super::synonyms::GROUPS;
use crate::classify::lexicon::normalize;

/// Least weight of a question word no passage contains: it cannot be
/// matched, so it lowers the confidence.
const UNKNOWN_TERM_WEIGHT: f32 = 1.0;

/// A word the knowledge never uses weighs this much more than the rarest
/// word it does: the question is about something the shop does not mention
/// ("do you sell bicycles?"), so a passage sharing only its common words
/// ("Do you sell gift cards?") must not reach the answer threshold.
const UNKNOWN_TERM_FACTOR: f32 = 1.25;

/// How much of a place a passage naming only its continent covers.
const BROAD_SHARE: f32 = 0.5;

/// How much BM25 adds to coverage when ordering passages (a tie-breaker).
const BM25_SHARE: f32 = 0.1;

/// How much a heading that names the question's ideas adds: a section's
/// title says what it is about, its body may mention anything.
const TITLE_SHARE: f32 = 0.2;

/// How many of the best-covering documents BM25 orders: it breaks ties, so
/// it need not score every document that shares a word.
const CANDIDATES: usize = 32;

/// Ideas from the customer-wording groups (returns, payment, delivery...)
/// say what a question is about: they count this much more than other words.
const TOPIC_BOOST: f32 = 1.5;

/// How a shop says "another country than ours" (not "country" or
/// "outside" alone: "every EU country", "outside business hours").
#[cfg_attr(not(feature = "places"), allow(dead_code))]
const ABROAD: &[&str] = &[
    "abroad",
    "international",
    "internationally",
    "overseas",
    "worldwide",
    "foreign",
];

/// A number in a question is a detail ("a group of 10"), often written
/// another way in the answer ("more than six"): it weighs this share of a word.
const NUMBER_SHARE: f32 = 0.5;

/// Terms a passage may express a group's idea by but a question does not
/// ask with, keyed by a member of the group: "Delivery times" is about how
/// long delivery takes, "is this my first time?" is no question of
/// duration; "NZD 39" states a cost.
const PASSAGE_ONLY: &[(&str, &[&str])] = &[
    ("how long", &["time", "times"]),
    ("cost", &[derived::MONEY]),
];

/// Languages whose function words (NLTK's lists) are no idea of a question.
const FOREIGN_FUNCTION_WORDS: &[&str] = &["de", "es", "fr"];

/// Hindi function words as customers type them in Latin letters.
const HINGLISH_FUNCTION_WORDS: &[&str] = &[
    "kya", "hai", "hain", "ka", "ki", "ke", "ko", "se", "mera", "meri", "mere", "mujhe", "aap",
    "aapka", "aapke", "hum", "nahi", "nahin", "bhi", "toh", "kar", "karo", "karna",
];

/// Words that say how a customer asks, not what about.
const FILLERS: &[&str] = &[
    "know",
    "want",
    "need",
    "tell",
    "please",
    "pls",
    "plz",
    "can",
    "could",
    "would",
    "like",
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank",
    "question",
    "ask",
    // Chat spelling of pronouns ("do u ship", "ur returns").
    "u",
    "ur",
    "ya",
    // "do you take cards?", "how long does it take?": the idea is in the
    // other words; "take back" is a phrase of its own.
    "take",
    "put",
    "till",
    "let",
    "just",
    "also",
    "really",
    "guys",
    "yes",
    "anyone",
    "someone",
    "something",
    "anything",
    "give",
    // "what does grade B mean", "what happens if ...".
    "mean",
    "means",
    "happen",
    "happens",
    "wondering",
    // "I live in London": the place is the idea.
    "live",
    "possible",
    "way",
    "still",
    "okay",
    "ok",
    "kindly",
    "sir",
    "madam",
    "maam",
    "team",
    "help",
    "mine",
    "one",
    "get",
    "got",
    "make",
    "made",
    "use",
    "hoping",
    "quick",
    "info",
    "information",
    "regarding",
    "about",
    // How a customer names the topic, not the topic ("returns policy").
    "policy",
    "policies",
    "option",
    "options",
];

/// One idea of the question and the stemmed words that express it; an
/// alternative of several words ("unit kingdom") needs all of them, so
/// "United States" does not name the United Kingdom.
#[derive(Clone, Debug)]
pub(crate) struct Concept {
    pub alternatives: Vec<String>,
    pub weight: f32,
    /// Forms that cover the idea only in part ([`BROAD_SHARE`]): a
    /// continent for a country ("the rest of Europe" for Switzerland says
    /// less than "outside the European Union").
    pub broad: Vec<String>,
}

/// Whether `terms` hold every word of `alternative`.
fn holds(terms: &HashSet<String>, alternative: &str) -> bool {
    alternative.split(' ').all(|w| terms.contains(w))
}

impl Concept {
    pub fn covered_by(&self, terms: &HashSet<String>) -> bool {
        self.share(terms) > 0.0
    }

    /// How much of the idea `terms` hold: all, [`BROAD_SHARE`] or none.
    pub fn share(&self, terms: &HashSet<String>) -> f32 {
        if self.alternatives.iter().any(|a| holds(terms, a)) {
            1.0
        } else if self.broad.iter().any(|a| holds(terms, a)) {
            BROAD_SHARE
        } else {
            0.0
        }
    }
}

/// What a question asks, ready to score passages with.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    pub concepts: Vec<Concept>,
    /// Facts about the question's places ("Lyon is in France.").
    pub notes: Vec<String>,
    /// The text given to BM25: the question and its widened words.
    pub expanded: String,
}

impl Query {
    pub fn total_weight(&self) -> f32 {
        self.concepts.iter().map(|c| c.weight).sum()
    }

    /// The weighted share of the concepts `terms` covers (0..1).
    pub fn coverage(&self, terms: &HashSet<String>) -> f32 {
        let total = self.total_weight();
        if total <= 0.0 {
            return 0.0;
        }
        let covered: f32 = self
            .concepts
            .iter()
            .map(|c| c.weight * c.share(terms))
            .sum();
        covered / total
    }
}

/// The index over a set of texts (title twice, then body).
pub(crate) struct Index {
    embedder: Embedder,
    scorer: Scorer<u32>,
    tokenizer: DefaultTokenizer,
    /// Term -> the documents holding it, ascending.
    postings: HashMap<String, Vec<u32>>,
    documents: usize,
    /// What a word no document holds weighs: as much as the rarest known
    /// word (it is at least that distinctive), at least `UNKNOWN_TERM_WEIGHT`.
    unknown_weight: f32,
    /// Term -> the documents whose title holds it.
    title_postings: HashMap<String, Vec<u32>>,
    /// Each document's title stems.
    title_terms: Vec<Vec<String>>,
    /// Stemmed single words of each synonym group.
    groups: Vec<Vec<String>>,
    /// Stem -> the groups it belongs to.
    group_of: HashMap<String, Vec<usize>>,
    /// Regions the knowledge says something happens outside of ("outside
    /// Europe"), as `places::region_key`s; each is indexed as the term
    /// `outside:<key>` in the documents that say it.
    #[cfg_attr(not(feature = "places"), allow(dead_code))]
    outside: Vec<String>,
    /// Countries the knowledge splits ("mainland Spain"), by English name.
    #[cfg_attr(not(feature = "places"), allow(dead_code))]
    split: Vec<&'static str>,
    /// The shop's own country (from its time zone): any other is "abroad".
    #[cfg_attr(not(feature = "places"), allow(dead_code))]
    home: Option<&'static str>,
    /// [`FILLERS`] as the tokenizer stems them ("policy" is "polici").
    fillers: HashSet<String>,
    /// Multi-word phrases (normalised, space-padded) -> group.
    phrases: Phrases,
    /// The phrases of two or more stems as stems ("sending it back" says
    /// "send it back") -> group.
    stemmed_phrases: Vec<(Vec<String>, usize)>,
}

/// "what's" as "what is", "can't" as "can not": the tokenizer's stop words
/// then drop what only frames the question ("what's" would stay "what").
fn expand_contractions(text: &str) -> String {
    let text = text.replace(['\u{2019}', '\u{2018}'], "'");
    let mut out = String::with_capacity(text.len() + 16);
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        // Punctuation after the word ("can't?") stays after it.
        let end = word
            .trim_end_matches(|c: char| !(c.is_alphanumeric() || c == '\''))
            .len();
        let (word, punctuation) = word.split_at(end);
        let irregular = match word.to_ascii_lowercase().as_str() {
            "can't" | "cannot" => Some("can not"),
            "won't" => Some("will not"),
            "shan't" => Some("shall not"),
            // Typed without the apostrophe.
            "whats" => Some("what is"),
            "hows" => Some("how is"),
            "wheres" => Some("where is"),
            "whens" => Some("when is"),
            "dont" => Some("do not"),
            "doesnt" => Some("does not"),
            "didnt" => Some("did not"),
            "isnt" => Some("is not"),
            "wasnt" => Some("was not"),
            "havent" => Some("have not"),
            "im" => Some("i am"),
            "ive" => Some("i have"),
            _ => None,
        };
        let expanded = irregular.map(str::to_string).or_else(|| {
            [
                ("n't", " not"),
                ("'s", " is"),
                ("'re", " are"),
                ("'ve", " have"),
                ("'m", " am"),
                ("'ll", " will"),
                ("'d", " would"),
            ]
            .iter()
            .find_map(|(ending, full)| {
                let cut = word.len().checked_sub(ending.len()).filter(|&c| c > 0)?;
                let (stem, tail) = (word.get(..cut)?, word.get(cut..)?);
                tail.eq_ignore_ascii_case(ending)
                    .then(|| format!("{stem}{full}"))
            })
        });
        out.push_str(expanded.as_deref().unwrap_or(word));
        out.push_str(punctuation);
    }
    out
}

/// Hyphenated words written closed ("pre-order" as "preorder", "e-books"
/// as "ebooks"): customers write both.
fn closed_compounds(tokenizer: &DefaultTokenizer, text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| w.trim_matches('-').contains('-'))
        .flat_map(|w| tokenizer.tokenize(&w.replace('-', "")))
        .collect()
}

/// The documents holding every word of `alternative`, ascending (a single
/// word's posting list is borrowed, not copied: this runs per search).
fn holders<'a>(postings: &'a HashMap<String, Vec<u32>>, alternative: &str) -> Cow<'a, [u32]> {
    let mut lists = Vec::new();
    for word in alternative.split(' ') {
        match postings.get(word) {
            Some(list) => lists.push(list.as_slice()),
            None => return Cow::Borrowed(&[]),
        }
    }
    // The rarest word first: the intersection is never larger than it.
    lists.sort_by_key(|list| list.len());
    let Some((first, rest)) = lists.split_first() else {
        return Cow::Borrowed(&[]);
    };
    let mut docs = Cow::Borrowed(*first);
    for more in rest {
        docs.to_mut().retain(|d| more.binary_search(d).is_ok());
    }
    docs
}

/// A text's stems, with "send ... back" read as one word, "return": "We
/// send to Spain" is shipping, "Sending a piece back" is a return.
fn stems_of(tokenizer: &DefaultTokenizer, text: &str) -> Vec<String> {
    let mut stems = tokenizer.tokenize(text);
    let mut i = 0;
    while i < stems.len() {
        if matches!(stems[i].as_str(), "send" | "sent") {
            let end = (i + 4).min(stems.len());
            if let Some(back) = (i + 1..end).find(|&j| stems[j] == "back") {
                stems.remove(back);
                stems[i] = "return".into();
            }
        }
        i += 1;
    }
    stems
}

/// The prefix of the term a passage saying "outside <region>" is indexed by.
#[cfg_attr(not(feature = "places"), allow(dead_code))]
const OUTSIDE: &str = "outside:";

/// Every term `text` is indexed by: its stems, its hyphenated words written
/// closed, what it says without the words ([`derived`]), its groups'
/// phrases and the regions it says something is outside of.
fn terms_of(tokenizer: &DefaultTokenizer, phrases: &Phrases, text: &str) -> HashSet<String> {
    let mut terms: HashSet<String> = stems_of(tokenizer, text).into_iter().collect();
    terms.extend(closed_compounds(tokenizer, text));
    terms.extend(derived::terms(text));
    terms.extend(phrase_terms(phrases, text));
    #[cfg(feature = "places")]
    terms.extend(
        super::places::outside_regions(text)
            .into_iter()
            .map(|key| format!("{OUTSIDE}{key}")),
    );
    terms
}

/// The term a passage holding one of group `g`'s phrases is indexed by.
fn phrase_term(g: usize) -> String {
    format!("phrase:{g}")
}

/// The groups whose phrases `text` says (`phrases`: normalised, space-padded).
fn phrase_terms(phrases: &Phrases, text: &str) -> Vec<String> {
    let normalized = format!(" {} ", normalize(&expand_contractions(text)));
    let mut found: Vec<usize> = phrases.found(&normalized).map(|(_, g)| *g).collect();
    found.sort_unstable();
    found.dedup();
    found.into_iter().map(phrase_term).collect()
}

/// The groups' multi-word phrases (normalised, space-padded) and an
/// Aho-Corasick automaton over them: every passage and sentence is
/// scanned for all of them, once.
pub(crate) struct Phrases {
    list: Vec<(String, usize)>,
    matcher: Option<aho_corasick::AhoCorasick>,
}

impl Phrases {
    fn new(list: Vec<(String, usize)>) -> Self {
        let matcher = aho_corasick::AhoCorasick::new(list.iter().map(|(p, _)| p)).ok();
        Self { list, matcher }
    }

    /// The phrases `normalized` (space-padded) holds, each once, in list order.
    fn found<'a>(&'a self, normalized: &str) -> impl Iterator<Item = &'a (String, usize)> {
        let mut hit = vec![false; self.list.len()];
        match &self.matcher {
            Some(matcher) => {
                for m in matcher.find_overlapping_iter(normalized) {
                    hit[m.pattern().as_usize()] = true;
                }
            }
            // Only if the automaton could not be built (it always can for
            // the fixed lists here): the same answer, slower.
            None => {
                for (i, (phrase, _)) in self.list.iter().enumerate() {
                    hit[i] = normalized.contains(phrase.as_str());
                }
            }
        }
        self.list
            .iter()
            .zip(hit)
            .filter_map(|(phrase, hit)| hit.then_some(phrase))
    }
}

pub(crate) fn tokenizer() -> DefaultTokenizer {
    DefaultTokenizer::new(Language::English)
}

impl Index {
    /// `documents`: (title, text to index) pairs.
    pub fn new(documents: Vec<(String, String)>) -> Self {
        let tokenizer = tokenizer();
        let mut groups = Vec::with_capacity(GROUPS.len());
        let mut group_of: HashMap<String, Vec<usize>> = HashMap::new();
        let mut phrases = Vec::new();
        let mut stemmed_phrases = Vec::new();
        for (g, members) in GROUPS.iter().enumerate() {
            let mut stems = Vec::new();
            for member in *members {
                let normalized = normalize(member);
                if normalized.split_whitespace().count() > 1 {
                    phrases.push((format!(" {} ", normalized.trim()), g));
                    let phrase_stems = stems_of(&tokenizer, member);
                    if phrase_stems.len() > 1 {
                        stemmed_phrases.push((phrase_stems, g));
                    }
                    // A passage names the idea by the phrase's words
                    // together ("gift voucher" for "gift card").
                    let joined = stems_of(&tokenizer, member).join(" ");
                    if joined.contains(' ') && !stems.contains(&joined) {
                        stems.push(joined);
                    }
                    continue;
                }
                for stem in stems_of(&tokenizer, member) {
                    if !stems.contains(&stem) {
                        group_of.entry(stem.clone()).or_default().push(g);
                        stems.push(stem);
                    }
                }
            }
            groups.push(stems);
        }
        for (member, extra) in PASSAGE_ONLY {
            let Some(g) = GROUPS.iter().position(|members| members.contains(member)) else {
                continue;
            };
            for term in *extra {
                let stems = if term.contains(':') {
                    vec![term.to_string()]
                } else {
                    tokenizer.tokenize(term)
                };
                for stem in stems {
                    if !groups[g].contains(&stem) {
                        groups[g].push(stem);
                    }
                }
            }
        }
        // A passage saying a group's phrase ("when your parcel gets there")
        // holds the idea as much as one saying its words.
        for (g, stems) in groups.iter_mut().enumerate() {
            stems.push(phrase_term(g));
        }
        let phrases = Phrases::new(phrases);
        let mut postings: HashMap<String, Vec<u32>> = HashMap::new();
        let mut title_postings: HashMap<String, Vec<u32>> = HashMap::new();
        #[cfg_attr(not(feature = "places"), allow(unused_mut))]
        let mut outside: Vec<String> = Vec::new();
        #[cfg_attr(not(feature = "places"), allow(unused_mut))]
        let mut split: Vec<&'static str> = Vec::new();
        for (i, (title, text)) in documents.iter().enumerate() {
            for (map, words) in [(&mut postings, text), (&mut title_postings, title)] {
                let distinct = terms_of(&tokenizer, &phrases, words);
                #[cfg(feature = "places")]
                for country in super::places::split_countries(words) {
                    if !split.contains(&country) {
                        split.push(country);
                    }
                }
                #[cfg(feature = "places")]
                for key in distinct.iter().filter_map(|t| t.strip_prefix(OUTSIDE)) {
                    if !outside.iter().any(|k| k == key) {
                        outside.push(key.to_string());
                    }
                }
                for term in distinct {
                    map.entry(term).or_default().push(i as u32);
                }
            }
        }
        let title_terms = documents
            .iter()
            .map(|(title, _)| {
                let mut stems = stems_of(&tokenizer, title);
                stems.dedup();
                stems
            })
            .collect();
        let texts: Vec<&str> = documents.iter().map(|(_, text)| text.as_str()).collect();
        let embedder: Embedder =
            EmbedderBuilder::with_tokenizer_and_fit_to_corpus(self::tokenizer(), &texts).build();
        let mut scorer = Scorer::<u32>::new();
        for (i, text) in texts.iter().enumerate() {
            scorer.upsert(&(i as u32), embedder.embed(text));
        }
        let documents = texts.len();
        let unknown_weight =
            (1.0 + documents as f32).ln().max(UNKNOWN_TERM_WEIGHT) * UNKNOWN_TERM_FACTOR;
        // The tokenizer drops English function words; customers also write
        // German, Spanish and French ones ("wie lange dauert der Versand nach ...").
        let foreign = FOREIGN_FUNCTION_WORDS
            .iter()
            .flat_map(|language| stop_words::get(language).iter());
        let fillers = FILLERS
            .iter()
            .chain(foreign)
            .chain(HINGLISH_FUNCTION_WORDS)
            .flat_map(|w| {
                let mut forms = tokenizer.tokenize(w);
                forms.push(normalize(w));
                forms
            })
            .collect();
        Self {
            embedder,
            scorer,
            tokenizer,
            postings,
            documents,
            unknown_weight,
            title_postings,
            title_terms,
            groups,
            group_of,
            outside,
            split,
            home: None,
            fillers,
            phrases,
            stemmed_phrases,
        }
    }

    pub fn len(&self) -> usize {
        self.documents
    }

    /// The shop's country, from its time zone ("Europe/London").
    #[cfg(feature = "places")]
    pub fn set_home(&mut self, time_zone: Option<&str>) {
        self.home = time_zone.and_then(super::places::home_country);
    }

    pub fn stems(&self, text: &str) -> Vec<String> {
        stems_of(&self.tokenizer, text)
    }

    /// Every term `text` is indexed by: its stems, its hyphenated words
    /// written closed, and the regions it says something is outside of.
    pub fn terms(&self, text: &str) -> HashSet<String> {
        terms_of(&self.tokenizer, &self.phrases, text)
    }

    fn idf(&self, term: &str) -> Option<f32> {
        let df = holders(&self.postings, term).len();
        (df > 0).then(|| (1.0 + self.len() as f32 / df as f32).ln())
    }

    /// A concept weighs what its commonest known form weighs.
    #[cfg(feature = "places")]
    fn concept(&self, alternatives: Vec<String>) -> Concept {
        self.weighted(alternatives, 1.0)
    }

    fn weighted(&self, alternatives: Vec<String>, boost: f32) -> Concept {
        let weight = boost
            * alternatives
                .iter()
                .filter_map(|a| self.idf(a))
                .fold(None, |min: Option<f32>, w| {
                    Some(min.map_or(w, |m| m.min(w)))
                })
                .unwrap_or(self.unknown_weight / boost);
        Concept {
            alternatives,
            weight,
            broad: Vec::new(),
        }
    }

    /// Known terms one or two edits from `word` (typos of 5+ letters).
    fn near_spellings(&self, word: &str) -> Vec<String> {
        let len = word.chars().count();
        if len < 5 {
            return Vec::new();
        }
        let max = if len >= 8 { 2 } else { 1 };
        let first = word.chars().next();
        self.postings
            .keys()
            // Typos rarely change the first letter; checking it keeps this cheap.
            // Short known words are too close to too much ("spend" is not
            // a typo of "send").
            .filter(|t| {
                t.chars().next() == first && {
                    let n = t.chars().count();
                    n >= 5 && n.abs_diff(len) <= max
                }
            })
            .filter(|t| strsim::damerau_levenshtein(word, t) <= max)
            .cloned()
            .collect()
    }

    pub fn analyse(&self, question: &str) -> Query {
        let question = &expand_contractions(question);
        let normalized = format!(" {} ", normalize(question));
        let mut consumed: HashSet<String> = HashSet::new();
        let mut concepts = Vec::new();
        #[cfg_attr(not(feature = "places"), allow(unused_mut))]
        let mut notes = Vec::new();
        let mut expanded = vec![question.to_string()];

        // Places first: their words mean the place, not themselves.
        #[cfg(feature = "places")]
        for place in super::places::find(question) {
            let mut alternatives = Vec::new();
            // A continent says less of a place than its country does.
            let mut broad = Vec::new();
            // A town of a country the knowledge splits ("mainland Spain")
            // is covered by its own name only: Tenerife is in Spain, but
            // not on the mainland (nor, by geography, in Europe).
            let split = place.is_city && self.split.contains(&place.country);
            for name in &place.names {
                if split && *name != place.name {
                    continue;
                }
                let stems = self.stems(name).join(" ");
                let forms = if super::places::is_continent(name) {
                    &mut broad
                } else {
                    &mut alternatives
                };
                if !stems.is_empty() && !forms.contains(&stems) {
                    forms.push(stems);
                }
            }
            // A passage saying "outside Europe" speaks of every place
            // not in Europe.
            let keys: Vec<String> = place
                .names
                .iter()
                .map(|n| super::places::region_key(n))
                .collect();
            for region in &self.outside {
                if !keys.contains(region) {
                    alternatives.push(format!("{OUTSIDE}{region}"));
                }
            }
            // Another country than the shop's is "abroad", "international".
            if !split && !place.country.is_empty() && self.home.is_some_and(|h| h != place.country)
            {
                for word in ABROAD {
                    alternatives.extend(self.stems(word));
                }
            }
            // A place the knowledge never names is one of "any other country"
            // (but a town of a split country is not "another country").
            if !split
                && alternatives
                    .iter()
                    .chain(&broad)
                    .all(|a| holders(&self.postings, a).is_empty())
            {
                alternatives.push(derived::ELSEWHERE.to_string());
            }
            consumed.extend(self.stems(&place.name));
            if place.is_city {
                notes.push(format!("{} is in {}.", place.name, place.country));
            }
            expanded.push(place.names.join(" "));
            // Weighed over every form, continents included.
            let full = alternatives.len();
            alternatives.extend(broad);
            let mut concept = self.concept(alternatives);
            concept.broad = concept.alternatives.split_off(full);
            concepts.push(concept);
        }

        // Customers' phrases ("send it back", "how long").
        let mut phrase_groups: Vec<usize> = Vec::new();
        for (phrase, group) in self.phrases.found(&normalized) {
            if !phrase_groups.contains(group) {
                phrase_groups.push(*group);
                consumed.extend(self.stems(phrase));
            }
        }
        let question_stems = self.stems(question);
        for (phrase, group) in &self.stemmed_phrases {
            if !phrase_groups.contains(group)
                && question_stems
                    .windows(phrase.len())
                    .any(|w| w == phrase.as_slice())
            {
                phrase_groups.push(*group);
                consumed.extend(phrase.iter().cloned());
            }
        }

        let mut seen: HashSet<String> = HashSet::new();
        let mut token_groups: HashSet<usize> = HashSet::new();
        for token in self.stems(question) {
            // A lone letter ("p&p", "u") names nothing.
            if consumed.contains(&token)
                || self.fillers.contains(&token)
                || (token.chars().count() == 1 && !token.chars().all(|c| c.is_ascii_digit()))
            {
                continue;
            }
            if !seen.insert(token.clone()) {
                continue;
            }
            let mut alternatives = vec![token.clone()];
            let groups = self.group_of.get(&token).cloned().unwrap_or_default();
            for g in &groups {
                token_groups.insert(*g);
                for stem in &self.groups[*g] {
                    if !alternatives.contains(stem) {
                        alternatives.push(stem.clone());
                    }
                }
            }
            if groups.is_empty() && self.idf(&token).is_none() {
                alternatives.extend(self.near_spellings(&token));
            }
            let boost = if groups.is_empty() { 1.0 } else { TOPIC_BOOST };
            let mut concept = self.weighted(alternatives, boost);
            if token.chars().all(|c| c.is_ascii_digit()) {
                concept.weight *= NUMBER_SHARE;
            }
            concepts.push(concept);
        }
        for group in phrase_groups {
            if token_groups.contains(&group) {
                continue; // already widened through one of its words
            }
            concepts.push(self.weighted(self.groups[group].clone(), TOPIC_BOOST));
        }
        for concept in &concepts {
            expanded.push(concept.alternatives.join(" "));
        }
        Query {
            concepts,
            notes,
            expanded: expanded.join(" "),
        }
    }

    /// How much of the question `title` covers (0..1).
    pub fn title_coverage(&self, query: &Query, title: &str) -> f32 {
        query.coverage(&self.terms(title))
    }

    /// Per document, the summed weight of the concepts `postings` says it holds.
    fn covered(&self, query: &Query, postings: &HashMap<String, Vec<u32>>) -> Vec<f32> {
        let n = self.len();
        let mut covered = vec![0.0f32; n];
        let mut last_concept = vec![usize::MAX; n];
        for (c, concept) in query.concepts.iter().enumerate() {
            // Full forms first: a document holding one does not also count
            // a broad form.
            let forms = concept
                .alternatives
                .iter()
                .map(|a| (a, 1.0))
                .chain(concept.broad.iter().map(|a| (a, BROAD_SHARE)));
            for (form, share) in forms {
                for &doc in holders(postings, form).iter() {
                    let doc = doc as usize;
                    if last_concept[doc] != c {
                        last_concept[doc] = c;
                        covered[doc] += concept.weight * share;
                    }
                }
            }
        }
        covered
    }

    /// The share of a document's title words the question asks about: of
    /// two titles naming its ideas, "Delivery times" is more about "when
    /// will my order arrive?" than "Can I change my delivery address after
    /// ordering?".
    fn title_precision(&self, asked: &HashSet<&str>, doc: usize) -> f32 {
        let Some(terms) = self.title_terms.get(doc).filter(|t| !t.is_empty()) else {
            return 0.0;
        };
        let hit = terms.iter().filter(|t| asked.contains(t.as_str())).count();
        hit as f32 / terms.len() as f32
    }

    /// Documents covering any concept, best first: (index, coverage 0..1,
    /// score = coverage + shares of title coverage and BM25).
    pub fn rank(&self, query: &Query, k: usize) -> Vec<(usize, f32, f32)> {
        let total = query.total_weight();
        if total <= 0.0 || k == 0 {
            return Vec::new();
        }
        let body = self.covered(query, &self.postings);
        let title = self.covered(query, &self.title_postings);
        // Ordered first as if every matching title were all about the
        // question; the candidates kept then get their title's precision.
        let mut ranked: Vec<(usize, f32, f32)> = body
            .iter()
            .zip(&title)
            .enumerate()
            .filter(|(_, (b, _))| **b > 0.0)
            .map(|(i, (b, t))| (i, b / total, b / total + TITLE_SHARE * t / total))
            .collect();
        let by_score =
            |a: &(usize, f32, f32), b: &(usize, f32, f32)| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0));
        if ranked.len() > CANDIDATES {
            ranked.select_nth_unstable_by(CANDIDATES, by_score);
            ranked.truncate(CANDIDATES);
        }
        let asked: HashSet<&str> = query
            .concepts
            .iter()
            .flat_map(|c| c.alternatives.iter().flat_map(|a| a.split(' ')))
            .collect();
        for entry in &mut ranked {
            let t = title[entry.0];
            if t > 0.0 {
                let imprecise = 0.5 - 0.5 * self.title_precision(&asked, entry.0);
                entry.2 -= TITLE_SHARE * t / total * imprecise;
            }
        }
        let embedding = self.embedder.embed(&query.expanded);
        let bm25: Vec<f32> = ranked
            .iter()
            .map(|(i, ..)| self.scorer.score(&(*i as u32), &embedding).unwrap_or(0.0))
            .collect();
        let top = bm25
            .iter()
            .copied()
            .fold(0.0f32, f32::max)
            .max(f32::EPSILON);
        for (entry, bm25) in ranked.iter_mut().zip(bm25) {
            entry.2 += BM25_SHARE * bm25 / top;
        }
        ranked.sort_by(by_score);
        ranked.truncate(k);
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Of two headings naming the question's ideas, the one that is about
    /// nothing else ranks first.
    #[test]
    fn a_heading_all_about_the_question_ranks_first() {
        let body = "Orders leave the same day and arrive in 2 days.".to_string();
        let index = Index::new(vec![
            (
                "Can I change my delivery address after ordering?".into(),
                body.clone(),
            ),
            ("Delivery times".into(), body),
        ]);
        let query = index.analyse("when will my order arrive");
        let ranked = index.rank(&query, 2);
        assert_eq!(ranked[0].0, 1, "{ranked:?}");
        assert!(ranked[0].2 > ranked[1].2, "{ranked:?}");
    }

    #[test]
    fn contractions_and_framing_words_are_not_ideas() {
        assert_eq!(
            expand_contractions("What's your policy? I can't pay, we’ve tried, it's?"),
            "What is your policy? I can not pay, we have tried, it is?"
        );
        // Non-ASCII words are cut only where a character ends.
        assert_eq!(expand_contractions("İstanbul's 's é'"), "İstanbul is 's é'");
        let index = Index::new(vec![(
            "Returns".into(),
            "Items can be returned within 14 days.".into(),
        )]);
        for question in [
            "what's your returns policy",
            "where's the return option",
            "returns policies?",
        ] {
            let query = index.analyse(question);
            assert_eq!(query.concepts.len(), 1, "{question}: {query:?}");
            assert_eq!(index.rank(&query, 1)[0].1, 1.0, "{question}");
        }
    }
}
