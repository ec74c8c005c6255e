//! The operator's facts: shop name, support hours in the shop's time zone,
//! holidays and contact. Configuration, never constants: every sentence
//! Spur says about when people answer comes from here, and with unknown
//! hours it promises no time at all.

use std::fmt::Write as _;
use std::str::FromStr;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FactsError {
    #[error("unknown time zone {0:?} (use an IANA name such as Europe/Berlin)")]
    TimeZone(String),
    #[error(
        "support hours {input:?}: {problem} (write e.g. \"Mon-Fri 09:00-18:00; Sat 10:00-14:00\")"
    )]
    Hours { input: String, problem: String },
    #[error("holiday {0:?} is not a date (write YYYY-MM-DD)")]
    Holiday(String),
    #[error("support hours need a time zone (time_zone = \"Europe/Berlin\")")]
    HoursWithoutZone,
}

/// What the operator says about the shop. Empty (the default) means
/// unknown: no name, no hours, nothing promised.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShopFacts {
    /// The shop's name, in greetings and the persona.
    pub name: Option<String>,
    /// IANA time zone of the support hours (`Europe/Berlin`).
    pub time_zone: Option<String>,
    /// When people answer: `"Mon-Fri 09:00-18:00; Sat 10:00-14:00"`.
    pub hours: Option<WeeklyHours>,
    /// Closed days (`YYYY-MM-DD`), in the shop's time zone.
    pub holidays: Vec<String>,
    /// How else to reach people (an email address, a phone number).
    pub contact: Option<String>,
}

/// Whether a person is there, and if not, when one is back.
#[derive(Clone, Debug, PartialEq)]
pub enum Availability {
    /// No hours configured: nothing can be promised.
    Unknown,
    Open,
    /// Closed now; `back` reads "tomorrow at 09:00 (Berlin time)".
    Closed {
        back: Option<String>,
    },
}

impl ShopFacts {
    /// The demo shop's facts; they belong to the demo knowledge only.
    pub fn demo() -> Self {
        Self {
            name: Some("Spur Shop".into()),
            time_zone: Some("Asia/Kolkata".into()),
            hours: "Mon-Fri 09:00-18:00".parse().ok(),
            holidays: Vec::new(),
            contact: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The name to say: the shop's, or "our shop".
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or("our shop")
    }

    /// Checks the zone and the holidays (hours are checked when parsed).
    pub fn validate(&self) -> Result<(), FactsError> {
        self.zone()?;
        self.holiday_dates()?;
        if self.hours.is_some() && self.time_zone.is_none() {
            return Err(FactsError::HoursWithoutZone);
        }
        Ok(())
    }

    fn zone(&self) -> Result<Option<TimeZone>, FactsError> {
        self.time_zone
            .as_deref()
            .map(|name| TimeZone::get(name).map_err(|_| FactsError::TimeZone(name.to_string())))
            .transpose()
    }

    fn holiday_dates(&self) -> Result<Vec<Date>, FactsError> {
        self.holidays
            .iter()
            .map(|h| {
                h.trim()
                    .parse::<Date>()
                    .map_err(|_| FactsError::Holiday(h.clone()))
            })
            .collect()
    }

    /// "Berlin time": how a customer reads the zone.
    fn zone_label(&self) -> String {
        let name = self.time_zone.as_deref().unwrap_or("UTC");
        let city = name.rsplit('/').next().unwrap_or(name).replace('_', " ");
        match name {
            "Asia/Kolkata" | "Asia/Calcutta" => "IST".into(),
            "UTC" | "Etc/UTC" => "UTC".into(),
            _ => format!("{city} time"),
        }
    }

    /// The hours as a customer reads them, or `None` when unknown.
    pub fn hours_label(&self) -> Option<String> {
        let hours = self.hours.as_ref()?;
        Some(format!("{} ({})", hours.describe(), self.zone_label()))
    }

    /// Whether people are there at `at`, in the shop's time zone.
    pub fn availability(&self, at: OffsetDateTime) -> Availability {
        let (Some(hours), Ok(Some(zone)), Ok(holidays)) =
            (&self.hours, self.zone(), self.holiday_dates())
        else {
            return Availability::Unknown;
        };
        let Ok(instant) = jiff::Timestamp::from_second(at.unix_timestamp()) else {
            return Availability::Unknown;
        };
        let local = zone.to_datetime(instant);
        let (today, now) = (local.date(), local.time());
        let open_on = |date: Date| !holidays.contains(&date);
        if open_on(today) && hours.spans_on(today.weekday()).any(|s| s.contains(now)) {
            return Availability::Open;
        }
        // The next opening within two weeks (holidays can chain).
        let mut back = None;
        for ahead in 0..15i64 {
            let Ok(date) = today.checked_add(jiff::Span::new().days(ahead)) else {
                break;
            };
            if !open_on(date) {
                continue;
            }
            let next = hours
                .spans_on(date.weekday())
                .filter(|s| ahead > 0 || s.opens > now)
                .map(|s| s.opens)
                .min();
            if let Some(opens) = next {
                let day = match ahead {
                    0 => "today".to_string(),
                    1 => "tomorrow".to_string(),
                    _ => format!("on {}", day_name(date.weekday())),
                };
                back = Some(format!(
                    "{day} at {} ({})",
                    opens.strftime("%H:%M"),
                    self.zone_label()
                ));
                break;
            }
        }
        Availability::Closed { back }
    }

    /// The facts as lines for a system prompt and for retrieval.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        if let Some(name) = &self.name {
            let _ = writeln!(out, "Shop: {name}.");
        }
        match self.hours_label() {
            Some(label) => {
                let _ = writeln!(out, "Support hours (people answer): {label}.");
            }
            None => {
                let _ = writeln!(out, "Support hours: not stated; promise no times.");
            }
        }
        if !self.holidays.is_empty() {
            let _ = writeln!(out, "Support is closed on: {}.", self.holidays.join(", "));
        }
        if let Some(contact) = &self.contact {
            let _ = writeln!(out, "Contact: {contact}.");
        }
        out
    }
}

