//! The metrics an operator reads, defined once (the README states the same
//! definitions), computed from [`ConversationFacts`] per day in the shop's
//! time zone. A conversation belongs to the day it started.
//!
//! - **Handed off**: a handoff notice was given, an agent wrote, or an agent
//!   holds it.
//! - **Settled**: handed off, or quiet long enough that the customer is not
//!   coming back to it: closed and quiet for [`REOPEN_WINDOW`], or quiet for
//!   [`AnalyticsOptions::quiet`].
//! - **Resolved by the assistant**: settled, never handed off, at least one
//!   answer (a reply that was neither a fallback nor a "not sure"), and no
//!   negative feedback (no thumbs down, no CSAT under 3).
//! - **Automated resolution rate**: resolved / settled (conversations still
//!   in play are in neither).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
/// A day on the calendar (`YYYY-MM-DD` parses into one).
pub use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::facts::{Breakdown, ConversationFacts, FactsQuery, LATENCY_BOUNDS_MS, LATENCY_BUCKETS};
use super::feedback::Answerer;
use crate::conversation::Status;

/// How long after its last change a closed conversation can still be
/// reopened by the customer (and so is not yet counted as resolved).
pub const REOPEN_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The longest period one report covers.
pub const MAX_DAYS: i32 = 366;

/// What to compute over.
#[derive(Clone, Debug)]
pub struct AnalyticsOptions {
    /// The shop's time zone: days start at its midnight.
    pub zone: TimeZone,
    pub first_day: Date,
    /// Inclusive.
    pub last_day: Date,
    /// Unix milliseconds (the engine's clock).
    pub now_ms: i64,
    /// An open conversation this quiet is settled.
    pub quiet: Duration,
    /// USD per million input and output tokens.
    pub prices: Option<(f64, f64)>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AnalyticsError {
    #[error("the period ends before it starts")]
    Backwards,
    #[error("the period is longer than {MAX_DAYS} days")]
    TooLong,
    #[error("the period is outside the dates this time zone can express")]
    OutOfRange,
}

/// Days a report covers when the caller names no start.
pub const DEFAULT_DAYS: i32 = 30;

/// The zone the shop's facts name (days are counted in it); UTC without one.
pub fn zone_of(facts: &crate::facts::ShopFacts) -> TimeZone {
    facts
        .time_zone
        .as_deref()
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC)
}

impl AnalyticsOptions {
    /// The days `from` to `to` in `zone`: by default the [`DEFAULT_DAYS`]
    /// up to and including today (`now`); quiet 24 hours, no prices.
    pub fn new(
        zone: TimeZone,
        from: Option<Date>,
        to: Option<Date>,
        now: time::OffsetDateTime,
    ) -> Self {
        let now_ms = super::facts::millis(now);
        let today = Timestamp::from_millisecond(now_ms)
            .map(|t| zone.to_datetime(t).date())
            .unwrap_or_default();
        // Any two dates make a period: given backwards they are swapped,
        // past [`MAX_DAYS`] the period keeps its last days, and dates are
        // kept within what every store's time type holds.
        let earliest = jiff::civil::date(1970, 1, 1);
        let latest = jiff::civil::date(9999, 12, 30);
        let clamp = |d: Date| d.clamp(earliest, latest);
        let before = |d: Date, days: i32| {
            d.checked_sub(jiff::Span::new().days(days))
                .unwrap_or(earliest)
                .max(earliest)
        };
        let last_day = clamp(to.unwrap_or(today));
        let first_day = from.map_or_else(|| before(last_day, DEFAULT_DAYS - 1), clamp);
        let (first_day, last_day) = if first_day > last_day {
            (last_day, first_day)
        } else {
            (first_day, last_day)
        };
        let first_day = first_day.max(before(last_day, MAX_DAYS - 1));
        Self {
            zone,
            first_day,
            last_day,
            now_ms,
            quiet: REOPEN_WINDOW,
            prices: None,
        }
    }

