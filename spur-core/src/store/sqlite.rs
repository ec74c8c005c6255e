use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::StoreError as Error;
use super::sql::{backend as db_error, migrate_error};

/// SQLite through sqlx: the embedded default (one file, WAL mode).
///
/// Every write goes through one connection: SQLite admits one writer at a
/// time, and writers on several connections meet `SQLITE_BUSY` and sleep in
/// its busy handler (the 260-340 ms p99 at ten customers). Writers queue
/// for that connection in arrival order instead, while reads run on a pool
/// beside it (WAL gives each read a snapshot, never blocked by the writer).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Readers; the writer too for an in-memory database (one connection
    /// is the whole database).
    pool: SqlitePool,
    writer: SqlitePool,
}

/// Connections reading beside the writer.
const READERS: u32 = 4;

/// How much of the file each connection maps (address space, not memory:
/// pages are the OS page cache's, shared by every connection).
const MMAP_BYTES: u64 = 256 * 1024 * 1024;

impl SqliteStore {
    /// Its SQL dialect, where the shared SQL differs.
    const DIALECT: super::insight_sql::Dialect = super::insight_sql::Dialect::Sqlite;

    /// Opens (creating if missing) `sqlite://path.db` or `sqlite::memory:`
    /// and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(db_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // Pages read through a mapping rather than a read(2) each.
            .pragma("mmap_size", MMAP_BYTES.to_string());
        // A local file's connection cannot go stale: no ping before each use.
        let pool = |size: u32| {
            SqlitePoolOptions::new()
                .max_connections(size)
                .test_before_acquire(false)
        };
        let writer = pool(1)
            .connect_with(options.clone())
            .await
            .map_err(db_error)?;
        migrate(&writer).await?;
        // Each connection to an in-memory database is a different database.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let readers = if in_memory {
            writer.clone()
        } else {
            // Read-only: a write sent to a reader by mistake fails at once.
            pool(READERS)
                .connect_with(options.read_only(true))
                .await
                .map_err(db_error)?
        };
        Ok(Self {
            pool: readers,
            writer,
        })
    }

    /// Uses an existing pool for reads and writes, applying the migrations.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, Error> {
        migrate(&pool).await?;
        Ok(Self {
            writer: pool.clone(),
            pool,
        })
    }

    /// The readers' pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The writer's pool (one connection).
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// SQLite has no data-modifying CTEs: every change takes the
    /// transaction in `sql_store!` (in process, so no network round trips).
    async fn apply_in_one_statement(
        &self,
        change: super::Change,
    ) -> Result<Result<super::Applied, Error>, super::Change> {
        Err(change)
    }
}

async fn migrate(pool: &SqlitePool) -> Result<(), Error> {
    sqlx::migrate!("../migrations/sqlite")
        .run(pool)
        .await
        .map_err(migrate_error)
}

super::sql::sql_store!(SqliteStore, sqlx::Sqlite);
crate::accounts::sql::sql_accounts!(SqliteStore);
crate::tickets::sql::sql_tickets!(SqliteStore);
crate::knowledge::vector_cache_sql::sql_vector_cache!(SqliteStore, sqlx::Sqlite);
crate::store::outbox_sql::sql_outbox!(SqliteStore, "");
