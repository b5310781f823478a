//! The repository's `deploy/socketlab.conf` in a real nginx from Debian's packages, in front of
//! two `socketlab serve` instances sharing a real PostgreSQL, all on loopback: browsers keep an
//! instance by cookie (not by address), WebSockets pass, a save made through one instance is
//! read through the other, and when an instance dies its browsers move to the survivor.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::gateway::{Ws, collect, recv, send};
use support::{Proc, serve_with};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// nginx with the deploy file, its instances and listen address swapped for the test's.
fn nginx(a: &str, b: &str) -> (Proc, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("socketlab-nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/socketlab.conf");
    let text = std::fs::read_to_string(&deploy).unwrap();
    let port = free_port();
    for needle in ["127.0.0.1:8081 ", "127.0.0.1:8082 ", "listen 80;"] {
        assert!(text.contains(needle), "deploy/socketlab.conf no longer has {needle:?}");
    }
    let site = text
        .replace("127.0.0.1:8081 ", &format!("{a} "))
        .replace("127.0.0.1:8082 ", &format!("{b} "))
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
    std::fs::write(dir.join("socketlab.conf"), site).unwrap();
    let d = dir.display();
    let main = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  \
         access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         include {d}/socketlab.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    // Workers run as nobody when nginx starts as root; they write their temporary files here.
    let _ = Command::new("chmod").arg("777").arg(&dir).status();
    let mut cmd = Command::new("nginx");
    cmd.arg("-p").arg(&dir).arg("-c").arg(dir.join("nginx.conf"));
    let p = Proc::start(cmd);
    let deadline = Instant::now() + support::WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "nginx did not listen: {log}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (p, format!("127.0.0.1:{port}"), dir)
}

/// The instance that answered, told apart by its hosted UDP port.
async fn udp_port(c: &reqwest::Client, url: &str, cookie: &str) -> u64 {
    let r = c.get(format!("{url}/api/v1/servers")).header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}: {}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    v["servers"].as_array().unwrap().iter().find(|s| s["protocol"] == "udp").unwrap()["port"].as_u64().unwrap()
}

/// A first visit: the page, and the affinity cookie nginx hands out with it.
async fn visit(c: &reqwest::Client, url: &str) -> String {
    let r = c.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let set = r.headers().get("set-cookie").expect("an affinity cookie").to_str().unwrap().to_owned();
    assert!(set.starts_with("socketlab_affinity="), "{set}");
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_from_deploy_spreads_browsers_keeps_them_and_fails_over() {
    let pg = tokio::task::spawn_blocking(support::postgres::Postgres::start).await.unwrap();
    let url = pg.database("deploy");
    let flags = ["--database", url.as_str(), "--trusted-proxies", "127.0.0.1"];
    let (a, http_a, _) = serve_with(&flags, &[]);
    let (b, http_b, _) = serve_with(&flags, &[]);
    let (nginx, front, dir) = nginx(&http_a, &http_b);
    let (front, direct_a, direct_b) =
        (format!("http://{front}"), format!("http://{http_a}"), format!("http://{http_b}"));
    let c = reqwest::Client::new();
    let (port_a, port_b) = (udp_port(&c, &direct_a, "").await, udp_port(&c, &direct_b, "").await);

    // Browsers from one address are spread over both instances by their cookies.
    let mut seen = std::collections::BTreeSet::new();
    let mut cookies = Vec::new();
    for _ in 0..16 {
        let cookie = visit(&c, &front).await;
        seen.insert(udp_port(&c, &front, &cookie).await);
        cookies.push(cookie);
    }
    assert_eq!(seen, [port_a, port_b].into_iter().collect(), "both instances serve browsers from one address");

    // A browser keeps its instance: a REST exchange and its save land on the same one.
    let cookie = cookies[0].clone();
    let home = udp_port(&c, &front, &cookie).await;
    for _ in 0..5 {
        assert_eq!(udp_port(&c, &front, &cookie).await, home, "the cookie keeps the instance");
    }
    let ran: Value = c
        .post(format!("{front}/api/v1/exchanges"))
        .header("cookie", &cookie)
        .json(&json!({"protocol": "tcp", "message": "through nginx"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ran["reply"], "THROUGH NGINX");
    let saved = c
        .post(format!("{front}/api/v1/saved"))
        .header("cookie", &cookie)
        .json(&json!({"exchange": ran["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 201);
    let link: Value = saved.json().await.unwrap();
    for direct in [&direct_a, &direct_b] {
        let r = c.get(format!("{direct}/api/v1/saved/{}", link["id"].as_str().unwrap())).send().await.unwrap();
        assert_eq!(r.status(), 200, "readable on every instance: {direct}");
    }

    // A WebSocket through nginx runs an exchange.
    let mut req = format!("ws://{}/api/v1/ws", front.trim_start_matches("http://")).into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _): (Ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(recv(&mut ws).await["type"], "hello");
    send(&mut ws, json!({"type": "exchange", "id": "n1", "protocol": "udp", "message": "over nginx"})).await;
    let (_, end) = collect(&mut ws, "n1").await;
    assert_eq!((end["type"].as_str(), end["reply"].as_str()), (Some("reply"), Some("OVER NGINX")), "{end}");
    drop(ws);

    // The instance dies: its browsers move to the survivor, and what was saved is still there.
    let (dead, survivor) = if home == port_a { (a, port_b) } else { (b, port_a) };
    drop(dead);
    assert_eq!(udp_port(&c, &front, &cookie).await, survivor, "moved to the survivor");
    let r = c
        .get(format!("{front}/api/v1/saved/{}", link["id"].as_str().unwrap()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(nginx);
    std::fs::remove_dir_all(&dir).unwrap();
}
