//! The embedded SQLite backend: one file under `--data-dir`, created on first run, so a single
//! machine needs no database server. WAL mode lets readers and the writer work at once.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::{SQLITE_FILE, StoreError};

const BACKEND: &str = "sqlite";

/// How many times a store that another process is creating is opened before giving up.
const TRIES: u64 = 10;

/// Migrations, in order: (version, description, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "saved exchange", include_str!("../../migrations/sqlite/0001_saved_exchange.sql")),
    (2, "classes", include_str!("../../migrations/sqlite/0002_classes.sql")),
];

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct Sqlite {
    pool: SqlitePool,
}

impl Sqlite {
    /// Opens (creating when missing) `dir/socketlab.db` and brings its schema up to date.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::DataDir { path: dir.display().to_string(), source })?;
        let open = |source| StoreError::Open { backend: BACKEND, source };
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(open)?
            .filename(dir.join(SQLITE_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let migrator =
            super::migrator(MIGRATIONS).await.map_err(|source| StoreError::Migrate { backend: BACKEND, source })?;
        // Processes opening a fresh file at once race to switch it to WAL and to create the
        // migrations' table, and the losers get "database is locked"; they find the winner's
        // work on a later try. The tries are few and bounded.
        let mut tries = 0;
        loop {
            tries += 1;
            let pool = match SqlitePoolOptions::new().max_connections(4).connect_with(options.clone()).await {
                Ok(pool) => pool,
                Err(e) if tries < TRIES => {
                    tracing::debug!(error = %e, "opening the SQLite store again");
                    tokio::time::sleep(Duration::from_millis(50 * tries)).await;
                    continue;
                }
                Err(source) => return Err(open(source)),
            };
            match migrator.run(&pool).await {
                Ok(()) => return Ok(Self { pool }),
                Err(e) if tries < TRIES => {
                    tracing::debug!(error = %e, "migrating the SQLite store again");
                    pool.close().await;
                    tokio::time::sleep(Duration::from_millis(50 * tries)).await;
                }
                Err(source) => return Err(StoreError::Migrate { backend: BACKEND, source }),
            }
        }
    }
}

sql_store!(
    Sqlite,
    BACKEND,
    insert: "INSERT INTO saved_exchange (id, exchange, protocol, created_ms, events, pcapng, bytes, owner) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    select: "SELECT id, exchange, protocol, created_ms, events, pcapng, owner FROM saved_exchange \
             WHERE id = ? AND created_ms >= ?",
    delete: "DELETE FROM saved_exchange WHERE created_ms < ?",
);

class_store!(Sqlite, numbered: false);

/// One process, one file: class events travel in process only.
impl super::Notify for Sqlite {
    fn notify<'a>(&'a self, _payload: &'a str) -> super::Fut<'a, bool> {
        Box::pin(async { Ok(false) })
    }

    fn listen(&self) -> super::Fut<'_, Option<super::class::Payloads>> {
        Box::pin(async { Ok(None) })
    }
}
