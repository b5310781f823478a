//! `socketlab check` against real peers: the lesson-like Python programs score full marks on
//! the required items, and deliberately broken ones fail exactly the items they break.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use support::gateway;
use support::*;

/// Runs `socketlab check ARGS` to the end: (exit code, stdout, stderr).
fn check(args: &[&str]) -> (i32, String, String) {
    let mut cmd = socketlab();
    cmd.arg("check").args(args);
    let (status, out, err) = run_with_input(cmd, b"");
    (status.code().unwrap_or(-1), out, err)
}

/// Grades the Python server `script` and returns the exit code and the JSON report.
fn grade_server(program: &str, script: &str) -> (i32, Value) {
    let (_server, port) = python_server(script);
    let target = format!("127.0.0.1:{port}");
    let (code, out, err) = check(&[program, "--target", &target, "--timeout-ms", "1000", "--format", "json"]);
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    (code, report)
}

fn ids(report: &Value, verdict: &str) -> BTreeSet<String> {
    let items = report["items"].as_array().unwrap();
    items.iter().filter(|i| i["verdict"] == verdict).map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

fn item<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["items"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()
}

#[test]
fn lesson_like_servers_score_full_marks_and_die_on_invalid_utf8() {
    for (program, script) in [("udp-server", "udp_server.py"), ("tcp-server", "tcp_server.py")] {
        let (code, report) = grade_server(program, script);
        assert_eq!(code, 0, "{report:#}");
        assert_eq!(report["passed"], true);
        assert_eq!(
            report["score"].as_u64().unwrap(),
            report["max_score"].as_u64().unwrap() + u64::from(program == "udp-server")
        );
        for i in report["items"].as_array().unwrap().iter().filter(|i| i["required"] == true) {
            assert_eq!(i["verdict"], "pass", "{program}: {i:#}");
        }
        let utf8 = item(&report, "invalid-utf8");
        assert_eq!(utf8["verdict"], "fail");
        assert!(utf8["reason"].as_str().unwrap().contains("the server died"), "{utf8:#}");
        assert!(!utf8["events"].as_array().unwrap().is_empty(), "a failing item carries its timeline");
    }
}

#[test]
fn text_output_shows_the_failing_items_timeline() {
    let (_server, port) = python_server("tcp_server.py");
    let target = format!("127.0.0.1:{port}");
    let (code, out, _) = check(&["tcp-server", "--target", &target, "--timeout-ms", "1000"]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("socketlab check tcp-server {target}"));
    let died = lines.iter().position(|l| l.starts_with("FAIL") && l.contains("the server died")).unwrap();
    assert!(lines[died + 1].trim_start().starts_with("+0.000 ms  socket"), "{out}");
    assert!(out.contains("connect  peer") && out.contains("refused"), "{out}");
    assert!(lines.last().unwrap().starts_with("score 10/10"), "{out}");
}

#[test]
fn broken_servers_fail_exactly_the_right_items() {
    let cases: [(&str, &str, &[&str]); 3] = [
        ("udp-server", "udp_lower_server.py", &["ascii", "unicode", "invalid-utf8"]),
        ("udp-server", "udp_other_port_server.py", &["own-reply", "invalid-utf8"]),
        ("tcp-server", "tcp_reset_server.py", &["fin-close", "two-at-once", "invalid-utf8"]),
    ];
    for (program, script, failing) in cases {
        let (code, report) = grade_server(program, script);
        assert_eq!(ids(&report, "fail"), set(failing), "{script}: {report:#}");
        assert!(ids(&report, "skipped").is_empty(), "{script}");
        assert_eq!(code, 1, "{script}: a required item failed");
        assert_eq!(report["passed"], false);
    }
}

/// Starts a listening client check and returns it with its port, read from its ready line.
fn listening_check(args: &[&str]) -> (Proc, u16) {
    let mut cmd = socketlab();
    cmd.arg("check").args(args).args(["--listen", "127.0.0.1:0", "--wait", "10", "--format", "json"]);
    let p = Proc::start(cmd);
    let ready = p.err_line();
    assert!(ready.starts_with("socketlab check listening on"), "{ready}");
    let port = ready.split(';').next().unwrap().rsplit(':').next().unwrap().parse().unwrap();
    (p, port)
}

fn finish(mut p: Proc) -> (i32, Value) {
    let code = p.wait().code().unwrap_or(-1);
    let out = p.rest_of_stdout().join("\n");
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}")))
}

