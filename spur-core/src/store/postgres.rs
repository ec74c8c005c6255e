use sqlx::postgres::{PgPool, PgPoolOptions};

use super::StoreError as Error;
use super::sql::{backend as db_error, migrate_error};

/// PostgreSQL through sqlx: for production and several server instances.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `postgres://…` and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let pool = PgPoolOptions::new()
            .max_connections(32)
            .connect(url)
            .await
            .map_err(db_error)?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool, applying the migrations.
    pub async fn from_pool(pool: PgPool) -> Result<Self, Error> {
        sqlx::migrate!("../migrations/postgres")
            .run(&pool)
            .await
            .map_err(migrate_error)?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

super::sql::sql_store!(PostgresStore, sqlx::Postgres);
crate::accounts::sql::sql_accounts!(PostgresStore);
crate::tickets::sql::sql_tickets!(PostgresStore);
crate::knowledge::vector_cache_sql::sql_vector_cache!(PostgresStore, sqlx::Postgres);
