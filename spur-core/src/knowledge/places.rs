//! Places in a question, resolved to the country and region a shop's
//! knowledge names ("we ship to Europe", "we do not ship to Russia"): a
//! city (the `cities` crate, ~10k cities), a state, province or other
//! first-level region (`keshvar` subdivisions, ISO 3166-2) or a country in
//! any of its names (`keshvar`: official, unofficial and translated names,
//! continent, EU).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use keshvar::{Continent, Country, CountryIterator, SubdivisionType};

/// A place found in a question.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Place {
    /// As the customer wrote it.
    pub name: String,
    /// The country's English name.
    pub country: &'static str,
    /// Words a passage may name the place by: the place, its country's
    /// names, its continent, "EU" for members.
    pub names: Vec<String>,
    /// True for a city or region in one known country (the reply says which).
    pub is_city: bool,
}

/// What a name is, in the order a name several things share is read:
/// a country's name wins over a region named after it, a region over a town.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Country,
    Region,
    City,
}

struct Entry {
    country: Arc<Country>,
    kind: Kind,
}

/// Regions people name as places they live in (states, provinces, the
/// nations of the UK, counties); the thousands of districts and
/// municipalities ISO lists are left out, their names too often words.
fn is_named_region(kind: SubdivisionType) -> bool {
    use SubdivisionType as T;
    matches!(
        kind,
        T::State
            | T::Province
            | T::Territory
            | T::Country
            | T::Region
            | T::County
            | T::Canton
            | T::AutonomousCommunity
            | T::Emirate
            | T::FederalDistrict
            | T::FederalCapitalTerritory
            | T::CapitalTerritory
            | T::UnionTerritory
            | T::Prefecture
    )
}

/// English words that are also regions' names ("Central", "Northern"):
/// read as places only when capitalised.
const WORDLIKE: &[&str] = &[
    "central", "centre", "center", "northern", "southern", "eastern", "western", "north", "south",
    "east", "west", "plateau", "delta", "rivers", "coast", "capital", "midlands", "upper", "lower",
    "middle", "islands", "antique", "aurora", "batman", "savannah", "gulf",
];

/// Adds `name` for `country` unless a name of an earlier kind holds it.
fn add(places: &mut HashMap<String, Vec<Entry>>, name: &str, country: &Arc<Country>, kind: Kind) {
    // Short names are too often ordinary words ("Of", "Bar").
    if kind != Kind::Country && name.chars().count() < 4 {
        return;
    }
    let entry = places.entry(name.to_lowercase()).or_default();
    if entry.iter().any(|e| e.kind < kind) {
        return;
    }
    if !entry
        .iter()
        .any(|e| e.country.alpha2() == country.alpha2() && e.kind == kind)
    {
        entry.push(Entry {
            country: Arc::clone(country),
            kind,
        });
    }
}

/// Every country, once: a `Country` carries its subdivisions and
/// translations, so a copy per name it is known by came to 85 MB.
static COUNTRIES: LazyLock<Vec<Arc<Country>>> =
    LazyLock::new(|| CountryIterator::new().map(Arc::new).collect());

/// Lower-cased name -> the countries it may be (more than one: ambiguous).
static PLACES: LazyLock<HashMap<String, Vec<Entry>>> = LazyLock::new(|| {
    let mut by_name: HashMap<String, Arc<Country>> = HashMap::new();
    let mut places: HashMap<String, Vec<Entry>> = HashMap::new();
    for country in COUNTRIES.iter() {
        let mut names: Vec<&str> = vec![country.iso_short_name()];
        names.extend(country.unofficial_name_list().iter().copied());
        for name in names {
            by_name
                .entry(name.to_lowercase())
                .or_insert_with(|| Arc::clone(country));
            add(&mut places, name, country, Kind::Country);
        }
    }
    for country in COUNTRIES.iter() {
        for region in country.subdivisions().values() {
            if !is_named_region(region.subdivision_type()) {
                continue;
            }
            add(&mut places, region.name(), country, Kind::Region);
            for name in region.unofficial_name_list() {
                add(&mut places, name, country, Kind::Region);
            }
        }
    }
    for city in cities::all() {
        if let Some(country) = by_name.get(&city.country.to_lowercase()) {
            add(&mut places, city.city, country, Kind::City);
        }
    }
    places
});

fn names_of(country: &Country) -> Vec<String> {
    let mut names = vec![country.iso_short_name().to_string()];
    names.extend(
        country
            .unofficial_name_list()
            .iter()
            .filter(|n| n.is_ascii())
            .map(|n| n.to_string()),
    );
    names.push(
        match country.continent() {
            Continent::Africa => "Africa",
            Continent::Antarctica => "Antarctica",
            Continent::Asia => "Asia",
            // Not "Australia": the country's name would match every Pacific island.
            Continent::Australia => "Oceania",
            Continent::Europe => "Europe",
            Continent::NorthAmerica => "North America",
            Continent::SouthAmerica => "South America Latin America",
        }
        .to_string(),
    );
    if country.eu_member() {
        names.push("EU".into());
        names.push("European Union".into());
    }
    names
}

