//! Saved exchanges and permalinks: saved through the REST API and read back, the size cap,
//! a permalink that survives a restart of the binary with the SQLite default, and one saved
//! through an instance and read through another that shares a real PostgreSQL.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};
use support::gateway::start_with;
use support::{Proc, socketlab};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("socketlab-saved-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a traced exchange through `base` and returns its result.
async fn exchange(client: &reqwest::Client, base: &str, protocol: &str, message: &str) -> Value {
    let r = client
        .post(format!("{base}/api/v1/exchanges"))
        .json(&json!({"protocol": protocol, "message": message}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn save(client: &reqwest::Client, base: &str, body: Value) -> (u16, Value) {
    let r = client.post(format!("{base}/api/v1/saved")).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn get(client: &reqwest::Client, url: String) -> (u16, Value) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn saved_through_rest_reads_back_with_its_timeline() {
    let dir = temp_dir("rest");
    let store = socketlab::db::open(&dir, None).await.unwrap();
    let g = start_with(|_| {}, Some(store.clone())).await;
    let (c, base) = (reqwest::Client::new(), g.url(""));
    let ran = exchange(&c, &base, "tcp", "permalink me").await;

    let (status, link) = save(&c, &base, json!({"exchange": ran["id"]})).await;
    assert_eq!(status, 201, "{link}");
    let id = link["id"].as_str().unwrap().to_owned();
    assert!(socketlab::db::is_id(&id), "{id}");
    assert_eq!(link["url"], format!("/x/{id}"));
    let (again, other) = save(&c, &base, json!({"exchange": ran["id"]})).await;
    assert_eq!(again, 201);
    assert_ne!(other["id"], link["id"], "every save gets its own id");

    let (status, saved) = get(&c, g.url(&format!("/api/v1/saved/{id}"))).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["id"], id.as_str());
    assert_eq!(saved["exchange"], ran["id"]);
    assert_eq!(saved["protocol"], "tcp");
    assert_eq!(saved["events"], ran["events"], "the same timeline, event for event");
    assert_eq!(saved["capture"], false);
    let (status, err) = get(&c, g.url(&format!("/api/v1/saved/{id}/pcapng"))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("capture_unavailable")), "no capture was taken");

    let page = c.get(g.url(&format!("/x/{id}"))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));

    for missing in ["AAAAAAAAAAAAAAAA", "x", "..%2F..%2Fetc"] {
        let (status, err) = get(&c, g.url(&format!("/api/v1/saved/{missing}"))).await;
        assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not_found")), "{missing}");
    }
    let (status, err) = save(&c, &base, json!({"exchange": "x1-0000000000000000"})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not_found")), "an exchange never run");
    let (status, err) = save(&c, &base, json!({"id": "x"})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("invalid_field")));
    let r = c.post(format!("{base}/api/v1/saved")).header("content-type", "application/json").body("{").send().await;
    assert_eq!(r.unwrap().status(), 400);
    g.stop().await;

    // The size cap: a timeline larger than the cap is refused, and nothing is kept.
    let store2 = socketlab::db::open(&dir, None).await.unwrap();
    let g = start_with(|c| c.saved_max_bytes = 1024, Some(store2)).await;
    let base = g.url("");
    let big = exchange(&c, &base, "tcp", &"x".repeat(600)).await;
    let (status, err) = save(&c, &base, json!({"exchange": big["id"]})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (413, Some("too_large")), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("at most 1024"), "{err}");
    let (status, _) = get(&c, g.url(&format!("/api/v1/saved/{id}"))).await;
    assert_eq!(status, 200, "the first gateway's save is in the same file");
    g.stop().await;
    store.close().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_saved_exchange_past_the_retention_is_not_served() {
    let dir = temp_dir("retention");
    let store = socketlab::db::open(&dir, None).await.unwrap();
    let g = start_with(|cfg| cfg.saved_age = std::time::Duration::from_millis(300), Some(store.clone())).await;
    let (c, base) = (reqwest::Client::new(), g.url(""));
    let ran = exchange(&c, &base, "udp", "short-lived").await;
    let (status, link) = save(&c, &base, json!({"exchange": ran["id"]})).await;
    assert_eq!(status, 201, "{link}");
    let id = link["id"].as_str().unwrap().to_owned();
    assert_eq!(get(&c, g.url(&format!("/api/v1/saved/{id}"))).await.0, 200, "within the retention");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (status, err) = get(&c, g.url(&format!("/api/v1/saved/{id}"))).await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not_found")), "past the retention");
    assert_eq!(get(&c, g.url(&format!("/api/v1/saved/{id}/pcapng"))).await.0, 404);
    g.stop().await;
    store.close().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `socketlab serve` in `cwd` with `flags`, its store wherever those flags and the defaults say.
fn serve_in(cwd: &std::path::Path, flags: &[&str]) -> (Proc, String) {
    let mut cmd: Command = socketlab();
    cmd.env_remove("SOCKETLAB_DATA_DIR").current_dir(cwd);
    cmd.args(["serve", "--http", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "0", "--capture", "off"]);
    cmd.args(flags);
    let p = Proc::start(cmd);
    let ready = p.line();
    assert!(ready.starts_with("socketlab gateway ready at http://"), "{ready}");
    let http = ready.split("http://").nth(1).unwrap().split('/').next().unwrap().to_owned();
    (p, format!("http://{http}"))
}

#[tokio::test]
async fn a_permalink_survives_a_restart_with_the_sqlite_default() {
    let cwd = temp_dir("restart");
    let c = reqwest::Client::new();
    let (mut first, base) = serve_in(&cwd, &[]);
    let ran = exchange(&c, &base, "udp", "still here?").await;
    let (status, link) = save(&c, &base, json!({"exchange": ran["id"]})).await;
    assert_eq!(status, 201, "{link}");
    first.terminate();
    assert!(first.wait().success());
    assert!(cwd.join("socketlab-data").join(socketlab::db::SQLITE_FILE).exists(), "the default data directory");

    let (mut second, base) = serve_in(&cwd, &[]);
    let (status, saved) = get(&c, format!("{base}/api/v1/saved/{}", link["id"].as_str().unwrap())).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["events"], ran["events"]);
    assert_eq!(saved["protocol"], "udp");
    second.terminate();
    assert!(second.wait().success());
    std::fs::remove_dir_all(&cwd).unwrap();
}

#[tokio::test]
async fn saved_through_one_instance_is_read_through_another_sharing_postgres() {
    let pg = tokio::task::spawn_blocking(support::postgres::Postgres::start).await.unwrap();
    let url = pg.database("shared");
    let cwd = temp_dir("pg");
    let (_a, base_a) = serve_in(&cwd, &["--database", &url]);
    let (_b, base_b) = serve_in(&cwd, &["--database", &url]);
    let c = reqwest::Client::new();
    let ran = exchange(&c, &base_a, "tcp", "from a to b").await;
    let (status, err) = save(&c, &base_b, json!({"exchange": ran["id"]})).await;
    assert_eq!(status, 404, "exchanges never cross instances: {err}");
    let (status, link) = save(&c, &base_a, json!({"exchange": ran["id"]})).await;
    assert_eq!(status, 201, "{link}");
    let (status, saved) = get(&c, format!("{base_b}/api/v1/saved/{}", link["id"].as_str().unwrap())).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["events"], ran["events"]);
    assert!(!cwd.join("socketlab-data").exists(), "with --database nothing goes to SQLite");
    std::fs::remove_dir_all(&cwd).unwrap();
}

#[test]
fn a_store_that_cannot_open_stops_serve_with_one_line() {
    let cwd = temp_dir("bad-store");
    // Nobody listens on port 1: the PostgreSQL store cannot open, and serve says so and stops.
    let mut cmd = socketlab();
    cmd.args(["serve", "--http", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "0", "--capture", "off"]);
    cmd.args(["--database", "postgres://socketlab@127.0.0.1:1/none"]);
    let (status, out, err) = support::run_with_input(cmd, b"");
    assert_eq!(status.code(), Some(1), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot open the postgres store"), "{err}");

    // Not a PostgreSQL URL: refused with the usage exit code before anything starts.
    let mut cmd = socketlab();
    cmd.args(["serve", "--database", "mysql://127.0.0.1/x"]);
    let (status, _, err) = support::run_with_input(cmd, b"");
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("postgres://"), "{err}");

    // A data directory that cannot be made: a file stands where it should be.
    std::fs::write(cwd.join("taken"), b"").unwrap();
    let mut cmd = socketlab();
    cmd.args(["serve", "--http", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "0", "--capture", "off"]);
    cmd.arg("--data-dir").arg(cwd.join("taken").join("data"));
    let (status, _, err) = support::run_with_input(cmd, b"");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("cannot create the data directory"), "{err}");
    std::fs::remove_dir_all(&cwd).unwrap();
}

#[test]
fn several_instances_opening_a_fresh_sqlite_store_at_once_all_start() {
    let dir = temp_dir("fresh-race");
    let data = dir.join("data");
    let starting: Vec<Proc> = (0..6)
        .map(|_| {
            let mut cmd = socketlab();
            cmd.args(["serve", "--http", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "0", "--capture", "off"]);
            cmd.arg("--data-dir").arg(&data);
            Proc::start(cmd)
        })
        .collect();
    for p in &starting {
        let ready = p.line();
        assert!(ready.starts_with("socketlab gateway ready at http://"), "{ready}");
    }
    drop(starting);
    std::fs::remove_dir_all(&dir).unwrap();
}
