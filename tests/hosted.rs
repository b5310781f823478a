//! The hosted servers under pressure and the gateway's fidelity to the lesson's programs: the
//! port kept closed for both protocols, the client calls the code panel shows, and the TCP
//! client's timeout wording.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::gateway::*;
use support::{run_with_input, socketlab};

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
