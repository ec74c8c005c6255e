//! A fresh PostgreSQL database per test on the real server, so runs never
//! see each other's rows. Tests fail (never skip) when it is unreachable.

use sqlx::Connection;

use crate::store::StoreError;

/// `SPUR_TEST_POSTGRES_URL`, or trust auth on loopback.
pub fn admin_url() -> String {
    std::env::var("SPUR_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Creates an empty database and returns its URL.
pub async fn fresh_database() -> Result<String, StoreError> {
    let admin = admin_url();
    let backend = |e: sqlx::Error| StoreError::Backend(Box::new(e));
    let mut conn = sqlx::PgConnection::connect(&admin).await.map_err(backend)?;
    let name = format!("spur_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .map_err(backend)?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Ok(format!("{base}/{name}"))
}
