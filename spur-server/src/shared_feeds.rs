//! Live feeds counted across instances (with `REDIS_URL`), so that
//! `FEEDS_PER_IP` and `FEEDS_PER_SESSION` hold for the whole deployment and
//! not per instance. Each holder (an address, a session) is a Redis hash
//! with one field per instance: that instance's open feeds. An instance's
//! field counts while its heartbeat key lives, so the feeds of a killed
//! instance stop counting within [`HEARTBEAT_TTL`]. When Redis does not
//! answer, the instance's own count decides (the caller's local cap).

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::redis_link::{LinkError, RedisLink};

/// How long an instance's feeds count after its last heartbeat.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(30);

/// A holder's hash outlives its last change by this (a leak bound for
/// holders that never come back; a feed open for longer than this with no
/// other change stops counting, erring towards letting customers in).
const HOLDER_TTL_MS: u64 = 24 * 3600 * 1000;

/// How long a stopping instance waits for its open feeds to end and give
/// their counts back; what is left then ends with its heartbeat.
const GIVE_BACK_WAIT: Duration = Duration::from_secs(5);

/// Counts the live instances' feeds of the holder (dropping dead ones'),
/// and takes one more for this instance unless `cap` are open.
/// KEYS[1] the holder; ARGV: this instance's field, cap, the heartbeat key
/// prefix, the holder's TTL (ms). The heartbeat keys are read by name: one
/// Redis, not a cluster.
const TAKE: &str = r"
local total = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local field, open = fields[i], tonumber(fields[i + 1])
  if field ~= ARGV[1] and redis.call('EXISTS', ARGV[3] .. field) == 0 then
    redis.call('HDEL', KEYS[1], field)
  else
    total = total + open
  end
end
if total >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
";

/// Gives one back. KEYS[1] the holder; ARGV[1] this instance's field.
const GIVE: &str = r"
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1
";

/// This instance's side of the shared count.
pub struct SharedFeeds {
    link: RedisLink,
    prefix: String,
    /// This process's field in every holder's hash.
    instance: String,
    take: Script,
    /// Holders whose feeds ended, given back by a background task; `None`
    /// once shutting down, so the queue ends with the last open feed.
    ended: std::sync::Mutex<Option<mpsc::UnboundedSender<String>>>,
}

impl std::fmt::Debug for SharedFeeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFeeds")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// One feed counted in Redis; given back when dropped.
#[derive(Debug)]
pub struct SharedHeld {
    key: String,
    ended: Option<mpsc::UnboundedSender<String>>,
}

impl Drop for SharedHeld {
    fn drop(&mut self) {
        if let Some(ended) = &self.ended {
            let _ = ended.send(std::mem::take(&mut self.key));
        }
    }
}

impl SharedFeeds {
    /// Starts the heartbeat and the task that gives ended feeds back, both
    /// on `tasks` until `shutdown` (which gives back what is still open:
    /// an instance that stops leaves no count behind).
    pub fn start(
        link: RedisLink,
        prefix: &str,
        heartbeat_ttl: Duration,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
    ) -> Arc<Self> {
        let (ended, mut queue) = mpsc::unbounded_channel::<String>();
        let shared = Arc::new(Self {
            link,
            prefix: prefix.to_string(),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            take: Script::new(TAKE),
            ended: std::sync::Mutex::new(Some(ended)),
        });
        let (beating, stop) = (Arc::clone(&shared), shutdown.clone());
        tasks.spawn(async move {
            loop {
                if let Err(error) = beating.beat(heartbeat_ttl).await {
                    tracing::warn!(%error, "feed count heartbeat failed");
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(heartbeat_ttl / 3) => {}
                }
            }
        });
        let (giving, stop) = (Arc::clone(&shared), shutdown.clone());
        tasks.spawn(async move {
            let give = Script::new(GIVE);
            let mut stopping: Option<tokio::time::Instant> = None;
            loop {
                let key = match stopping {
                    None => tokio::select! {
                        key = queue.recv() => key,
                        _ = stop.cancelled() => {
                            // Feeds end with the shutdown: once the last
                            // one has given its count back, the queue ends.
                            giving.stop_taking();
                            stopping = Some(tokio::time::Instant::now() + GIVE_BACK_WAIT);
                            continue;
                        }
                    },
                    Some(until) => match tokio::time::timeout_at(until, queue.recv()).await {
                        Ok(key) => key,
                        Err(_) => return,
                    },
                };
                let Some(key) = key else { return };
                if let Err(error) = giving.give(&give, &key).await {
                    tracing::warn!(%error, "an ended feed was not given back; its instance's heartbeat bounds it");
                }
            }
        });
        shared
    }

    /// One more feed for `holder` (`ip:...`, `session:...`) unless `cap`
    /// are open on the live instances: `Ok(None)` when full.
    pub async fn take(&self, holder: &str, cap: usize) -> Result<Option<SharedHeld>, LinkError> {
        let key = format!("{}:{holder}", self.prefix);
        let beats = format!("{}:instance:", self.prefix);
        let taken: i64 = self
            .link
            .call(|mut conn| {
                let mut invocation = self.take.key(&key);
                invocation
                    .arg(&self.instance)
                    .arg(cap)
                    .arg(&beats)
                    .arg(HOLDER_TTL_MS);
                async move { invocation.invoke_async(&mut conn).await }
            })
            .await?;
        Ok((taken == 1).then(|| SharedHeld {
            key,
            ended: self.sender(),
        }))
    }

    /// Where a feed gives its count back; `None` once stopping (its count
    /// then ends with this instance's heartbeat).
    fn sender(&self) -> Option<mpsc::UnboundedSender<String>> {
        self.ended
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Drops the last sender but the open feeds' own.
    fn stop_taking(&self) {
        self.ended
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }

    async fn beat(&self, ttl: Duration) -> Result<(), LinkError> {
        let key = format!("{}:instance:{}", self.prefix, self.instance);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.link
            .call(|mut conn| async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("PX")
                    .arg(ms)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }

    async fn give(&self, script: &Script, key: &str) -> Result<(), LinkError> {
        self.link
            .call(|mut conn| {
                let mut invocation = script.key(key);
                invocation.arg(&self.instance);
                async move { invocation.invoke_async::<i64>(&mut conn).await }
            })
            .await
            .map(drop)
    }
}