#[test]
fn lesson_like_clients_pass_against_the_listening_check() {
    let (udp, port) = listening_check(&["udp-client", "--sentence", "hello socket", "--sentence", "straße"]);
    let mut client = python("udp_client.py");
    client.arg(port.to_string());
    let (status, out, err) = run_with_input(client, "hello socket\nstraße\nend\n".as_bytes());
    assert!(status.success(), "{err}");
    assert!(out.contains("STRASSE"), "{out}");
    let (code, report) = finish(udp);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(ids(&report, "pass"), set(&["one-datagram", "one-socket"]));
    // Its output and its exit are only visible when the check runs the client itself.
    assert_eq!(ids(&report, "skipped"), set(&["prints-reply", "ends-on-end"]));

    let (tcp, port) = listening_check(&["tcp-client", "--sentence", "hello tcp"]);
    let mut client = python("tcp_client.py");
    client.arg(port.to_string());
    let (status, out, err) = run_with_input(client, b"hello tcp\n");
    assert!(status.success(), "{err}");
    assert!(out.ends_with("HELLO TCP"), "{out}");
    let (code, report) = finish(tcp);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(ids(&report, "pass"), set(&["connects", "sends", "reads-reply", "closes"]));
}

fn peer(script: &str) -> String {
    format!("{}/../tests/peers/{script}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn clients_the_check_runs_are_typed_to_and_read() {
    let udp = peer("udp_client.py");
    let (code, out, err) =
        check(&["udp-client", "--listen", "127.0.0.1:0", "--format", "json", "--", "python3", "-u", &udp, "{port}"]);
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(ids(&report, "pass"), set(&["one-datagram", "prints-reply", "one-socket", "ends-on-end"]));
    assert_eq!(report["score"], 11);

    let tcp = peer("tcp_client.py");
    let (code, out, _) =
        check(&["tcp-client", "--listen", "127.0.0.1:0", "--format", "json", "--", "python3", &tcp, "{port}"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(ids(&report, "pass"), set(&["connects", "sends", "reads-reply", "closes"]));
}

#[test]
fn a_client_that_never_closes_fails_only_closes() {
    let never = peer("tcp_client_never_closes.py");
    let args = ["tcp-client", "--listen", "127.0.0.1:0", "--timeout-ms", "1000", "--format", "json", "--"];
    let (code, out, _) = check(&[&args[..], &["python3", "-u", &never, "{port}"]].concat());
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ids(&report, "fail"), set(&["closes"]), "{report:#}");
    assert_eq!(ids(&report, "pass"), set(&["connects", "sends", "reads-reply"]));
    assert_eq!(code, 1);
}

#[test]
fn gradescope_output_has_the_documented_shape() {
    let (_server, port) = python_server("udp_lower_server.py");
    let target = format!("127.0.0.1:{port}");
    let (code, out, _) = check(&["udp-server", "--target", &target, "--timeout-ms", "1000", "--format", "gradescope"]);
    assert_eq!(code, 1);
    let results: Value = serde_json::from_str(&out).unwrap();
    let top: BTreeSet<_> = results.as_object().unwrap().keys().cloned().collect();
    assert_eq!(top, set(&["score", "tests"]));
    let tests = results["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 7);
    let mut sum = 0;
    for t in tests {
        let keys: BTreeSet<_> = t.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, set(&["name", "score", "max_score", "output"]), "{t:#}");
        assert!(t["name"].as_str().unwrap().starts_with("udp-server: "));
        let (score, max) = (t["score"].as_u64().unwrap(), t["max_score"].as_u64().unwrap());
        assert!(score == 0 || score == max, "{t:#}");
        sum += score;
        let output = t["output"].as_str().unwrap();
        assert!(output.starts_with(if score > 0 { "pass: " } else { "FAIL: " }), "{output}");
    }
    assert_eq!(results["score"].as_u64().unwrap(), sum);
    assert_eq!(sum, 7, "6 required points and the truncation bonus");
    let ascii = tests.iter().find(|t| t["name"] == "udp-server: it upper-cases ASCII").unwrap();
    assert!(ascii["output"].as_str().unwrap().contains("What happened:\n+0.000 ms"), "{ascii:#}");
}

#[test]
fn usage_errors_and_unreachable_targets_exit_2_with_one_line() {
    // A port nobody listens on: bind one, note it, and close it.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let udp_free = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let cases: [(&[&str], &str); 6] = [
        (&["tcp-server", "--target", &free], "nothing listens on TCP"),
        (&["udp-server", "--target", &udp_free], "nothing listens on UDP"),
        (&["udp-server"], "needs --target"),
        (&["tcp-server", "--target", "nowhere"], "is not HOST:PORT"),
        (&["udp-client", "--target", &free], "takes --listen"),
        (&["web-server"], "is not udp-server"),
    ];
    for (args, says) in cases {
        let (code, out, err) = check(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one clear line, got {err:?}");
        assert!(err.starts_with("socketlab: ") && err.contains(says), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
    let status = Command::new(env!("CARGO_BIN_EXE_socketlab")).args(["check", "--help"]).output().unwrap();
    assert!(status.status.success());
}

#[tokio::test]
async fn the_gateway_checks_listed_targets_only() {
    let (_server, port) = python_server("udp_server.py");
    // Listeners on other ports watch that nothing is sent to an unlisted target.
    let watch_udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let watch_tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    watch_udp.set_nonblocking(true).unwrap();
    watch_tcp.set_nonblocking(true).unwrap();
    let listed: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let r = gateway::start(|c| {
        c.targets.insert("my-server".to_owned(), listed);
        c.limits.exchange_timeout_ms = 1000;
    })
    .await;
    let http = reqwest::Client::new();
    let post = |body: Value| {
        http.post(r.url("/api/v1/checks")).header("content-type", "application/json").body(body.to_string()).send()
    };

    let refused = [
        serde_json::json!({"program": "udp-server", "target": watch_udp.local_addr().unwrap().to_string()}),
        serde_json::json!({"program": "tcp-server", "target": watch_tcp.local_addr().unwrap().to_string()}),
        serde_json::json!({"program": "udp-server", "target": "your-server"}),
        serde_json::json!({"program": "udp-client", "target": "my-server"}),
        serde_json::json!({"program": "udp-server"}),
    ];
    for body in refused {
        let resp = post(body.clone()).await.unwrap();
        assert_eq!(resp.status(), 422, "{body}");
        assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "invalid_field", "{body}");
    }
    let mut buf = [0u8; 64];
    let udp = watch_udp.recv_from(&mut buf);
    assert_eq!(udp.unwrap_err().kind(), std::io::ErrorKind::WouldBlock, "a datagram reached an unlisted port");
    assert_eq!(watch_tcp.accept().unwrap_err().kind(), std::io::ErrorKind::WouldBlock, "a connection reached it");

    // The listed names, with the address the student's server must use, in both listings.
    let listed_json = serde_json::json!([{"name": "my-server", "addr": listed.to_string(), "programs": ["udp-server", "tcp-server"]}]);
    let servers: Value = http.get(r.url("/api/v1/servers")).send().await.unwrap().json().await.unwrap();
    assert_eq!(servers["targets"], listed_json);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", r.http)).await.unwrap();
    let hello = gateway::recv(&mut ws).await;
    assert_eq!(hello["targets"], listed_json, "{hello}");

    let resp = post(serde_json::json!({"program": "udp-server", "target": "my-server"})).await.unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["target"], listed.to_string());
    assert_eq!(report["items"].as_array().unwrap().len(), 7);
    assert!(item(&report, "invalid-utf8")["reason"].as_str().unwrap().contains("the server died"));
    r.stop().await;
}

#[tokio::test]
async fn the_websocket_streams_each_item_then_one_report() {
    let (_server, port) = python_server("tcp_server.py");
    let watch = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    watch.set_nonblocking(true).unwrap();
    let listed: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let r = gateway::start(|c| {
        c.targets.insert("my-server".to_owned(), listed);
        c.limits.exchange_timeout_ms = 1000;
    })
    .await;
    let mut ws = gateway::connect(&r).await;

    // An address or an unlisted name: refused under its id, and nothing reaches the watcher.
    for target in [watch.local_addr().unwrap().to_string(), "your-server".to_owned()] {
        let frame = serde_json::json!({"type": "check", "id": "k0", "program": "tcp-server", "target": target});
        gateway::send(&mut ws, frame).await;
        let refused = gateway::recv(&mut ws).await;
        assert_eq!(
            (&refused["type"], &refused["id"], &refused["code"]),
            (&"error".into(), &"k0".into(), &"invalid_field".into())
        );
    }
    assert_eq!(watch.accept().unwrap_err().kind(), std::io::ErrorKind::WouldBlock, "a connection reached it");

    gateway::send(
        &mut ws,
        serde_json::json!({"type": "check", "id": "k1", "program": "tcp-server", "target": "my-server"}),
    )
    .await;
    let rubric = ["accepts", "upper", "one-after-another", "fin-close", "silent-client", "two-at-once", "invalid-utf8"];
    let mut streamed = Vec::new();
    let report = loop {
        let frame = gateway::recv(&mut ws).await;
        assert_eq!(frame["id"], "k1", "{frame}");
        match frame["type"].as_str().unwrap() {
            "check_item" => streamed.push(frame["item"].clone()),
            "check_report" => break frame["report"].clone(),
            other => panic!("unexpected frame {other}: {frame}"),
        }
        assert!(streamed.len() <= rubric.len(), "more items than the rubric has");
    };
    let ids: Vec<&str> = streamed.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, rubric, "every item, in the rubric's order, before the report");
    assert!(streamed.iter().all(|i| !i["events"].as_array().unwrap().is_empty()), "each item carries its timeline");
    assert_eq!(report["items"].as_array().unwrap(), &streamed, "the report repeats the streamed items");
    assert_eq!(report["passed"], true, "{report:#}");
    assert!(item(&report, "invalid-utf8")["reason"].as_str().unwrap().contains("the server died"));
    // The socket goes on: one end for k1, nothing more about it.
    gateway::send(&mut ws, serde_json::json!({"type": "exchange", "id": "e", "protocol": "udp", "message": "x"})).await;
    let (_, end) = gateway::collect(&mut ws, "e").await;
    assert_eq!(end["type"], "reply");
    r.stop().await;
}

/// Waits, boundedly, until a socket on 127.0.0.1:`port` is bound (UDP) or listening (TCP),
/// read from /proc so that watching sends nothing and binds nothing.
fn wait_until_listening(port: u16, udp: bool) {
    let (table, state) = if udp { ("/proc/net/udp", "07") } else { ("/proc/net/tcp", "0A") };
    let local = format!("0100007F:{port:04X}");
    for _ in 0..400 {
        let text = std::fs::read_to_string(table).unwrap();
        let found = text.lines().skip(1).any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.get(1) == Some(&local.as_str()) && cols.get(3) == Some(&state)
        });
        if found {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("nothing listens on 127.0.0.1:{port} after 10 s");
}

/// A gateway whose operator lets client checks listen on a port free for both UDP and TCP.
async fn gateway_with_check_listen() -> (gateway::Running, std::net::SocketAddr, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let r = gateway::start(|c| {
        c.check_listen = Some(listen);
        c.check_wait = std::time::Duration::from_secs(10);
        c.limits.exchange_timeout_ms = 1000;
    })
    .await;
    (r, listen, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_checks_listen_where_the_operator_said_over_rest_and_websocket() {
    let (r, listen, port) = gateway_with_check_listen().await;
    let http = reqwest::Client::new();
    let servers: Value = http.get(r.url("/api/v1/servers")).send().await.unwrap().json().await.unwrap();
    assert_eq!(servers["check_listen"], listen.to_string());
    let post = |body: Value| {
        http.post(r.url("/api/v1/checks")).header("content-type", "application/json").body(body.to_string()).send()
    };
    let refused = post(serde_json::json!({"program": "udp-client", "target": "127.0.0.1:9"})).await.unwrap();
    assert_eq!(refused.status(), 422, "a client check names no target");

    // REST: the lesson-like UDP client, run by the test against the listening check.
    let check = tokio::spawn(post(serde_json::json!({"program": "udp-client"})));
    tokio::task::spawn_blocking(move || {
        wait_until_listening(port, true);
        let mut client = python("udp_client.py");
        client.arg(port.to_string());
        let (status, out, err) = run_with_input(client, "hello socket\nstraße\nend\n".as_bytes());
        assert!(status.success() && out.contains("STRASSE"), "{out}\n{err}");
    })
    .await
    .unwrap();
    let resp = check.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(ids(&report, "pass"), set(&["one-datagram", "one-socket"]));
    assert_eq!(ids(&report, "skipped"), set(&["prints-reply", "ends-on-end"]));

    // WebSocket: the lesson-like TCP client; its items come before the one report.
    let mut ws = gateway::connect(&r).await;
    gateway::send(&mut ws, serde_json::json!({"type": "check", "id": "c", "program": "tcp-client"})).await;
    tokio::task::spawn_blocking(move || {
        wait_until_listening(port, false);
        let mut client = python("tcp_client.py");
        client.arg(port.to_string());
        let (status, out, err) = run_with_input(client, b"hello tcp\n");
        assert!(status.success() && out.ends_with("HELLO TCP"), "{out}\n{err}");
    })
    .await
    .unwrap();
    let mut streamed = Vec::new();
    let report = loop {
        let frame = gateway::recv(&mut ws).await;
        match frame["type"].as_str().unwrap() {
            "check_item" => streamed.push(frame["item"]["id"].as_str().unwrap().to_owned()),
            "check_report" => break frame["report"].clone(),
            other => panic!("unexpected frame {other}: {frame}"),
        }
        assert!(streamed.len() <= 4, "more items than the rubric has");
    };
    assert_eq!(streamed, ["connects", "sends", "reads-reply", "closes"]);
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["target"], listen.to_string());
    r.stop().await;
}

#[test]
fn a_client_that_keeps_sending_yields_a_bounded_timeline() {
    let flood = peer("tcp_client_floods.py");
    let args = ["tcp-client", "--listen", "127.0.0.1:0", "--timeout-ms", "1000", "--format", "json", "--"];
    let (_, out, err) = check(&[&args[..], &["python3", "-u", &flood, "{port}"]].concat());
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let events = item(&report, "closes")["events"].as_array().unwrap();
    // At most 32 reads one by one, a summary and the end: never one event per read.
    assert!(events.len() <= 40, "{} events in closes", events.len());
    let details: Vec<&str> = events.iter().filter_map(|e| e["detail"].as_str()).collect();
    assert!(details.iter().any(|d| d.contains("stopped reading")), "{details:?}");
    // It reads the reply before it starts sending, and never closes.
    assert_eq!(ids(&report, "fail"), set(&["closes"]), "{report:#}");
    assert!(item(&report, "closes")["reason"].as_str().unwrap().contains("kept sending"), "{report:#}");
}

/// Connects to the check on 127.0.0.1:`port` from the address `from` and sends `sentence`,
/// for a TCP client from 127.0.0.1 or an intruder from another loopback address.
fn tcp_client_from(rt: &tokio::runtime::Handle, from: &str, port: u16, sentence: &[u8]) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
        socket.connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap().into_std().unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    stream.write_all(sentence).unwrap();
    stream
}

async fn ws_check_report(ws: &mut gateway::Ws, id: &str) -> Value {
    for _ in 0..10 {
        let frame = gateway::recv(ws).await;
        assert_eq!(frame["id"], id, "{frame}");
        match frame["type"].as_str().unwrap() {
            "check_item" => {}
            "check_report" => return frame["report"].clone(),
            other => panic!("unexpected frame {other}: {frame}"),
        }
    }
    panic!("no report after 10 frames");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_checks_grade_only_the_requesters_address_and_a_few_per_address() {
    use std::io::Read;
    let (r, listen, port) = gateway_with_check_listen().await;
    let http = reqwest::Client::new();
    let post = |body: Value| {
        http.post(r.url("/api/v1/checks")).header("content-type", "application/json").body(body.to_string()).send()
    };

    // UDP: another address (127.0.0.2) sends first; it gets no answer and no place in the report.
    let check = tokio::spawn(post(serde_json::json!({"program": "udp-client"})));
    tokio::task::spawn_blocking(move || {
        wait_until_listening(port, true);
        let intruder = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
        intruder.send_to(b"intruder-udp", listen).unwrap();
        let mut client = python("udp_client.py");
        client.arg(port.to_string());
        let (status, out, err) = run_with_input(client, "hello socket\nstraße\nend\n".as_bytes());
        assert!(status.success() && out.contains("STRASSE"), "{out}\n{err}");
        intruder.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        let got = intruder.recv_from(&mut buf).map(|(n, _)| buf[..n].to_vec());
        assert_eq!(got.unwrap_err().kind(), std::io::ErrorKind::WouldBlock, "the intruder was answered");
    })
    .await
    .unwrap();
    let resp = check.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert!(!report.to_string().contains("intruder"), "{report:#}");
    assert_eq!(ids(&report, "pass"), set(&["one-datagram", "one-socket"]), "{report:#}");

    // TCP over the WebSocket: the intruder connects first and is cut off unread.
    let mut ws = gateway::connect(&r).await;
    gateway::send(&mut ws, serde_json::json!({"type": "check", "id": "c", "program": "tcp-client"})).await;
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        wait_until_listening(port, false);
        let mut intruder = tcp_client_from(&rt, "127.0.0.2", port, b"intruder-tcp");
        let mut client = tcp_client_from(&rt, "127.0.0.1", port, b"hello tcp");
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"HELLO TCP");
        let mut rest = Vec::new();
        assert!(!matches!(intruder.read_to_end(&mut rest), Ok(n) if n > 0), "the intruder was answered");
    })
    .await
    .unwrap();
    let report = ws_check_report(&mut ws, "c").await;
    assert!(!report.to_string().contains("intruder"), "{report:#}");
    assert_eq!(report["passed"], true, "{report:#}");
    assert!(item(&report, "connects")["reason"].as_str().unwrap().contains("127.0.0.1:"), "{report:#}");

    // A third client check from this address runs; a fourth is over its share.
    gateway::send(&mut ws, serde_json::json!({"type": "check", "id": "d", "program": "tcp-client"})).await;
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        wait_until_listening(port, false);
        let mut client = tcp_client_from(&rt, "127.0.0.1", port, b"again");
        client.read_to_end(&mut Vec::new()).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(ws_check_report(&mut ws, "d").await["passed"], true);
    let resp = post(serde_json::json!({"program": "udp-client"})).await.unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "rate_limited");
    r.stop().await;
}

