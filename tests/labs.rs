//! The labs API against a real gateway: exchanges run over REST, then checks of the answers a
//! student would read off those timelines. The capture tests need root or CAP_NET_RAW (CI runs
//! as root); without it they fail rather than skip.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use socketlab::capture::CaptureMode;
use socketlab_labs::{Answer, Lab, Seen};
use support::gateway::{Running, start};

async fn post(g: &Running, path: &str, body: &Value) -> (u16, Value) {
    let resp = reqwest::Client::new().post(g.url(path)).json(body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn get(g: &Running, path: &str) -> (u16, Value) {
    let resp = reqwest::get(g.url(path)).await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Runs one exchange; returns its name and timeline, whether it succeeded or was refused.
async fn exchange(g: &Running, body: Value) -> (String, Vec<Value>) {
    exchange_at(g.url("/api/v1/exchanges"), body).await
}

async fn exchange_at(url: String, body: Value) -> (String, Vec<Value>) {
    let resp = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
    let (status, v): (u16, Value) = (resp.status().as_u16(), resp.json().await.unwrap());
    let (id, events) = match status {
        200 => (&v["id"], &v["events"]),
        _ => (&v["exchange"], &v["events"]),
    };
    let id = id.as_str().unwrap_or_else(|| panic!("no exchange name in {status} {v}")).to_owned();
    (id, events.as_array().cloned().unwrap_or_default())
}

async fn check(g: &Running, lab: &str, step: &str, exchanges: &[&str], answers: &[(&str, String)]) -> (u16, Value) {
    let answers: BTreeMap<&str, &str> = answers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post(g, &format!("/api/v1/labs/{lab}/steps/{step}/check"), &json!({"exchanges": exchanges, "answers": answers}))
        .await
}

/// The first captured segment with exactly these flags.
fn segment<'a>(events: &'a [Value], flags: &str) -> &'a Value {
    events
        .iter()
        .find(|e| {
            e["op"] == "segment" && e["segment"]["flags"] == flags && !e["flags"].to_string().contains("inferred")
        })
        .map(|e| &e["segment"])
        .unwrap_or_else(|| panic!("no captured {flags} in {events:?}"))
}

#[tokio::test]
async fn handshake_answers_pass_on_their_own_exchange_and_fail_elsewhere() {
    let g = start(|c| c.capture = CaptureMode::On).await;
    let (a, ea) = exchange(&g, json!({"protocol": "tcp", "message": "first"})).await;
    let (b, eb) = exchange(&g, json!({"protocol": "tcp", "message": "second"})).await;
    let read =
        |e: &[Value]| (segment(e, "SYN")["seq"].as_u64().unwrap(), segment(e, "SYN,ACK")["ack"].as_u64().unwrap());
    let ((syn, ack), (syn_b, _)) = (read(&ea), read(&eb));
    assert_eq!(ack, syn.wrapping_add(1) & 0xffff_ffff);
    assert_ne!(syn, syn_b, "two connections, two initial sequence numbers");

    let right = [("syn_seq", syn.to_string()), ("synack_ack", ack.to_string())];
    let (status, v) = check(&g, "tcp-handshake", "numbers", &[&a], &right).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["passed"], true, "{v}");
    assert_eq!(v["checks"].as_array().unwrap().len(), 2);

    let off = [("syn_seq", (syn + 1).to_string()), ("synack_ack", ack.to_string())];
    let (_, v) = check(&g, "tcp-handshake", "numbers", &[&a], &off).await;
    assert_eq!(v["passed"], false, "{v}");
    assert_eq!(v["checks"][0]["passed"], false);
    let why = v["checks"][0]["why"].as_str().unwrap();
    assert!(why.contains(&format!("exchange {a}")) && why.contains("step"), "{why}");
    assert!(!v.to_string().contains(&format!("\"{syn}\"")) && !why.contains(&syn.to_string()), "leaks: {v}");
    assert_eq!(v["checks"][1]["passed"], true);

    let (_, v) = check(&g, "tcp-handshake", "numbers", &[&b], &right).await;
    assert_eq!(v["passed"], false, "answers from one exchange fail against another: {v}");
    assert!(v["checks"].as_array().unwrap().iter().all(|c| c["passed"] == false), "{v}");
    assert!(!v.to_string().contains(&syn_b.to_string()), "leaks the other exchange's number: {v}");
    g.stop().await;
}

