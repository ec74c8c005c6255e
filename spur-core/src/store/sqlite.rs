use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::StoreError as Error;
use super::sql::{backend as db_error, migrate_error};

/// SQLite through sqlx: the embedded default (one file, WAL mode).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) `sqlite://path.db` or `sqlite::memory:`
    /// and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(db_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // Each connection to an in-memory database is a different database.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(if in_memory { 1 } else { 8 })
            .connect_with(options)
            .await
            .map_err(db_error)?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool, applying the migrations.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, Error> {
        sqlx::migrate!("../migrations/sqlite")
            .run(&pool)
            .await
            .map_err(migrate_error)?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

super::sql::sql_store!(SqliteStore, sqlx::Sqlite);
crate::accounts::sql::sql_accounts!(SqliteStore);
crate::tickets::sql::sql_tickets!(SqliteStore);
crate::knowledge::vector_cache_sql::sql_vector_cache!(SqliteStore, sqlx::Sqlite);
