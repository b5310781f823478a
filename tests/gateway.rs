//! The gateway in-process on port 0, driven by a real WebSocket client (tokio-tungstenite):
//! every message type, every error code it can produce over the WebSocket, the limits, and the
//! isolation of other clients' traffic.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use socketlab_proto::wire::Protocol;
use support::gateway::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn hello_announces_servers_and_limits() {
    let r = start(|_| {}).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", r.http)).await.unwrap();
    let hello = recv(&mut ws).await;
    assert_eq!(hello["api_version"], 1);
    assert_eq!(hello["servers"][0]["protocol"], "udp");
    assert_eq!(hello["servers"][0]["port"], r.udp.port());
    assert_eq!(hello["servers"][1]["port"], r.tcp.port());
    assert_eq!(hello["limits"]["max_in_flight"], 16);
    assert_eq!(hello["limits"]["exchange_timeout_ms"], 2000);
    assert_eq!(hello["observe_all"], true);
    assert_eq!(hello["capture"]["enabled"], false);
    assert!(hello["capture"]["reason"].as_str().unwrap().contains("--capture off"));
    assert!(hello["closed_port"].as_u64().unwrap() > 0);
    // One name per gateway process, the same on every connection, another on another gateway.
    let instance = hello["instance"].as_str().unwrap().to_owned();
    assert_eq!(instance.len(), 16, "{instance}");
    let instance_of = |http: std::net::SocketAddr| async move {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/api/v1/ws")).await.unwrap();
        recv(&mut ws).await["instance"].as_str().unwrap().to_owned()
    };
    assert_eq!(instance_of(r.http).await, instance);
    let other = start(|_| {}).await;
    assert_ne!(instance_of(other.http).await, instance);
    other.stop().await;
    r.stop().await;
}

#[tokio::test]
async fn udp_and_tcp_exchanges_stream_a_timeline_then_one_reply() {
    let r = start(|_| {}).await;
    let mut ws = connect(&r).await;
    send(&mut ws, json!({"type":"exchange","id":"u1","protocol":"udp","message":"hello straße"})).await;
    let (events, end) = collect(&mut ws, "u1").await;
    assert_eq!(end["type"], "reply");
    assert_eq!(end["reply"], "HELLO STRASSE");
    assert!(end["elapsed_us"].as_u64().unwrap() > 0);
    // Named although nothing was captured (capture is off here), so the page can share it.
    assert!(end["exchange"].as_str().is_some_and(|n| n.starts_with('x')), "{end}");
    let ops: Vec<(&str, &str)> =
        events.iter().map(|e| (e["side"].as_str().unwrap(), e["op"].as_str().unwrap())).collect();
    for step in [("client", "sendto"), ("server", "recvfrom"), ("server", "sendto"), ("client", "recvfrom")] {
        assert!(ops.contains(&step), "{step:?} missing from {ops:?}");
    }
    let pos = |s: (&str, &str)| ops.iter().position(|o| *o == s).unwrap();
    assert!(pos(("client", "sendto")) < pos(("server", "recvfrom")));
    assert!(pos(("server", "sendto")) < pos(("client", "recvfrom")));
    assert_eq!(packet_flags(&events), ["", ""], "one datagram each way");

    send(&mut ws, json!({"type":"exchange","id":"t1","protocol":"tcp","message":"over tcp"})).await;
    let (events, end) = collect(&mut ws, "t1").await;
    assert_eq!(end["reply"], "OVER TCP");
    let flags = packet_flags(&events);
    assert_eq!(&flags[..3], ["SYN", "SYN,ACK", "ACK"], "handshake first: {flags:?}");
    assert!(flags.contains(&"PSH,ACK".to_owned()) && flags.contains(&"FIN,ACK".to_owned()), "{flags:?}");
    assert!(events.iter().filter(|e| e["op"] == "segment").all(|e| e["flags"][0] == "inferred"));
    let accept = events.iter().find(|e| e["op"] == "accept").expect("server accept");
    assert_eq!(accept["socket"]["role"], "welcome");
    assert_eq!(accept["spawned"]["role"], "connection");
    let stamps: Vec<u64> = events.iter().map(|e| e["t_us"].as_u64().unwrap()).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "timeline order: {stamps:?}");
    r.stop().await;
}

