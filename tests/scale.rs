//! A class at scale through the repository's `deploy/socketlab.conf`: PostgreSQL, two
//! `socketlab serve` instances with the DEFAULT limits and nginx, all on loopback. A hundred
//! browsers from one address each load the page (their affinity and session cookies), open a
//! WebSocket, run exchanges and save one. Halfway, one instance is killed with SIGKILL: its
//! browsers reconnect through nginx to the survivor, run their exchanges again there (those run
//! on the dead one are gone) and save again. Every save, those made on the dead instance
//! included, is then read through the survivor, and no browser fails.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::nginx::{Nginx, visit};
use support::serve_with;
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const BROWSERS: usize = 100;
/// Exchanges each browser runs on one WebSocket; the kill comes after `BEFORE_KILL` of them.
const EXCHANGES: usize = 4;
const BEFORE_KILL: usize = 2;
/// Connections a browser may open in all: its first, and one after its instance died.
const ATTEMPTS: usize = 3;
const WAIT: Duration = Duration::from_secs(15);

type Ws = support::gateway::Ws;

/// The next JSON frame, or why there is none.
async fn next(ws: &mut Ws) -> Result<Value, String> {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next()).await.map_err(|_| "no frame in time".to_owned())?;
        match frame {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).map_err(|e| e.to_string()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => return Err(format!("closed: {other:?}")),
            Some(Err(e)) => return Err(format!("broken: {e}")),
            None => return Err("ended".to_owned()),
        }
    }
}

/// One exchange on the socket; its reply's stored name.
async fn exchange(ws: &mut Ws, id: &str, protocol: &str, message: &str) -> Result<String, String> {
    let frame = json!({"type": "exchange", "id": id, "protocol": protocol, "message": message});
    ws.send(Message::text(frame.to_string())).await.map_err(|e| format!("send: {e}"))?;
    loop {
        let v = next(ws).await?;
        match v["type"].as_str() {
            Some("event") => continue,
            Some("reply") if v["reply"] == message.to_uppercase() => {
                return v["exchange"].as_str().map(str::to_owned).ok_or_else(|| format!("unnamed reply {v}"));
            }
            _ => return Err(format!("exchange {id}: {v}")),
        }
    }
}

/// Saves the exchange named `name` through nginx; the link's id.
async fn save(http: &reqwest::Client, front: &str, cookie: &str, name: &str) -> Result<String, String> {
    let saved = http
        .post(format!("{front}/api/v1/saved"))
        .header("cookie", cookie)
        .json(&json!({"exchange": name}))
        .send()
        .await
        .map_err(|e| format!("save: {e}"))?;
    let status = saved.status();
    let body: Value = saved.json().await.map_err(|e| format!("save body: {e}"))?;
    match body["id"].as_str() {
        Some(id) if status == 201 => Ok(id.to_owned()),
        _ => Err(format!("save answered {status}: {body}")),
    }
}

/// What a browser ended with: its links and the message each saved exchange sent.
#[derive(Debug)]
struct Done {
    /// Saved on its first instance before the kill.
    early: (String, String),
    saved: String,
    message: String,
    /// The hosted UDP port of each instance it was connected to, in order.
    instances: Vec<u64>,
}

