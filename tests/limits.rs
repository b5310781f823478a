//! The gateway's limits for a class: a full gateway answers 503 at once (REST and the WebSocket
//! upgrade), and the rate limits follow the browser session's cookie when there is one, the
//! address otherwise, under the address's ceiling.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::gateway::*;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Opens a WebSocket (with its `hello`), or returns the refusal's status, `Retry-After` and
/// body.
async fn try_connect(r: &Running) -> Result<(Ws, Value), (u16, String, Value)> {
    let url = format!("ws://{}/api/v1/ws", r.http);
    let attempt = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url)).await.expect("answered in time");
    match attempt {
        Ok((mut ws, _)) => {
            let hello = recv(&mut ws).await;
            assert_eq!(hello["type"], "hello");
            Ok((ws, hello))
        }
        Err(tungstenite::Error::Http(resp)) => {
            let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).unwrap();
            Err((resp.status().as_u16(), retry, body))
        }
        Err(other) => panic!("the upgrade failed without an answer: {other}"),
    }
}

#[tokio::test]
async fn a_full_gateway_answers_503_with_retry_after_at_once() {
    let r = start(|c| {
        c.limits.max_connections = 2;
        c.limits.max_exchanges = 1;
        c.tcp_mode = socketlab::tcp_server::Mode::Iterative;
        c.tcp_read_timeout_ms = 600_000;
        c.limits.exchange_timeout_ms = 600_000;
    })
    .await;

    // Two WebSockets fill it; a third upgrade is refused at once, from any address.
    let (first, hello) = try_connect(&r).await.unwrap();
    assert_eq!((&hello["limits"]["max_connections"], &hello["limits"]["max_exchanges"]), (&json!(2), &json!(1)));
    let _second = try_connect(&r).await.unwrap();
    let (status, retry, body) = try_connect(&r).await.expect_err("the third is refused");
    assert_eq!((status, retry.as_str()), (503, "2"), "{body}");
    assert_eq!(body["error"]["code"], "gateway_full", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("WebSockets"), "{body}");

    // When one closes, its place frees (the session notices the close first).
    drop(first);
    let mut admitted = None;
    for _ in 0..100 {
        match try_connect(&r).await {
            Ok((ws, _)) => {
                admitted = Some(ws);
                break;
            }
            Err((status, _, body)) => {
                assert_eq!((status, &body["error"]["code"]), (503, &json!("gateway_full")));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(admitted.is_some(), "a closed WebSocket's place was never freed");

    // One exchange at a time: while a held TCP exchange runs, another is refused at once. A
    // client that sends nothing holds the iterative TCP server, so the held exchange waits
    // (holding the only permit) until that client lets go, however slow the machine.
    let holder = tokio::net::TcpStream::connect(r.tcp).await.unwrap();
    let http = reqwest::Client::new();
    let held = tokio::spawn({
        let (http, url) = (http.clone(), r.url("/api/v1/exchanges"));
        async move {
            // A probe below may hold the permit when this starts: then try again.
            for _ in 0..200 {
                let body = json!({"protocol":"tcp","message":"held"});
                let status = http.post(&url).json(&body).send().await.unwrap().status().as_u16();
                if status != 503 {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            503
        }
    });
    let mut refused = None;
    let until = Instant::now() + WAIT;
    while refused.is_none() && !held.is_finished() && Instant::now() < until {
        let resp = http.post(r.url("/api/v1/exchanges")).json(&json!({"protocol":"udp","message":"x"})).send();
        let resp = tokio::time::timeout(WAIT, resp).await.expect("answered at once").unwrap();
        match resp.status().as_u16() {
            200 => tokio::time::sleep(Duration::from_millis(20)).await,
            503 => {
                let retry = resp.headers()["retry-after"].to_str().unwrap().to_owned();
                refused = Some((retry, resp.json::<Value>().await.unwrap()));
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(!held.is_finished(), "the held exchange ended while the server was held");
    drop(holder);
    let (retry, body) = refused.expect("an exchange was refused while another ran");
    assert_eq!((retry.as_str(), &body["error"]["code"]), ("2", &json!("gateway_full")), "{body}");
    assert_eq!(held.await.unwrap(), 200, "the running exchange finished");
    let after = http.post(r.url("/api/v1/exchanges")).json(&json!({"protocol":"udp","message":"x"})).send();
    assert_eq!(after.await.unwrap().status(), 200, "room again once it ended");
    let metrics = http.get(r.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("code=\"gateway_full\""), "refusals are counted: {metrics}");
    r.stop().await;
}

/// The `socketlab_session` pair a response sets, if any, after checking its attributes.
fn session_set(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let set = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("socketlab_session="))?;
    assert!(set.ends_with("; Path=/; HttpOnly; SameSite=Lax"), "{set}");
    Some(set.split(';').next().unwrap().to_owned())
}

#[tokio::test]
async fn the_page_and_the_upgrade_start_a_browser_session_that_rest_limits_follow() {
    let r = start(|c| {
        c.limits.rate_per_sec = 1;
        c.limits.burst = 2;
        c.limits.rate_per_ip = 1;
        c.limits.burst_per_ip = 5;
        // One token an hour: a stalled machine cannot refill a bucket the rows expect empty.
        c.rate_period = Duration::from_secs(3600);
    })
    .await;
    let http = reqwest::Client::new();

    // The page's first load sets the cookie; a browser that has one is not given another.
    let page = http.get(r.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let first = session_set(page.headers()).expect("the page starts a session");
    let again = http.get(r.url("/")).header("cookie", &first).send().await.unwrap();
    assert_eq!(session_set(again.headers()), None, "the session is kept");
    let second = session_set(http.get(r.url("/")).send().await.unwrap().headers()).unwrap();
    assert_ne!(first, second, "each browser its own");
    let servers = http.get(r.url("/api/v1/servers")).send().await.unwrap();
    assert_eq!(session_set(servers.headers()), None, "only the page and the upgrade set it");

    // A WebSocket upgrade without one gets one; with one, none.
    let (_ws, resp) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", r.http)).await.unwrap();
    let on_upgrade: Vec<_> = resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(on_upgrade.iter().any(|c| c.starts_with("socketlab_session=") && c.contains("HttpOnly")), "{on_upgrade:?}");
    let mut req = format!("ws://{}/api/v1/ws", r.http).into_client_request().unwrap();
    req.headers_mut().insert("cookie", first.parse().unwrap());
    let (mut tab, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(recv(&mut tab).await["type"], "hello");
    assert!(resp.headers().get("set-cookie").is_none(), "a browser with a session keeps it");

    // REST: a bucket per browser session, or per address without a cookie, all under the
    // address's ceiling of 5.
    let post = |cookie: Option<&str>| {
        let mut req =
            http.post(r.url("/api/v1/exchanges")).json(&json!({"protocol":"udp","message":"x","trace":false}));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            (status, body["error"]["message"].as_str().unwrap_or_default().to_owned())
        }
    };
    let forged = "socketlab_session=MadeUpByAScript1";
    let rows: [(Option<&str>, u16, &str); 8] = [
        (None, 200, ""),
        (None, 200, ""),
        (None, 429, "too many exchanges from 127.0.0.1"), // a script: its address's bucket
        (Some(&first), 200, ""),                          // a browser behind it: its own
        (Some(&first), 200, ""),
        (Some(&first), 429, "this browser"), // spent, without spending the ceiling
        (Some(&second), 200, ""),            // the ceiling's fifth
        (Some(forged), 429, "in all"),       // a made-up id meets the address's ceiling
    ];
    for (i, (cookie, status, says)) in rows.into_iter().enumerate() {
        let (got, message) = post(cookie).await;
        assert_eq!(got, status, "row {i}: {message}");
        assert!(message.contains(says), "row {i}: {message}");
    }
    // A tab of the first browser shares its spent bucket; a cookie-less socket has its own.
    send(&mut tab, json!({"type":"exchange","id":"t","protocol":"udp","message":"x","trace":false})).await;
    let e = recv(&mut tab).await;
    assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("error"), Some("rate_limited")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("this browser"), "{e}");
    r.stop().await;
}