fn day_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

/// Open from `opens` until `closes` on `day` (local time).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span {
    pub day: Weekday,
    pub opens: Time,
    pub closes: Time,
}

impl Span {
    fn contains(&self, t: Time) -> bool {
        t >= self.opens && t < self.closes
    }
}

/// A weekly schedule, written `"Mon-Fri 09:00-18:00; Sat 10:00-14:00"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WeeklyHours {
    spans: Vec<Span>,
    text: String,
}

impl WeeklyHours {
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    fn spans_on(&self, day: Weekday) -> impl Iterator<Item = &Span> {
        self.spans.iter().filter(move |s| s.day == day)
    }

    /// "Monday to Friday 09:00-18:00, Saturday 10:00-14:00".
    pub fn describe(&self) -> String {
        // Group consecutive days with the same times.
        let mut groups: Vec<(Weekday, Weekday, Time, Time)> = Vec::new();
        for day in 0..7 {
            let day = Weekday::from_monday_zero_offset(day).unwrap_or(Weekday::Monday);
            for span in self.spans_on(day) {
                match groups.last_mut() {
                    Some(g) if g.2 == span.opens && g.3 == span.closes && g.1.next() == day => {
                        g.1 = day;
                    }
                    _ => groups.push((day, day, span.opens, span.closes)),
                }
            }
        }
        groups
            .iter()
            .map(|(first, last, opens, closes)| {
                let days = if first == last {
                    day_name(*first).to_string()
                } else {
                    format!("{} to {}", day_name(*first), day_name(*last))
                };
                format!(
                    "{days} {}-{}",
                    opens.strftime("%H:%M"),
                    closes.strftime("%H:%M")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn parse_day(word: &str) -> Option<Weekday> {
    let w = word.trim().to_ascii_lowercase();
    let day = match w.get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    };
    day_name(day)
        .to_ascii_lowercase()
        .starts_with(&w)
        .then_some(day)
}

fn parse_time(text: &str) -> Option<Time> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if h == 24 && m == 0 {
        return Some(Time::MAX);
    }
    Time::new(h, m, 0, 0).ok()
}

impl FromStr for WeeklyHours {
    type Err = FactsError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let problem = |problem: &str| FactsError::Hours {
            input: input.to_string(),
            problem: problem.to_string(),
        };
        // Groups are days then times, separated by ";" or "," ("Mon-Fri
        // 08:00-18:00, Sat 09:00-13:00"); a comma also lists days ("Mon,
        // Wed 09:00-12:00") and times ("09:00-12:00, 13:00-17:00").
        let mut groups: Vec<(Vec<&str>, Vec<&str>)> = Vec::new();
        for piece in input
            .split([';', ','])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            if piece.starts_with(|c: char| c.is_ascii_digit()) {
                match groups.last_mut() {
                    Some((_, times)) => times.push(piece),
                    None => return Err(problem("each group is days then times")),
                }
                continue;
            }
            let (days, times) = piece
                .split_once(char::is_whitespace)
                .map_or((piece, ""), |(d, t)| (d, t.trim()));
            match groups.last_mut() {
                Some((list, open)) if open.is_empty() => list.push(days),
                _ => groups.push((vec![days], Vec::new())),
            }
            if !times.is_empty()
                && let Some((_, open)) = groups.last_mut()
            {
                open.push(times);
            }
        }
        let mut spans = Vec::new();
        for (days, times) in groups {
            if times.is_empty() {
                return Err(problem("each group is days then times"));
            }
            let mut list = Vec::new();
            for part in days {
                match part.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (
                            parse_day(a).ok_or_else(|| problem("unknown day"))?,
                            parse_day(b).ok_or_else(|| problem("unknown day"))?,
                        );
                        let mut day = a;
                        list.push(day);
                        while day != b {
                            day = day.next();
                            list.push(day);
                        }
                    }
                    None => list.push(parse_day(part).ok_or_else(|| problem("unknown day"))?),
                }
            }
            for range in times {
                let (opens, closes) = range
                    .split_once('-')
                    .and_then(|(a, b)| Some((parse_time(a)?, parse_time(b)?)))
                    .ok_or_else(|| problem("times are HH:MM-HH:MM"))?;
                if opens >= closes {
                    return Err(problem("a range must close after it opens"));
                }
                spans.extend(list.iter().map(|&day| Span { day, opens, closes }));
            }
        }
        if spans.is_empty() {
            return Err(problem("no open times"));
        }
        Ok(Self {
            spans,
            text: input.trim().to_string(),
        })
    }
}

