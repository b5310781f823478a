//! What the gateway refuses before any route runs, on real connections: hosts it does not
//! answer to (DNS rebinding), cross-site and non-JSON posts, oversized declared bodies, and
//! request heads or bodies that arrive too slowly on any request of a keep-alive connection.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::gateway::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Reads one HTTP/1.1 response with a `content-length` body: (status, head, body).
async fn read_response(s: &mut TcpStream) -> (u16, String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize =
                head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                let status = head[9..12].parse().unwrap();
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                return (status, head, body);
            }
        }
        let n = tokio::time::timeout(WAIT, s.read(&mut chunk)).await.expect("a response in time").unwrap();
        assert!(n > 0, "closed before a whole response: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Waits for the server to close the connection, reading and dropping what comes.
async fn closed(s: &mut TcpStream) {
    let mut chunk = [0u8; 1024];
    loop {
        match tokio::time::timeout(WAIT, s.read(&mut chunk)).await.expect("closed in time") {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rebinding_hosts_are_refused_and_known_names_are_served() {
    let r = start(|c| c.public_name = Some("lab.example.edu".into())).await;
    let port = r.http.port();
    let http = reqwest::Client::new();
    let rebind = format!("rebind.example:{port}");
    for path in ["/", "/api/v1/servers", "/healthz", "/api/v1/openapi.json"] {
        let resp = http
            .get(r.url(path))
            .header("host", &rebind)
            .header("origin", format!("http://{rebind}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 421, "{path}");
        assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "forbidden_host", "{path}");
    }
    let resp = http
        .post(r.url("/api/v1/exchanges"))
        .header("host", &rebind)
        .header("origin", format!("http://{rebind}"))
        .json(&json!({"protocol":"udp","message":"x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 421);

    // The WebSocket a rebinding page would open, with its own Origin to match.
    let mut req = format!("ws://{}/api/v1/ws", r.http).into_client_request().unwrap();
    req.headers_mut().insert("host", rebind.parse().unwrap());
    req.headers_mut().insert("origin", format!("http://{rebind}").parse().unwrap());
    let refused = tokio_tungstenite::connect_async(req).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(resp) = refused else { panic!("not refused: {refused:?}") };
    assert_eq!(resp.status(), 421);
    let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "forbidden_host");

    let not_text = reqwest::header::HeaderValue::from_bytes(b"r\xe9bind.example").unwrap();
    let resp = http.get(r.url("/healthz")).header("host", not_text).send().await.unwrap();
    assert_eq!(resp.status(), 421, "a Host that is not text names nothing");

    for host in [format!("localhost:{port}"), "localhost".to_owned(), "lab.example.edu".into(), format!("[::1]:{port}")]
    {
        let resp = http.get(r.url("/healthz")).header("host", &host).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{host}");
    }
    let mut req = format!("ws://{}/api/v1/ws", r.http).into_client_request().unwrap();
    req.headers_mut().insert("host", format!("localhost:{port}").parse().unwrap());
    req.headers_mut().insert("origin", format!("http://localhost:{port}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(recv(&mut ws).await["type"], "hello");
    r.stop().await;
}

#[tokio::test]
async fn cross_site_and_non_json_posts_are_refused_without_spending_the_rate_limit() {
    let r = start(|c| {
        c.limits.rate_per_sec = 1;
        c.limits.burst = 2;
    })
    .await;
    let http = reqwest::Client::new();
    let body = json!({"protocol":"udp","message":"hi"}).to_string();
    let post = |origin: Option<&str>, kind: &str| {
        let mut req = http.post(r.url("/api/v1/exchanges")).header("content-type", kind).body(body.clone());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    // Each refusal twice: had any spent a token, the bucket of two would be empty below.
    for _ in 0..2 {
        let resp = post(Some("http://evil.example"), "text/plain").await.unwrap();
        assert_eq!(resp.status(), 403, "a cross-site form post");
        assert_eq!(code(&resp.text().await.unwrap()), "forbidden_origin");
        let resp = post(Some("http://evil.example"), "application/json").await.unwrap();
        assert_eq!(resp.status(), 403, "a cross-site JSON post");
        let resp = post(None, "text/plain").await.unwrap();
        assert_eq!(resp.status(), 415, "a script's text/plain post");
        assert_eq!(code(&resp.text().await.unwrap()), "unsupported_media_type");
        let resp = http.post(r.url("/api/v1/exchanges")).body(body.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 415, "no Content-Type at all");
    }
    let same = format!("http://{}", r.http);
    let resp = post(Some(&same), "application/json; charset=utf-8").await.unwrap();
    assert_eq!(resp.status(), 200, "the page's own post");
    assert_eq!(resp.json::<Value>().await.unwrap()["reply"], "HI");
    let resp = post(None, "application/json").await.unwrap();
    assert_eq!(resp.status(), 200, "a script's post");
    r.stop().await;
}

#[tokio::test]
async fn a_huge_declared_body_is_refused_at_once() {
    // The body timeout is far beyond the wait below, so only an answer that does not wait for
    // the body arrives in time.
    let r = start(|c| c.limits.handshake_timeout_ms = 120_000).await;
    let mut s = TcpStream::connect(r.http).await.unwrap();
    let head = format!(
        "POST /api/v1/exchanges HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{{",
        r.http
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (status, head, body) = read_response(&mut s).await;
    assert_eq!(status, 413, "{head}");
    assert_eq!(code(&body), "too_large");
    assert!(head.contains("connection: close"), "{head}");
    r.stop().await;
}

#[tokio::test]
async fn slow_heads_after_a_first_request_and_slow_bodies_are_cut_off() {
    let r = start(|c| c.limits.handshake_timeout_ms = 300).await;
    let host = r.http.to_string();
    let get = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n");

    // Keep-alive works within the limit: three prompt requests on one connection, with pauses
    // shorter than the limit between them.
    let mut s = TcpStream::connect(r.http).await.unwrap();
    for _ in 0..3 {
        s.write_all(get.as_bytes()).await.unwrap();
        assert_eq!(read_response(&mut s).await.0, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Then the next head comes too slowly: 408, then the connection closes.
    s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n").as_bytes()).await.unwrap();
    let started = Instant::now();
    let (status, _, body) = read_response(&mut s).await;
    assert_eq!(status, 408);
    assert_eq!(code(&body), "request_timeout");
    assert!(started.elapsed() >= Duration::from_millis(150), "not before the limit");
    closed(&mut s).await;

    // A body that stops halfway.
    let mut s = TcpStream::connect(r.http).await.unwrap();
    let slow_post = format!(
        "POST /api/v1/exchanges HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{{\"protocol\""
    );
    s.write_all(slow_post.as_bytes()).await.unwrap();
    let (status, head, body) = read_response(&mut s).await;
    assert_eq!(status, 408, "{head}");
    assert_eq!(code(&body), "request_timeout");
    closed(&mut s).await;

    // The same after a first prompt request on a keep-alive connection.
    let mut s = TcpStream::connect(r.http).await.unwrap();
    s.write_all(get.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut s).await.0, 200);
    s.write_all(slow_post.as_bytes()).await.unwrap();
    let (status, _, _) = read_response(&mut s).await;
    assert_eq!(status, 408);
    closed(&mut s).await;

    // A connection that says nothing after its response is closed too.
    let mut s = TcpStream::connect(r.http).await.unwrap();
    s.write_all(get.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut s).await.0, 200);
    closed(&mut s).await;
    r.stop().await;
}