#[tokio::test]
async fn raw_bytes_round_trip_and_lean_path_skips_the_timeline() {
    let r = start(|_| {}).await;
    let mut ws = connect(&r).await;
    // "ab" 0xff "c": not UTF-8; the server answers instead of dying.
    send(&mut ws, json!({"type":"exchange","id":"b","protocol":"udp","message_base64":"YWL/Yw=="})).await;
    let (events, end) = collect(&mut ws, "b").await;
    assert_eq!(end["type"], "reply");
    assert_eq!(end["reply_base64"], "QUL/Qw==");
    let recv = events.iter().find(|e| e["side"] == "server" && e["op"] == "recvfrom").unwrap();
    assert!(recv["flags"].as_array().unwrap().contains(&json!("invalid_utf8")));
    assert!(recv["detail"].as_str().unwrap().contains("UnicodeDecodeError"));

    send(&mut ws, json!({"type":"exchange","id":"lean","protocol":"tcp","message":"fast","trace":false})).await;
    let (events, end) = collect(&mut ws, "lean").await;
    assert_eq!(end["reply"], "FAST");
    assert!(events.is_empty(), "no timeline on the lean path");
    r.stop().await;
}

#[tokio::test]
async fn bad_frames_get_coded_errors_and_the_socket_survives() {
    let r = start(|c| c.limits.max_message_bytes = 100).await;
    let mut ws = connect(&r).await;
    ws.send(Message::text("{not json")).await.unwrap();
    let e = recv(&mut ws).await;
    assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("error"), Some("malformed_json")));
    assert!(e["id"].is_null());

    send(&mut ws, json!({"type":"exchange","id":"p","protocol":"sctp","message":"x"})).await;
    let e = recv(&mut ws).await;
    assert_eq!((e["code"].as_str(), e["id"].as_str()), (Some("invalid_field"), Some("p")));

    send(&mut ws, json!({"type":"exchange","protocol":"udp","message":"no id"})).await;
    assert_eq!(recv(&mut ws).await["code"], "invalid_field");

    send(&mut ws, json!({"type":"exchange","id":"big","protocol":"udp","message":"x".repeat(101)})).await;
    let e = recv(&mut ws).await;
    assert_eq!((e["code"].as_str(), e["id"].as_str()), (Some("too_large"), Some("big")));

    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(recv(&mut ws).await["code"], "malformed_json");

    send(&mut ws, json!({"type":"exchange","id":"ok","protocol":"udp","message":"still here"})).await;
    let (_, end) = collect(&mut ws, "ok").await;
    assert_eq!(end["reply"], "STILL HERE");
    r.stop().await;
}

#[tokio::test]
async fn a_one_mebibyte_frame_is_refused_with_1009_and_the_gateway_stays_up() {
    let r = start(|_| {}).await;
    let mut ws = connect(&r).await;
    let huge = json!({"type":"exchange","id":"huge","protocol":"udp","message":"x".repeat(1 << 20)});
    // The gateway may close before the whole frame is written; that is the point.
    let _ = ws.send(Message::text(huge.to_string())).await;
    let mut saw_error = false;
    let mut close_code = None;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(WAIT, ws.next()).await {
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                assert_eq!(v["code"], "too_large");
                saw_error = true;
            }
            Message::Close(frame) => {
                close_code = frame.map(|f| u16::from(f.code));
                break;
            }
            _ => {}
        }
    }
    assert!(saw_error || close_code == Some(1009), "error frame {saw_error}, close {close_code:?}");
    assert_eq!(close_code, Some(1009), "closed with Message Too Big");
    let mut again = connect(&r).await;
    send(&mut again, json!({"type":"exchange","id":"after","protocol":"tcp","message":"alive"})).await;
    assert_eq!(collect(&mut again, "after").await.1["reply"], "ALIVE");
    r.stop().await;
}

/// Holds the iterative hosted TCP server with a silent client, so exchanges stay in flight.
async fn hold_tcp(r: &Running) -> TcpStream {
    let hold = TcpStream::connect(r.tcp).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    hold
}

