//! The shared Redis connection for limits, with short timeouts and a
//! circuit breaker: when Redis stops answering, calls fail within
//! `REDIS_TIMEOUT_MS` (tens of milliseconds), and after a few failures in
//! a row they are not tried at all for a while, so a dead Redis costs
//! requests nothing. `/readyz` and `spur_dependency_up` report it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Failures in a row that open the breaker.
const TRIP_AFTER: u32 = 3;
/// How long an open breaker skips Redis before trying again.
const COOL_OFF: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct RedisLink {
    manager: ConnectionManager,
    breaker: Arc<Breaker>,
    timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis is skipped for a while after repeated failures")]
    Open,
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl RedisLink {
    /// Connects to `url`; every later call answers within `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, LinkError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(200))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let manager = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| LinkError::Timeout(Duration::from_secs(5)))??;
        dependency_up(true);
        Ok(Self {
            manager,
            breaker: Arc::new(Breaker::default()),
            timeout,
        })
    }

    /// One call on the shared connection, unless the breaker is open.
    pub async fn call<T, F>(
        &self,
        call: impl FnOnce(ConnectionManager) -> F,
    ) -> Result<T, LinkError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        if !self.breaker.allows() {
            return Err(LinkError::Open);
        }
        let outcome = match tokio::time::timeout(self.timeout, call(self.manager.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(LinkError::Redis(error)),
            Err(_) => Err(LinkError::Timeout(self.timeout)),
        };
        match &outcome {
            Ok(_) => self.breaker.success(),
            Err(_) => self.breaker.failure(),
        }
        outcome
    }

    /// PING through the breaker (for `/readyz`).
    pub async fn ping(&self) -> Result<(), LinkError> {
        self.call(
            |mut conn| async move { redis::cmd("PING").query_async::<String>(&mut conn).await },
        )
        .await
        .map(drop)
    }
}

/// Closed (calls go through) until `TRIP_AFTER` failures in a row; then
/// open for `COOL_OFF`, after which one call at a time may try again.
#[derive(Default)]
struct Breaker {
    failures: AtomicU32,
    open_until: std::sync::Mutex<Option<Instant>>,
}

impl Breaker {
    fn allows(&self) -> bool {
        let mut open = self.open_until.lock().unwrap_or_else(|p| p.into_inner());
        match *open {
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                // Half-open: this call tries; others wait for its outcome's cool-off.
                *open = Some(Instant::now() + COOL_OFF);
                true
            }
            None => true,
        }
    }

    fn success(&self) {
        self.failures.store(0, Ordering::Relaxed);
        *self.open_until.lock().unwrap_or_else(|p| p.into_inner()) = None;
        dependency_up(true);
    }

    fn failure(&self) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        dependency_up(false);
        if failures >= TRIP_AFTER {
            let mut open = self.open_until.lock().unwrap_or_else(|p| p.into_inner());
            if open.is_none() {
                tracing::warn!(
                    failures,
                    "redis keeps failing; skipping it for {COOL_OFF:?}"
                );
            }
            *open = Some(Instant::now() + COOL_OFF);
        }
    }
}

fn dependency_up(up: bool) {
    metrics::gauge!("spur_dependency_up", "dependency" => "redis").set(if up { 1.0 } else { 0.0 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_repeated_failures_and_closes_on_success() {
        let breaker = Breaker::default();
        assert!(breaker.allows());
        for _ in 0..TRIP_AFTER {
            breaker.failure();
        }
        assert!(!breaker.allows(), "open: Redis is not even tried");
        *breaker.open_until.lock().unwrap() = Some(Instant::now() - Duration::from_millis(1));
        assert!(breaker.allows(), "half-open after the cool-off: one try");
        assert!(!breaker.allows(), "the others keep skipping meanwhile");
        breaker.success();
        assert!(breaker.allows());
    }
}
