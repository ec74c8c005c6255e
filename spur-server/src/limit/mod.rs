//! Rate limits per client IP, per session, per IP per UTC day and overall.
//! In process by default ([`LocalLimiter`], governor); shared by every
//! instance through Redis when `REDIS_URL` is set ([`RedisLimiter`]).

mod keyed;
mod local;
mod redis;

use std::net::IpAddr;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use spur_core::conversation::SessionId;

pub use keyed::KeyedLimit;
pub use local::LocalLimiter;
pub use redis::RedisLimiter;

use crate::config::RateLimits;

/// Which rule a decision came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    Global,
    Ip,
    Session,
    IpDay,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Global => "global",
            Rule::Ip => "ip",
            Rule::Session => "session",
            Rule::IpDay => "ip_day",
        }
    }
}

/// One rule's answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub rule: Rule,
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the rule's capacity is whole again.
    pub reset: Duration,
    /// When refused: how long to wait.
    pub retry_after: Duration,
}

impl Decision {
    /// The standard `RateLimit-*` headers, and `Retry-After` when refused.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(ceil_secs(self.reset)));
        if !self.allowed {
            headers.insert(
                "retry-after",
                HeaderValue::from(ceil_secs(self.retry_after).max(1)),
            );
        }
        headers
    }
}

/// Whole seconds, rounded up (headers never say 0 while still limited).
fn ceil_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000) as u64
}

/// The backend could not decide (Redis down). Requests are then let through.
#[derive(Debug, thiserror::Error)]
#[error("rate limit backend: {0}")]
pub struct LimitError(pub String);

/// A limiter: checks every configured rule for one request.
#[async_trait::async_trait]
pub trait Limiter: Send + Sync {
    /// `None` when no rule is configured. Otherwise the refusing rule's
    /// decision, or the tightest allowing one (for the headers).
    async fn check(
        &self,
        ip: IpAddr,
        session: Option<SessionId>,
    ) -> Result<Option<Decision>, LimitError>;
}

/// The rules that apply to a request, in the order they are checked.
pub(crate) fn rules(limits: &RateLimits, session: Option<SessionId>) -> Vec<(Rule, u32)> {
    [
        (Rule::Global, limits.global_per_sec),
        (Rule::Ip, limits.per_ip),
        (
            Rule::Session,
            if session.is_some() {
                limits.per_session
            } else {
                0
            },
        ),
        (Rule::IpDay, limits.per_ip_day),
    ]
    .into_iter()
    .filter(|(_, limit)| *limit > 0)
    .collect()
}

/// The window a windowed rule refills over.
pub(crate) fn window(limits: &RateLimits, rule: Rule) -> Duration {
    match rule {
        Rule::Global => Duration::from_secs(1),
        _ => limits.window,
    }
}

/// Keeps the refusal if any, else the allowing decision with the least left.
pub(crate) fn tightest(decisions: impl IntoIterator<Item = Decision>) -> Option<Decision> {
    let mut best: Option<Decision> = None;
    for d in decisions {
        if !d.allowed {
            return Some(d);
        }
        if best.is_none_or(|b| d.remaining < b.remaining) {
            best = Some(d);
        }
    }
    best
}

/// Until the next UTC midnight, when the per-day counters start again.
pub(crate) fn until_utc_midnight(now: time::OffsetDateTime) -> Duration {
    let secs = now.unix_timestamp().rem_euclid(86_400);
    Duration::from_secs((86_400 - secs) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_up_and_refusals_say_when() {
        let d = Decision {
            rule: Rule::Ip,
            allowed: false,
            limit: 50,
            remaining: 0,
            reset: Duration::from_millis(1_200),
            retry_after: Duration::from_millis(10),
        };
        let h = d.headers();
        assert_eq!(h["ratelimit-limit"], "50");
        assert_eq!(h["ratelimit-remaining"], "0");
        assert_eq!(h["ratelimit-reset"], "2");
        assert_eq!(h["retry-after"], "1");
        let ok = Decision { allowed: true, ..d };
        assert!(!ok.headers().contains_key("retry-after"));
    }

    #[test]
    fn the_refusal_wins_then_the_least_remaining() {
        let base = Decision {
            rule: Rule::Ip,
            allowed: true,
            limit: 10,
            remaining: 5,
            reset: Duration::ZERO,
            retry_after: Duration::ZERO,
        };
        let session = Decision {
            rule: Rule::Session,
            remaining: 2,
            ..base
        };
        assert_eq!(
            tightest([base, session]).map(|d| d.rule),
            Some(Rule::Session)
        );
        let refused = Decision {
            rule: Rule::IpDay,
            allowed: false,
            remaining: 0,
            ..base
        };
        assert_eq!(
            tightest([base, refused, session]).map(|d| d.rule),
            Some(Rule::IpDay)
        );
        assert_eq!(tightest([]), None);
    }

    #[test]
    fn midnight_is_counted_in_utc() {
        let t = time::macros::datetime!(2026-11-23 23:59:30 UTC);
        assert_eq!(until_utc_midnight(t), Duration::from_secs(30));
    }
}
