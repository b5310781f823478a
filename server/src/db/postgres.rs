//! The PostgreSQL backend, `--database postgres://...`: several gateway instances share it, so
//! whatever one saves every other can read. Migrations take PostgreSQL's advisory lock, so
//! instances starting together apply them once.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::StoreError;

const BACKEND: &str = "postgres";

/// Migrations, in order: (version, description, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "saved exchange", include_str!("../../migrations/postgres/0001_saved_exchange.sql")),
    (2, "classes", include_str!("../../migrations/postgres/0002_classes.sql")),
];

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

sql_store!(
    Postgres,
    BACKEND,
    insert: "INSERT INTO saved_exchange (id, exchange, protocol, created_ms, events, pcapng, bytes, owner) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    select: "SELECT id, exchange, protocol, created_ms, events, pcapng, owner FROM saved_exchange \
             WHERE id = $1 AND created_ms >= $2",
    delete: "DELETE FROM saved_exchange WHERE created_ms < $1",
);

class_store!(Postgres, numbered: true);

impl super::Notify for Postgres {
    fn notify<'a>(&'a self, payload: &'a str) -> super::Fut<'a, bool> {
        Box::pin(async move {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(super::class::CHANNEL)
                .bind(payload)
                .execute(&self.pool)
                .await?;
            Ok(true)
        })
    }

    fn listen(&self) -> super::Fut<'_, Option<super::class::Payloads>> {
        Box::pin(async move {
            use futures_util::StreamExt;
            let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
            listener.listen(super::class::CHANNEL).await?;
            let payloads = listener.into_stream().filter_map(|n| async move {
                match n {
                    Ok(n) => Some(n.payload().to_owned()),
                    Err(e) => {
                        tracing::warn!(error = %e, "class events: the PostgreSQL listener failed");
                        None
                    }
                }
            });
            Ok(Some(Box::pin(payloads) as super::class::Payloads))
        })
    }
}
