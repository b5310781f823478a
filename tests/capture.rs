//! Packet capture, for real: the kernel's segments on loopback, on the timeline of the exchange
//! that caused them, and the same frames exported as pcapng and read back by tshark. Needs root
//! or CAP_NET_RAW (CI runs as root); without it these tests fail rather than skip.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use socketlab::capture::CaptureMode;
use socketlab::config::Config;
use socketlab::gateway::{Bound, Gateway};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

struct Running {
    http: std::net::SocketAddr,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn start() -> Running {
    start_with(|_| {}).await
}

async fn start_with(tune: impl FnOnce(&mut Config)) -> Running {
    let mut config = Config { http: "127.0.0.1:0".parse().unwrap(), udp_port: 0, tcp_port: 0, ..Config::default() };
    config.capture = CaptureMode::On;
    config.limits.rate_per_sec = 10_000;
    config.limits.burst = 10_000;
    tune(&mut config);
    let bound = Bound::bind(&config).await.unwrap();
    let cancel = CancellationToken::new();
    let gateway = Gateway::new(config, bound, cancel.clone())
        .expect("capture needs root or CAP_NET_RAW; run the tests as root (CI does)");
    let http = gateway.http_addr().unwrap();
    let task = tokio::spawn(async move { gateway.run().await.unwrap() });
    Running { http, cancel, task }
}

impl Running {
    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(WAIT, self.task).await.unwrap().unwrap();
    }

    /// Runs one exchange over REST; returns (status, body).
    async fn exchange(&self, body: Value) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(format!("http://{}/api/v1/exchanges", self.http))
            .json(&body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }
}