#[tokio::test]
async fn one_check_runs_against_a_target_at_a_time() {
    let (_server, port) = python_server("tcp_server.py");
    let listed: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let r = gateway::start(|c| {
        c.targets.insert("my-server".to_owned(), listed);
        c.limits.exchange_timeout_ms = 1000;
    })
    .await;
    let mut ws = gateway::connect(&r).await;
    let frame =
        |id: &str| serde_json::json!({"type": "check", "id": id, "program": "tcp-server", "target": "my-server"});
    gateway::send(&mut ws, frame("k1")).await;
    let first = gateway::recv(&mut ws).await;
    assert_eq!((&first["type"], &first["id"]), (&"check_item".into(), &"k1".into()), "{first}");

    // k1 is still running: a second check of the same target, by REST or WebSocket, is refused.
    let resp = reqwest::Client::new()
        .post(r.url("/api/v1/checks"))
        .header("content-type", "application/json")
        .body(serde_json::json!({"program": "tcp-server", "target": "my-server"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "too_many_in_flight");
    gateway::send(&mut ws, frame("k2")).await;
    let (mut k1_report, mut k2_error) = (None, None);
    for _ in 0..12 {
        let f = gateway::recv(&mut ws).await;
        match (f["id"].as_str().unwrap(), f["type"].as_str().unwrap()) {
            ("k1", "check_item") => {}
            ("k1", "check_report") => k1_report = Some(f["report"].clone()),
            ("k2", "error") => k2_error = Some(f["code"].clone()),
            _ => panic!("unexpected frame {f}"),
        }
        if k1_report.is_some() && k2_error.is_some() {
            break;
        }
    }
    assert_eq!(k2_error.unwrap(), "too_many_in_flight");
    assert_eq!(k1_report.unwrap()["passed"], true);

    // Once k1 has ended, the target takes a check again: it runs, and finds the server that
    // k1's invalid-utf8 item killed gone.
    gateway::send(&mut ws, frame("k3")).await;
    let last = gateway::recv(&mut ws).await;
    assert_eq!((&last["id"], &last["code"]), (&"k3".into(), &"connection_refused".into()), "{last}");
    r.stop().await;
}