#[tokio::test]
async fn in_flight_cap_duplicates_and_timeouts() {
    let r = start(|c| {
        c.tcp_mode = socketlab::tcp_server::Mode::Iterative;
        c.limits.max_in_flight = 2;
        c.limits.exchange_timeout_ms = 600;
    })
    .await;
    let _hold = hold_tcp(&r).await;
    let mut ws = connect(&r).await;
    send(&mut ws, json!({"type":"exchange","id":"a","protocol":"tcp","message":"a"})).await;
    send(&mut ws, json!({"type":"exchange","id":"a","protocol":"tcp","message":"again"})).await;
    send(&mut ws, json!({"type":"exchange","id":"b","protocol":"tcp","message":"b"})).await;
    send(&mut ws, json!({"type":"exchange","id":"c","protocol":"tcp","message":"c"})).await;
    let mut ends = Vec::new();
    while ends.len() < 4 {
        let v = recv(&mut ws).await;
        if v["type"] == "error" || v["type"] == "reply" {
            // A refused duplicate names its id in `refused_id`, never in `id`.
            let id = v["id"]
                .as_str()
                .map_or_else(|| format!("refused {}", v["refused_id"].as_str().unwrap()), str::to_owned);
            ends.push((id, v["code"].as_str().unwrap_or("reply").to_owned()));
        }
    }
    ends.sort();
    assert_eq!(
        ends,
        [
            ("a".to_owned(), "timeout".to_owned()),
            ("b".to_owned(), "timeout".to_owned()),
            ("c".to_owned(), "too_many_in_flight".to_owned()),
            ("refused a".to_owned(), "duplicate_id".to_owned()),
        ]
    );
    r.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let r = start(|c| {
        c.limits.rate_per_sec = 1;
        c.limits.burst = 2;
    })
    .await;
    let http = reqwest::Client::new();
    let body = json!({"protocol":"udp","message":"x"});
    for _ in 0..2 {
        let resp = http.post(r.url("/api/v1/exchanges")).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    let resp = http.post(r.url("/api/v1/exchanges")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limited");

    // A WebSocket has its own bucket, as each student behind a shared address does.
    let mut ws = connect(&r).await;
    for id in ["r1", "r2"] {
        send(&mut ws, json!({"type":"exchange","id":id,"protocol":"udp","message":"x","trace":false})).await;
        let (_, end) = collect(&mut ws, id).await;
        assert_eq!(end["type"], "reply", "{end}");
    }
    send(&mut ws, json!({"type":"exchange","id":"r","protocol":"udp","message":"x"})).await;
    let e = recv(&mut ws).await;
    assert_eq!((e["code"].as_str(), e["id"].as_str()), (Some("rate_limited"), Some("r")));
    assert!(e["message"].as_str().unwrap().contains("this WebSocket"), "{e}");
    r.stop().await;
}

#[tokio::test]
async fn websockets_from_one_address_share_only_its_ceiling() {
    let r = start(|c| {
        c.limits.rate_per_sec = 1;
        c.limits.burst = 2;
        c.limits.rate_per_ip = 1;
        c.limits.burst_per_ip = 3;
    })
    .await;
    let mut sockets = [connect(&r).await, connect(&r).await];
    let mut ends = Vec::new();
    for (n, id) in [(0, "a1"), (1, "b1"), (0, "a2"), (1, "b2")] {
        let ws = &mut sockets[n];
        send(ws, json!({"type":"exchange","id":id,"protocol":"udp","message":"x","trace":false})).await;
        let (_, end) = collect(ws, id).await;
        ends.push(end["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(ends, ["reply", "reply", "reply", "error"], "three from the address in all");
    r.stop().await;
}

#[tokio::test]
async fn the_default_limits_serve_a_class_behind_one_address() {
    // 20 WebSockets from one address, 10 exchanges each, as fast as they go: with the default
    // limits (a bucket per WebSocket, a ceiling per address) every one is answered.
    let r = start(|c| {
        let d = socketlab::config::Config::default().limits;
        (c.limits.rate_per_sec, c.limits.burst) = (d.rate_per_sec, d.burst);
        (c.limits.rate_per_ip, c.limits.burst_per_ip) = (d.rate_per_ip, d.burst_per_ip);
    })
    .await;
    let mut sockets = Vec::new();
    for _ in 0..20 {
        sockets.push(connect(&r).await);
    }
    let runs = sockets.into_iter().enumerate().map(|(n, mut ws)| async move {
        let mut replies = 0;
        for i in 0..10 {
            let id = format!("s{n}-{i}");
            send(&mut ws, json!({"type":"exchange","id":id,"protocol":"udp","message":"x","trace":false})).await;
            let (_, end) = collect(&mut ws, &id).await;
            replies += usize::from(end["type"] == "reply");
        }
        replies
    });
    let replies: usize = futures_util::future::join_all(runs).await.into_iter().sum();
    assert_eq!(replies, 200);
    r.stop().await;
}

#[tokio::test]
async fn a_stopped_server_is_reported_down() {
    let r = start(|_| {}).await;
    let hello = |r: &Running| {
        let url = format!("ws://{}/api/v1/ws", r.http);
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            let hello = recv(&mut ws).await;
            assert_eq!(hello["type"], "hello", "{hello}");
            (ws, hello)
        }
    };
    // The hello is kept as text between WebSockets; a server that stops is still news to the next one.
    let (_, before) = hello(&r).await;
    assert_eq!(before["servers"][0]["status"], "up", "{before}");
    r.handle.stop_server(Protocol::Udp);
    for _ in 0..100 {
        if !r.handle.server_up(Protocol::Udp) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (mut ws, after) = hello(&r).await;
    assert_eq!(after["servers"][0]["status"], "down", "{after}");
    assert_eq!(after["servers"][1]["status"], "up", "{after}");
    send(&mut ws, json!({"type":"exchange","id":"d","protocol":"udp","message":"x"})).await;
    let (_, end) = collect(&mut ws, "d").await;
    assert_eq!(end["code"], "server_down");
    let http = reqwest::Client::new();
    let resp =
        http.post(r.url("/api/v1/exchanges")).json(&json!({"protocol":"udp","message":"x"})).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "server_down");
    assert_eq!(http.get(r.url("/healthz")).send().await.unwrap().status(), 503);
    let servers: Value = http.get(r.url("/api/v1/servers")).send().await.unwrap().json().await.unwrap();
    assert_eq!(servers["servers"][0]["status"], "down");
    assert_eq!(servers["servers"][1]["status"], "up");
    // TCP is unaffected.
    send(&mut ws, json!({"type":"exchange","id":"t","protocol":"tcp","message":"x"})).await;
    assert_eq!(collect(&mut ws, "t").await.1["reply"], "X");
    r.stop().await;
}

#[tokio::test]
async fn origins_and_connection_caps_are_enforced_at_upgrade() {
    let r = start(|c| {
        c.allowed_origins = vec!["https://course.example.edu".into()];
        c.limits.max_connections_per_ip = 2;
    })
    .await;
    let with_origin = |origin: &str| {
        let mut req = format!("ws://{}/api/v1/ws", r.http).into_client_request().unwrap();
        req.headers_mut().insert("origin", origin.parse().unwrap());
        req
    };
    let refused = tokio_tungstenite::connect_async(with_origin("http://evil.example")).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(resp) = refused else { panic!("{refused:?}") };
    assert_eq!(resp.status(), 403);
    let body: Value = serde_json::from_slice(resp.body().as_ref().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "forbidden_origin");

    let (mut allowed, _) = tokio_tungstenite::connect_async(with_origin("https://course.example.edu")).await.unwrap();
    assert_eq!(recv(&mut allowed).await["type"], "hello");
    let same = format!("http://{}", r.http);
    let (mut second, _) = tokio_tungstenite::connect_async(with_origin(&same)).await.unwrap();
    assert_eq!(recv(&mut second).await["type"], "hello");
    let third = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", r.http)).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(resp) = third else { panic!("{third:?}") };
    assert_eq!(resp.status(), 429);
    drop(allowed);
    r.stop().await;
}

#[tokio::test]
async fn other_clients_traffic_reaches_only_subscribers() {
    let r = start(|_| {}).await;
    let mut watcher = connect(&r).await;
    let mut bystander = connect(&r).await;
    send(&mut watcher, json!({"type":"subscribe","scope":"all"})).await;
    assert_eq!(recv(&mut watcher).await, json!({"type":"subscribed","scope":"all"}));

    // A client outside the gateway, like the Python client in a terminal.
    let outside = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    outside.send_to(b"from a terminal", r.udp).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = tokio::time::timeout(WAIT, outside.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"FROM A TERMINAL");
    let conversation = format!("udp {}", outside.local_addr().unwrap());
    let seen = recv(&mut watcher).await;
    assert_eq!(seen["type"], "observed");
    assert_eq!(seen["conversation"], conversation);
    assert_eq!(seen["event"]["op"], "recvfrom");
    assert_eq!(seen["event"]["preview"], "from a terminal");
    assert_eq!(recv(&mut watcher).await["event"]["op"], "sendto");

    // The bystander's next frame is its own reply: nothing observed slipped in before it.
    send(&mut bystander, json!({"type":"exchange","id":"own","protocol":"udp","message":"mine"})).await;
    let (events, end) = collect(&mut bystander, "own").await;
    assert_eq!(end["reply"], "MINE");
    assert!(events.iter().all(|e| e["peer"] != json!(outside.local_addr().unwrap().to_string())
        && e["local"] != json!(outside.local_addr().unwrap().to_string())));
    // And the watcher does not see the bystander's exchange as outside traffic.
    send(&mut watcher, json!({"type":"subscribe","scope":"own"})).await;
    assert_eq!(recv(&mut watcher).await["scope"], "own");
    r.stop().await;
}

#[tokio::test]
async fn observing_can_be_disabled_by_the_operator() {
    let r = start(|c| c.observe_all = false).await;
    let mut ws = connect(&r).await;
    send(&mut ws, json!({"type":"subscribe","scope":"all"})).await;
    assert_eq!(recv(&mut ws).await["code"], "observe_disabled");
    r.stop().await;
}

#[tokio::test]
async fn two_hundred_exchanges_over_twenty_sockets_get_exactly_one_end_each() {
    let r = start(|_| {}).await;
    let mut tasks = Vec::new();
    for s in 0..20 {
        let mut ws = connect(&r).await;
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let protocol = if (s + i) % 2 == 0 { "udp" } else { "tcp" };
                send(&mut ws, json!({"type":"exchange","id":format!("{s}-{i}"),"protocol":protocol,"message":format!("m{s}x{i}")})).await;
            }
            let mut replies = std::collections::HashMap::new();
            while replies.len() < 10 {
                let v = recv(&mut ws).await;
                match v["type"].as_str().unwrap() {
                    "event" => {}
                    "reply" => {
                        let id = v["id"].as_str().unwrap().to_owned();
                        let (s2, i2) = id.split_once('-').unwrap();
                        assert_eq!(v["reply"], format!("M{s2}X{i2}"));
                        assert!(replies.insert(id, v).is_none(), "a second end for one exchange");
                    }
                    other => panic!("unexpected {other}: {v}"),
                }
            }
            // Nothing more arrives for these exchanges.
            assert!(tokio::time::timeout(Duration::from_millis(300), ws.next()).await.is_err());
            replies.len()
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 200);
    r.stop().await;
}

#[tokio::test]
async fn idle_sockets_are_closed_politely() {
    let r = start(|c| c.limits.idle_timeout_ms = 300).await;
    let mut ws = connect(&r).await;
    let msg = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    let Message::Close(Some(frame)) = msg else { panic!("expected a close frame, got {msg:?}") };
    assert_eq!(u16::from(frame.code), 1000);
    assert!(frame.reason.contains("idle"));
    r.stop().await;
}

#[tokio::test]
async fn shutdown_fails_what_is_still_in_flight_and_refuses_new_sockets() {
    let r = start(|c| {
        c.tcp_mode = socketlab::tcp_server::Mode::Iterative;
        c.limits.exchange_timeout_ms = 8000;
    })
    .await;
    let _hold = hold_tcp(&r).await;
    let mut ws = connect(&r).await;
    send(&mut ws, json!({"type":"exchange","id":"stuck","protocol":"tcp","message":"x"})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    r.cancel.cancel();
    let end = recv(&mut ws).await;
    assert_eq!((end["id"].as_str(), end["code"].as_str()), (Some("stuck"), Some("shutting_down")), "{end}");
    let msg = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    let Message::Close(Some(frame)) = msg else { panic!("expected close, got {msg:?}") };
    assert_eq!(u16::from(frame.code), 1001);
    tokio::time::timeout(WAIT, r.task).await.expect("the gateway stops").unwrap();
}