#[tokio::test]
async fn without_capture_packet_questions_say_so() {
    let g = start(|c| c.capture = CaptureMode::Off).await;
    let (a, _) = exchange(&g, json!({"protocol": "tcp", "message": "no capture"})).await;
    let (status, v) = check(&g, "tcp-handshake", "numbers", &[&a], &[("syn_seq", "0".into())]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["passed"], false);
    assert_eq!(v["checks"][0]["needs_capture"], true, "{v}");
    assert!(v["checks"][0]["why"].as_str().unwrap().contains("captured no packets"), "{v}");
    g.stop().await;
}

#[tokio::test]
async fn labs_are_listed_in_both_languages_and_bad_requests_get_api_errors() {
    let g = start(|_| {}).await;
    let (status, list) = get(&g, "/api/v1/labs").await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    assert!(list.len() >= 10, "{list:?}");
    let hs = list.iter().find(|l| l["id"] == "tcp-handshake").unwrap();
    assert_eq!(hs["title"], "The three-way handshake");
    assert!(hs["steps"].as_u64().unwrap() >= 1);
    let (_, zh) = get(&g, "/api/v1/labs?lang=zh").await;
    assert!(zh.as_array().unwrap().iter().any(|l| l["title"] == "三次握手"), "{zh}");

    let (status, lab) = get(&g, "/api/v1/labs/tcp-handshake").await;
    assert_eq!(status, 200);
    let step = &lab["steps"][0];
    assert_eq!(step["id"], "numbers");
    assert_eq!(step["questions"][0]["id"], "syn_seq");
    assert_eq!(step["questions"][1]["id"], "synack_ack");
    assert!(step["questions"][0]["prompt"].as_str().unwrap().contains("sequence number"));
    assert!(!lab.to_string().contains("\"answer\""), "the view names no answer: {lab}");

    let (status, v) = get(&g, "/api/v1/labs/nope").await;
    assert_eq!((status, v["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, v) = check(&g, "tcp-handshake", "nope", &[], &[]).await;
    assert_eq!((status, v["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, v) = check(&g, "tcp-handshake", "numbers", &["x1-0000000000000000"], &[]).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_field")), "{v}");
    let (status, v) = post(&g, "/api/v1/labs/tcp-handshake/steps/numbers/check", &json!({"events": []})).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_field")), "{v}");
    g.stop().await;
}

/// What a student reads off a timeline for each kind of question, written apart from the
/// evaluator: the newest exchange that shows it.
fn read_answer(answer: Answer, timelines: &[Vec<Value>]) -> Option<String> {
    let port = |a: &Value| a.as_str().and_then(|s| s.rsplit(':').next()).map(str::to_owned);
    let client = |e: &&Value| e["side"] == "client" && e["op"] != "segment";
    let server = |e: &&Value| e["side"] == "server" && e["op"] != "segment";
    let is = |e: &&Value, op: &str| e["op"] == op;
    timelines.iter().rev().find_map(|es| {
        let mut it = es.iter();
        match answer {
            Answer::ClientPort => it
                .find(|e| client(e) && port(&e["local"]).is_some_and(|p| p != "0"))
                .and_then(|e| port(&e["local"]))
                .or_else(|| es.iter().find(|e| server(e) && is(e, "recvfrom")).and_then(|e| port(&e["peer"]))),
            Answer::ServerPort => {
                it.find(|e| client(e) && (is(e, "sendto") || is(e, "connect"))).and_then(|e| port(&e["peer"]))
            }
            Answer::SynSeq => Some(segment(es, "SYN")["seq"].to_string()),
            Answer::SynackSeq => Some(segment(es, "SYN,ACK")["seq"].to_string()),
            Answer::SynackAck => Some(segment(es, "SYN,ACK")["ack"].to_string()),
            Answer::ServerRecvBytes => it.find(|e| server(e) && is(e, "recv")).map(|e| e["bytes"].to_string()),
            Answer::ServerRecvfromBytes => it.find(|e| server(e) && is(e, "recvfrom")).map(|e| e["bytes"].to_string()),
            Answer::ClientSentBytes => {
                it.find(|e| client(e) && (is(e, "send") || is(e, "sendto"))).map(|e| e["bytes"].to_string())
            }
            Answer::FirstFin => it
                .find(|e| e["op"] == "segment" && e["segment"]["flags"].as_str().is_some_and(|f| f.contains("FIN")))
                .map(|e| e["side"].as_str().unwrap().to_owned()),
            Answer::ConnectionPort => it.find(|e| server(e) && is(e, "accept")).and_then(|e| port(&e["local"])),
        }
    })
}

/// Runs the Python peer that behaves like the lesson's client against the hosted UDP server,
/// watched live; returns its conversation's name and the events seen.
async fn python_client_seen_live(g: &Running) -> (String, Vec<Value>) {
    let mut ws = support::gateway::connect(g).await;
    support::gateway::send(&mut ws, json!({"type": "subscribe", "scope": "all"})).await;
    assert_eq!(support::gateway::recv(&mut ws).await["type"], "subscribed");
    let mut cmd = support::python("udp_client.py");
    cmd.arg(g.udp.port().to_string());
    let run = tokio::task::spawn_blocking(move || support::run_with_input(cmd, b"from a terminal\n"));
    let (status, out, err) = run.await.unwrap();
    assert!(status.success() && out.contains("FROM A TERMINAL"), "{out}\n{err}");
    let (mut name, mut events) = (String::new(), Vec::new());
    for _ in 0..20 {
        let v = support::gateway::recv(&mut ws).await;
        if v["type"] == "observed" && v["conversation"].as_str().is_some_and(|c| c.starts_with("udp ")) {
            name = v["conversation"].as_str().unwrap().to_owned();
            events.push(v["event"].clone());
            if v["event"]["op"] == "sendto" {
                return (name, events);
            }
        }
    }
    panic!("the server's answer to {name:?} was not seen live: {events:?}");
}

#[tokio::test]
async fn every_built_in_lab_can_be_completed_through_the_api() {
    let g = start(|c| c.capture = CaptureMode::On).await;
    let files = socketlab_labs::builtin::FILES.iter().copied();
    let labs: Vec<Lab> = socketlab_labs::load::parse_all(files).unwrap();
    let (_, list) = get(&g, "/api/v1/labs").await;
    assert_eq!(list.as_array().unwrap().len(), labs.len());
    for lab in &labs {
        let (status, view) = get(&g, &format!("/api/v1/labs/{}", lab.id)).await;
        assert_eq!(status, 200);
        let mut names: Vec<String> = Vec::new();
        let mut timelines: Vec<Vec<Value>> = Vec::new();
        for (step, shown) in lab.steps.iter().zip(view["steps"].as_array().unwrap()) {
            // An action that holds its connection runs while the next ones do, as a student
            // presses the next button at once.
            let mut holding = Vec::new();
            for action in shown["actions"].as_array().unwrap() {
                let mut req = action.clone();
                req.as_object_mut().unwrap().remove("label");
                if req.get("message").is_none() && req.get("message_base64").is_none() {
                    req["message"] = json!("words of my own");
                }
                if req.get("hold_ms").is_some() {
                    holding.push(tokio::spawn(exchange_at(g.url("/api/v1/exchanges"), req)));
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
                let (name, events) = exchange(&g, req).await;
                names.push(name);
                timelines.push(events);
            }
            for held in holding {
                let (name, events) = held.await.unwrap();
                names.push(name);
                timelines.push(events);
            }
            if step.observations.iter().any(|o| o.kind == Seen::OutsideClient) {
                let (name, events) = python_client_seen_live(&g).await;
                names.push(name);
                timelines.push(events);
            }
            let answers: Vec<(&str, String)> = step
                .questions
                .iter()
                .map(|q| (q.id.as_str(), read_answer(q.answer, &timelines).unwrap_or_default()))
                .collect();
            let named: Vec<&str> = names.iter().map(String::as_str).collect();
            let (status, v) = check(&g, &lab.id, &step.id, &named, &answers).await;
            assert_eq!(status, 200, "{v}");
            assert_eq!(v["passed"], true, "lab {} step {}: {v}\nanswers {answers:?}", lab.id, step.id);
        }
    }
    g.stop().await;
}

#[test]
fn a_malformed_lab_stops_startup_naming_file_line_and_problem() {
    let dir = std::env::temp_dir().join(format!("socketlab-bad-labs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = "id = \"mine\"\ntitle = { en = \"Mine\", zh = \"我的\" }\nsummary = { en = \"s\", zh = \"s\" }\n\n[[step]]\nid = \"one\"\ntitle = { en = \"a\", zh = \"a\" }\ninstructions = { en = \"a\", zh = \"a\" }\n\n[[step.question]]\nid = \"q\"\nprompt = { en = \"p\", zh = \"p\" }\nanswer = \"syn_sequence\"\n";
    std::fs::write(dir.join("mine.toml"), text).unwrap();
    let mut cmd = support::socketlab();
    cmd.args([
        "serve",
        "--http",
        "127.0.0.1:0",
        "--udp-port",
        "0",
        "--tcp-port",
        "0",
        "--capture",
        "off",
        "--labs-dir",
    ])
    .arg(&dir);
    let mut p = support::Proc::start(cmd);
    let line = p.err_line();
    let status = p.wait();
    assert!(!status.success(), "serve must not start with a malformed lab");
    let file = dir.join("mine.toml");
    assert!(line.contains(&format!("lab file {}, line 13: ", file.display())), "{line}");
    assert!(line.contains("syn_sequence") && line.contains("syn_seq"), "names the problem: {line}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn only_the_iterative_server_keeps_a_second_client_in_its_backlog() {
    let g = start(|_| {}).await;
    let (_, servers) = get(&g, "/api/v1/servers").await;
    let iterative: Vec<&Value> =
        servers["servers"].as_array().unwrap().iter().filter(|s| s["iterative"] == true).collect();
    assert_eq!(iterative.len(), 1, "{servers}");
    assert_eq!(iterative[0]["protocol"], "tcp");
    assert_ne!(iterative[0]["port"], servers["servers"][1]["port"], "its own port");
    for (target, held) in [(json!("iterative"), true), (json!("hosted"), false)] {
        let first = json!({"protocol": "tcp", "message": "slow", "hold_ms": 1000, "target": target});
        let slow = tokio::spawn(exchange_at(g.url("/api/v1/exchanges"), first));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let (b, _) = exchange(&g, json!({"protocol": "tcp", "message": "quick", "target": target})).await;
        let (a, _) = slow.await.unwrap();
        let (status, v) = check(&g, "iterative-backlog", "held", &[&a, &b], &[]).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["passed"], held, "target {target}: {v}");
    }
    let (status, v) =
        post(&g, "/api/v1/exchanges", &json!({"protocol": "udp", "message": "x", "target": "iterative"})).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_field")), "{v}");
    g.stop().await;
}

#[tokio::test]
async fn a_websocket_exchange_is_named_for_checks_even_without_capture() {
    let g = start(|c| c.capture = CaptureMode::Off).await;
    let mut ws = support::gateway::connect(&g).await;
    support::gateway::send(&mut ws, json!({"type": "exchange", "id": "a", "protocol": "udp", "message": "hi"})).await;
    let (events, end) = support::gateway::collect(&mut ws, "a").await;
    assert_eq!(end["type"], "reply", "{end}");
    let name = end["exchange"].as_str().expect("named without capture").to_owned();
    let port = events.iter().find(|e| e["op"] == "socket").unwrap()["local"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let (status, v) = check(&g, "addressing", "again", &[&name], &[("client_port", port)]).await;
    assert_eq!((status, &v["passed"]), (200, &json!(true)), "{v}");
    let pcap = reqwest::get(g.url(&format!("/api/v1/exchanges/{name}/pcapng"))).await.unwrap();
    assert_eq!(pcap.status().as_u16(), 409, "capture is off: nothing to export");
    g.stop().await;
}
