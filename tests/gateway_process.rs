//! The gateway as a real process: the ready line, settings from the environment, a
//! third-party WebSocket client (Python's `websockets`), and SIGTERM during traffic.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::*;
use tokio_tungstenite::tungstenite::Message;

#[test]
fn python_websockets_client_runs_an_exchange() {
    let (_p, http, _) = serve(&[]);
    let mut client = python("ws_client.py");
    client.arg(format!("ws://{http}/api/v1/ws"));
    let (status, out, err) = run_with_input(client, b"");
    assert!(status.success(), "the Python websockets client failed (pip install websockets): {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"hello 1"), "{out}");
    assert!(lines.contains(&"reply py-1 FROM PYTHON"), "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("events py-1 ")
                && l.trim_start_matches("events py-1 ").parse::<usize>().unwrap() >= 10),
        "{out}"
    );
}

#[test]
fn sigterm_during_traffic_closes_every_socket_with_1001_and_exits_zero() {
    let (mut p, http, _) = serve(&[("SOCKETLAB_RATE_PER_SEC", "100000"), ("SOCKETLAB_BURST", "100000")]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut sockets = Vec::new();
        for _ in 0..8 {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/api/v1/ws")).await.unwrap();
            ws.next().await.unwrap().unwrap();
            sockets.push(ws);
        }
        let readers: Vec<_> = sockets
            .into_iter()
            .enumerate()
            .map(|(s, ws)| {
                tokio::spawn(async move {
                    let (mut tx, mut rx) = ws.split();
                    // Keep exchanges flowing until the gateway closes the socket.
                    let writer = tokio::spawn(async move {
                        for i in 0.. {
                            let frame = json!({"type":"exchange","id":format!("{s}-{i}"),"protocol":if i % 2 == 0 {"udp"} else {"tcp"},"message":"load"});
                            if tx.send(Message::text(frame.to_string())).await.is_err() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    });
                    let mut ends = std::collections::HashMap::new();
                    let mut close = None;
                    while let Some(Ok(msg)) = rx.next().await {
                        match msg {
                            Message::Text(t) => {
                                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                                if v["type"] == "reply" || v["type"] == "error" {
                                    let id = v["id"].as_str().unwrap_or("").to_owned();
                                    let code = v["code"].as_str().unwrap_or("reply").to_owned();
                                    assert!(ends.insert(id, code).is_none(), "two ends for one exchange");
                                }
                            }
                            Message::Close(f) => {
                                close = f.map(|f| u16::from(f.code));
                                break;
                            }
                            _ => {}
                        }
                    }
                    writer.abort();
                    (close, ends.len())
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let signalled = Instant::now();
        p.terminate();
        let status = tokio::task::spawn_blocking(move || {
            let s = p.wait();
            (s, signalled.elapsed())
        })
        .await
        .unwrap();
        assert!(status.0.success(), "exit status {:?}", status.0);
        assert!(status.1 < Duration::from_secs(5), "took {:?}", status.1);
        for r in readers {
            let (close, ended) = r.await.unwrap();
            assert_eq!(close, Some(1001), "every socket is told the gateway is going away");
            assert!(ended > 0, "traffic flowed before the signal");
        }
    });
}

#[test]
fn without_permission_capture_auto_falls_back_and_capture_on_refuses() {
    // A user namespace has no CAP_NET_RAW over the machine's network.
    let mut cmd = std::process::Command::new("unshare");
    cmd.arg("--user").arg(env!("CARGO_BIN_EXE_socketlab")).env("SOCKETLAB_DATA_DIR", data_dir());
    cmd.args(["serve", "--capture", "auto", "--http", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "0"]);
    let p = Proc::start(cmd);
    let ready = p.line();
    assert!(ready.starts_with("socketlab gateway ready at http://127.0.0.1:"), "{ready}");
    let notice = p.line();
    assert!(notice.starts_with("packet capture: off: ") && notice.contains("CAP_NET_RAW"), "{notice}");
    let http = ready.split("http://").nth(1).unwrap().split('/').next().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/api/v1/ws")).await.unwrap();
        let Some(Ok(Message::Text(t))) = ws.next().await else { panic!("no hello") };
        let hello: Value = serde_json::from_str(t.as_str()).unwrap();
        assert_eq!(hello["capture"]["enabled"], false);
        assert!(hello["capture"]["reason"].as_str().unwrap().contains("inferred"));
        let pcap = reqwest::get(format!("http://{http}/api/v1/exchanges/x1-0/pcapng")).await.unwrap();
        assert_eq!(pcap.status(), 409);
        assert_eq!(pcap.json::<Value>().await.unwrap()["error"]["code"], "capture_unavailable");
    });
    drop(p);

    let mut cmd = std::process::Command::new("unshare");
    cmd.arg("--user").arg(env!("CARGO_BIN_EXE_socketlab")).env("SOCKETLAB_DATA_DIR", data_dir());
    cmd.args(["serve", "--capture", "on", "--http", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "0"]);
    let (status, out, err) = run_with_input(cmd, b"");
    assert_eq!(status.code(), Some(1), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("packet capture on lo is not possible") && err.contains("CAP_NET_RAW"), "{err}");
}

#[test]
fn operator_logs_follow_rust_log_and_log_format() {
    // JSON: every stderr line is one object; the gateway says when it is ready and stopped.
    let (mut p, _, _) = serve(&[("SOCKETLAB_LOG_FORMAT", "json"), ("RUST_LOG", "socketlab=info")]);
    let first: Value = serde_json::from_str(&p.err_line()).expect("a JSON log line");
    assert_eq!(first["level"], "INFO", "{first}");
    assert_eq!(first["fields"]["message"], "gateway ready", "{first}");
    assert!(first["target"].as_str().unwrap().starts_with("socketlab"), "{first}");
    p.terminate();
    assert!(p.wait().success());
    let rest: Vec<Value> = p.rest_of_stderr().iter().map(|l| serde_json::from_str(l).expect(l)).collect();
    assert!(rest.iter().any(|v| v["fields"]["message"] == "gateway stopped"), "{rest:?}");

    // Text, the default format; RUST_LOG=warn hides the info events.
    let (mut p, _, _) = serve(&[("RUST_LOG", "info")]);
    let ready = p.err_line();
    assert!(ready.contains("INFO") && ready.contains("gateway ready"), "{ready}");
    p.terminate();
    assert!(p.wait().success());
    let (mut p, _, _) = serve(&[("RUST_LOG", "warn")]);
    p.terminate();
    assert!(p.wait().success());
    let quiet = p.rest_of_stderr();
    assert!(quiet.iter().all(|l| !l.contains("INFO")), "{quiet:?}");
}

#[test]
fn settings_come_from_flags_environment_and_file_and_each_layer_is_range_checked() {
    let dir = std::env::temp_dir().join(format!("socketlab-layers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("socketlab.toml");
    std::fs::write(&file, "burst = 7\nrate_per_sec = 3\nobserve_all = false\n").unwrap();
    let file = file.to_str().unwrap();
    // (environment, flags, the burst and rate that hello announces); observe_all always comes
    // from the file, over the default.
    type Env<'a> = &'a [(&'a str, &'a str)];
    let rows: [(Env, &[&str], u64, u64); 3] = [
        (&[("SOCKETLAB_CONFIG", file)], &[], 7, 3),
        (&[("SOCKETLAB_CONFIG", file), ("SOCKETLAB_BURST", "9")], &[], 9, 3),
        (&[("SOCKETLAB_CONFIG", file), ("SOCKETLAB_BURST", "9")], &["--burst", "11"], 11, 3),
    ];
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (env, flags, burst, rate) in rows {
        let (_p, http, ready) = serve_with(flags, env);
        assert!(ready.contains("UDP server on 127.0.0.1:") && ready.contains("TCP server on 127.0.0.1:"), "{ready}");
        rt.block_on(async {
            let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/api/v1/ws")).await.unwrap();
            let Some(Ok(Message::Text(t))) = ws.next().await else { panic!("no hello") };
            let hello: Value = serde_json::from_str(t.as_str()).unwrap();
            let limits = &hello["limits"];
            assert_eq!(
                (limits["burst"].as_u64(), limits["rate_per_sec"].as_u64()),
                (Some(burst), Some(rate)),
                "{env:?} {flags:?}"
            );
            assert_eq!(hello["observe_all"], false, "the file beats the default");
        });
    }
    // Out of range: the same range refuses a flag, a variable and a file key, before anything binds.
    std::fs::write(dir.join("zero.toml"), "burst = 0\n").unwrap();
    let zero = dir.join("zero.toml");
    let refusals: [(Env, &[&str], &str); 3] = [
        (&[], &["--burst", "0"], "0 is not in 1..=1000000"),
        (&[("SOCKETLAB_BURST", "0")], &[], "0 is not in 1..=1000000"),
        (&[("SOCKETLAB_CONFIG", zero.to_str().unwrap())], &[], "setting burst = 0 is outside its range 1-1000000"),
    ];
    for (env, flags, want) in refusals {
        let mut cmd = socketlab();
        cmd.args(["serve", "--http", "127.0.0.1:0", "--capture", "off"]).args(flags).envs(env.iter().copied());
        let (status, out, err) = run_with_input(cmd, b"");
        assert!(!status.success() && out.is_empty(), "{env:?} {flags:?}: {out}");
        assert!(err.starts_with("socketlab: ") && err.contains(want), "{env:?} {flags:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
