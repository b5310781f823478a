//! Every way a WebSocket session can close, driven with exchanges still in flight: each
//! exchange must end in exactly one `reply` or `error`, before the close frame, and the close
//! code must be the documented one. The gateway runs in-process on port 0; the clients are
//! tokio-tungstenite over real loopback sockets.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use socketlab::tcp_server::Mode;
use support::gateway::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// What a socket received until it closed.
#[derive(Debug, Default)]
struct Seen {
    /// The final frames (`reply` or `error` with an id), by id, as "reply" or the error code.
    ends: BTreeMap<String, Vec<String>>,
    /// Error frames without an id.
    unaddressed: Vec<Value>,
    /// The close frame's code and reason.
    close: Option<(u16, String)>,
}

/// Reads until the close frame (or the end of the stream), at most `limit` frames.
async fn until_closed(ws: &mut Ws, limit: usize) -> Seen {
    let mut seen = Seen::default();
    for _ in 0..limit {
        let Ok(Some(Ok(msg))) = tokio::time::timeout(WAIT, ws.next()).await else { return seen };
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                match (v["type"].as_str().unwrap(), v["id"].as_str()) {
                    ("reply", Some(id)) => seen.ends.entry(id.to_owned()).or_default().push("reply".into()),
                    ("error", Some(id)) => {
                        seen.ends.entry(id.to_owned()).or_default().push(v["code"].as_str().unwrap().to_owned());
                    }
                    ("error", None) => seen.unaddressed.push(v),
                    _ => {}
                }
            }
            Message::Close(frame) => {
                seen.close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                return seen;
            }
            _ => {}
        }
    }
    panic!("more than {limit} frames before the close");
}

fn tcp_exchange(id: &str) -> Value {
    json!({"type":"exchange","id":id,"protocol":"tcp","message":id})
}

/// A gateway whose iterative TCP server is held by a silent client, so TCP exchanges stay in
/// flight until they time out after `exchange_timeout_ms`.
async fn held(tune: impl FnOnce(&mut socketlab::config::Config)) -> (Running, TcpStream) {
    let r = start(|c| {
        c.tcp_mode = Mode::Iterative;
        c.limits.exchange_timeout_ms = 8000;
        tune(c);
    })
    .await;
    let hold = TcpStream::connect(r.tcp).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    (r, hold)
}

/// Each of `ids` ended exactly once, with `code`.
fn each_ended_once_with(seen: &Seen, ids: &[&str], code: &str) {
    let want: BTreeMap<String, Vec<String>> = ids.iter().map(|id| ((*id).to_owned(), vec![code.to_owned()])).collect();
    assert_eq!(seen.ends, want, "{seen:?}");
}

#[tokio::test]
async fn idle_and_session_limits_end_what_is_in_flight_then_close_with_1000() {
    for (tune, word) in [
        (
            Box::new(|c: &mut socketlab::config::Config| c.limits.idle_timeout_ms = 400) as Box<dyn FnOnce(&mut _)>,
            "idle",
        ),
        (Box::new(|c: &mut socketlab::config::Config| c.limits.session_timeout_ms = 600), "session time limit"),
    ] {
        let (r, _hold) = held(tune).await;
        let mut ws = connect(&r).await;
        send(&mut ws, tcp_exchange("a")).await;
        send(&mut ws, tcp_exchange("b")).await;
        let seen = until_closed(&mut ws, 50).await;
        each_ended_once_with(&seen, &["a", "b"], "session_closed");
        let (code, reason) = seen.close.clone().expect("a close frame");
        assert_eq!(code, 1000, "{seen:?}");
        assert!(reason.contains(word), "{reason}");
        r.stop().await;
    }
}