/// One browser: the page, a WebSocket, exchanges (waiting at the barriers after the first
/// `BEFORE_KILL` on its first socket) and a save; after a failure it starts over.
async fn browser(n: usize, front: String, http: reqwest::Client, halfway: Arc<Barrier>) -> Result<Done, String> {
    let cookie = visit(&http, &front).await;
    let mut instances = Vec::new();
    let mut waited = false;
    let mut early = None;
    let mut last_error = String::new();
    for attempt in 0..ATTEMPTS {
        let run = async {
            let mut req =
                format!("ws://{}/api/v1/ws", front.trim_start_matches("http://")).into_client_request().unwrap();
            req.headers_mut().insert("cookie", cookie.parse().unwrap());
            let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
                .await
                .map_err(|_| "no upgrade in time".to_owned())?
                .map_err(|e| format!("upgrade: {e}"))?;
            let hello = next(&mut ws).await?;
            instances.push(hello["servers"][0]["port"].as_u64().ok_or(format!("hello: {hello}"))?);
            let mut last = (String::new(), String::new());
            for k in 0..EXCHANGES {
                if k == BEFORE_KILL && !waited {
                    early = Some((save(&http, &front, &cookie, &last.0).await?, last.1.clone()));
                    waited = true;
                    // Twice: everyone is halfway; then the test has killed an instance.
                    for _ in 0..2 {
                        tokio::time::timeout(WAIT * 2, halfway.wait()).await.map_err(|_| "barrier".to_owned())?;
                    }
                }
                let protocol = if k % 2 == 0 { "udp" } else { "tcp" };
                let message = format!("browser {n} try {attempt} message {k}");
                last = (exchange(&mut ws, &format!("x{k}"), protocol, &message).await?, message);
            }
            Ok::<_, String>((save(&http, &front, &cookie, &last.0).await?, last.1))
        };
        match run.await {
            Ok((saved, message)) => {
                let early = early.ok_or("no early save")?;
                return Ok(Done { early, saved, message, instances });
            }
            Err(e) => last_error = format!("browser {n}, connection {attempt}: {e}"),
        }
        if !waited {
            // It failed before the kill: nothing to start over from.
            return Err(last_error);
        }
    }
    Err(last_error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_of_100_behind_one_address_survives_losing_an_instance() {
    let pg = tokio::task::spawn_blocking(support::postgres::Postgres::start).await.unwrap();
    let url = pg.database("scale");
    let flags = ["--database", url.as_str(), "--trusted-proxies", "127.0.0.1"];
    let (a, http_a, _) = serve_with(&flags, &[]);
    let (b, http_b, _) = serve_with(&flags, &[]);
    let nginx = Nginx::start("scale", &http_a, &http_b);
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let port_of = |addr: &str| {
        let (http, url) = (http.clone(), format!("http://{addr}"));
        async move { support::nginx::udp_port(&http, &url, "").await }
    };
    let (port_a, port_b) = (port_of(&http_a).await, port_of(&http_b).await);

    let halfway = Arc::new(Barrier::new(BROWSERS + 1));
    let browsers: Vec<_> =
        (0..BROWSERS).map(|n| tokio::spawn(browser(n, nginx.url(), http.clone(), Arc::clone(&halfway)))).collect();
    tokio::time::timeout(WAIT * 2, halfway.wait()).await.expect("every browser got halfway");
    drop(a); // SIGKILL, while every browser holds a WebSocket between two exchanges
    tokio::time::timeout(WAIT, halfway.wait()).await.expect("the browsers go on");

    let mut done = Vec::new();
    let mut failed = Vec::new();
    for task in browsers {
        match tokio::time::timeout(WAIT * 3, task).await.expect("every browser finishes").unwrap() {
            Ok(d) => done.push(d),
            Err(e) => failed.push(e),
        }
    }
    assert_eq!(failed, Vec::<String>::new(), "no browser fails");
    assert_eq!(done.len(), BROWSERS);
    let moved = done.iter().filter(|d| d.instances.first() == Some(&port_a)).count();
    assert!(moved > 0 && moved < BROWSERS, "both instances had browsers: {moved} of {BROWSERS} on the killed one");
    for d in &done {
        assert_eq!(d.instances.last(), Some(&port_b), "finished on the survivor: {d:?}");
        let moved_over = d.instances.first() == Some(&port_a);
        assert_eq!(d.instances.len(), if moved_over { 2 } else { 1 }, "reconnected once if its instance died: {d:?}");
    }

    // Every save, those made on the dead instance too, reads back through the survivor.
    let links: Vec<(&str, &str)> = done
        .iter()
        .flat_map(|d| [(d.early.0.as_str(), d.early.1.as_str()), (d.saved.as_str(), d.message.as_str())])
        .collect();
    let mut ids: Vec<&str> = links.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2 * BROWSERS, "two distinct links per browser");
    for (id, message) in links {
        let r = http.get(format!("http://{http_b}/api/v1/saved/{id}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{id}");
        let saved: Value = r.json().await.unwrap();
        let previews = saved["events"].to_string();
        assert!(previews.contains(&message.to_uppercase()), "the saved timeline is the browser's: {saved}");
    }
    drop((nginx, b, pg));
}
