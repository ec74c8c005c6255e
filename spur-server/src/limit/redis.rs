//! Limits shared by every instance: GCRA in a Lua script on Redis's own
//! clock (instances' clocks may disagree), and a per-UTC-day counter.
//! When Redis cannot answer in time, this instance's own limiter decides:
//! limits stay on, counted per instance, until Redis is back.

use std::net::IpAddr;
use std::time::Duration;

use redis::Script;
use spur_core::conversation::SessionId;

use super::{
    Decision, LimitError, Limiter, LocalLimiter, Rule, rules, tightest, until_utc_midnight, window,
};
use crate::config::RateLimits;
use crate::redis_link::RedisLink;

/// GCRA: KEYS[1] holds the theoretical arrival time (ms). ARGV: emission
/// interval (ms), burst. Returns {allowed, remaining, retry_after_ms, reset_ms}.
pub(crate) const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
";

/// KEYS[1] counts today's requests; ARGV[1] is the next UTC midnight (unix s).
/// Counts only while under ARGV[2]. Returns {count_before, allowed}.
const DAILY: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or 0)
if n >= tonumber(ARGV[2]) then return {n, 0} end
redis.call('INCR', KEYS[1])
if n == 0 then redis.call('EXPIREAT', KEYS[1], ARGV[1]) end
return {n, 1}
";

/// Limits through Redis (`REDIS_URL`), the same for every instance.
#[derive(Clone)]
pub struct RedisLimiter {
    limits: RateLimits,
    link: RedisLink,
    prefix: String,
    gcra: Script,
    daily: Script,
    /// Decides while Redis cannot.
    fallback: std::sync::Arc<LocalLimiter>,
}

impl RedisLimiter {
    pub fn new(link: RedisLink, limits: RateLimits) -> Self {
        Self {
            fallback: std::sync::Arc::new(LocalLimiter::new(limits.clone())),
            limits,
            link,
            prefix: "spur:rl".into(),
            gcra: Script::new(GCRA),
            daily: Script::new(DAILY),
        }
    }

    /// This instance's own limiter, used while Redis cannot answer.
    pub fn fallback(&self) -> &std::sync::Arc<LocalLimiter> {
        &self.fallback
    }

    /// Keys under another prefix (tests share one Redis).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    async fn windowed(&self, rule: Rule, key: String, limit: u32) -> Result<Decision, LimitError> {
        let interval = (window(&self.limits, rule).as_millis() as u64 / u64::from(limit)).max(1);
        let mut call = self.gcra.key(key);
        call.arg(interval).arg(limit);
        let (allowed, remaining, retry_ms, reset_ms): (i64, i64, i64, i64) = self
            .link
            .call(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await
            .map_err(|e| LimitError(e.to_string()))?;
        Ok(Decision {
            rule,
            allowed: allowed == 1,
            limit,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(0).min(limit),
            reset: Duration::from_millis(reset_ms.max(0) as u64),
            retry_after: Duration::from_millis(retry_ms.max(0) as u64),
        })
    }

    async fn daily(&self, ip: IpAddr) -> Result<Decision, LimitError> {
        let now = time::OffsetDateTime::now_utc();
        let reset = until_utc_midnight(now);
        let day = now.unix_timestamp().div_euclid(86_400);
        let midnight = (day + 1) * 86_400;
        let limit = self.limits.per_ip_day;
        let mut call = self.daily.key(format!("{}:day:{day}:{ip}", self.prefix));
        call.arg(midnight).arg(limit);
        let (before, allowed): (i64, i64) = self
            .link
            .call(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await
            .map_err(|e| LimitError(e.to_string()))?;
        let used = u32::try_from(before.max(0)).unwrap_or(u32::MAX);
        let allowed = allowed == 1;
        Ok(Decision {
            rule: Rule::IpDay,
            allowed,
            limit,
            remaining: limit.saturating_sub(used + u32::from(allowed)),
            reset,
            retry_after: if allowed { Duration::ZERO } else { reset },
        })
    }
}

#[async_trait::async_trait]
impl Limiter for RedisLimiter {
    async fn check(
        &self,
        ip: IpAddr,
        session: Option<SessionId>,
    ) -> Result<Option<Decision>, LimitError> {
        match self.shared(ip, session).await {
            Ok(decision) => Ok(decision),
            Err(error) => {
                crate::metrics::rate_limit_backend_error();
                tracing::warn!(%error, "shared limits unavailable; counting in this instance");
                self.fallback.check(ip, session).await
            }
        }
    }
}

impl RedisLimiter {
    async fn shared(
        &self,
        ip: IpAddr,
        session: Option<SessionId>,
    ) -> Result<Option<Decision>, LimitError> {
        let mut decisions = Vec::new();
        for (rule, limit) in rules(&self.limits, session) {
            let p = &self.prefix;
            let decision = match (rule, session) {
                (Rule::Global, _) => self.windowed(rule, format!("{p}:global"), limit).await?,
                (Rule::Ip, _) => self.windowed(rule, format!("{p}:ip:{ip}"), limit).await?,
                (Rule::Session, Some(s)) => {
                    self.windowed(rule, format!("{p}:session:{s}"), limit)
                        .await?
                }
                (Rule::Session, None) => continue,
                (Rule::IpDay, _) => self.daily(ip).await?,
            };
            decisions.push(decision);
            if !decision.allowed {
                break;
            }
        }
        Ok(tightest(decisions))
    }
}