/// Sends `bad` while exchange "a" is in flight: "a" must end once with `session_closed`, then
/// one error without id with `code`, then the close frame with `close`.
async fn a_bad_frame_closes(bad: Message, code: &str, close: u16) {
    let (r, _hold) = held(|_| {}).await;
    let mut ws = connect(&r).await;
    send(&mut ws, tcp_exchange("a")).await;
    // The whole frame is written: the gateway reads and discards what it will not take.
    tokio::time::timeout(WAIT, ws.send(bad)).await.unwrap().unwrap();
    let seen = until_closed(&mut ws, 50).await;
    each_ended_once_with(&seen, &["a"], "session_closed");
    assert_eq!(seen.unaddressed.len(), 1, "{seen:?}");
    assert_eq!(seen.unaddressed[0]["code"], code);
    assert_eq!(seen.close.as_ref().map(|c| c.0), Some(close), "{seen:?}");
    r.stop().await;
}

#[tokio::test]
async fn a_one_mebibyte_frame_ends_what_is_in_flight_and_1009_arrives() {
    let huge = json!({"type":"exchange","id":"huge","protocol":"udp","message":"x".repeat(1 << 20)});
    a_bad_frame_closes(Message::text(huge.to_string()), "too_large", 1009).await;
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_ends_what_is_in_flight_and_closes_with_1007() {
    // A raw text frame: tungstenite checks UTF-8 only when it builds a Message, not a Frame.
    let bad = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    a_bad_frame_closes(Message::Frame(bad), "malformed_json", 1007).await;
}

#[tokio::test]
async fn a_duplicate_id_is_refused_without_ending_the_running_exchange() {
    let (r, _hold) = held(|c| c.limits.exchange_timeout_ms = 500).await;
    let mut ws = connect(&r).await;
    send(&mut ws, tcp_exchange("a")).await;
    send(&mut ws, json!({"type":"exchange","id":"a","protocol":"udp","message":"again"})).await;
    let refused = recv(&mut ws).await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "duplicate_id");
    assert!(refused["id"].is_null(), "the refusal is no end of exchange a: {refused}");
    assert_eq!(refused["refused_id"], "a");
    let (_, end) = collect(&mut ws, "a").await;
    assert_eq!(end["code"], "timeout", "the running exchange ends on its own: {end}");
    // Once it has ended, the id may be used again.
    send(&mut ws, json!({"type":"exchange","id":"a","protocol":"udp","message":"again"})).await;
    assert_eq!(collect(&mut ws, "a").await.1["reply"], "AGAIN");
    r.stop().await;
}

#[tokio::test]
async fn a_client_close_gets_its_close_back_and_nothing_after_it() {
    let (r, _hold) = held(|_| {}).await;
    let mut ws = connect(&r).await;
    send(&mut ws, tcp_exchange("a")).await;
    ws.close(None).await.unwrap();
    let seen = until_closed(&mut ws, 50).await;
    assert!(seen.ends.is_empty() && seen.unaddressed.is_empty(), "{seen:?}");
    let after = tokio::time::timeout(WAIT, ws.next()).await.expect("the connection ends");
    assert!(!matches!(after, Some(Ok(Message::Text(_)))), "{after:?}");
    let mut again = connect(&r).await;
    send(&mut again, json!({"type":"exchange","id":"u","protocol":"udp","message":"alive"})).await;
    assert_eq!(collect(&mut again, "u").await.1["reply"], "ALIVE");
    r.stop().await;
}

