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
    // Nor can another process, even one that asks to share the address and the port.
    let script = "import socket, sys\n\
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n\
s.bind(('127.0.0.1', int(sys.argv[1])))\n\
print('bound')\n";
    let mut py = std::process::Command::new("python3");
    py.args(["-c", script, &port.to_string()]);
    let (status, out, err) = run_with_input(py, b"");
    assert!(!status.success() && out.is_empty(), "a foreign process bound the closed port: {out} {err}");
    assert!(err.contains("Address already in use"), "{err}");

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
/// Polls `/healthz` (bounded: 100 tries, 20 ms apart) until it answers `status`; its body then.
async fn health_becomes(r: &Running, status: u16) -> Option<Value> {
    for _ in 0..100 {
        let (now, body) = health(r).await;
        if now == status {
            return Some(body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

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
    let body = health_becomes(&r, 503).await.expect("healthz turns 503 at the cap");
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
    let body = health_becomes(&r, 503).await.expect("healthz turns 503 while the server is held");
    assert!(body["detail"][0].as_str().unwrap().contains("iterative TCP server has been held"), "{body}");
    // The read timeout bounds the hold: the silent client is closed and health comes back.
    assert!(closed_by_server(&mut hold).await);
    assert!(health_becomes(&r, 200).await.is_some(), "healthy again once the silent client is gone");
    let (status, body) = rest(&r, json!({"protocol":"tcp","message":"next"})).await;
    assert_eq!((status, body["reply"].as_str()), (200, Some("NEXT")), "{body}");
    r.stop().await;
}

#[tokio::test]
async fn a_stopped_server_turns_healthz_to_503_with_the_reason() {
    let r = start(|_| {}).await;
    r.handle.stop_server(Protocol::Udp);
    let body = health_becomes(&r, 503).await.unwrap_or_default();
    assert_eq!(body["status"], "degraded", "{body}");
    assert!(body["detail"][0].as_str().unwrap().contains("hosted UDP server"), "{body}");
    r.stop().await;
}

#[tokio::test]
async fn a_dead_capture_is_reported_and_exchanges_fall_back_to_inferred_packets() {
    let r = start(|c| c.capture = socketlab::capture::CaptureMode::On).await;
    let (status, body) = rest(&r, json!({"protocol":"tcp","message":"seen"})).await;
    assert_eq!(status, 200, "{body}");
    let inferred = |body: &Value| {
        let events = body["events"].as_array().unwrap();
        let packets: Vec<&Value> = events.iter().filter(|e| e["op"] == "segment").collect();
        assert!(!packets.is_empty(), "{body}");
        packets.iter().all(|e| e["flags"].as_array().is_some_and(|f| f.iter().any(|f| f == "inferred")))
    };
    assert!(!inferred(&body), "captured while the capture runs");
    let servers: Value = reqwest::get(r.url("/api/v1/servers")).await.unwrap().json().await.unwrap();
    assert_eq!(servers["capture"]["enabled"], true, "{servers}");

    r.handle.close_capture();
    let mut servers = Value::Null;
    for _ in 0..100 {
        servers = reqwest::get(r.url("/api/v1/servers")).await.unwrap().json().await.unwrap();
        if servers["capture"]["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(servers["capture"]["enabled"], false, "{servers}");
    let reason = servers["capture"]["reason"].as_str().unwrap();
    assert!(reason.contains("packet capture stopped") && reason.contains("closed"), "{reason}");
    let (status, health) = health(&r).await;
    assert_eq!(status, 503, "a capture that died degrades the gateway: {health}");
    assert!(health["detail"].as_array().unwrap().iter().any(|d| d.as_str() == Some(reason)), "{health}");
    let metrics = reqwest::get(r.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("socketlab_capture_up 0\n"), "{metrics}");
    assert!(metrics.contains("socketlab_capture_stops_total 1\n"), "{metrics}");

    for protocol in ["tcp", "udp"] {
        let (status, body) = rest(&r, json!({"protocol":protocol,"message":"after"})).await;
        assert_eq!((status, body["reply"].as_str()), (200, Some("AFTER")), "{body}");
        assert!(inferred(&body), "{protocol}: every packet inferred once capture died: {body}");
    }
    r.stop().await;
}

/// `socketlab serve` under `ulimit -n 512`, with free ports and a read timeout long enough that
/// nothing is closed during the test.
fn serve_with_few_descriptors() -> (support::Proc, String) {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 512 && exec \"$0\" serve --http 127.0.0.1:0 --udp-port 0 --tcp-port 0 --capture off --tcp-read-timeout-ms 600000")
        .arg(env!("CARGO_BIN_EXE_socketlab"))
        .env("SOCKETLAB_DATA_DIR", support::data_dir());
    let p = support::Proc::start(cmd);
    let ready = p.line();
    assert!(ready.starts_with("socketlab gateway ready at http://127.0.0.1:"), "{ready}");
    let http = ready.split("http://").nth(1).unwrap().split('/').next().unwrap().to_owned();
    (p, http)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_descriptor_squeeze_leaves_the_gateway_answering() {
    socketlab::fds::raise_limit().unwrap();
    let (_serve, http) = serve_with_few_descriptors();
    let get = |path: &str| reqwest::get(format!("http://{http}{path}"));
    let servers: Value = get("/api/v1/servers").await.unwrap().json().await.unwrap();
    let tcp = std::net::SocketAddr::from(([127, 0, 0, 1], servers["servers"][1]["port"].as_u64().unwrap() as u16));

    // 1,100 clients, far more than 512 descriptors. The server accepts up to its cap (512 less
    // the gateway's reserve), the kernel's backlog queues some more, and the rest wait in SYN
    // retries until the test gives up on them.
    let tries: Vec<_> = (0..1100)
        .map(|_| tokio::spawn(tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(tcp))))
        .collect();
    let mut held = Vec::new();
    for t in tries {
        if let Ok(Ok(s)) = t.await.unwrap() {
            held.push(s);
        }
    }
    assert!(held.len() > 256, "the server took its cap and the backlog more: {}", held.len());

    let resp = get("/healthz").await.expect("healthz answers under the squeeze");
    assert_eq!(resp.status().as_u16(), 503);
    let body: Value = resp.json().await.unwrap();
    assert!(body["detail"][0].as_str().unwrap().contains("cap of 256 connections"), "{body}");
    let client = reqwest::Client::new();
    let url = format!("http://{http}/api/v1/exchanges");
    let resp = client.post(&url).json(&json!({"protocol":"udp","message":"squeezed"})).send().await.unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["reply"], "SQUEEZED", "{body}");

    drop(held);
    let mut served = false;
    for _ in 0..50 {
        let resp = client.post(&url).json(&json!({"protocol":"tcp","message":"free"})).send().await.unwrap();
        let body: Value = resp.json().await.unwrap();
        if body["reply"] == "FREE" {
            served = true;
            break;
        }
    }
    assert!(served, "the TCP server serves again once the clients leave");
    assert_eq!(get("/healthz").await.unwrap().status().as_u16(), 200);
}

#[test]
fn udp_client_to_a_dead_port_says_refused_without_connecting() {
    // A port that was free a moment ago: nobody listens there now.
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let mut client = socketlab();
    client.args(["udp-client", "--trace", "--port", &port]);
    let (status, out, err) = run_with_input(client, b"anyone?\n");
    assert!(!status.success(), "{out} {err}");
    assert!(err.contains("connection refused by 127.0.0.1"), "{err}");
    let ops: Vec<Value> = err.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let ops: Vec<&str> = ops.iter().map(|e| e["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["socket", "sendto", "recvfrom"], "no connect(), like the lesson's client");
}