    /// The store query for these days (midnight to midnight in the zone).
    pub fn query(&self, channel: Option<String>) -> Result<FactsQuery, AnalyticsError> {
        if self.last_day < self.first_day {
            return Err(AnalyticsError::Backwards);
        }
        let days = self
            .first_day
            .until(self.last_day)
            .map_err(|_| AnalyticsError::OutOfRange)?
            .get_days();
        if days >= MAX_DAYS {
            return Err(AnalyticsError::TooLong);
        }
        let end = self
            .last_day
            .tomorrow()
            .map_err(|_| AnalyticsError::OutOfRange)?;
        Ok(FactsQuery {
            since: self.midnight(self.first_day)?,
            until: self.midnight(end)?,
            channel,
        })
    }

    fn midnight(&self, day: Date) -> Result<time::OffsetDateTime, AnalyticsError> {
        // A midnight a DST change skips starts the day at the next instant.
        let at = self
            .zone
            .to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
            .map_err(|_| AnalyticsError::OutOfRange)?;
        time::OffsetDateTime::from_unix_timestamp_nanos(at.as_nanosecond())
            .map_err(|_| AnalyticsError::OutOfRange)
    }

    fn day_of(&self, ms: i64) -> Option<Date> {
        let at = Timestamp::from_millisecond(ms).ok()?;
        Some(self.zone.to_datetime(at).date())
    }

    fn hour_of(&self, ms: i64) -> Option<usize> {
        let at = Timestamp::from_millisecond(ms).ok()?;
        usize::try_from(self.zone.to_datetime(at).hour()).ok()
    }

    fn cost(&self, tokens_in: i64, tokens_out: i64) -> Option<f64> {
        self.prices.map(|(input, output)| {
            (tokens_in as f64 * input + tokens_out as f64 * output) / 1_000_000.0
        })
    }
}

/// A rate as a fraction, absent when nothing was counted.
fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Thumbs {
    pub up: i64,
    pub down: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedbackTotals {
    pub up: i64,
    pub down: i64,
    /// On the assistant's answers.
    pub bot: Thumbs,
    /// On agents' answers.
    pub agent: Thumbs,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CsatSummary {
    pub count: i64,
    /// Mean score (1-5); absent with no scores.
    pub average: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CsatTotals {
    pub count: i64,
    pub average: Option<f64>,
    /// How many gave 1, 2, 3, 4 and 5.
    pub distribution: [i64; 5],
    /// Conversations only the assistant answered.
    pub bot: CsatSummary,
    /// Conversations a person answered in.
    pub human: CsatSummary,
}

/// Milliseconds between two moments, over conversations.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Durations {
    pub count: i64,
    pub average_ms: Option<i64>,
    pub p50_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

impl Durations {
    fn of(mut values: Vec<i64>) -> Self {
        values.sort_unstable();
        let count = values.len() as i64;
        let pick = |q: f64| -> Option<i64> {
            // Nearest rank.
            let rank = ((q * values.len() as f64).ceil() as usize).max(1);
            values.get(rank - 1).copied()
        };
        Self {
            count,
            average_ms: (count > 0).then(|| values.iter().sum::<i64>() / count),
            p50_ms: pick(0.5),
            p90_ms: pick(0.9),
        }
    }
}

/// The assistant's model latency: a histogram, and percentiles read from it
/// as the bound of the bucket they fall in (absent past the last bound).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Latency {
    /// Replies with a latency under each of `boundsMs`, then the rest.
    pub buckets: Vec<i64>,
    pub bounds_ms: Vec<i64>,
    pub p50_under_ms: Option<i64>,
    pub p90_under_ms: Option<i64>,
    pub p99_under_ms: Option<i64>,
}

impl Latency {
    fn of(buckets: &[i64; LATENCY_BUCKETS]) -> Self {
        let total: i64 = buckets.iter().sum();
        let under = |q: f64| -> Option<i64> {
            if total == 0 {
                return None;
            }
            let rank = ((q * total as f64).ceil() as i64).max(1);
            let mut seen = 0;
            for (i, n) in buckets.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return LATENCY_BOUNDS_MS.get(i).copied();
                }
            }
            None
        };
        Self {
            buckets: buckets.to_vec(),
            bounds_ms: LATENCY_BOUNDS_MS.to_vec(),
            p50_under_ms: under(0.5),
            p90_under_ms: under(0.9),
            p99_under_ms: under(0.99),
        }
    }
}

