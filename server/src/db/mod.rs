//! What the gateway keeps across restarts and shares between instances: one [`Store`] trait
//! with two backends, SQLite (`sqlite.rs`, the embedded default, a file under `--data-dir`)
//! and PostgreSQL (`postgres.rs`, `--database postgres://...`, for several instances).
//!
//! Each backend has its own migrations (`server/migrations/<backend>/`), embedded in the binary
//! and run when the store opens, so a fresh data directory or an empty database needs nothing
//! else. The queries are plain strings, not sqlx's macros: no database is needed at build time,
//! and the one test suite (`tests/store.rs`) runs every query against both backends.
//!
//! Saved exchanges (permalinks) are this trait's own; classes, their students, lab progress,
//! check results and the signing key are `class.rs`'s [`ClassStore`], which every store is too.
//! Every row has a text id and a Unix-millisecond time; a student's saved exchanges carry the
//! student's id as their `owner`.

/// Writes a backend's `Store` impl. The queries are the same on both backends but for their
/// placeholders (`?` or `$1`); sqlx's generic executor bounds would outweigh the few lines the
/// two impls share, so one macro writes both from their SQL.
macro_rules! sql_store {
    ($ty:ty, $backend:expr, insert: $insert:expr, select: $select:expr, delete: $delete:expr $(,)?) => {
        impl $crate::db::Store for $ty {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn save<'a>(&'a self, s: &'a $crate::db::Saved) -> $crate::db::Fut<'a, ()> {
                Box::pin(async move {
                    let done = sqlx::query($insert)
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
                    if done.rows_affected() == 0 { Err($crate::db::StoreError::Taken(s.id.clone())) } else { Ok(()) }
                })
            }

            fn saved<'a>(&'a self, id: &'a str, not_before_ms: i64) -> $crate::db::Fut<'a, Option<$crate::db::Saved>> {
                Box::pin(async move {
                    let row = sqlx::query_as::<_, $crate::db::Saved>($select)
                        .bind(id)
                        .bind(not_before_ms)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(row)
                })
            }

            fn forget_saved_before(&self, before_ms: i64) -> $crate::db::Fut<'_, u64> {
                Box::pin(async move {
                    let done = sqlx::query($delete).bind(before_ms).execute(&self.pool).await?;
                    Ok(done.rows_affected())
                })
            }

            fn close(&self) -> $crate::db::Fut<'_, ()> {
                Box::pin(async move {
                    self.pool.close().await;
                    Ok(())
                })
            }
        }
    };
}

#[macro_use]
pub mod class;
mod postgres;
mod sqlite;

use std::borrow::Cow;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

pub use self::class::{Class, ClassStore, Notify};
pub use self::postgres::Postgres;
pub use self::sqlite::Sqlite;

/// The file the SQLite backend keeps under `--data-dir`.
pub const SQLITE_FILE: &str = "socketlab.db";

/// A store operation's future (boxed, so the trait can be used as `dyn Store`).
pub type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot open the {backend} store: {source}")]
    Open { backend: &'static str, source: sqlx::Error },
    #[error("cannot migrate the {backend} store: {source}")]
    Migrate { backend: &'static str, source: sqlx::migrate::MigrateError },
    #[error("the id {0:?} is taken")]
    Taken(String),
    #[error("the store failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("--database must be a postgres:// or postgresql:// URL")]
    Url,
    #[error("no random bytes from the operating system: {0}")]
    Random(#[from] getrandom::Error),
}

/// A saved exchange: what a permalink shows. Both backends read it with the same `FromRow`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Saved {
    /// The permalink's short id.
    pub id: String,
    /// The gateway's name for the exchange it was saved from.
    pub exchange: String,
    /// `udp` or `tcp`.
    pub protocol: String,
    /// When it was saved, Unix time in milliseconds.
    pub created_ms: i64,
    /// The timeline as a JSON array of events.
    pub events: String,
    /// The capture as a pcapng file, when there was one.
    pub pcapng: Option<Vec<u8>>,
    /// Who saved it; `None` when anonymous.
    pub owner: Option<String>,
}

impl Saved {
    /// What counts against the size cap: the timeline and the capture.
    pub fn bytes(&self) -> usize {
        self.events.len() + self.pcapng.as_ref().map_or(0, Vec::len)
    }
}

/// The store: one trait, two backends, the same behaviour (checked by one test suite).
pub trait Store: ClassStore + Notify + Send + Sync + std::fmt::Debug {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Keeps `saved`; [`StoreError::Taken`] when its id is already used.
    fn save<'a>(&'a self, saved: &'a Saved) -> Fut<'a, ()>;
    /// The saved exchange `id`, unless it is missing or was saved before `not_before_ms`.
    fn saved<'a>(&'a self, id: &'a str, not_before_ms: i64) -> Fut<'a, Option<Saved>>;
    /// Removes what was saved before `before_ms`; returns how many were removed.
    fn forget_saved_before(&self, before_ms: i64) -> Fut<'_, u64>;
    /// Closes the connections.
    fn close(&self) -> Fut<'_, ()>;
}

/// Opens the store the settings name: PostgreSQL when `database` is given, else SQLite in
/// `data_dir` (created when missing). Migrations run before it returns.
pub async fn open(data_dir: &Path, database: Option<&str>) -> Result<Arc<dyn Store>, StoreError> {
    match database {
        Some(url) => Ok(Arc::new(Postgres::open(url).await?)),
        None => Ok(Arc::new(Sqlite::open(data_dir).await?)),
    }
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A fresh short id: 16 characters of `[A-Za-z0-9]` from the operating system's CSPRNG, about
/// 95 bits, so an id cannot be guessed.
pub fn new_id() -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(16);
    let mut bytes = [0u8; 32];
    // Each try keeps the bytes below 248 (4 x 62), so every character is equally likely; 32
    // bytes almost always hold 16 of them.
    while id.len() < 16 {
        getrandom::fill(&mut bytes)?;
        for b in bytes.iter().filter(|b| **b < 248) {
            if id.len() < 16 {
                id.push(char::from(ALPHABET[usize::from(*b % 62)]));
            }
        }
    }
    Ok(id)
}

/// Whether `id` could be one [`new_id`] made (anything else is answered 404 unread).
pub fn is_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A backend's migrations, embedded in the binary.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send>> {
        let list = self
            .0
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(*version, Cow::Borrowed(*name), MigrationType::Simple, Cow::Borrowed(*sql), false)
            })
            .collect();
        Box::pin(async move { Ok(list) })
    }
}

/// The migrator for one backend's list.
async fn migrator(list: &'static [(i64, &'static str, &'static str)]) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(list)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_long_random_and_plain() {
        let ids: Vec<String> = (0..200).map(|_| new_id().expect("random bytes")).collect();
        assert!(ids.iter().all(|id| is_id(id)), "{ids:?}");
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        // Every position uses many characters, not a counter's few.
        let firsts: std::collections::BTreeSet<u8> = ids.iter().map(|id| id.as_bytes()[0]).collect();
        assert!(firsts.len() > 30, "{firsts:?}");
        assert!(!is_id("short") && !is_id("../../etc/passwd") && !is_id("AAAAAAAAAAAAAAA-"));
    }

    #[test]
    fn only_postgres_urls_name_postgres() {
        assert!(is_postgres_url("postgres://u@127.0.0.1:5432/db"));
        assert!(is_postgres_url("postgresql://u@h/db"));
        assert!(!is_postgres_url("sqlite://x.db") && !is_postgres_url("mysql://h/db"));
    }
}
