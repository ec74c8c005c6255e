//! In-process limits: governor's GCRA per rule, and a per-day counter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use spur_core::conversation::SessionId;

use super::{Decision, LimitError, Limiter, Rule, rules, tightest, until_utc_midnight, window};
use crate::config::RateLimits;

/// What a windowed rule is counted by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Global,
    Ip(IpAddr),
    Session(SessionId),
}

type Keyed =
    RateLimiter<Key, DefaultKeyedStateStore<Key>, DefaultClock, StateInformationMiddleware>;

struct Windowed {
    limiter: Keyed,
    limit: u32,
    period: Duration,
}

/// Limits within one process.
pub struct LocalLimiter {
    limits: RateLimits,
    windowed: HashMap<&'static str, Windowed>,
    clock: DefaultClock,
    /// (UTC day, IP) -> requests that day.
    days: Mutex<(i64, HashMap<IpAddr, u32>)>,
}

impl LocalLimiter {
    pub fn new(limits: RateLimits) -> Self {
        let mut windowed = HashMap::new();
        for rule in [Rule::Global, Rule::Ip, Rule::Session] {
            let limit = match rule {
                Rule::Global => limits.global_per_sec,
                Rule::Ip => limits.per_ip,
                _ => limits.per_session,
            };
            let Some(burst) = NonZeroU32::new(limit) else {
                continue;
            };
            // One token back every window/limit: `limit` per window, GCRA-smoothed.
            let period = (window(&limits, rule) / limit).max(Duration::from_nanos(1));
            let Some(quota) = Quota::with_period(period) else {
                continue;
            };
            windowed.insert(
                rule.as_str(),
                Windowed {
                    limiter: RateLimiter::keyed(quota.allow_burst(burst))
                        .with_middleware::<StateInformationMiddleware>(),
                    limit,
                    period,
                },
            );
        }
        Self {
            limits,
            windowed,
            clock: DefaultClock::default(),
            days: Mutex::new((0, HashMap::new())),
        }
    }

    /// Drops state for keys that are whole again (call periodically).
    pub fn retain_recent(&self) {
        for w in self.windowed.values() {
            w.limiter.retain_recent();
        }
    }

    fn windowed(&self, rule: Rule, key: Key) -> Option<Decision> {
        let w = self.windowed.get(rule.as_str())?;
        Some(match w.limiter.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Decision {
                    rule,
                    allowed: true,
                    limit: w.limit,
                    remaining,
                    reset: w.period * (w.limit - remaining),
                    retry_after: Duration::ZERO,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Decision {
                    rule,
                    allowed: false,
                    limit: w.limit,
                    remaining: 0,
                    reset: w.period * w.limit,
                    retry_after: wait,
                }
            }
        })
    }

    fn daily(&self, ip: IpAddr) -> Result<Decision, LimitError> {
        let now = time::OffsetDateTime::now_utc();
        let day = now.unix_timestamp().div_euclid(86_400);
        let mut days = self
            .days
            .lock()
            .map_err(|_| LimitError("day counter poisoned".into()))?;
        if days.0 != day {
            *days = (day, HashMap::new());
        }
        let count = days.1.entry(ip).or_insert(0);
        let limit = self.limits.per_ip_day;
        let reset = until_utc_midnight(now);
        let allowed = *count < limit;
        if allowed {
            *count += 1;
        }
        Ok(Decision {
            rule: Rule::IpDay,
            allowed,
            limit,
            remaining: limit.saturating_sub(*count),
            reset,
            retry_after: if allowed { Duration::ZERO } else { reset },
        })
    }
}

#[async_trait::async_trait]
impl Limiter for LocalLimiter {
    async fn check(
        &self,
        ip: IpAddr,
        session: Option<SessionId>,
    ) -> Result<Option<Decision>, LimitError> {
        let mut decisions = Vec::new();
        for (rule, _) in rules(&self.limits, session) {
            let decision = match (rule, session) {
                (Rule::Global, _) => self.windowed(rule, Key::Global),
                (Rule::Ip, _) => self.windowed(rule, Key::Ip(ip)),
                (Rule::Session, Some(s)) => self.windowed(rule, Key::Session(s)),
                (Rule::Session, None) => None,
                (Rule::IpDay, _) => Some(self.daily(ip)?),
            };
            if let Some(d) = decision {
                decisions.push(d);
                // Later rules are not charged for a refused request.
                if !d.allowed {
                    break;
                }
            }
        }
        Ok(tightest(decisions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_ip: u32, per_session: u32, per_day: u32) -> RateLimits {
        RateLimits {
            per_ip,
            per_session,
            window: Duration::from_secs(900),
            per_ip_day: per_day,
            global_per_sec: 0,
        }
    }

    #[tokio::test]
    async fn each_rule_refuses_past_its_limit() {
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        let limiter = LocalLimiter::new(limits(3, 0, 0));
        for left in [2, 1, 0] {
            let d = limiter.check(ip, None).await.unwrap().unwrap();
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
        }
        let refused = limiter.check(ip, None).await.unwrap().unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.rule, Rule::Ip);
        // 900 s / 3 = one back every 300 s.
        assert!(refused.retry_after > Duration::from_secs(290));
        assert!(limiter.check(other, None).await.unwrap().unwrap().allowed);

        let session = SessionId(uuid::Uuid::new_v4());
        let limiter = LocalLimiter::new(limits(100, 2, 0));
        for _ in 0..2 {
            assert!(
                limiter
                    .check(ip, Some(session))
                    .await
                    .unwrap()
                    .unwrap()
                    .allowed
            );
        }
        let d = limiter.check(ip, Some(session)).await.unwrap().unwrap();
        assert_eq!((d.allowed, d.rule), (false, Rule::Session));
        assert!(limiter.check(ip, None).await.unwrap().unwrap().allowed);

        let limiter = LocalLimiter::new(limits(0, 0, 2));
        for _ in 0..2 {
            assert!(limiter.check(ip, None).await.unwrap().unwrap().allowed);
        }
        let d = limiter.check(ip, None).await.unwrap().unwrap();
        assert_eq!((d.allowed, d.rule), (false, Rule::IpDay));
        assert!(d.retry_after <= Duration::from_secs(86_400));

        let off = LocalLimiter::new(limits(0, 0, 0));
        assert_eq!(off.check(ip, None).await.unwrap(), None);
    }
}
