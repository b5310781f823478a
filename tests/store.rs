//! One test suite for the store, run against both backends: SQLite in a fresh directory and a
//! real PostgreSQL started by the test from Debian's packages. Nothing is mocked.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use socketlab::db::class::{CheckDone, StepDone, Student};
use socketlab::db::{self, Class, Saved, Store, StoreError};

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
    class_suite(store).await;
}

fn student(class: &Class, name: &str, joined_ms: i64) -> Student {
    Student { id: db::new_id().unwrap(), class_id: class.id.clone(), name: name.to_owned(), joined_ms }
}

/// Classes, students, their progress and checks, the signing key.
async fn class_suite(store: &Arc<dyn Store>) {
    let class = Class {
        id: db::new_id().unwrap(),
        name: "Networks 101 ✓".to_owned(),
        join_code: format!("J{}", &db::new_id().unwrap()[..5].to_uppercase()),
        created_ms: 10,
        closed_ms: None,
    };
    store.create_class(&class).await.unwrap();
    assert_eq!(store.class(&class.id).await.unwrap(), Some(class.clone()));
    assert_eq!(store.class_by_code(&class.join_code).await.unwrap(), Some(class.clone()));
    assert_eq!(store.class_by_code("NOCODE").await.unwrap(), None);
    let clash = Class { id: db::new_id().unwrap(), ..class.clone() };
    assert!(matches!(store.create_class(&clash).await, Err(StoreError::Taken(_))), "a join code is one class's");
    let other = Class { id: db::new_id().unwrap(), join_code: format!("{}X", class.join_code), ..class.clone() };
    store.create_class(&other).await.unwrap();

    let ada = student(&class, "Ada", 20);
    let bob = student(&class, "Bob", 21);
    store.join(&ada).await.unwrap();
    store.join(&bob).await.unwrap();
    let taken = store.join(&student(&class, "ADA", 22)).await;
    assert!(matches!(taken, Err(StoreError::Taken(ref n)) if n == "ADA"), "names are unique ignoring case: {taken:?}");
    let elsewhere = student(&other, "Ada", 23);
    store.join(&elsewhere).await.unwrap();
    assert_eq!(store.students(&class.id).await.unwrap(), vec![ada.clone(), bob.clone()]);
    assert_eq!(store.student(&bob.id).await.unwrap(), Some(bob.clone()));

    let step = |s: &Student, lab: &str, st: &str, ms| StepDone {
        student_id: s.id.clone(),
        lab: lab.to_owned(),
        step: st.to_owned(),
        answers: r#"{"q":"42"}"#.to_owned(),
        done_ms: ms,
    };
    assert!(store.record_step(&step(&ada, "udp", "one", 30)).await.unwrap());
    assert!(!store.record_step(&step(&ada, "udp", "one", 31)).await.unwrap(), "the first pass is kept");
    assert!(store.record_step(&step(&bob, "udp", "one", 32)).await.unwrap());
    assert!(store.record_step(&step(&elsewhere, "udp", "one", 33)).await.unwrap());
    let all = store.steps(&class.id, "").await.unwrap();
    assert_eq!(all, vec![step(&ada, "udp", "one", 30), step(&bob, "udp", "one", 32)], "only this class's");
    assert_eq!(store.steps(&class.id, &bob.id).await.unwrap(), vec![step(&bob, "udp", "one", 32)]);
    assert_eq!(store.steps(&class.id, &elsewhere.id).await.unwrap(), vec![], "a student of another class");

    let check = |s: &Student, passed, at_ms| CheckDone {
        student_id: s.id.clone(),
        program: "udp-server".to_owned(),
        passed,
        total: 10,
        at_ms,
    };
    store.record_check(&check(&ada, 6, 40)).await.unwrap();
    store.record_check(&check(&ada, 4, 41)).await.unwrap();
    assert_eq!(store.checks(&class.id, &ada.id).await.unwrap(), vec![check(&ada, 6, 40)], "the best is kept");
    store.record_check(&check(&ada, 9, 42)).await.unwrap();
    assert_eq!(store.checks(&class.id, "").await.unwrap(), vec![check(&ada, 9, 42)]);

    let mut mine = saved(&db::new_id().unwrap(), 50, None);
    mine.owner = Some(ada.id.clone());
    store.save(&mine).await.unwrap();
    let owned = store.saved_by(&ada.id).await.unwrap();
    assert_eq!((owned.len(), owned[0].id.as_str(), owned[0].created_ms), (1, mine.id.as_str(), 50));
    assert!(store.saved_by(&bob.id).await.unwrap().is_empty());

    assert!(store.close_class(&class.id, 60).await.unwrap());
    assert!(!store.close_class(&class.id, 61).await.unwrap(), "closed once");
    assert_eq!(store.class(&class.id).await.unwrap().unwrap().closed_ms, Some(60));

    assert!(!store.remove_student(&other.id, &ada.id).await.unwrap(), "not a student of that class");
    assert!(store.remove_student(&class.id, &ada.id).await.unwrap());
    assert_eq!(store.student(&ada.id).await.unwrap(), None);
    assert_eq!(store.students(&class.id).await.unwrap(), vec![bob.clone()]);
    assert!(store.checks(&class.id, "").await.unwrap().is_empty(), "the removed student's checks go too");
    assert_eq!(store.steps(&class.id, "").await.unwrap().len(), 1);
    store.join(&student(&class, "ada", 70)).await.unwrap();

    let key = store.signing_key("test", &[1; 32]).await.unwrap();
    assert_eq!(key, vec![1; 32]);
    assert_eq!(store.signing_key("test", &[2; 32]).await.unwrap(), key, "the first key stays");
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
    assert!(!store.notify("x").await.unwrap() && store.listen().await.unwrap().is_none(), "in process only");
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
    let mut heard = two.listen().await.unwrap().expect("PostgreSQL listens");
    assert!(one.notify(r#"{"class":"c"}"#).await.unwrap());
    let payload = tokio::time::timeout(support::WAIT, futures_util::StreamExt::next(&mut heard)).await.unwrap();
    assert_eq!(payload.as_deref(), Some(r#"{"class":"c"}"#), "a notification crosses instances");
    one.close().await.unwrap();
    two.close().await.unwrap();

    let wrong = db::open("unused".as_ref(), Some("mysql://127.0.0.1/x")).await;
    assert!(matches!(wrong, Err(StoreError::Url)), "{wrong:?}");
    let down = format!("postgres://socketlab@127.0.0.1:{}/suite", pg.port);
    drop(pg);
    let err = db::open("unused".as_ref(), Some(&down)).await.unwrap_err();
    assert!(matches!(err, StoreError::Open { backend: "postgres", .. }), "{err}");
}
