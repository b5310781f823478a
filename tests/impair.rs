//! Loss on demand, over the WebSocket and REST: UDP impairments done by the hosted server
//! (lost request, lost reply, delayed and duplicated reply), with inferred and with captured
//! packets, and the checks that refuse a wrong combination (a delay as long as the exchange's
//! timeout among them), and a delayed answer whose exchange ended never reaching a later
//! socket on the same port. Captured variants need root or CAP_NET_RAW, as tests/capture.rs
//! does; without it they fail rather than skip.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use socketlab::capture::CaptureMode;
use support::gateway::*;

async fn rest(r: &Running, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new().post(r.url("/api/v1/exchanges")).json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn has_flag(e: &Value, flag: &str) -> bool {
    e["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == flag))
}

/// The datagrams of a timeline: (side, lost).
fn datagrams(events: &[Value]) -> Vec<(String, bool)> {
    events
        .iter()
        .filter(|e| e["op"] == "segment" && e["segment"]["flags"] == "")
        .map(|e| (e["side"].as_str().unwrap().to_owned(), has_flag(e, "lost")))
        .collect()
}

fn calls<'a>(events: &'a [Value], side: &str, op: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["side"] == side && e["op"] == op).collect()
}

async fn udp_loss_ends_in_timeout_with_the_lost_datagram(capture: CaptureMode) {
    let r = start(|c| {
        c.capture = capture;
        c.limits.exchange_timeout_ms = 400;
    })
    .await;
    let mut ws = connect(&r).await;
    let req = json!({"type":"exchange","id":"q","protocol":"udp","message":"ping","impair":{"drop":"request"}});
    send(&mut ws, req).await;
    let (events, end) = collect(&mut ws, "q").await;
    assert_eq!(end["type"], "error", "{end}");
    assert_eq!(end["code"], "timeout");
    assert_eq!(datagrams(&events), [("client".to_owned(), true)], "{events:#?}");
    assert!(calls(&events, "server", "recvfrom").is_empty(), "the server never took it");
    let lost = events.iter().find(|e| has_flag(e, "lost")).unwrap();
    assert_eq!(has_flag(lost, "inferred"), capture == CaptureMode::Off, "captured when capture is on");
    assert!(lost["detail"].as_str().unwrap().contains("drop: request"));

    let (status, body) = rest(&r, json!({"protocol":"udp","message":"ping","impair":{"drop":"reply"}})).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "timeout");
    let events = body["events"].as_array().unwrap();
    assert_eq!(datagrams(events), [("client".to_owned(), false), ("server".to_owned(), true)], "{events:#?}");
    assert_eq!(calls(events, "server", "recvfrom").len(), 1);
    assert_eq!(calls(events, "server", "sendto").len(), 1);
    assert!(calls(events, "client", "recvfrom")[0]["flags"][0] == "failed");

    // Once only: the next exchange from the same gateway is answered.
    send(&mut ws, json!({"type":"exchange","id":"ok","protocol":"udp","message":"ping"})).await;
    let (_, end) = collect(&mut ws, "ok").await;
    assert_eq!(end["reply"], "PING");
    r.stop().await;
}

#[tokio::test]
async fn udp_loss_inferred() {
    udp_loss_ends_in_timeout_with_the_lost_datagram(CaptureMode::Off).await;
}

#[tokio::test]
async fn udp_loss_captured() {
    udp_loss_ends_in_timeout_with_the_lost_datagram(CaptureMode::On).await;
}