/// Continents and unions a shop names as regions ("outside Europe").
const REGIONS: &[&str] = &[
    "europe",
    "eu",
    "european union",
    "asia",
    "africa",
    "oceania",
    "north america",
    "south america",
    "latin america",
    "antarctica",
];

/// Countries `text` names as split ("mainland Spain", "the Portuguese
/// mainland" is not read): a town in one may be on an island the text
/// treats apart, so the country alone does not say what applies there.
pub(crate) fn split_countries(text: &str) -> Vec<&'static str> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut found = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let word = word.to_lowercase();
        if !matches!(word.as_str(), "mainland" | "peninsular" | "continental") {
            continue;
        }
        let after = words[i + 1..words.len().min(i + 4)].join(" ");
        if let Some(place) = find(&after).into_iter().next()
            && !place.is_city
            && !place.country.is_empty()
            && !found.contains(&place.country)
        {
            found.push(place.country);
        }
    }
    found
}

/// The country of an IANA time zone, read from its city ("Europe/London"
/// is the United Kingdom, "Pacific/Auckland" New Zealand); `None` when
/// the city is unknown or several countries share its name.
pub(crate) fn home_country(time_zone: &str) -> Option<&'static str> {
    let (area, city) = time_zone.split_once('/')?;
    let city = city.rsplit('/').next()?.replace('_', " ").to_lowercase();
    // A city several countries share (London) is the one on the zone's
    // continent.
    let on_continent = |c: &Country| match area {
        "Europe" => c.continent() == Continent::Europe,
        "America" => matches!(
            c.continent(),
            Continent::NorthAmerica | Continent::SouthAmerica
        ),
        "Asia" => c.continent() == Continent::Asia,
        "Africa" => c.continent() == Continent::Africa,
        "Australia" | "Pacific" => c.continent() == Continent::Australia,
        _ => true,
    };
    let entries: Vec<&Entry> = PLACES
        .get(&city)?
        .iter()
        .filter(|e| on_continent(&e.country))
        .collect();
    match entries.as_slice() {
        [one] => Some(one.country.iso_short_name()),
        _ => None,
    }
}

/// Whether `name` is a continent ("Europe", "North America"), which says
/// less about a place than its country does.
pub(crate) fn is_continent(name: &str) -> bool {
    matches!(
        region_key(name).as_str(),
        "europe"
            | "asia"
            | "africa"
            | "oceania"
            | "north_america"
            | "south_america"
            | "south_america_latin_america"
            | "latin_america"
            | "antarctica"
    )
}

/// The key a region or place name is compared by: lower case, words
/// joined by `_` ("North America" is `north_america`).
pub(crate) fn region_key(name: &str) -> String {
    crate::classify::lexicon::normalize(name)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
}

/// The regions `text` says something happens outside of ("we do not ship
/// outside Europe", "outside the EU"), as [`region_key`]s: a continent, the
/// EU, or a country, region or city name. Words that are no place
/// ("outside business hours") give nothing.
pub(crate) fn outside_regions(text: &str) -> Vec<String> {
    let normalized = crate::classify::lexicon::normalize(text);
    let words: Vec<&str> = normalized.split_whitespace().collect();
    let mut found = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if !matches!(*word, "outside" | "outwith") {
            continue;
        }
        let mut j = i + 1;
        while words.get(j).is_some_and(|w| matches!(*w, "the" | "of")) {
            j += 1;
        }
        for len in (1..=3).rev() {
            let Some(phrase) = words.get(j..j + len).map(|w| w.join(" ")) else {
                continue;
            };
            let known = REGIONS.contains(&phrase.as_str())
                || (!WORDLIKE.contains(&phrase.as_str()) && PLACES.contains_key(&phrase));
            if known {
                let key = region_key(&phrase);
                if !found.contains(&key) {
                    found.push(key);
                }
                break;
            }
        }
    }
    found
}

/// Countries' abbreviations as customers write them, in capitals ("the
/// US", "UK"): read only as written, "us" is a pronoun.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("US", "US"),
    ("UK", "GB"),
    ("GB", "GB"),
    ("UAE", "AE"),
    ("NZ", "NZ"),
    ("KSA", "SA"),
];

/// The country an abbreviation in capitals stands for.
fn abbreviation(word: &str) -> Option<&'static Arc<Country>> {
    let (_, code) = ABBREVIATIONS.iter().find(|(a, _)| *a == word)?;
    let code = keshvar::Alpha2::try_from(*code).ok()?;
    COUNTRIES.iter().find(|c| c.alpha2() == code)
}