impl TryFrom<String> for WeeklyHours {
    type Error = FactsError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<WeeklyHours> for String {
    fn from(value: WeeklyHours) -> Self {
        value.text
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn berlin() -> ShopFacts {
        ShopFacts {
            name: Some("Nordlicht".into()),
            time_zone: Some("Europe/Berlin".into()),
            hours: Some("Mon-Fri 08:00-17:00; Sat 10:00-14:00".parse().unwrap()),
            holidays: vec!["2026-12-25".into()],
            contact: Some("hilfe@nordlicht.example".into()),
        }
    }

    #[test]
    fn availability_is_in_the_shops_zone_with_holidays() {
        let facts = berlin();
        facts.validate().unwrap();
        // Monday 07:30 UTC = 08:30 Berlin (winter, UTC+1).
        assert_eq!(
            facts.availability(datetime!(2026-11-23 07:30 UTC)),
            Availability::Open
        );
        // Monday 16:30 UTC = 17:30 Berlin: back tomorrow.
        assert_eq!(
            facts.availability(datetime!(2026-11-23 16:30 UTC)),
            Availability::Closed {
                back: Some("tomorrow at 08:00 (Berlin time)".into())
            }
        );
        // Saturday 14:30 Berlin: back Monday.
        assert_eq!(
            facts.availability(datetime!(2026-11-28 13:30 UTC)),
            Availability::Closed {
                back: Some("on Monday at 08:00 (Berlin time)".into())
            }
        );
        // Early Saturday: later today.
        assert_eq!(
            facts.availability(datetime!(2026-11-28 06:00 UTC)),
            Availability::Closed {
                back: Some("today at 10:00 (Berlin time)".into())
            }
        );
        // Christmas Friday 10:00 is a holiday: back Saturday.
        assert_eq!(
            facts.availability(datetime!(2026-12-25 09:00 UTC)),
            Availability::Closed {
                back: Some("tomorrow at 10:00 (Berlin time)".into())
            }
        );
        // Summer time: 07:30 UTC in July is 09:30 Berlin.
        assert_eq!(
            facts.availability(datetime!(2026-07-06 06:30 UTC)),
            Availability::Open
        );
        assert_eq!(
            ShopFacts::default().availability(datetime!(2026-11-23 07:30 UTC)),
            Availability::Unknown
        );
    }

    #[test]
    fn hours_read_like_a_person_writes_them() {
        let facts = berlin();
        assert_eq!(
            facts.hours_label().unwrap(),
            "Monday to Friday 08:00-17:00, Saturday 10:00-14:00 (Berlin time)"
        );
        assert_eq!(
            ShopFacts::demo().hours_label().unwrap(),
            "Monday to Friday 09:00-18:00 (IST)"
        );
        let weekend: WeeklyHours = "sat,sun 10:00-12:00, 13:00-16:00".parse().unwrap();
        assert_eq!(weekend.spans().len(), 4);
        // Groups separated by a comma, as people write them.
        let week: WeeklyHours = "Mon-Fri 08:00-18:00, Sat 09:00-13:00".parse().unwrap();
        assert_eq!(week.spans().len(), 6);
        let two: WeeklyHours = "Mon, Wed 09:00-12:00".parse().unwrap();
        assert_eq!(two.spans().len(), 2);
        for bad in [
            "",
            "Mon",
            "Funday 09:00-10:00",
            "Mon 10:00-09:00",
            "Mon 9-5",
            "09:00-12:00",
            "Mon 09:00-12:00, Tue",
        ] {
            assert!(bad.parse::<WeeklyHours>().is_err(), "{bad:?}");
        }
        let toml: ShopFacts =
            serde_json::from_str(r#"{"time_zone":"Mars/Olympus","hours":"Mon 09:00-10:00"}"#)
                .unwrap();
        assert!(matches!(toml.validate(), Err(FactsError::TimeZone(_))));
        assert!(serde_json::from_str::<ShopFacts>(r#"{"hours":"Mon 9"}"#).is_err());
        let no_zone = ShopFacts {
            hours: "Mon 09:00-10:00".parse().ok(),
            ..ShopFacts::default()
        };
        assert_eq!(no_zone.validate(), Err(FactsError::HoursWithoutZone));
    }
}
