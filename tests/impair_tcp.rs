//! TCP drops on demand, for real: as root, with capture, each kind of drop loses one kernel
//! segment through socketlab's nftables table, the kernel retransmits it, and both copies are
//! on the timeline (the first marked lost). After every gateway stops, `nft list tables` shows
//! no socketlab table. A table is cleared at startup only when its owner is provably gone
//! (same PID but another start time), and kept when it cannot be judged (another PID
//! namespace, an older name) or its owner runs. The rule only drops segments on `lo` whose
//! addresses and ports both match. Without CAP_NET_ADMIN (a user namespace) TCP drops are refused with
//! `impairment_unavailable` while UDP impairment still works. Needs root; fails rather than
//! skips without it.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use socketlab::capture::CaptureMode;
use support::gateway::*;

/// The tests here run one at a time: each checks which of this process's tables exist.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The socketlab tables of this process's gateways (other processes on the machine, such as
/// another test run, keep their own until they stop).
fn socketlab_tables() -> Vec<String> {
    let out = Command::new("nft").args(["list", "tables"]).output().expect("nft runs (apt-get install nftables)");
    assert!(out.status.success(), "nft list tables: {}", String::from_utf8_lossy(&out.stderr));
    let ours = format!("socketlab_{}_{}_", std::process::id(), start_time("self"));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(&ours)).map(str::to_owned).collect()
}

fn has_flag(e: &Value, flag: &str) -> bool {
    e["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == flag))
}

/// Captured TCP segments of `side` that `pick` selects.
fn segments<'a>(events: &'a [Value], side: &str, pick: impl Fn(&str, u64) -> bool) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["op"] == "segment" && e["side"] == side && !has_flag(e, "inferred"))
        .filter(|e| pick(e["segment"]["flags"].as_str().unwrap(), e["segment"]["len"].as_u64().unwrap()))
        .collect()
}

/// Runs one TCP exchange with `drop` on a fresh gateway, checks the reply and that the table
/// is gone after shutdown, and returns the timeline.
async fn dropped(drop: &str) -> Vec<Value> {
    let r = start(|c| {
        c.capture = CaptureMode::On;
        c.limits.exchange_timeout_ms = 5000;
    })
    .await;
    let table = r.handle.nft_table().expect("TCP drops need nftables and root; run the tests as root (CI does)");
    assert!(socketlab_tables().iter().any(|t| t.contains(&table)), "the table exists while serving");
    let servers: Value = reqwest::get(r.url("/api/v1/servers")).await.unwrap().json().await.unwrap();
    assert_eq!(servers["impairments"], json!({"udp": true, "tcp": true}), "{servers}");
    let body = json!({"protocol":"tcp","message":"retransmit me","impair":{"drop":drop}});
    let resp = reqwest::Client::new().post(r.url("/api/v1/exchanges")).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{drop}: {body}");
    assert_eq!(body["reply"], "RETRANSMIT ME");
    r.stop().await;
    assert_eq!(socketlab_tables(), Vec::<String>::new(), "after {drop}: no socketlab table once stopped");
    body["events"].as_array().unwrap().clone()
}

/// The first of `copies` is lost and the later ones are its retransmissions. A dropped SYN-ACK
/// can be sent three times: the server's own timer and the client's resent SYN both fire after
/// about a second, and each brings one.
fn lost_then_resent(what: &str, copies: &[&Value]) {
    assert!((2..=3).contains(&copies.len()), "{what}: captured again after the loss: {copies:#?}");
    assert!(has_flag(copies[0], "lost"), "{what}: the first copy is lost");
    for copy in &copies[1..] {
        assert!(has_flag(copy, "retransmission") && !has_flag(copy, "lost"), "{what}: then retransmitted: {copy}");
        assert!(copy["detail"].as_str().unwrap().contains("TCP Retransmission"));
    }
}

/// A process's start time, field 22 of `/proc/<pid>/stat`.
fn start_time(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 1..].split_whitespace().nth(19).unwrap().parse().unwrap()
}

fn all_tables() -> String {
    String::from_utf8_lossy(&Command::new("nft").args(["list", "tables"]).output().unwrap().stdout).into_owned()
}