/// The whole period.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Totals {
    /// Conversations started in the period.
    pub conversations: i64,
    /// Of those, settled (see the definitions).
    pub settled: i64,
    pub automated_resolutions: i64,
    /// automatedResolutions / settled.
    pub automated_resolution_rate: Option<f64>,
    pub handoffs: i64,
    /// handoffs / conversations.
    pub handoff_rate: Option<f64>,
    /// Handoffs by the reason given (`agent_took_over`: an agent answered
    /// or claimed without one).
    pub handoff_reasons: BTreeMap<String, i64>,
    /// The assistant's replies.
    pub replies: i64,
    pub fallbacks: i64,
    /// fallbacks / replies.
    pub fallback_rate: Option<f64>,
    pub fallback_codes: BTreeMap<String, i64>,
    /// The grounding guard's verdicts on replies.
    pub grounding: BTreeMap<String, i64>,
    pub feedback: FeedbackTotals,
    pub csat: CsatTotals,
    /// From a customer's first message to the assistant's first reply.
    pub first_response_bot: Durations,
    /// From the handoff (or the first message, if an agent stepped in
    /// unasked) to an agent's first message.
    pub first_response_human: Durations,
    /// From a customer's message to the agent message answering it.
    pub agent_reply: Durations,
    pub latency: Latency,
    pub tokens_in: i64,
    pub tokens_out: i64,
    /// From the configured prices; absent without them.
    pub cost_usd: Option<f64>,
    pub cost_per_conversation_usd: Option<f64>,
    /// Conversations started in each hour of the day (0-23, shop's time).
    pub by_hour: Vec<i64>,
}

/// One day (in the shop's time zone).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayFigures {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub conversations: i64,
    pub settled: i64,
    pub automated_resolutions: i64,
    pub automated_resolution_rate: Option<f64>,
    pub handoffs: i64,
    pub handoff_rate: Option<f64>,
    pub replies: i64,
    pub fallbacks: i64,
    pub feedback_up: i64,
    pub feedback_down: i64,
    pub csat_count: i64,
    pub csat_average: Option<f64>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_usd: Option<f64>,
    pub latency_p90_under_ms: Option<i64>,
}

/// Totals and the per-day series.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Analytics {
    pub from: String,
    pub to: String,
    /// The IANA zone days are counted in.
    pub time_zone: String,
    pub totals: Totals,
    /// Every day of the period, oldest first (days without conversations too).
    pub days: Vec<DayFigures>,
    /// Where the LLM budgets stand now (absent without one).
    pub budget: Option<super::BudgetStatus>,
}

/// What one conversation counts as.
struct Verdicts {
    handed_off: bool,
    settled: bool,
    resolved: bool,
}

fn judge(f: &ConversationFacts, options: &AnalyticsOptions) -> Verdicts {
    let handed_off =
        f.handoff_ms.is_some() || f.agent_messages > 0 || f.assigned || f.status == Status::Agent;
    let quiet_for = options.now_ms.saturating_sub(f.updated_ms);
    let at_least = |d: Duration| quiet_for >= i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let settled = handed_off
        || (f.status == Status::Closed && at_least(REOPEN_WINDOW))
        || at_least(options.quiet);
    let negative = f.bot_down > 0 || f.agent_down > 0 || f.csat.is_some_and(|(score, _)| score < 3);
    Verdicts {
        handed_off,
        settled,
        resolved: settled && !handed_off && f.answers > 0 && !negative,
    }
}

