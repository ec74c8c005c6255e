//! The spending guard: a daily and a monthly LLM budget in US dollars from
//! the configured token prices. At 80% of either it warns; at 100% new
//! turns are answered by the offline responder (or answered so and handed
//! to a person) until the period ends, each such reply marked in its
//! metadata. A minute whose tokens pass `spike_factor` times the trailing
//! hour's per-minute average warns too.
//!
//! Spend is read from the store (every instance's replies) at first use, at
//! each new day or month and once a minute, and counted in process between
//! reads: across instances the guard lags by at most a minute of spend.

use std::collections::VecDeque;
use std::sync::Mutex;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

/// What a turn does once a budget is spent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenSpent {
    /// The offline responder answers from the knowledge.
    #[default]
    Offline,
    /// The offline responder answers and the conversation goes to a person.
    Handoff,
}

#[derive(Clone, Debug)]
pub struct BudgetConfig {
    pub daily_usd: Option<f64>,
    pub monthly_usd: Option<f64>,
    /// USD per million input and output tokens.
    pub prices: (f64, f64),
    pub when_spent: WhenSpent,
    /// A minute above this many times the trailing hour's average alerts.
    pub spike_factor: f64,
}

/// Share of a budget at which the warning goes out.
pub const WARN_AT: f64 = 0.8;

/// How often the store's totals are read again.
pub const SYNC_MS: i64 = 60_000;

/// Minutes of history the spike check compares against.
const SPIKE_WINDOW: i64 = 60;

/// Tokens a minute needs before it can count as a spike (a quiet shop's
/// second question is not one).
const SPIKE_FLOOR: u64 = 2_000;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeriodSpend {
    pub limit_usd: f64,
    pub spent_usd: f64,
    /// spent / limit.
    pub ratio: f64,
}

/// Where the budgets stand now.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BudgetStatus {
    pub day: Option<PeriodSpend>,
    pub month: Option<PeriodSpend>,
    /// Some budget is at 80% or more.
    pub warning: bool,
    /// Some budget is spent: turns use the offline responder.
    pub exceeded: bool,
    /// A spike of tokens was seen in the last hour.
    pub spike: bool,
}

/// The store's totals to read: spend since these instants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SyncRequest {
    pub day_start: time::OffsetDateTime,
    pub month_start: time::OffsetDateTime,
}

#[derive(Default)]
struct State {
    day: Option<Date>,
    spent_day: f64,
    spent_month: f64,
    synced_ms: Option<i64>,
    /// Warnings given this period: (month?, level) pairs.
    warned: Vec<(bool, u8)>,
    /// Tokens per minute, oldest first.
    minutes: VecDeque<(i64, u64)>,
    spike_ms: Option<i64>,
}

pub struct SpendingGuard {
    config: BudgetConfig,
    zone: TimeZone,
    state: Mutex<State>,
}

impl std::fmt::Debug for SpendingGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpendingGuard")
            .field("config", &self.config)
            .finish()
    }
}

fn civil(zone: &TimeZone, ms: i64) -> Date {
    Timestamp::from_millisecond(ms)
        .map(|t| zone.to_datetime(t).date())
        .unwrap_or_default()
}

