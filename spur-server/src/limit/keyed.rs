//! One limit counted per key (an account, an email, an IP): sign-in
//! attempts and classifications. In process by default; through Redis
//! when `REDIS_URL` is set, so that every instance counts together. If
//! Redis cannot answer in time, this instance's own count decides: the
//! limit never switches off, it only stops being shared for a while.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use redis::Script;

use super::redis::GCRA;
use crate::redis_link::RedisLink;

/// `limit` per `window` for each key.
pub struct KeyedLimit {
    local: DefaultKeyedRateLimiter<String>,
    shared: Option<Shared>,
    interval: Duration,
    limit: u32,
}

struct Shared {
    link: RedisLink,
    /// `spur:login:account`, `spur:classify`...
    prefix: String,
    script: Script,
}

impl KeyedLimit {
    /// `None` when `limit` is 0 (off).
    pub fn new(limit: u32, window: Duration) -> Option<Self> {
        let burst = NonZeroU32::new(limit)?;
        let interval = (window / limit).max(Duration::from_millis(1));
        let quota = Quota::with_period(interval)?.allow_burst(burst);
        Some(Self {
            local: RateLimiter::keyed(quota),
            shared: None,
            interval,
            limit,
        })
    }

    /// Counted in Redis under `prefix`.
    pub fn shared(mut self, link: RedisLink, prefix: &str) -> Self {
        self.shared = Some(Shared {
            link,
            prefix: prefix.to_string(),
            script: Script::new(GCRA),
        });
        self
    }

    /// `Ok` to go ahead, or how long to wait.
    pub async fn check(&self, key: &str) -> Result<(), Duration> {
        if let Some(shared) = &self.shared {
            match self.check_shared(shared, key).await {
                Ok(outcome) => return outcome,
                Err(error) => {
                    crate::metrics::rate_limit_backend_error();
                    tracing::warn!(%error, prefix = %shared.prefix, "shared limit unavailable; counting in this instance");
                }
            }
        }
        self.local
            .check_key(&key.to_string())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    async fn check_shared(
        &self,
        shared: &Shared,
        key: &str,
    ) -> Result<Result<(), Duration>, crate::redis_link::LinkError> {
        let mut call = shared.script.key(format!("{}:{key}", shared.prefix));
        call.arg(self.interval.as_millis() as u64).arg(self.limit);
        let (allowed, _, retry_ms, _): (i64, i64, i64, i64) = shared
            .link
            .call(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        Ok(if allowed == 1 {
            Ok(())
        } else {
            Err(Duration::from_millis(retry_ms.max(0) as u64))
        })
    }

    /// Forgets keys whose capacity is whole again (call periodically).
    pub fn retain_recent(&self) {
        self.local.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_key_has_its_own_allowance() {
        let limit = KeyedLimit::new(2, Duration::from_secs(60)).unwrap();
        assert!(limit.check("a").await.is_ok());
        assert!(limit.check("a").await.is_ok());
        let wait = limit.check("a").await.unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(limit.check("b").await.is_ok(), "another key is untouched");
        assert!(KeyedLimit::new(0, Duration::from_secs(60)).is_none());
    }
}
