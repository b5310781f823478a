//! What keeps the shared database serving a class: every route that reads it spends the REST
//! rate limit (a refusal is a 429 with `Retry-After`), a class holds at most
//! `class_events::MAX_STREAMS` live event streams on an instance, and a WebSocket upgrade
//! waits only briefly for the store to name its student, so a stalled database cannot stall
//! the playground. A store that fails answers 500 without its detail. Real gateways on SQLite
//! and a real PostgreSQL.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;
use support::class::{Api, As};
use support::gateway::{recv, start_with};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const OPERATOR: &str = "operator-token-for-tests";

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("socketlab-class-limits-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Creates a class; its id, join code and secret.
async fn create(api: &Api, name: &str) -> (String, String, String) {
    let created = api.post("/api/v1/classes", As::Bearer(OPERATOR), json!({"name": name})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let s = |k: &str| created.body[k].as_str().unwrap().to_owned();
    (s("id"), s("join_code"), s("secret"))
}

#[tokio::test]
async fn routes_that_read_the_store_spend_the_rate_limit() {
    let store = socketlab::db::open(&temp_dir("rate"), None).await.unwrap();
    let g = start_with(
        |c| {
            c.instructor_token = Some(OPERATOR.to_owned());
            // Without a browser session, one bucket for the address: six requests, and no
            // refill while the test runs.
            c.limits.rate_per_sec = 1;
            c.limits.burst = 6;
            c.rate_period = Duration::from_secs(3600);
        },
        Some(store),
    )
    .await;
    let api = Api::new(&g.url(""));
    let (class, code, secret) = create(&api, "Networks").await; // 1
    let joined = api.join(&code, "Ada").await; // 2
    assert_eq!(joined.status, 200, "{}", joined.text);
    let cookie = joined.cookie.unwrap();
    let me = api.get("/api/v1/me", As::Cookie(&cookie)).await; // 3
    assert_eq!(me.status, 200, "{}", me.text);
    let resume = me.body["resume_url"].as_str().unwrap().to_owned();
    assert_eq!(api.get(&format!("/api/v1/classes/{class}"), As::Bearer(&secret)).await.status, 200); // 4
    assert_eq!(api.get(&resume, As::Nobody).await.status, 303); // 5
    assert_eq!(api.get("/api/v1/me", As::Cookie(&cookie)).await.status, 200); // 6

    // The bucket is spent: each route that reaches the store is refused before it does.
    let check = "/api/v1/labs/udp-pinger/steps/x/check";
    let refused = [
        api.get("/api/v1/me", As::Cookie(&cookie)).await,
        api.get(&resume, As::Nobody).await,
        api.get(&format!("/api/v1/classes/{class}"), As::Bearer(&secret)).await,
        api.get(&format!("/api/v1/classes/{class}/grades.csv"), As::Bearer(&secret)).await,
        api.get(&format!("/api/v1/classes/{class}/events"), As::Bearer(&secret)).await,
        api.post(&format!("/api/v1/classes/{class}/close"), As::Bearer(&secret), json!({})).await,
        api.post(check, As::Cookie(&cookie), json!({"exchange": "none", "answers": {}})).await,
    ];
    for (i, a) in refused.iter().enumerate() {
        assert_eq!((a.status, &a.body["error"]["code"]), (429, &json!("rate_limited")), "route {i}: {}", a.text);
    }
    // A lab check without a class cookie reads no store, and is not limited here.
    let free = api.post(check, As::Nobody, json!({"exchange": "none", "answers": {}})).await;
    assert_ne!(free.status, 429, "{}", free.text);
    // Nor are the routes that never reach the store.
    assert_eq!(api.get("/api/v1/servers", As::Nobody).await.status, 200);
    g.stop().await;
}

#[tokio::test]
async fn a_class_holds_at_most_eight_live_event_streams_per_instance() {
    let store = socketlab::db::open(&temp_dir("sse"), None).await.unwrap();
    let g = start_with(|c| c.instructor_token = Some(OPERATOR.to_owned()), Some(store)).await;
    let api = Api::new(&g.url(""));
    let (class, _, secret) = create(&api, "Networks").await;
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(api.events(&class, &secret).await);
    }
    let ninth = api.get(&format!("/api/v1/classes/{class}/events"), As::Bearer(&secret)).await;
    assert_eq!((ninth.status, &ninth.body["error"]["code"]), (429, &json!("too_many_connections")), "{}", ninth.text);
    assert!(ninth.body["error"]["message"].as_str().unwrap().contains("8 live event streams"), "{}", ninth.text);
    // Another class has its own streams.
    let (other, _, other_secret) = create(&api, "Other").await;
    let _theirs = api.events(&other, &other_secret).await;
    drop(open);
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_store_does_not_stall_the_websocket_upgrade() {
    let pg = tokio::task::spawn_blocking(support::postgres::Postgres::start).await.unwrap();
    let url = pg.database("stall");
    let store = socketlab::db::open(&temp_dir("stall"), Some(url.as_str())).await.unwrap();
    let g = start_with(|c| c.instructor_token = Some(OPERATOR.to_owned()), Some(store)).await;
    let api = Api::new(&g.url(""));
    let (_, code, _) = create(&api, "Networks").await;
    let joined = api.join(&code, "Ada").await;
    assert_eq!(joined.status, 200, "{}", joined.text);
    let cookie = joined.cookie.unwrap();
    let upgrade = || {
        let mut req = format!("ws://{}/api/v1/ws", g.http).into_client_request().unwrap();
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
        tokio_tungstenite::connect_async(req)
    };
    // With the store answering, the socket is Ada's: it may not observe everyone's traffic.
    let (mut ws, _) = upgrade().await.unwrap();
    assert_eq!(recv(&mut ws).await["type"], "hello");
    support::gateway::send(&mut ws, json!({"type": "subscribe", "scope": "all"})).await;
    assert_eq!(recv(&mut ws).await["code"], "observe_disabled");
    drop(ws);

    // Another session locks the students' table: every read of it waits.
    let mut lock = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("LOCK TABLE student IN ACCESS EXCLUSIVE MODE").execute(&mut lock).await.unwrap();
    let me = tokio::spawn({
        let (c, url) = (api.c.clone(), g.url("/api/v1/me"));
        let cookie = cookie.clone();
        async move { c.get(url).header("cookie", cookie).send().await.map(|r| r.status().as_u16()) }
    });
    // The upgrade still opens (bounded by the support's wait), as a socket without a student.
    let (mut ws, _) = tokio::time::timeout(support::WAIT, upgrade()).await.expect("upgraded in time").unwrap();
    let hello: Value = recv(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    assert!(!me.is_finished(), "the store is indeed stalled");
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    assert_eq!(me.await.unwrap().unwrap(), 200, "the store answers again");
    drop(ws);
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_answers_500_without_its_detail() {
    let pg = tokio::task::spawn_blocking(support::postgres::Postgres::start).await.unwrap();
    let url = pg.database("fail");
    let store = socketlab::db::open(&temp_dir("fail"), Some(url.as_str())).await.unwrap();
    let g = start_with(|c| c.instructor_token = Some(OPERATOR.to_owned()), Some(store)).await;
    let api = Api::new(&g.url(""));
    let (_, code, _) = create(&api, "Networks").await;
    let cookie = api.join(&code, "Ada").await.cookie.unwrap();
    assert_eq!(api.get("/api/v1/me", As::Cookie(&cookie)).await.status, 200);
    // The tables go: every query names a relation that does not exist.
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("DROP TABLE lab_progress, saved_exchange CASCADE").execute(&mut admin).await.unwrap();
    let failed =
        [api.get("/api/v1/me", As::Cookie(&cookie)).await, api.get("/api/v1/saved/abcdefghijklmnop", As::Nobody).await];
    for a in failed {
        assert_eq!(a.status, 500, "{}", a.text);
        assert_eq!(a.body["error"]["message"], "the store failed", "{}", a.text);
        for detail in ["lab_progress", "saved_exchange", "relation", "127.0.0.1"] {
            assert!(!a.text.contains(detail), "{detail}: {}", a.text);
        }
    }
    g.stop().await;
}