/// The captured packets of a timeline: (side, flags, segment).
fn captured(events: &Value) -> Vec<(String, String, Value)> {
    events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["op"] == "segment")
        .map(|e| {
            assert!(e.get("flags").is_none(), "captured, not inferred: {e}");
            (
                e["side"].as_str().unwrap().to_owned(),
                e["segment"]["flags"].as_str().unwrap().to_owned(),
                e["segment"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn tcp_handshake_data_and_teardown_are_captured_in_order() {
    let r = start().await;
    let (status, body) = r.exchange(json!({"protocol":"tcp","message":"capture me"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reply"], "CAPTURE ME");
    let packets = captured(&body["events"]);
    let flags: Vec<&str> = packets.iter().map(|(_, f, _)| f.as_str()).collect();
    assert_eq!(&flags[..3], ["SYN", "SYN,ACK", "ACK"], "{flags:?}");
    let (syn, synack) = (&packets[0].2, &packets[1].2);
    assert_eq!(packets[0].0, "client");
    assert_eq!(packets[1].0, "server");
    assert_eq!(synack["ack"].as_u64().unwrap(), (syn["seq"].as_u64().unwrap() + 1) % (1 << 32), "SYN-ACK acks SYN+1");
    assert_eq!((syn["rel_seq"].as_u64(), synack["rel_ack"].as_u64()), (Some(0), Some(1)));
    assert!(syn["options"].as_array().unwrap().iter().any(|o| o.as_str().unwrap().starts_with("MSS=")));
    let data = packets.iter().position(|(side, f, s)| side == "client" && f.contains("PSH") && s["len"] == 10).unwrap();
    let fins: Vec<usize> = packets.iter().enumerate().filter(|(_, p)| p.1.contains("FIN")).map(|(i, _)| i).collect();
    assert_eq!(fins.len(), 2, "both sides send FIN: {flags:?}");
    assert!(data > 2 && fins[0] > data, "data after the handshake, FIN after the data: {flags:?}");
    assert_eq!(flags.last(), Some(&"ACK"), "the last ACK ends the teardown: {flags:?}");
    r.stop().await;
}

#[tokio::test]
async fn udp_datagrams_are_captured_both_ways() {
    let r = start().await;
    let (status, body) = r.exchange(json!({"protocol":"udp","message":"dgram"})).await;
    assert_eq!(status, 200, "{body}");
    let packets = captured(&body["events"]);
    assert_eq!(packets.len(), 2, "{packets:?}");
    assert_eq!((packets[0].0.as_str(), packets[0].2["len"].as_u64()), ("client", Some(5)));
    assert_eq!((packets[1].0.as_str(), packets[1].2["len"].as_u64()), ("server", Some(5)));
    r.stop().await;
}

#[tokio::test]
async fn closed_ports_answer_rst_and_icmp_port_unreachable() {
    let r = start().await;
    let (status, body) = r.exchange(json!({"protocol":"tcp","message":"knock","target":"closed_port"})).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "connection_refused");
    let flags: Vec<String> = captured(&body["events"]).into_iter().map(|(_, f, _)| f).collect();
    assert_eq!(flags, ["SYN", "RST,ACK"]);

    let (status, body) = r.exchange(json!({"protocol":"udp","message":"knock","target":"closed_port"})).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "connection_refused");
    let packets = captured(&body["events"]);
    let flags: Vec<&str> = packets.iter().map(|(_, f, _)| f.as_str()).collect();
    assert_eq!(flags, ["", "ICMP port unreachable"]);
    assert_eq!(packets[1].0, "server");

    // The same over the WebSocket, where the error frame names the capture.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", r.http)).await.unwrap();
    let _hello = ws.next().await;
    let frame = json!({"type":"exchange","id":"c","protocol":"tcp","message":"x","target":"closed_port"});
    ws.send(Message::text(frame.to_string())).await.unwrap();
    loop {
        let Some(Ok(Message::Text(t))) = tokio::time::timeout(WAIT, ws.next()).await.unwrap() else { panic!("closed") };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        if v["type"] == "error" {
            assert_eq!(v["code"], "connection_refused");
            assert!(v["exchange"].as_str().is_some_and(|x| x.starts_with('x')), "{v}");
            break;
        }
    }
    r.stop().await;
}

#[tokio::test]
async fn the_exported_pcapng_is_read_by_tshark_with_the_same_frames() {
    let r = start().await;
    let (status, body) = r.exchange(json!({"protocol":"tcp","message":"wireshark"})).await;
    assert_eq!(status, 200, "{body}");
    let want: Vec<String> = captured(&body["events"]).into_iter().map(|(_, f, _)| f).collect();
    let id = body["id"].as_str().unwrap();
    let resp = reqwest::get(format!("http://{}/api/v1/exchanges/{id}/pcapng", r.http)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-pcapng");
    let file = std::env::temp_dir().join(format!("socketlab-{id}.pcapng"));
    std::fs::write(&file, resp.bytes().await.unwrap()).unwrap();
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args([
            "-T",
            "fields",
            "-e",
            "tcp.flags.syn",
            "-e",
            "tcp.flags.ack",
            "-e",
            "tcp.flags.fin",
            "-e",
            "tcp.flags.push",
            "-e",
            "tcp.len",
        ])
        .output()
        .expect("tshark is required (apt-get install tshark)");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let info = std::process::Command::new("capinfos").arg(&file).output().expect("capinfos comes with tshark");
    std::fs::remove_file(&file).ok();
    let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let on = |i: usize| f.get(i).is_some_and(|v| *v == "1" || *v == "True");
            let mut names = Vec::new();
            for (i, name) in [(0, "SYN"), (2, "FIN"), (3, "PSH"), (1, "ACK")] {
                if on(i) {
                    names.push(name);
                }
            }
            names.join(",")
        })
        .collect();
    assert_eq!(got, want, "tshark sees the frames the timeline shows");
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains(&format!("socketlab exchange {id}")), "the file names its exchange: {text}");
    let missing = reqwest::get(format!("http://{}/api/v1/exchanges/x999-0/pcapng", r.http)).await.unwrap();
    assert_eq!(missing.status(), 404);
    r.stop().await;
}

#[tokio::test]
async fn an_export_whose_comment_outgrows_a_pcapng_option_still_reads() {
    let r = start_with(|c| {
        c.limits.max_message_bytes = 20_000;
        c.limits.max_frame_bytes = 256 * 1024;
    })
    .await;
    // The file's comment quotes the message escaped: 14,000 control bytes become 70,000
    // characters, past the 65,535 an option's 16-bit length can say.
    let (status, body) = r.exchange(json!({"protocol":"udp","message":"\u{1}".repeat(14_000)})).await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap();
    let resp = reqwest::get(format!("http://{}/api/v1/exchanges/{id}/pcapng", r.http)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let file = std::env::temp_dir().join(format!("socketlab-long-{id}.pcapng"));
    std::fs::write(&file, resp.bytes().await.unwrap()).unwrap();
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-T", "fields", "-e", "udp.length"])
        .output()
        .expect("tshark is required (apt-get install tshark)");
    let info = std::process::Command::new("capinfos").arg(&file).output().expect("capinfos comes with tshark");
    std::fs::remove_file(&file).ok();
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let lengths: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    assert!(lengths.iter().any(|l| l == "14008"), "the 14,000-byte datagram with its header: {lengths:?}");
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "capinfos failed: {}", String::from_utf8_lossy(&info.stderr));
    let comment =
        text.lines().find(|l| l.contains(&format!("socketlab exchange {id}"))).expect("the comment names its exchange");
    // Cut to fit, not wrapped: a wrapped length would leave about 4,500 bytes of it.
    assert!(comment.len() > 60_000, "comment of {} bytes: {}", comment.len(), &comment[..200.min(comment.len())]);
    r.stop().await;
}

#[tokio::test]
async fn outside_clients_packets_reach_subscribers() {
    let r = start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", r.http)).await.unwrap();
    let Some(Ok(Message::Text(t))) = ws.next().await else { panic!("no hello") };
    let hello: Value = serde_json::from_str(t.as_str()).unwrap();
    assert_eq!(hello["capture"]["enabled"], true);
    let udp_port = hello["servers"][0]["port"].as_u64().unwrap() as u16;
    ws.send(Message::text(json!({"type":"subscribe","scope":"all"}).to_string())).await.unwrap();
    let _subscribed = ws.next().await;
    let outside = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    outside.send_to(b"terminal", ("127.0.0.1", udp_port)).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let Some(Ok(Message::Text(t))) = tokio::time::timeout(WAIT, ws.next()).await.unwrap() else { panic!("closed") };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        assert_eq!(v["conversation"], format!("udp {}", outside.local_addr().unwrap()));
        seen.push(v["event"]["op"].as_str().unwrap().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["recvfrom", "segment", "segment", "sendto"]);
    r.stop().await;
}