#[tokio::test]
async fn each_tcp_drop_loses_one_segment_and_the_kernel_retransmits_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    // Whose a table is, as a gateway names it: pid, start time, boot id, PID namespace, number.
    let r = start(|_| {}).await;
    let table = r.handle.nft_table().expect("TCP drops need nftables and root; run the tests as root (CI does)");
    r.stop().await;
    let parts: Vec<&str> = table.split('_').collect();
    let [_, pid, start, boot, ns, _] = parts[..] else { panic!("{table}") };
    assert_eq!(pid, std::process::id().to_string());
    assert_eq!(start.parse::<u64>().unwrap(), start_time("self"));
    // This PID, started at another time: a killed gateway whose PID was reused. Cleared.
    let reused = format!("socketlab_{pid}_{}_{boot}_{ns}_9", start_time("self") + 1);
    // A running process (pid 1), another PID namespace, and an older name: all kept.
    let running = format!("socketlab_1_{}_{boot}_{ns}_9", start_time("1"));
    let elsewhere = format!("socketlab_{pid}_1_{boot}_1_9");
    let older = format!("socketlab_{pid}_77");
    for t in [&reused, &running, &elsewhere, &older] {
        assert!(Command::new("nft").args(["add", "table", "inet", t]).status().expect("nft runs").success());
    }
    let events = dropped("syn_ack").await;
    let all = all_tables();
    for t in [&running, &elsewhere, &older] {
        let _ = Command::new("nft").args(["delete", "table", "inet", t]).status();
    }
    assert!(!all.contains(&reused), "the leftover of a reused PID was removed: {all}");
    for t in [&running, &elsewhere, &older] {
        assert!(all.contains(t.as_str()), "{t} was kept: {all}");
    }
    lost_then_resent("SYN-ACK", &segments(&events, "server", |f, _| f == "SYN,ACK"));
    let connect = events.iter().find(|e| e["op"] == "connect").unwrap();
    let waited = connect["t_us"].as_u64().unwrap() - connect["started_us"].as_u64().unwrap();
    assert!(waited >= 900_000, "connect() waited for the retransmission timeout: {waited} us");

    let events = dropped("syn").await;
    lost_then_resent("SYN", &segments(&events, "client", |f, _| f == "SYN"));

    let events = dropped("data").await;
    lost_then_resent("data", &segments(&events, "client", |_, len| len > 0));

    let events = dropped("reply").await;
    lost_then_resent("reply", &segments(&events, "server", |_, len| len > 0));

    let events = dropped("fin").await;
    lost_then_resent("FIN", &segments(&events, "server", |f, _| f.contains("FIN")));
}

#[test]
fn without_cap_net_admin_tcp_drops_are_unavailable_and_udp_still_works() {
    let mut child = Command::new("unshare")
        .arg("--user")
        .arg(env!("CARGO_BIN_EXE_socketlab"))
        .args(["serve", "--capture", "off", "--http", "127.0.0.1:0", "--udp-port", "0", "--tcp-port", "0"])
        .args(["--exchange-timeout-ms", "300"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("unshare runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    let http = ready.split("http://").nth(1).unwrap().split('/').next().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let servers: Value = reqwest::get(format!("http://{http}/api/v1/servers")).await.unwrap().json().await.unwrap();
        assert_eq!(servers["impairments"]["udp"], true, "{servers}");
        assert_eq!(servers["impairments"]["tcp"], false, "{servers}");
        assert!(servers["impairments"]["tcp_reason"].as_str().unwrap().contains("CAP_NET_ADMIN"), "{servers}");
        let post = |body: Value| {
            let url = format!("http://{http}/api/v1/exchanges");
            async move {
                let resp = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
                (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
            }
        };
        let (status, body) = post(json!({"protocol":"tcp","message":"x","impair":{"drop":"syn_ack"}})).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "impairment_unavailable");
        assert!(body["error"]["message"].as_str().unwrap().contains("CAP_NET_ADMIN"), "{body}");
        let (status, body) = post(json!({"protocol":"udp","message":"x","impair":{"drop":"request"}})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (504, Some("timeout")), "{body}");
        let (status, body) = post(json!({"protocol":"udp","message":"x","impair":{"duplicate":true}})).await;
        assert_eq!((status, body["reply"].as_str()), (200, Some("X")), "{body}");
    });
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_drop_is_keyed_on_both_addresses_and_ports_of_segments_on_lo() {
    let _one = ONE_AT_A_TIME.lock().await;
    use socketlab::impair::nft::Nft;
    use socketlab_proto::impair::Lose;
    use std::sync::Arc;
    use std::time::Duration;

    let nft = Arc::new(Nft::open().expect("TCP drops need nftables and root"));
    let table = nft.table().to_owned();
    let listed = |what: &[&str]| {
        let out = Command::new("nft").args(["list"]).args(what).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let rules = listed(&["table", "inet", &table]);
    assert!(rules.contains("iifname \"lo\""), "{rules}");
    assert!(rules.contains("ip saddr . tcp sport . ip daddr . tcp dport @syn_v4"), "{rules}");
    assert!(rules.contains("ip6 saddr . tcp sport . ip6 daddr . tcp dport @syn_v6"), "{rules}");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..2 {
            let _ = listener.accept().await;
        }
    });
    let armed_socket = tokio::net::TcpSocket::new_v4().unwrap();
    armed_socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let client = armed_socket.local_addr().unwrap();
    let armed = nft.arm(Lose::Syn, client, server).await.unwrap();
    let element = format!("127.0.0.1 . {} . 127.0.0.1 . {}", client.port(), server.port());
    assert!(listed(&["set", "inet", &table, "syn_v4"]).contains(&element), "armed");

    // Another client address with the same port is a different connection: its SYN passes
    // and the element stays.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind(std::net::SocketAddr::from(([127, 0, 0, 2], client.port()))).unwrap();
    let conn = tokio::time::timeout(Duration::from_secs(10), other.connect(server)).await;
    assert!(conn.is_ok_and(|c| c.is_ok()), "the other client connects");
    assert!(listed(&["set", "inet", &table, "syn_v4"]).contains(&element), "the other client's SYN did not match");

    // The armed connection's first SYN is dropped (the element goes with it); the kernel
    // resends it and the connection opens.
    let conn = tokio::time::timeout(Duration::from_secs(10), armed_socket.connect(server)).await;
    assert!(conn.is_ok_and(|c| c.is_ok()), "the armed client connects after the retransmission");
    assert!(!listed(&["set", "inet", &table, "syn_v4"]).contains(&element), "the rule used the element");
    drop(armed);
    nft.remove();
    assert!(!all_tables().contains(&table));
}
