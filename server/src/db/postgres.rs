//! The PostgreSQL backend, `--database postgres://...`: several gateway instances share it, so
//! whatever one saves every other can read. Migrations take PostgreSQL's advisory lock, so
//! instances starting together apply them once.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::{Fut, Saved, Store, StoreError};

const BACKEND: &str = "postgres";

/// Migrations, in order: (version, description, SQL).
const MIGRATIONS: &[(i64, &str, &str)] =
    &[(1, "saved exchange", include_str!("../../migrations/postgres/0001_saved_exchange.sql"))];

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct Postgres {
    pool: PgPool,
}

impl Postgres {
    /// Connects to `url` and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if !super::is_postgres_url(url) {
            return Err(StoreError::Url);
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|source| StoreError::Open { backend: BACKEND, source })?;
        let migrate = |source| StoreError::Migrate { backend: BACKEND, source };
        super::migrator(MIGRATIONS).await.map_err(migrate)?.run(&pool).await.map_err(migrate)?;
        Ok(Self { pool })
    }
}

impl Store for Postgres {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn save<'a>(&'a self, s: &'a Saved) -> Fut<'a, ()> {
        Box::pin(async move {
            let done = sqlx::query(
                "INSERT INTO saved_exchange (id, exchange, protocol, created_ms, events, pcapng, bytes, owner) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&s.id)
            .bind(&s.exchange)
            .bind(&s.protocol)
            .bind(s.created_ms)
            .bind(&s.events)
            .bind(s.pcapng.as_deref())
            .bind(i64::try_from(s.bytes()).unwrap_or(i64::MAX))
            .bind(s.owner.as_deref())
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 { Err(StoreError::Taken(s.id.clone())) } else { Ok(()) }
        })
    }

    fn saved<'a>(&'a self, id: &'a str, not_before_ms: i64) -> Fut<'a, Option<Saved>> {
        Box::pin(async move {
            let row = sqlx::query_as::<_, Saved>(
                "SELECT id, exchange, protocol, created_ms, events, pcapng, owner FROM saved_exchange \
                 WHERE id = $1 AND created_ms >= $2",
            )
            .bind(id)
            .bind(not_before_ms)
            .fetch_optional(&self.pool)
            .await?;
            Ok(row)
        })
    }

    fn forget_saved_before(&self, before_ms: i64) -> Fut<'_, u64> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM saved_exchange WHERE created_ms < $1")
                .bind(before_ms)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    fn close(&self) -> Fut<'_, ()> {
        Box::pin(async move {
            self.pool.close().await;
            Ok(())
        })
    }
}
