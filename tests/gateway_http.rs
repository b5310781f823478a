//! The gateway's HTTP side in-process on port 0, driven by a real HTTP client (reqwest): the
//! REST exchange and its errors, health, metrics, the page, the OpenAPI document, and the
//! handshake timeout.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::gateway::*;
use tokio::net::TcpStream;

#[tokio::test]
async fn rest_exchange_and_its_errors() {
    let r = start(|c| c.limits.max_frame_bytes = 4096).await;
    let http = reqwest::Client::new();
    let post = |body: String| {
        http.post(r.url("/api/v1/exchanges")).header("content-type", "application/json").body(body).send()
    };
    let resp = post(json!({"protocol":"udp","message":"hello"}).to_string()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["protocol"], "udp");
    assert_eq!(v["reply"], "HELLO");
    assert!(v["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(v["elapsed_us"].as_u64().unwrap() > 0);
    assert!(v["events"].as_array().unwrap().len() >= 4);

    let cases = [
        ("{\"protocol\":", 400, "malformed_json"),
        ("[1,2]", 422, "invalid_field"),
        ("{\"protocol\":\"udp\"}", 422, "invalid_field"),
        ("{\"protocol\":\"icmp\",\"message\":\"x\"}", 422, "invalid_field"),
    ];
    for (body, status, code) in cases {
        let resp = post(body.to_owned()).await.unwrap();
        assert_eq!(resp.status(), status, "{body}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{body}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let resp = post(json!({"protocol":"udp","message":"x".repeat(8000)}).to_string()).await.unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "too_large");
    let resp = http.get(r.url("/api/v1/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "not_found");
    r.stop().await;
}

#[tokio::test]
async fn servers_health_metrics_and_page() {
    let r = start(|_| {}).await;
    let http = reqwest::Client::new();
    let servers: Value = http.get(r.url("/api/v1/servers")).send().await.unwrap().json().await.unwrap();
    assert_eq!(servers["servers"][0]["addr"], r.udp.to_string());
    assert_eq!(servers["servers"][1]["buffer"], 1024);
    let health = http.get(r.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");
    http.post(r.url("/api/v1/exchanges")).json(&json!({"protocol":"tcp","message":"m"})).send().await.unwrap();
    http.post(r.url("/api/v1/exchanges")).header("content-type", "application/json").body("{").send().await.unwrap();
    let metrics = http.get(r.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("socketlab_exchanges_total{protocol=\"tcp\",outcome=\"ok\"} 1"), "{metrics}");
    assert!(metrics.contains("socketlab_errors_total{code=\"malformed_json\"} 1"));
    assert!(metrics.contains("socketlab_exchange_seconds_count 1"));
    let page = http.get(r.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    r.stop().await;
}

#[tokio::test]
async fn pages_carry_the_browsers_defences() {
    let r = start(|_| {}).await;
    let http = reqwest::Client::new();
    for path in ["/", "/x/AbCdEfGh01234567", "/instructor/some-class"] {
        let page = http.get(r.url(path)).send().await.unwrap();
        assert_eq!(page.status(), 200, "{path}");
        let h = page.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in ["default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "frame-ancestors 'none'"] {
            assert!(csp.split(';').any(|d| d.trim() == part), "{path}: {part} missing from {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let text = page.text().await.unwrap();
        let scripts = text.matches("<script").count();
        assert_eq!(scripts, text.matches("<script type=\"module\" src=\"/").count(), "{path}: no inline script");
    }
    for (path, kind) in
        [("/style.css", "text/css"), ("/boot.js", "text/javascript"), ("/instructor.js", "text/javascript")]
    {
        let file = http.get(r.url(path)).send().await.unwrap();
        assert_eq!(file.status(), 200, "{path}");
        assert!(file.headers()["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        assert_eq!(file.headers()["x-content-type-options"], "nosniff", "{path}");
        assert!(file.headers().get("content-security-policy").is_none(), "{path}: only pages need one");
    }
    r.stop().await;
}

#[tokio::test]
async fn metrics_parse_as_openmetrics_with_prometheus_client() {
    let r = start(|_| {}).await;
    let http = reqwest::Client::new();
    http.post(r.url("/api/v1/exchanges")).json(&json!({"protocol":"udp","message":"m"})).send().await.unwrap();
    let resp = http.get(r.url("/metrics")).send().await.unwrap();
    let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("application/openmetrics-text; version=1.0.0"), "{kind}");
    let text = resp.text().await.unwrap();
    r.stop().await;
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/metrics_check.py"));
    let (status, out, err) = support::run_with_input(cmd, text.as_bytes());
    assert!(status.success(), "prometheus_client (pip install prometheus-client) rejected /metrics: {err}\n{text}");
    for sample in [
        "socketlab_exchanges_total outcome=ok,protocol=udp 1",
        "socketlab_exchanges_total outcome=error,protocol=tcp 0",
        "socketlab_exchange_seconds_count  1",
        "socketlab_ws_sessions  0",
        "socketlab_ws_sessions_opened_total  0",
    ] {
        assert!(out.lines().any(|l| l == sample), "no sample {sample:?} in\n{out}");
    }
}

#[tokio::test]
async fn openapi_lists_every_route_and_validates() {
    let r = start(|_| {}).await;
    let doc: Value = reqwest::get(r.url("/api/v1/openapi.json")).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    for route in [
        "/api/v1/ws",
        "/api/v1/exchanges",
        "/api/v1/exchanges/{exchange}/pcapng",
        "/api/v1/servers",
        "/api/v1/openapi.json",
        "/healthz",
        "/metrics",
    ] {
        assert!(paths.iter().any(|p| *p == route), "{route} missing from {paths:?}");
    }
    let file = std::env::temp_dir().join(format!("socketlab-openapi-{}.json", std::process::id()));
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("python3 runs");
    std::fs::remove_file(&file).ok();
    assert!(
        out.status.success(),
        "openapi-spec-validator (pip install openapi-spec-validator) rejected the document or is missing:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    r.stop().await;
}

#[tokio::test]
async fn a_request_head_that_never_completes_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let r = start(|c| c.limits.handshake_timeout_ms = 300).await;
    let mut slow = TcpStream::connect(r.http).await.unwrap();
    slow.write_all(b"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(WAIT, slow.read(&mut buf)).await.expect("the gateway hangs up").unwrap_or(0);
    assert!(started.elapsed() >= Duration::from_millis(250), "not before the timeout");
    assert!(n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"), "closed or refused");
    let metrics = reqwest::get(r.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("socketlab_errors_total{code=\"request_timeout\"} 1"), "the 408 is counted: {metrics}");
    // A prompt client on another connection is unaffected, and stays connected past the limit.
    let mut ws = connect(&r).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    send(&mut ws, json!({"type":"exchange","id":"ok","protocol":"udp","message":"prompt"})).await;
    assert_eq!(collect(&mut ws, "ok").await.1["reply"], "PROMPT");
    r.stop().await;
}