fn instant(zone: &TimeZone, day: Date) -> time::OffsetDateTime {
    zone.to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp_nanos(t.as_nanosecond()).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

impl SpendingGuard {
    /// Days and months start at midnight in `zone` (the shop's).
    pub fn new(config: BudgetConfig, zone: TimeZone) -> Self {
        Self {
            config,
            zone,
            state: Mutex::new(State::default()),
        }
    }

    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The USD cost of these tokens.
    pub fn cost(&self, tokens_in: u64, tokens_out: u64) -> f64 {
        let (input, output) = self.config.prices;
        (tokens_in as f64 * input + tokens_out as f64 * output) / 1_000_000.0
    }

    /// When the store's totals should be read (first use, a new day, or a
    /// minute since the last read), the period starts to read them from.
    pub fn sync_request(&self, now_ms: i64) -> Option<SyncRequest> {
        let state = self.lock();
        let today = civil(&self.zone, now_ms);
        let due =
            state.day != Some(today) || state.synced_ms.is_none_or(|at| now_ms - at >= SYNC_MS);
        due.then(|| SyncRequest {
            day_start: instant(&self.zone, today),
            month_start: instant(&self.zone, today.first_of_month()),
        })
    }

    /// The store's totals since the request's instants.
    pub fn synced(&self, now_ms: i64, spent_day: f64, spent_month: f64) {
        let mut state = self.lock();
        let today = civil(&self.zone, now_ms);
        if state
            .day
            .is_some_and(|d| d.first_of_month() != today.first_of_month())
        {
            state.warned.clear();
        } else if state.day != Some(today) {
            state.warned.retain(|(month, _)| *month);
        }
        state.day = Some(today);
        state.spent_day = spent_day;
        state.spent_month = spent_month;
        state.synced_ms = Some(now_ms);
        self.warn(&mut state);
    }

    /// A reply's tokens, spent now.
    pub fn record(&self, now_ms: i64, tokens_in: u64, tokens_out: u64) {
        let cost = self.cost(tokens_in, tokens_out);
        let mut state = self.lock();
        state.spent_day += cost;
        state.spent_month += cost;
        self.warn(&mut state);
        let minute = now_ms.div_euclid(60_000);
        match state.minutes.back_mut() {
            Some((m, tokens)) if *m == minute => *tokens += tokens_in + tokens_out,
            _ => state.minutes.push_back((minute, tokens_in + tokens_out)),
        }
        while state
            .minutes
            .front()
            .is_some_and(|(m, _)| minute - m > SPIKE_WINDOW)
        {
            state.minutes.pop_front();
        }
        let (now_tokens, earlier): (u64, u64) =
            state.minutes.iter().fold((0, 0), |(now, before), (m, t)| {
                if *m == minute {
                    (now + t, before)
                } else {
                    (now, before + t)
                }
            });
        // Averaged over the history there is (an hour at most); with under
        // ten minutes of it nothing counts as a spike yet.
        let span = state
            .minutes
            .front()
            .map_or(0, |(first, _)| (minute - first).min(SPIKE_WINDOW));
        let average = earlier as f64 / span.max(1) as f64;
        let spiking = span >= 10
            && now_tokens >= SPIKE_FLOOR
            && now_tokens as f64 > self.config.spike_factor * average.max(1.0);
        if spiking && state.spike_ms.is_none_or(|at| now_ms - at >= 60_000) {
            tracing::warn!(
                tokens = now_tokens,
                hourly_average_per_minute = average,
                "LLM token spike: this minute is far above the last hour's average"
            );
            state.spike_ms = Some(now_ms);
        }
    }

    /// Logs each level (80%, 100%) once per period.
    fn warn(&self, state: &mut State) {
        let periods = [
            (false, "daily", self.config.daily_usd, state.spent_day),
            (true, "monthly", self.config.monthly_usd, state.spent_month),
        ];
        for (month, name, limit, spent) in periods {
            let Some(limit) = limit else { continue };
            for (level, at) in [(80u8, WARN_AT), (100, 1.0)] {
                if spent >= limit * at && !state.warned.contains(&(month, level)) {
                    state.warned.push((month, level));
                    if level == 100 {
                        tracing::warn!(
                            budget = name,
                            limit_usd = limit,
                            spent_usd = spent,
                            "LLM budget spent: the offline responder answers until the period ends"
                        );
                    } else {
                        tracing::warn!(
                            budget = name,
                            limit_usd = limit,
                            spent_usd = spent,
                            "LLM budget 80% spent"
                        );
                    }
                }
            }
        }
    }

    /// Where the budgets stand.
    pub fn status(&self, now_ms: i64) -> BudgetStatus {
        let state = self.lock();
        let spend = |limit: Option<f64>, spent: f64| {
            limit.map(|limit| PeriodSpend {
                limit_usd: limit,
                spent_usd: spent,
                ratio: if limit > 0.0 {
                    spent / limit
                } else {
                    f64::INFINITY
                },
            })
        };
        let day = spend(self.config.daily_usd, state.spent_day);
        let month = spend(self.config.monthly_usd, state.spent_month);
        let ratios = || day.iter().chain(month.iter()).map(|p| p.ratio);
        BudgetStatus {
            warning: ratios().any(|r| r >= WARN_AT),
            exceeded: ratios().any(|r| r >= 1.0),
            spike: state.spike_ms.is_some_and(|at| now_ms - at < 3_600_000),
            day,
            month,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(daily: f64) -> SpendingGuard {
        SpendingGuard::new(
            BudgetConfig {
                daily_usd: Some(daily),
                monthly_usd: Some(daily * 10.0),
                prices: (1.0, 2.0),
                when_spent: WhenSpent::Offline,
                spike_factor: 5.0,
            },
            TimeZone::UTC,
        )
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn spend_warns_at_eighty_percent_and_stops_at_the_limit_until_the_next_day() {
        let g = guard(1.0);
        let t0 = 20_000 * DAY + 3_600_000;
        let sync = g.sync_request(t0).expect("first use reads the store");
        assert_eq!(sync.day_start.unix_timestamp() * 1000, 20_000 * DAY);
        g.synced(t0, 0.5, 0.5);
        assert!(g.sync_request(t0 + 1_000).is_none(), "read a second ago");
        assert!(!g.status(t0).warning);
        g.record(t0, 300_000, 0); // $0.30
        let s = g.status(t0);
        assert!(s.warning && !s.exceeded, "{s:?}");
        g.record(t0, 0, 100_000); // $0.20
        assert!(g.status(t0).exceeded);
        assert!(g.sync_request(t0 + SYNC_MS).is_some(), "a minute later");
        // The next day the store's spend since midnight is what counts.
        let t1 = t0 + DAY;
        let sync = g.sync_request(t1).expect("a new day");
        assert_eq!(sync.day_start.unix_timestamp() * 1000, 20_001 * DAY);
        g.synced(t1, 0.0, 1.0);
        let s = g.status(t1);
        assert!(!s.exceeded, "{s:?}");
        assert_eq!(s.month.map(|m| m.spent_usd), Some(1.0));
    }

    #[test]
    fn a_minute_far_above_the_hour_is_a_spike() {
        let g = guard(1_000.0);
        let t0 = 20_000 * DAY;
        for minute in 0..30 {
            g.record(t0 + minute * 60_000, 3_000, 0);
            assert!(
                !g.status(t0 + minute * 60_000).spike,
                "steady use, minute {minute}"
            );
        }
        assert!(!g.status(t0 + 30 * 60_000).spike, "steady use");
        g.record(t0 + 30 * 60_000, 20_000, 0);
        assert!(g.status(t0 + 30 * 60_000).spike);
        assert!(
            !g.status(t0 + 100 * 60_000).spike,
            "an hour later it is over"
        );
    }
}
