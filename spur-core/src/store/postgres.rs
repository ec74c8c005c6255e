use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use super::StoreError as Error;
use super::sql::{backend as db_error, migrate_error};

mod one_statement;

/// How long connecting may take before the address is reported.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the pool could not connect: a pool only says it timed out, so one
/// direct connection names the cause.
async fn unreachable(error: sqlx::Error, options: &PgConnectOptions) -> Error {
    if !matches!(error, sqlx::Error::PoolTimedOut) {
        return db_error(error);
    }
    let address = format!("{}:{}", options.get_host(), options.get_port());
    let cause =
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
            Ok(Err(sqlx::Error::Io(io))) => io.to_string().to_lowercase(),
            Ok(Err(other)) => other.to_string(),
            Ok(Ok(_)) => "it answered only after the pool gave up".to_string(),
            Err(_) => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        };
    Error::Backend(format!("cannot reach PostgreSQL at {address}: {cause}").into())
}

/// PostgreSQL through sqlx: for production and several server instances.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// The same pool: PostgreSQL runs concurrent writers itself.
    writer: PgPool,
}

impl PostgresStore {
    /// Its SQL dialect, where the shared SQL differs.
    const DIALECT: super::insight_sql::Dialect = super::insight_sql::Dialect::Postgres;

    /// Connects to `postgres://…` and applies the migrations. A server
    /// that cannot be reached is reported within seconds, with its address
    /// and the reason ("connection refused at 127.0.0.1:5433").
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let options = PgConnectOptions::from_str(url).map_err(db_error)?;
        // No ping before each use (a round trip per checkout, several per
        // message): a connection that broke fails its query, which the
        // caller sees as a store error, and the pool replaces it.
        let pool = PgPoolOptions::new()
            .max_connections(32)
            .test_before_acquire(false)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options.clone())
            .await;
        match pool {
            Ok(pool) => Self::from_pool(pool).await,
            Err(error) => Err(unreachable(error, &options).await),
        }
    }

    /// Uses an existing pool, applying the migrations.
    pub async fn from_pool(pool: PgPool) -> Result<Self, Error> {
        sqlx::migrate!("../migrations/postgres")
            .run(&pool)
            .await
            .map_err(migrate_error)?;
        Ok(Self {
            writer: pool.clone(),
            pool,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

super::sql::sql_store!(PostgresStore, sqlx::Postgres);
crate::accounts::sql::sql_accounts!(PostgresStore);
crate::tickets::sql::sql_tickets!(PostgresStore);
crate::knowledge::vector_cache_sql::sql_vector_cache!(PostgresStore, sqlx::Postgres);
crate::store::outbox_sql::sql_outbox!(PostgresStore, "FOR UPDATE SKIP LOCKED");
