//! Places in a question, resolved to the country and region a shop's
//! knowledge names ("we ship to Europe", "we do not ship to Russia"): a
//! city (the `cities` crate, ~10k cities) or a country in any of its names
//! (`keshvar`: official, unofficial and translated names, continent, EU).

use std::collections::HashMap;
use std::sync::LazyLock;

use keshvar::{Continent, Country, CountryIterator};

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
    /// True for a city in one known country (the reply says which).
    pub is_city: bool,
}

struct Entry {
    country: Country,
    is_city: bool,
}

/// Lower-cased name -> the countries it may be (more than one: ambiguous).
static PLACES: LazyLock<HashMap<String, Vec<Entry>>> = LazyLock::new(|| {
    let mut by_name: HashMap<String, Country> = HashMap::new();
    let mut places: HashMap<String, Vec<Entry>> = HashMap::new();
    for country in CountryIterator::new() {
        let mut names: Vec<&str> = vec![country.iso_short_name()];
        names.extend(country.unofficial_name_list().iter().copied());
        for name in names {
            let key = name.to_lowercase();
            by_name
                .entry(key.clone())
                .or_insert_with(|| country.clone());
            let entry = places.entry(key).or_default();
            if !entry.iter().any(|e| e.country.alpha2() == country.alpha2()) {
                entry.push(Entry {
                    country: country.clone(),
                    is_city: false,
                });
            }
        }
    }
    for city in cities::all() {
        // Short names are too often ordinary words ("Of", "Bar").
        if city.city.chars().count() < 4 {
            continue;
        }
        let Some(country) = by_name.get(&city.country.to_lowercase()) else {
            continue;
        };
        let entry = places.entry(city.city.to_lowercase()).or_default();
        if entry.iter().any(|e| !e.is_city) {
            continue; // a country's name wins over a town named after it
        }
        if !entry.iter().any(|e| e.country.alpha2() == country.alpha2()) {
            entry.push(Entry {
                country: country.clone(),
                is_city: true,
            });
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

/// Places named in `text`: longest names first, each word used once.
/// A city counts only when capitalised, or when the whole message is
/// lower case and the name is long enough not to be an everyday word.
pub(crate) fn find(text: &str) -> Vec<Place> {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    let all_lower = !text.chars().any(char::is_uppercase);
    let mut found = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let mut matched = 0;
        for len in (1..=4.min(words.len() - i)).rev() {
            let phrase = words[i..i + len].join(" ");
            let Some(entries) = PLACES.get(&phrase.to_lowercase()) else {
                continue;
            };
            let capitalised = phrase.chars().next().is_some_and(char::is_uppercase);
            let is_city = entries.iter().all(|e| e.is_city);
            if is_city && !capitalised && !(all_lower && phrase.chars().count() >= 5) {
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
}