async fn duplicate_and_delay(capture: CaptureMode) {
    let r = start(|c| c.capture = capture).await;
    let mut ws = connect(&r).await;
    send(&mut ws, json!({"type":"exchange","id":"d","protocol":"udp","message":"twice","impair":{"duplicate":true}}))
        .await;
    let (events, end) = collect(&mut ws, "d").await;
    assert_eq!(end["reply"], "TWICE", "{end}");
    assert_eq!(calls(&events, "server", "sendto").len(), 2, "{events:#?}");
    let from_server = datagrams(&events).into_iter().filter(|(s, lost)| s == "server" && !lost).count();
    assert_eq!(from_server, 2, "two replies on the timeline: {events:#?}");

    let (status, body) = rest(&r, json!({"protocol":"udp","message":"late","impair":{"delay_ms":300}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reply"], "LATE");
    assert!(body["elapsed_us"].as_u64().unwrap() >= 300_000, "the delay shows in elapsed_us: {body}");
    let events = body["events"].as_array().unwrap();
    let recv = calls(events, "server", "recvfrom")[0]["t_us"].as_u64().unwrap();
    let sent = calls(events, "server", "sendto")[0]["t_us"].as_u64().unwrap();
    assert!(sent >= recv + 300_000, "the server answered after the delay");
    r.stop().await;
}

#[tokio::test]
async fn duplicate_and_delay_inferred() {
    duplicate_and_delay(CaptureMode::Off).await;
}

#[tokio::test]
async fn duplicate_and_delay_captured() {
    duplicate_and_delay(CaptureMode::On).await;
}

#[tokio::test]
async fn wrong_combinations_are_invalid_fields_and_hello_says_what_works() {
    let r = start(|c| c.limits.exchange_timeout_ms = 1000).await;
    let mut ws = connect(&r).await;
    for (i, (protocol, impair)) in [
        ("udp", json!({"drop":"syn_ack"})),
        ("udp", json!({"delay_ms":5001})),
        // An answer as late as the timeout would come after the exchange gave up on it.
        ("udp", json!({"delay_ms":1000})),
        ("udp", json!({"drop":"request","duplicate":true})),
        ("tcp", json!({"drop":"request"})),
        ("tcp", json!({"delay_ms":100})),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("bad{i}");
        send(&mut ws, json!({"type":"exchange","id":id,"protocol":protocol,"message":"x","impair":impair})).await;
        let (_, end) = collect(&mut ws, &id).await;
        assert_eq!(end["code"], "invalid_field", "{protocol} {impair}: {end}");
        if impair["delay_ms"] == 1000 {
            assert!(end["message"].as_str().unwrap().contains("(1000 ms)"), "the bound is named: {end}");
        }
        let (status, body) = rest(&r, json!({"protocol":protocol,"message":"x","impair":impair})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_field")), "{body}");
    }
    let (status, body) =
        rest(&r, json!({"protocol":"udp","message":"x","target":"closed_port","impair":{"drop":"request"}})).await;
    assert_eq!(status, 422, "{body}");
    let servers: Value = reqwest::get(r.url("/api/v1/servers")).await.unwrap().json().await.unwrap();
    assert_eq!(servers["impairments"]["udp"], true);
    r.stop().await;
}

#[tokio::test]
async fn the_hosted_pinger_loses_the_requests_its_announced_seed_says() {
    let r = start(|_| {}).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", r.http)).await.unwrap();
    let hello = recv(&mut ws).await;
    let pinger = &hello["pinger"];
    assert_eq!(pinger["loss_percent"], 30, "{hello}");
    let port = u16::try_from(pinger["port"].as_u64().unwrap()).unwrap();
    let mut predict = socketlab::impair::Loss::new(0.3, pinger["seed"].as_u64().unwrap());
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut lost = 0;
    for i in 0..20 {
        client.send_to(format!("ping {i}").as_bytes(), ("127.0.0.1", port)).await.unwrap();
        let mut buf = [0u8; 64];
        let wait = if predict.lose() { std::time::Duration::from_millis(200) } else { WAIT };
        match tokio::time::timeout(wait, client.recv_from(&mut buf)).await {
            Ok(got) => {
                let n = got.unwrap().0;
                assert_eq!(&buf[..n], format!("PING {i}").as_bytes(), "ping {i} answered as predicted");
            }
            Err(_) => lost += 1,
        }
    }
    let mut again = socketlab::impair::Loss::new(0.3, pinger["seed"].as_u64().unwrap());
    assert_eq!(lost, (0..20).filter(|_| again.lose()).count(), "exactly the predicted pings were lost");
    r.stop().await;
}

/// Sends every server call to the test.
#[derive(Debug)]
struct Calls(tokio::sync::mpsc::UnboundedSender<socketlab_proto::Event>);

impl socketlab::trace::Sink for Calls {
    fn wants(&self, _peer: Option<std::net::SocketAddr>) -> bool {
        true
    }
    fn emit(&self, event: socketlab_proto::Event) {
        let _ = self.0.send(event);
    }
}

#[tokio::test]
async fn a_delayed_answer_is_not_sent_once_its_exchange_is_over() {
    use socketlab::impair::UdpTable;
    use socketlab_proto::Op;
    use socketlab_proto::impair::UdpImpair;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::net::UdpSocket;
    use tokio::time::timeout;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let tracer = socketlab::trace::Tracer::new(Arc::new(Calls(tx)));
    let table = Arc::new(UdpTable::default());
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server = socket.local_addr().unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let run = socketlab::udp_server::UdpServer::new(socket, 2048, tracer, socketlab::log::Log::Quiet)
        .impaired(Arc::clone(&table))
        .run(cancel.clone());
    let task = tokio::spawn(run);
    let late = UdpImpair { delay_ms: 300, ..UdpImpair::default() };

    // An exchange asks for a late answer and ends before it comes, as one that fails would.
    let first = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = first.local_addr().unwrap().port();
    let guard = table.set(first.local_addr().unwrap(), late);
    first.send_to(b"stale", server).await.unwrap();
    let received = timeout(Duration::from_secs(5), async {
        while let Some(e) = rx.recv().await {
            if e.op == Op::Recvfrom {
                return;
            }
        }
    });
    received.await.expect("the server took the datagram");
    drop(guard);
    drop(first);

    // A later socket on the same port never gets that answer.
    let later = UdpSocket::bind(("127.0.0.1", port)).await.expect("the port is free again");
    let mut buf = [0u8; 64];
    let got = timeout(Duration::from_millis(1000), later.recv_from(&mut buf)).await;
    assert!(
        got.is_err(),
        "the ended exchange's answer reached a later socket: {:?}",
        got.map(|r| r.map(|(n, _)| buf[..n].to_vec()))
    );

    // An exchange still on gets its late answer.
    let guard = table.set(later.local_addr().unwrap(), late);
    later.send_to(b"on time", server).await.unwrap();
    let (n, _) = timeout(Duration::from_secs(5), later.recv_from(&mut buf)).await.expect("answered").unwrap();
    assert_eq!(&buf[..n], b"ON TIME");
    drop(guard);
    while let Ok(e) = rx.try_recv() {
        assert!(!(e.op == Op::Sendto && e.preview.as_deref() == Some("STALE")), "no sendto of the stale answer: {e:?}");
    }
    cancel.cancel();
    task.await.unwrap().unwrap();
}
