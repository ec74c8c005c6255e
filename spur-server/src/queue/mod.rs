//! Queued ticket classification (`USE_QUEUE=true`) on apalis: jobs live in
//! PostgreSQL (`apalis.jobs`, beside the store) or Redis. Workers retry
//! failures with exponential backoff, heartbeat while working, and re-queue
//! the jobs of a worker whose heartbeat stopped, so a restart loses nothing.
//! Jobs are effect-once because recording a classification is (see
//! `TicketStore::record_classification`).

mod job;

use std::time::Duration;

use apalis::layers::WorkerBuilderExt;
use apalis::layers::retry::RetryPolicy;
use apalis::prelude::{TaskSink, WorkerBuilder};
use apalis_postgres::PostgresStorage;
use apalis_redis::RedisStorage;
use spur_core::tickets::{TicketDesk, TicketId};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::retry::backoff::{ExponentialBackoffMaker, MakeBackoff};
use tower::util::rng::HasherRng;

pub use job::{ClassifyJob, JobContext};

use crate::config::QueueSettings;

/// A ticket still pending this long after filing is queued again (its job
/// may have been lost between the store and the queue).
const STALE_PENDING: time::Duration = time::Duration::minutes(5);
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Tickets claimed and queued per statement.
const SWEEP_BATCH: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("job queue (PostgreSQL): {0}")]
    Postgres(String),
    #[error("job queue (Redis): {0}")]
    Redis(String),
    #[error("job queue: {0}")]
    Worker(String),
}

/// Where classification jobs wait.
#[derive(Clone)]
pub enum Queue {
    Postgres(PostgresStorage<ClassifyJob>),
    Redis(RedisStorage<ClassifyJob>),
}

impl Queue {
    /// Uses the store's PostgreSQL pool, creating the `apalis` schema.
    pub async fn postgres(
        pool: &sqlx::PgPool,
        settings: &QueueSettings,
    ) -> Result<Self, QueueError> {
        // Everything in the `apalis` schema, its migration history included.
        PostgresStorage::setup(pool)
            .await
            .map_err(|e| QueueError::Postgres(e.to_string()))?;
        let config = apalis_postgres::Config::default()
            .queue(&settings.name)
            .heartbeat_interval(settings.heartbeat)
            .missed_heartbeats(2);
        Ok(Self::Postgres(
            PostgresStorage::new(pool).with_config(config),
        ))
    }

    pub async fn redis(url: &str, settings: &QueueSettings) -> Result<Self, QueueError> {
        let conn = apalis_redis::connect(url)
            .await
            .map_err(|e| QueueError::Redis(e.to_string()))?;
        let config = apalis_redis::Config::default()
            .queue(&settings.name)
            .heartbeat_interval(settings.heartbeat)
            .missed_heartbeats(2);
        Ok(Self::Redis(RedisStorage::new(conn).with_config(config)))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Redis(_) => "redis",
        }
    }

    pub async fn enqueue(&self, ticket: TicketId) -> Result<(), QueueError> {
        let job = ClassifyJob { ticket };
        match self.clone() {
            Self::Postgres(mut storage) => storage
                .push(job)
                .await
                .map_err(|e| QueueError::Postgres(e.to_string())),
            Self::Redis(mut storage) => storage
                .push(job)
                .await
                .map_err(|e| QueueError::Redis(e.to_string())),
        }
    }

    /// Runs one worker until `shutdown`.
    pub async fn work(
        self,
        ctx: JobContext,
        shutdown: CancellationToken,
    ) -> Result<(), QueueError> {
        let name = format!("spur-classifier-{}", uuid::Uuid::new_v4());
        let retries = ctx.retries;
        let backoff = || {
            ExponentialBackoffMaker::new(
                Duration::from_millis(200),
                Duration::from_secs(30),
                0.5,
                HasherRng::default(),
            )
            .map(|mut maker| maker.make_backoff())
            .map_err(|e| QueueError::Worker(e.to_string()))
        };
        // Each storage is its own type, hence one builder chain per backend.
        macro_rules! run {
            ($storage:expr) => {
                WorkerBuilder::new(name)
                    .backend($storage)
                    .data(ctx)
                    .retry(RetryPolicy::retries(retries).with_backoff(backoff()?))
                    .build(job::classify)
                    .run_until(async move {
                        shutdown.cancelled().await;
                        Ok::<(), apalis::prelude::WorkerError>(())
                    })
                    .await
                    .map_err(|e| QueueError::Worker(e.to_string()))
            };
        }
        match self {
            Self::Postgres(storage) => run!(storage),
            Self::Redis(storage) => run!(storage),
        }
    }

    /// Queues again every ticket pending for longer than [`STALE_PENDING`]:
    /// the job behind it was lost (say the process died between storing the
    /// ticket and queuing it). Jobs are effect-once, so a duplicate is harmless.
    ///
    /// Each stale ticket is claimed in the store before it is queued, so it
    /// is queued once per [`STALE_PENDING`] however many instances sweep.
    pub async fn requeue_stale(&self, desk: &TicketDesk) -> Result<usize, QueueError> {
        let mut queued = 0;
        loop {
            let now = time::OffsetDateTime::now_utc();
            let claimed = desk
                .store()
                .claim_stale_pending(now - STALE_PENDING, now, SWEEP_BATCH)
                .await
                .map_err(|e| QueueError::Worker(e.to_string()))?;
            for id in &claimed {
                self.enqueue(*id).await?;
            }
            queued += claimed.len();
            if claimed.len() < SWEEP_BATCH {
                return Ok(queued);
            }
        }
    }

    /// Starts `workers` workers and the stale-ticket sweep on `tasks`, all
    /// ending with `shutdown` (a worker finishes its job first).
    pub fn spawn_workers(
        &self,
        ctx: &JobContext,
        workers: usize,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
    ) {
        for _ in 0..workers {
            let (queue, ctx, shutdown) = (self.clone(), ctx.clone(), shutdown.clone());
            tasks.spawn(async move {
                if let Err(error) = queue.work(ctx, shutdown).await {
                    tracing::error!(%error, "classification worker stopped");
                }
            });
        }
        let (queue, desk, shutdown) = (self.clone(), ctx.desk.clone(), shutdown.clone());
        tasks.spawn(async move {
            loop {
                match queue.requeue_stale(&desk).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(tickets = n, "queued stale pending tickets again"),
                    Err(error) => tracing::error!(%error, "stale ticket sweep failed"),
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(SWEEP_EVERY) => {}
                }
            }
        });
    }
}
