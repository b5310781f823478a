//! The hosted servers under pressure and the gateway's fidelity to the lesson's programs: the
//! port kept closed for both protocols, the client calls the code panel shows, and the TCP
//! client's timeout wording.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use socketlab_proto::wire::Protocol;
use support::gateway::*;
use support::{run_with_input, socketlab};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

async fn rest(r: &Running, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new().post(r.url("/api/v1/exchanges")).json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// The client side's socket calls, in order.
fn client_ops(events: &Value) -> Vec<String> {
    let events = events.as_array().unwrap();
    events
        .iter()
        .filter(|e| e["side"] == "client" && e["op"] != "segment")
        .map(|e| e["op"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_closed_port_is_held_for_udp_and_never_answers() {
    let r = start(|_| {}).await;
    // The port comes from the WebSocket hello.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", r.http)).await.unwrap();
    let port = recv(&mut ws).await["closed_port"].as_u64().unwrap() as u16;
    let closed = std::net::SocketAddr::from(([127, 0, 0, 1], port));

    // A foreign socket cannot take the port, for either protocol, so nobody can answer there.
    let udp = std::net::UdpSocket::bind(closed);
    assert_eq!(udp.unwrap_err().kind(), std::io::ErrorKind::AddrInUse, "the UDP port is held");
    let tcp = std::net::TcpListener::bind(closed);
    assert_eq!(tcp.unwrap_err().kind(), std::io::ErrorKind::AddrInUse, "the TCP port is held");

    for trace in [true, false] {
        let (status, body) =
            rest(&r, json!({"protocol":"udp","message":"knock","target":"closed_port","trace":trace})).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["error"]["code"], "connection_refused", "{body}");
        if trace {
            assert_eq!(client_ops(&body["events"]), ["socket", "sendto", "recvfrom", "close"], "{body}");
        }
    }
    r.stop().await;
}

#[tokio::test]
async fn the_gateway_makes_the_code_panels_calls() {
    let r = start(|_| {}).await;
    let (status, body) = rest(&r, json!({"protocol":"udp","message":"hi"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(client_ops(&body["events"]), ["socket", "sendto", "recvfrom", "close"], "no connect() on UDP");
    let (status, body) = rest(&r, json!({"protocol":"udp","message":"lean","trace":false})).await;
    assert_eq!((status, body["reply"].as_str()), (200, Some("LEAN")), "{body}");
    let (status, body) = rest(&r, json!({"protocol":"tcp","message":"hi"})).await;
    assert_eq!(status, 200, "{body}");
    let ops = client_ops(&body["events"]);
    assert_eq!(ops[..3], ["socket", "connect", "send"], "{ops:?}");
    assert_eq!(ops.last().map(String::as_str), Some("close"), "{ops:?}");
    assert!(ops[3..ops.len() - 1].iter().all(|op| op == "recv"), "{ops:?}");
    r.stop().await;
}

#[test]
fn tcp_client_timeout_speaks_of_tcp_and_the_real_timeout() {
    // A listener that never accepts: the kernel completes the handshake from the backlog, and
    // then nobody reads the message or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let mut client = socketlab();
    client.args(["tcp-client", "--port", &port, "--message", "hello?", "--timeout", "0.3"]);
    let (status, out, err) = run_with_input(client, b"");
    assert!(!status.success(), "a timed-out TCP exchange fails");
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("within 300 ms"), "{err}");
    assert!(err.contains("did not finish its reply"), "{err}");
    assert!(!err.contains("datagram") && !err.contains("within 0 ms"), "{err}");
}

async fn health(r: &Running) -> (u16, Value) {
    let resp = reqwest::get(r.url("/healthz")).await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Reads until the server closes the connection; true when it did within [`WAIT`].
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    matches!(tokio::time::timeout(WAIT, s.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
}

#[tokio::test]
async fn five_hundred_silent_clients_are_closed_and_the_gateway_answers() {
    socketlab::fds::raise_limit().unwrap();
    let r = start(|c| c.tcp_read_timeout_ms = 500).await;
    let mut silent = Vec::new();
    for _ in 0..500 {
        silent.push(TcpStream::connect(r.tcp).await.unwrap());
    }
    assert_eq!(health(&r).await.0, 200, "500 connections are under the cap of 512");
    let (status, body) = rest(&r, json!({"protocol":"tcp","message":"still here"})).await;
    assert_eq!((status, body["reply"].as_str()), (200, Some("STILL HERE")), "{body}");
    let (status, body) = rest(&r, json!({"protocol":"udp","message":"me too"})).await;
    assert_eq!((status, body["reply"].as_str()), (200, Some("ME TOO")), "{body}");
    for (i, s) in silent.iter_mut().enumerate() {
        assert!(closed_by_server(s).await, "silent client {i} was closed");
    }
    r.stop().await;
}

#[tokio::test]
async fn the_connection_cap_stops_accepting_and_healthz_says_so() {
    let r = start(|c| {
        c.tcp_max_connections = 3;
        c.tcp_read_timeout_ms = 600_000;
        c.limits.exchange_timeout_ms = 400;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(r.tcp).await.unwrap());
    }
    let mut degraded = None;
    for _ in 0..100 {
        let (status, body) = health(&r).await;
        if status == 503 {
            degraded = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = degraded.expect("healthz turns 503 at the cap");
    assert!(body["detail"][0].as_str().unwrap().contains("cap of 3 connections"), "{body}");
    let (status, body) = rest(&r, json!({"protocol":"tcp","message":"queued"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (504, Some("timeout")), "{body}");
    drop(held);
    let mut answered = false;
    for _ in 0..50 {
        let (status, body) = rest(&r, json!({"protocol":"tcp","message":"again"})).await;
        if status == 200 {
            assert_eq!(body["reply"], "AGAIN");
            answered = true;
            break;
        }
    }
    assert!(answered, "served again once the held connections ended");
    r.stop().await;
}

#[tokio::test]
async fn healthz_is_503_while_a_silent_client_holds_the_iterative_server() {
    let r = start(|c| {
        c.tcp_mode = socketlab::tcp_server::Mode::Iterative;
        c.tcp_read_timeout_ms = 1500;
    })
    .await;
    assert_eq!(health(&r).await.0, 200);
    let mut hold = TcpStream::connect(r.tcp).await.unwrap();
    let mut degraded = None;
    for _ in 0..100 {
        let (status, body) = health(&r).await;
        if status == 503 {
            degraded = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = degraded.expect("healthz turns 503 while the server is held");
    assert!(body["detail"][0].as_str().unwrap().contains("iterative TCP server has been held"), "{body}");
    // The read timeout bounds the hold: the silent client is closed and health comes back.
    assert!(closed_by_server(&mut hold).await);
    let mut back = false;
    for _ in 0..100 {
        if health(&r).await.0 == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back, "healthy again once the silent client is gone");
    let (status, body) = rest(&r, json!({"protocol":"tcp","message":"next"})).await;
    assert_eq!((status, body["reply"].as_str()), (200, Some("NEXT")), "{body}");
    r.stop().await;
}

#[tokio::test]
async fn a_stopped_server_turns_healthz_to_503_with_the_reason() {
    let r = start(|_| {}).await;
    r.handle.stop_server(Protocol::Udp);
    let mut body = Value::Null;
    for _ in 0..100 {
        let (status, b) = health(&r).await;
        if status == 503 {
            body = b;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(body["status"], "degraded", "{body}");
    assert!(body["detail"][0].as_str().unwrap().contains("hosted UDP server"), "{body}");
    r.stop().await;
}
