//! One test suite for the store, run against both backends: SQLite in a fresh directory and a
//! real PostgreSQL started by the test from Debian's packages. Nothing is mocked.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use socketlab::db::{self, Saved, Store, StoreError};

fn saved(id: &str, created_ms: i64, pcapng: Option<Vec<u8>>) -> Saved {
    Saved {
        id: id.to_owned(),
        exchange: format!("x1-{id}"),
        protocol: "tcp".to_owned(),
        created_ms,
        events: r#"[{"t_us":1,"op":"socket","data":"straße ✓"}]"#.to_owned(),
        pcapng,
        owner: None,
    }
}

/// The suite: every behaviour the gateway relies on, the same for each backend.
async fn suite(store: &Arc<dyn Store>) {
    let a = db::new_id().unwrap();
    let with_capture = saved(&a, 1_000, Some((0..=255u8).cycle().take(300_000).collect()));
    store.save(&with_capture).await.unwrap();
    assert_eq!(store.saved(&a, 0).await.unwrap(), Some(with_capture.clone()), "read back whole, bytes intact");

    let b = db::new_id().unwrap();
    let mut plain = saved(&b, 2_000, None);
    plain.owner = Some("student-7".to_owned());
    store.save(&plain).await.unwrap();
    assert_eq!(store.saved(&b, 0).await.unwrap(), Some(plain.clone()), "no capture, an owner");

    let again = store.save(&saved(&a, 3_000, None)).await;
    assert!(matches!(again, Err(StoreError::Taken(ref id)) if *id == a), "{again:?}");
    assert_eq!(store.saved(&a, 0).await.unwrap(), Some(with_capture), "a taken id keeps its first exchange");

    assert_eq!(store.saved("NoSuchId00000000", 0).await.unwrap(), None);
    assert_eq!(store.saved(&a, 1_001).await.unwrap(), None, "older than the retention is not served");
    assert!(store.saved(&b, 2_000).await.unwrap().is_some(), "the boundary is kept");

    assert_eq!(store.forget_saved_before(1_500).await.unwrap(), 1);
    assert_eq!(store.saved(&a, 0).await.unwrap(), None, "forgotten");
    assert_eq!(store.saved(&b, 0).await.unwrap(), Some(plain));
    assert_eq!(store.forget_saved_before(1_500).await.unwrap(), 0);
}

#[tokio::test]
async fn sqlite_passes_the_suite_and_keeps_across_reopening() {
    let dir = std::env::temp_dir().join(format!("socketlab-store-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("fresh").join("data");
    let store = db::open(&data, None).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    assert!(data.join(db::SQLITE_FILE).exists(), "the data directory and file are created");
    suite(&store).await;
    let kept = db::new_id().unwrap();
    store.save(&saved(&kept, 5_000, None)).await.unwrap();
    store.close().await.unwrap();

    let reopened = db::open(&data, None).await.unwrap();
    assert!(reopened.saved(&kept, 0).await.unwrap().is_some(), "kept across reopening; migrations run once");
    reopened.close().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn postgres_passes_the_suite_and_is_shared() {
    let pg = tokio::task::spawn_blocking(support::postgres::Postgres::start).await.unwrap();
    let url = pg.database("suite");
    let (one, two) =
        tokio::join!(db::open(std::path::Path::new("unused"), Some(&url)), db::open("unused".as_ref(), Some(&url)));
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.backend(), "postgres");
    suite(&one).await;
    let shared = db::new_id().unwrap();
    one.save(&saved(&shared, 5_000, None)).await.unwrap();
    assert!(two.saved(&shared, 0).await.unwrap().is_some(), "a second connection, as a second instance, reads it");
    one.close().await.unwrap();
    two.close().await.unwrap();

    let wrong = db::open("unused".as_ref(), Some("mysql://127.0.0.1/x")).await;
    assert!(matches!(wrong, Err(StoreError::Url)), "{wrong:?}");
    let down = format!("postgres://socketlab@127.0.0.1:{}/suite", pg.port);
    drop(pg);
    let err = db::open("unused".as_ref(), Some(&down)).await.unwrap_err();
    assert!(matches!(err, StoreError::Open { backend: "postgres", .. }), "{err}");
}