#[derive(Default)]
struct DaySums {
    conversations: i64,
    settled: i64,
    resolved: i64,
    handoffs: i64,
    replies: i64,
    fallbacks: i64,
    up: i64,
    down: i64,
    csat_count: i64,
    csat_sum: i64,
    tokens_in: i64,
    tokens_out: i64,
    latency: [i64; LATENCY_BUCKETS],
}

impl Analytics {
    /// The metrics over `facts` (conversations started in the options'
    /// period) and the replies' `breakdown`.
    pub fn compute(
        facts: &[ConversationFacts],
        breakdown: Breakdown,
        options: &AnalyticsOptions,
    ) -> Self {
        let mut days: BTreeMap<Date, DaySums> = BTreeMap::new();
        let mut day = options.first_day;
        while day <= options.last_day {
            days.insert(day, DaySums::default());
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        let mut t = Totals {
            fallback_codes: breakdown.fallback_codes,
            grounding: breakdown.verdicts,
            by_hour: vec![0; 24],
            ..Totals::default()
        };
        let mut latency = [0i64; LATENCY_BUCKETS];
        let (mut first_bot, mut first_human, mut agent_waits) = (vec![], vec![], (0i64, 0i64));
        let (mut bot_csat, mut human_csat) = ((0i64, 0i64), (0i64, 0i64));
        for f in facts {
            let v = judge(f, options);
            let sums = options.day_of(f.created_ms).and_then(|d| days.get_mut(&d));
            let Some(sums) = sums else {
                continue;
            };
            t.conversations += 1;
            sums.conversations += 1;
            if let Some(hour) = options.hour_of(f.created_ms) {
                t.by_hour[hour] += 1;
            }
            if v.settled {
                t.settled += 1;
                sums.settled += 1;
            }
            if v.resolved {
                t.automated_resolutions += 1;
                sums.resolved += 1;
            }
            if v.handed_off {
                t.handoffs += 1;
                sums.handoffs += 1;
                let reason = f.handoff_reason.as_deref().unwrap_or("agent_took_over");
                *t.handoff_reasons.entry(reason.to_string()).or_default() += 1;
            }
            t.replies += f.replies;
            sums.replies += f.replies;
            t.fallbacks += f.fallbacks;
            sums.fallbacks += f.fallbacks;
            t.feedback.bot.up += f.bot_up;
            t.feedback.bot.down += f.bot_down;
            t.feedback.agent.up += f.agent_up;
            t.feedback.agent.down += f.agent_down;
            sums.up += f.bot_up + f.agent_up;
            sums.down += f.bot_down + f.agent_down;
            if let Some((score, answerer)) = f.csat {
                let score = i64::from(score);
                sums.csat_count += 1;
                sums.csat_sum += score;
                if let Some(slot) = usize::try_from(score - 1)
                    .ok()
                    .and_then(|i| t.csat.distribution.get_mut(i))
                {
                    *slot += 1;
                }
                let by = match answerer {
                    Answerer::Bot => &mut bot_csat,
                    Answerer::Agent => &mut human_csat,
                };
                by.0 += 1;
                by.1 += score;
            }
            if let (Some(asked), Some(answered)) = (f.first_customer_ms, f.first_reply_ms)
                && answered >= asked
            {
                first_bot.push(answered - asked);
            }
            if let (Some(from), Some(answered)) =
                (f.handoff_ms.or(f.first_customer_ms), f.first_agent_ms)
                && answered >= from
            {
                first_human.push(answered - from);
            }
            agent_waits.0 += f.agent_answers;
            agent_waits.1 += f.agent_wait_ms;
            t.tokens_in += f.tokens_in;
            t.tokens_out += f.tokens_out;
            sums.tokens_in += f.tokens_in;
            sums.tokens_out += f.tokens_out;
            for (i, n) in f.latency.iter().enumerate() {
                latency[i] += n;
                sums.latency[i] += n;
            }
        }
        t.automated_resolution_rate = rate(t.automated_resolutions, t.settled);
        t.handoff_rate = rate(t.handoffs, t.conversations);
        t.fallback_rate = rate(t.fallbacks, t.replies);
        t.feedback.up = t.feedback.bot.up + t.feedback.agent.up;
        t.feedback.down = t.feedback.bot.down + t.feedback.agent.down;
        let summary = |(count, sum): (i64, i64)| CsatSummary {
            count,
            average: (count > 0).then(|| sum as f64 / count as f64),
        };
        t.csat.bot = summary(bot_csat);
        t.csat.human = summary(human_csat);
        let all = summary((bot_csat.0 + human_csat.0, bot_csat.1 + human_csat.1));
        t.csat.count = all.count;
        t.csat.average = all.average;
        t.first_response_bot = Durations::of(first_bot);
        t.first_response_human = Durations::of(first_human);
        t.agent_reply = Durations {
            count: agent_waits.0,
            average_ms: (agent_waits.0 > 0).then(|| agent_waits.1 / agent_waits.0),
            p50_ms: None,
            p90_ms: None,
        };
        t.latency = Latency::of(&latency);
        t.cost_usd = options.cost(t.tokens_in, t.tokens_out);
        t.cost_per_conversation_usd = t
            .cost_usd
            .filter(|_| t.conversations > 0)
            .map(|c| c / t.conversations as f64);
        let days = days
            .into_iter()
            .map(|(day, s)| DayFigures {
                day: day.to_string(),
                conversations: s.conversations,
                settled: s.settled,
                automated_resolutions: s.resolved,
                automated_resolution_rate: rate(s.resolved, s.settled),
                handoffs: s.handoffs,
                handoff_rate: rate(s.handoffs, s.conversations),
                replies: s.replies,
                fallbacks: s.fallbacks,
                feedback_up: s.up,
                feedback_down: s.down,
                csat_count: s.csat_count,
                csat_average: (s.csat_count > 0).then(|| s.csat_sum as f64 / s.csat_count as f64),
                tokens_in: s.tokens_in,
                tokens_out: s.tokens_out,
                cost_usd: options.cost(s.tokens_in, s.tokens_out),
                latency_p90_under_ms: Latency::of(&s.latency).p90_under_ms,
            })
            .collect();
        Self {
            from: options.first_day.to_string(),
            to: options.last_day.to_string(),
            time_zone: options.zone.iana_name().unwrap_or("UTC").to_string(),
            totals: t,
            days,
            budget: None,
        }
    }

    /// The per-day series as CSV (a header, then a line per day).
    pub fn days_csv(&self) -> String {
        let mut out = String::from(
            "day,conversations,settled,automated_resolutions,automated_resolution_rate,handoffs,\
             handoff_rate,replies,fallbacks,feedback_up,feedback_down,csat_count,csat_average,\
             tokens_in,tokens_out,cost_usd,latency_p90_under_ms\n",
        );
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
        for d in &self.days {
            let line = [
                d.day.clone(),
                d.conversations.to_string(),
                d.settled.to_string(),
                d.automated_resolutions.to_string(),
                opt(d.automated_resolution_rate),
                d.handoffs.to_string(),
                opt(d.handoff_rate),
                d.replies.to_string(),
                d.fallbacks.to_string(),
                d.feedback_up.to_string(),
                d.feedback_down.to_string(),
                d.csat_count.to_string(),
                opt(d.csat_average),
                d.tokens_in.to_string(),
                d.tokens_out.to_string(),
                opt(d.cost_usd),
                d.latency_p90_under_ms
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            ]
            .join(",");
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}