/// Places named in `text`: longest names first, each word used once.
/// A city counts only when capitalised, or when the whole message is
/// lower case and the name is long enough not to be an everyday word.
pub(crate) fn find(text: &str) -> Vec<Place> {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    let all_lower = !text.chars().any(char::is_uppercase);
    // In a message all in capitals, "US" may be the pronoun.
    let shouted = !text.chars().any(char::is_lowercase);
    let mut found = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if let Some(country) = abbreviation(words[i]).filter(|_| !shouted) {
            // Not the abbreviation itself: "contact us" would name the US.
            found.push(Place {
                name: words[i].to_string(),
                country: country.iso_short_name(),
                names: names_of(country),
                is_city: false,
            });
            i += 1;
            continue;
        }
        let mut matched = 0;
        for len in (1..=4.min(words.len() - i)).rev() {
            let phrase = words[i..i + len].join(" ");
            let Some(entries) = PLACES.get(&phrase.to_lowercase()) else {
                continue;
            };
            let capitalised = phrase.chars().next().is_some_and(char::is_uppercase);
            let is_city = entries.iter().all(|e| e.kind != Kind::Country);
            let lower = phrase.to_lowercase();
            let wordlike = WORDLIKE.contains(&lower.as_str());
            if is_city && !capitalised && !(all_lower && phrase.chars().count() >= 5 && !wordlike) {
                continue;
            }
            // "New York" when only "York" is known: the name goes on to the
            // left, so this is somewhere else.
            let continues = i > 0
                && words[i - 1].chars().next().is_some_and(char::is_uppercase)
                && words[i - 1] != "I";
            if is_city && capitalised && continues {
                continue;
            }
            // A name several countries share (London, Madrid) may be any of
            // them: a passage naming any one covers it; no note is given.
            let mut names = vec![phrase.clone()];
            for entry in entries {
                names.extend(names_of(&entry.country));
            }
            let single = entries.len() == 1;
            found.push(Place {
                name: phrase,
                country: if single {
                    entries[0].country.iso_short_name()
                } else {
                    ""
                },
                names,
                is_city: is_city && single,
            });
            matched = len;
            break;
        }
        i += matched.max(1);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cities_and_countries_resolve_to_their_country_and_region() {
        let lyon = &find("Do you deliver to Lyon?")[0];
        assert_eq!(lyon.country, "France");
        assert!(lyon.is_city);
        assert!(lyon.names.iter().any(|n| n == "Europe"));
        assert!(lyon.names.iter().any(|n| n == "EU"));
        let toronto = &find("shipping to toronto")[0];
        assert_eq!(toronto.country, "Canada");
        assert!(toronto.names.iter().any(|n| n == "North America"));
        let fiji = &find("can I order to Fiji")[0];
        assert!(
            !fiji.names.iter().any(|n| n == "Australia"),
            "{:?}",
            fiji.names
        );
        assert_eq!(
            home_country("Europe/London"),
            Some("United Kingdom of Great Britain and Northern Ireland")
        );
        assert_eq!(home_country("Pacific/Auckland"), Some("New Zealand"));
        assert_eq!(
            home_country("America/New_York"),
            Some("United States of America")
        );
        assert_eq!(home_country("Etc/UTC"), None);
        let us = &find("do you send to the US")[0];
        assert_eq!(us.country, "United States of America");
        assert!(find("DO YOU SEND TO US").is_empty());
        assert!(find("can you call us").is_empty());
        let usa = &find("Do you ship to the USA?")[0];
        assert!(!usa.is_city);
        assert_eq!(usa.country, "United States of America");
        // Everyday words are not towns.
        assert!(find("nice, thanks. Can I return it?").is_empty());
        assert!(find("I am reading the Returns policy").is_empty());
        // London is in more than one country: every one counts, no note.
        let london = &find("Do you deliver to London?")[0];
        assert!(!london.is_city);
        assert!(london.names.iter().any(|n| n == "United Kingdom"));
    }

    #[test]
    fn what_a_text_says_is_outside() {
        assert_eq!(
            outside_regions("We do not ship outside Europe."),
            ["europe"]
        );
        assert_eq!(
            outside_regions("Nothing ships outside the EU or outside North America"),
            ["eu", "north_america"]
        );
        assert_eq!(
            outside_regions("Parcels outside Germany cost more"),
            ["germany"]
        );
        assert!(outside_regions("Orders placed outside business hours ship next day").is_empty());
        assert!(outside_regions("Leave it outside the door").is_empty());
    }

    #[test]
    fn states_provinces_and_nations_resolve_to_their_country() {
        for (text, country) in [
            ("shipping to New York?", "United States of America"),
            ("do you deliver to california", "United States of America"),
            ("livrez-vous au Québec?", "Canada"),
            (
                "whats the delivery charge to england",
                "United Kingdom of Great Britain and Northern Ireland",
            ),
            ("Versand nach Bayern?", "Germany"),
            ("do you ship to Bavaria", "Germany"),
        ] {
            let found = find(text);
            assert_eq!(found.len(), 1, "{text}: {found:?}");
            assert_eq!(found[0].country, country, "{text}");
            // "England" is among the UK's own names; regions get a note.
            assert_eq!(found[0].is_city, !text.contains("england"), "{text}");
        }
        // A longer name than the one known is somewhere else.
        assert!(
            find("I live in New Plymouth")
                .iter()
                .all(|p| p.name != "Plymouth")
        );
        // Regions named like words count only when capitalised.
        assert!(find("is there a central warehouse").is_empty());
        assert!(find("we are in the northern part").is_empty());
    }
}