/// Writes exchanges `x00` to `x49` on `ws`, TCP and UDP by turns.
async fn write_fifty(ws: &mut Ws) -> Vec<String> {
    let ids: Vec<String> = (0..50).map(|i| format!("x{i:02}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let protocol = if i % 2 == 0 { "tcp" } else { "udp" };
        send(ws, json!({"type":"exchange","id":id,"protocol":protocol,"message":id})).await;
    }
    ids
}

/// Each of `ids` ended exactly once, with its reply or `shutting_down`, then 1001 came.
fn all_ended_then_1001(seen: &Seen, ids: &[String]) {
    assert_eq!(seen.close.as_ref().map(|c| c.0), Some(1001), "{seen:?}");
    assert!(seen.unaddressed.is_empty(), "{seen:?}");
    for id in ids {
        let ends = seen.ends.get(id).map_or(0, Vec::len);
        assert_eq!(ends, 1, "exchange {id} ended {ends} times: {seen:?}");
    }
    assert_eq!(seen.ends.len(), ids.len(), "{seen:?}");
    let codes: Vec<&String> = seen.ends.values().flatten().collect();
    assert!(codes.iter().all(|c| *c == "reply" || *c == "shutting_down"), "{codes:?}");
}

/// A client without Nagle, as browsers are: each frame leaves when it is written.
async fn connect_nodelay(http: &str) -> Ws {
    let url = format!("ws://{http}/api/v1/ws");
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await.unwrap();
    assert_eq!(recv(&mut ws).await["type"], "hello");
    ws
}

#[tokio::test]
async fn shutdown_racing_fifty_just_written_exchanges_ends_all_fifty_then_1001() {
    for _round in 0..3 {
        let (r, _hold) = held(|c| c.limits.max_in_flight = 64).await;
        let mut ws = connect_nodelay(&r.http.to_string()).await;
        // Half go to the held TCP server and can only be failed; half to UDP and may reply.
        let ids = write_fifty(&mut ws).await;
        r.cancel.cancel();
        let seen = until_closed(&mut ws, 5000).await;
        all_ended_then_1001(&seen, &ids);
        tokio::time::timeout(WAIT, r.task).await.expect("the gateway stops").unwrap();
    }
}

#[test]
fn sigterm_racing_fifty_just_written_exchanges_ends_all_fifty() {
    let (mut p, http, _) = support::serve(&[
        ("SOCKETLAB_RATE_PER_SEC", "100000"),
        ("SOCKETLAB_BURST", "100000"),
        ("SOCKETLAB_MAX_IN_FLIGHT", "64"),
    ]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut ws = connect_nodelay(&http).await;
        let ids = write_fifty(&mut ws).await;
        p.terminate();
        let seen = until_closed(&mut ws, 5000).await;
        all_ended_then_1001(&seen, &ids);
    });
    assert!(p.wait().success(), "exits 0 after SIGTERM");
}

/// `socketlab_ws_sessions`, the WebSockets open now, from `/metrics`.
async fn open_sessions(r: &Running) -> u64 {
    let text = reqwest::get(r.url("/metrics")).await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("socketlab_ws_sessions ")).expect("the gauge");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_and_others_go_on() {
    let r = start(|c| {
        c.limits.max_message_bytes = 60_000;
        c.limits.max_frame_bytes = 1 << 20;
        c.limits.max_in_flight = 1024;
        c.udp_buffer = 65_536;
        c.send_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let mut other = connect(&r).await;

    // A client with a small receive buffer asks for large replies and never reads them.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(r.http).await.unwrap();
    let (mut stalled, _) = tokio_tungstenite::client_async(format!("ws://{}/api/v1/ws", r.http), tcp).await.unwrap();
    let big = "x".repeat(60_000);
    // Bounded: once the gateway stops reading it, sending stalls too.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        for i in 0..300 {
            let frame = json!({"type":"exchange","id":format!("b{i}"),"protocol":"udp","message":big,"trace":false});
            if stalled.send(Message::text(frame.to_string())).await.is_err() {
                break;
            }
        }
    })
    .await;

    // The gateway cuts it off: only the other socket stays open.
    let mut open = open_sessions(&r).await;
    for _ in 0..100 {
        if open == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        open = open_sessions(&r).await;
    }
    assert_eq!(open, 1, "the stalled socket was never cut off");

    // The other socket was unaffected.
    send(&mut other, json!({"type":"exchange","id":"o","protocol":"udp","message":"still here"})).await;
    assert_eq!(collect(&mut other, "o").await.1["reply"], "STILL HERE");

    // What the stalled client finally reads ends without every reply: its exchanges were dropped.
    let mut replies = 0;
    for _ in 0..10_000 {
        match tokio::time::timeout(WAIT, stalled.next()).await.expect("the stream ends") {
            Some(Ok(Message::Text(t))) if t.as_str().contains("\"type\":\"reply\"") => replies += 1,
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    assert!(replies < 300, "the stalled client got all {replies} replies");
    r.stop().await;
}
