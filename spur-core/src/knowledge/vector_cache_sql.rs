//! The vector cache in SQL: one text for SQLite and PostgreSQL,
//! instantiated per backend by [`sql_vector_cache!`].

use super::vector_cache::VectorCacheError;

/// Keys (or rows) per statement: far under either database's bind limit.
pub(crate) const CHUNK: usize = 500;

pub(crate) fn backend(error: sqlx::Error) -> VectorCacheError {
    VectorCacheError::Backend(Box::new(error))
}

macro_rules! sql_vector_cache {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::knowledge::VectorCache for $store {
            async fn vectors(
                &self,
                space: $crate::knowledge::VectorSpace<'_>,
                keys: &[uuid::Uuid],
                now: i64,
            ) -> Result<Vec<(uuid::Uuid, Vec<f32>)>, $crate::knowledge::VectorCacheError> {
                use $crate::knowledge::vector_cache_sql::{CHUNK, backend};
                let dims = i64::try_from(space.dims).unwrap_or(i64::MAX);
                let mut found = Vec::new();
                // Read and mark used in separate statements: a read
                // transaction upgraded to a write fails at once on SQLite
                // when another connection wrote meanwhile.
                for chunk in keys.chunks(CHUNK) {
                    let mut select = sqlx::QueryBuilder::<$db>::new(
                        "SELECT key, vector FROM embedding_vectors WHERE model = ",
                    );
                    select.push_bind(space.model.to_string());
                    select.push(" AND dims = ").push_bind(dims);
                    select.push(" AND key IN (");
                    let mut list = select.separated(", ");
                    for key in chunk {
                        list.push_bind(*key);
                    }
                    select.push(")");
                    let rows: Vec<(uuid::Uuid, Vec<u8>)> = select
                        .build_query_as()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(backend)?;
                    if !rows.is_empty() {
                        let mut touch = sqlx::QueryBuilder::<$db>::new(
                            "UPDATE embedding_vectors SET used_at = ",
                        );
                        touch.push_bind(now).push(" WHERE model = ");
                        touch.push_bind(space.model.to_string());
                        touch.push(" AND dims = ").push_bind(dims);
                        touch.push(" AND key IN (");
                        let mut list = touch.separated(", ");
                        for (key, _) in &rows {
                            list.push_bind(*key);
                        }
                        touch.push(")");
                        // Only the pruning age depends on it: the vectors
                        // are good either way.
                        if let Err(error) = touch.build().execute(&self.writer).await {
                            tracing::warn!(%error, "could not mark cached vectors used");
                        }
                    }
                    found.extend(rows.into_iter().filter_map(|(key, bytes)| {
                        $crate::knowledge::vector_cache::from_bytes(&bytes, space.dims)
                            .map(|v| (key, v))
                    }));
                }
                Ok(found)
            }

            async fn save_vectors(
                &self,
                space: $crate::knowledge::VectorSpace<'_>,
                vectors: &[(uuid::Uuid, Vec<f32>)],
                now: i64,
            ) -> Result<(), $crate::knowledge::VectorCacheError> {
                use $crate::knowledge::vector_cache_sql::{CHUNK, backend};
                let dims = i64::try_from(space.dims).unwrap_or(i64::MAX);
                let mut tx = self.writer.begin().await.map_err(backend)?;
                for chunk in vectors.chunks(CHUNK) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO embedding_vectors (model, dims, key, vector, used_at) ",
                    );
                    insert.push_values(chunk, |mut row, (key, vector)| {
                        row.push_bind(space.model.to_string())
                            .push_bind(dims)
                            .push_bind(*key)
                            .push_bind($crate::knowledge::vector_cache::to_bytes(vector))
                            .push_bind(now);
                    });
                    insert.push(
                        " ON CONFLICT (model, dims, key) DO UPDATE \
                         SET vector = excluded.vector, used_at = excluded.used_at",
                    );
                    insert.build().execute(&mut *tx).await.map_err(backend)?;
                }
                sqlx::query("DELETE FROM embedding_vectors WHERE used_at < $1")
                    .bind(now - $crate::knowledge::vector_cache::UNUSED_FOR_SECS)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                tx.commit().await.map_err(backend)?;
                Ok(())
            }
        }
    };
}

pub(crate) use sql_vector_cache;
