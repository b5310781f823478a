//! The gateway's benchmark scenarios: the lean and traced paths against websocat bridging the
//! same hosted servers, a new WebSocket per exchange on both sides, traced exchanges with
//! capture on, 1 against 2 runtime worker threads, idle WebSockets' memory, and the capacity
//! of one instance in simulated students.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bench::{Bins, Contender, cores, interleaved, load};
use crate::goals::{
    CAPTURE_TCP, CAPTURE_UDP, LEAN_TCP, LEAN_UDP, MEMORY, NEW_WS, THREADS_LEAN, THREADS_TRACED, TRACED_TCP, TRACED_UDP,
    UPGRADE,
};
use crate::plan::Plan;
use crate::procs::{Server, free_port, loadavg, pinned, port_after, rss_kb, start};
use crate::report::{Capacity, Row, Table};

const GATEWAY_ENV: &[(&str, &str)] = &[
    ("SOCKETLAB_RATE_PER_SEC", "1000000"),
    ("SOCKETLAB_BURST", "1000000"),
    ("SOCKETLAB_RATE_PER_IP", "1000000"),
    ("SOCKETLAB_BURST_PER_IP", "1000000"),
    ("SOCKETLAB_MAX_CONNECTIONS_PER_IP", "100000"),
    // Above the idle-memory scenario's 10,000 sessions and the capacity search's largest step,
    // so that what they measure is the gateway, not its default cap of 4,096.
    ("SOCKETLAB_MAX_CONNECTIONS", "30000"),
];

struct Gateway {
    server: Server,
    http: u16,
    udp: u16,
    tcp: u16,
}

impl Gateway {
    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/v1/ws", self.http)
    }

    fn pid(&self) -> Option<u32> {
        Some(self.server.child.id())
    }
}

/// Starts a gateway; `threads` sets its runtime's worker threads (pinned runs always use 1).
fn gateway(bins: &Bins, core: Option<usize>, capture: &str, threads: Option<usize>) -> Result<Gateway> {
    let mut cmd = vec![bins.socketlab.clone(), "serve".into()];
    for (flag, value) in [("--http", "127.0.0.1:0"), ("--udp-port", "0"), ("--tcp-port", "0"), ("--capture", capture)] {
        cmd.extend([flag.to_owned(), value.to_owned()]);
    }
    if let Some(n) = threads {
        cmd.extend(["--worker-threads".to_owned(), n.to_string()]);
    }
    let s = start(&cmd, core, GATEWAY_ENV)?;
    let http = port_after(&s.ready, "http://127.0.0.1:")?;
    let udp = port_after(&s.ready, "UDP server on 127.0.0.1:")?;
    let tcp = port_after(&s.ready, "TCP server on 127.0.0.1:")?;
    Ok(Gateway { server: s, http, udp, tcp })
}

/// websocat bridging WebSocket messages to `target`, the same bytes each way (`--no-line`).
fn websocat(bins: &Bins, core: Option<usize>, target: &str) -> Result<(Server, u16)> {
    let port = free_port()?;
    let cmd = vec![
        bins.websocat.clone(),
        "-t".into(),
        "-E".into(),
        "--no-line".into(),
        format!("ws-l:127.0.0.1:{port}"),
        target.to_owned(),
    ];
    // websocat prints nothing when ready; wait until it accepts connections.
    let mut c = pinned(&cmd, core);
    c.stdout(Stdio::null()).stderr(Stdio::null()).stdin(Stdio::null());
    let child = c.spawn().context("cannot start websocat")?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok((Server { child, ready: String::new() }, port));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("websocat did not start listening on {port}")
}

fn ws(url: &str, n: usize, p: &Plan, mode: &str) -> Vec<String> {
    vec!["ws".into(), url.to_owned(), n.to_string(), p.secs.to_string(), mode.into()]
}

/// Scenarios 3 to 6: one gateway with capture off, one with capture on, and websocat's UDP and
/// TCP bridges, all up at once so that each level's contenders take turns.
pub fn bridges(table: &mut Table, bins: &Bins, p: &Plan) -> Result<()> {
    for &pin in p.pins {
        let (core, _) = cores(pin);
        let g = gateway(bins, core, "off", None)?;
        let cap = gateway(bins, core, "on", None).ok();
        let (su, wu) = websocat(bins, core, &format!("udp:127.0.0.1:{}", g.udp))?;
        let (st, wt) = websocat(bins, core, &format!("tcp:127.0.0.1:{}", g.tcp))?;
        let (wu_url, wt_url, url) = (format!("ws://127.0.0.1:{wu}/"), format!("ws://127.0.0.1:{wt}/"), g.url());
        let (wu_pid, wt_pid) = (Some(su.child.id()), Some(st.child.id()));
        for &n in p.sockets {
            let direct = vec!["udp".to_owned(), format!("127.0.0.1:{}", g.udp), n.to_string(), p.secs.to_string()];
            interleaved(
                table,
                bins,
                p,
                (LEAN_UDP, n, pin),
                vec![
                    Contender::new("direct", direct, g.pid()),
                    Contender::new("socketlab", ws(&url, n, p, "gateway-udp"), g.pid()).vs(LEAN_UDP, "websocat"),
                    Contender::new("websocat", ws(&wu_url, n, p, "raw"), wu_pid),
                ],
            )?;
            interleaved(
                table,
                bins,
                p,
                (NEW_WS, n, pin),
                vec![
                    Contender::new("socketlab", ws(&url, n, p, "gateway-oneshot"), g.pid()).vs(NEW_WS, "websocat"),
                    Contender::new("websocat", ws(&wt_url, n, p, "oneshot"), wt_pid),
                ],
            )?;
            interleaved(
                table,
                bins,
                p,
                (UPGRADE, n, pin),
                vec![
                    Contender::new("socketlab", ws(&url, n, p, "gateway-upgrade"), g.pid()).vs(UPGRADE, "websocat"),
                    Contender::new("websocat", ws(&wt_url, n, p, "upgrade"), wt_pid),
                ],
            )?;
            // The gateway runs many TCP exchanges over one WebSocket; websocat needs a new
            // WebSocket for each, since the lesson's server closes after each reply.
            interleaved(
                table,
                bins,
                p,
                (LEAN_TCP, n, pin),
                vec![
                    Contender::new("socketlab", ws(&url, n, p, "gateway-tcp"), g.pid()).vs(NEW_WS, "websocat"),
                    Contender::new("socketlab traced", ws(&url, n, p, "traced-tcp"), g.pid()).vs(NEW_WS, "websocat"),
                ],
            )?;
            let mut traced = vec![
                Contender::new("socketlab", ws(&url, n, p, "traced-udp"), g.pid()).vs(TRACED_UDP, "websocat lean"),
                Contender::new("websocat lean", ws(&wu_url, n, p, "raw"), wu_pid),
            ];
            if let Some(cap) = &cap {
                traced.push(
                    Contender::new("capture on", ws(&cap.url(), n, p, "traced-udp"), cap.pid())
                        .vs(TRACED_UDP, "websocat lean"),
                );
                traced.push(
                    Contender::new("capture on, TCP", ws(&cap.url(), n, p, "traced-tcp"), cap.pid())
                        .vs(NEW_WS, "websocat"),
                );
            }
            interleaved(table, bins, p, (TRACED_UDP, n, pin), traced)?;
            if cap.is_none() {
                let mut row = Row::new(CAPTURE_UDP, "socketlab", n, pin, "exchanges/s");
                row.note = "capture could not start (needs root or CAP_NET_RAW)".into();
                table.rows.push(row);
            }
        }
    }
    split_traced(table);
    Ok(())
}

/// The traced group ran as one interleaved set; its rows are filed under their own scenarios.
fn split_traced(table: &mut Table) {
    for r in &mut table.rows {
        if r.scenario != TRACED_UDP {
            continue;
        }
        let (scenario, who) = match r.who.as_str() {
            "capture on" => (CAPTURE_UDP, "socketlab"),
            "capture on, TCP" => (CAPTURE_TCP, "socketlab"),
            _ => continue,
        };
        r.scenario = scenario.to_owned();
        r.who = who.to_owned();
    }
    for r in &mut table.rows {
        if r.scenario == LEAN_TCP && r.who == "socketlab traced" {
            r.scenario = TRACED_TCP.to_owned();
            r.who = "socketlab".to_owned();
        }
    }
}

/// Scenario 7: the same gateway with 1 and 2 runtime worker threads, unpinned, at the largest
/// level; CPU per exchange says what each exchange costs whatever the threads.
pub fn threads(table: &mut Table, bins: &Bins, p: &Plan) -> Result<()> {
    let n = p.sockets.last().copied().unwrap_or(1);
    let one = gateway(bins, None, "off", Some(1))?;
    let two = gateway(bins, None, "off", Some(2))?;
    for (scenario, mode) in [(THREADS_LEAN, "gateway-udp"), (THREADS_TRACED, "traced-udp")] {
        interleaved(
            table,
            bins,
            p,
            (scenario, n, false),
            vec![
                Contender::new("1 thread", ws(&one.url(), n, p, mode), one.pid()),
                Contender::new("2 threads", ws(&two.url(), n, p, mode), two.pid()).vs(scenario, "1 thread"),
            ],
        )?;
    }
    Ok(())
}

/// Scenario 8: idle WebSockets and the gateway's peak RSS.
pub fn memory(table: &mut Table, bins: &Bins, p: &Plan) -> Result<()> {
    let g = gateway(bins, None, "off", None)?;
    // `sh -c exec` keeps the pid: the gateway is the child itself.
    let pid = g.server.child.id();
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kb(pid, "VmRSS:")?;
    let hold = 3.0;
    let cmd = vec![bins.load.clone(), "idle".into(), g.url(), p.idle_sessions.to_string(), hold.to_string()];
    let mut c = pinned(&cmd, None);
    c.stdout(Stdio::piped());
    let mut child = c.spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first)?;
    let opened: Value = serde_json::from_str(first.trim()).unwrap_or(Value::Null);
    std::thread::sleep(Duration::from_millis(500));
    let peak = rss_kb(pid, "VmHWM:")?;
    let _ = child.wait();
    let open = opened["open"].as_u64().unwrap_or(0);
    // The row's level is what was measured: the sessions that opened, not those asked for.
    let mut row = Row::new(MEMORY, "socketlab", open as usize, false, "MB peak RSS");
    row.push(peak as f64 / 1024.0, 0, opened["failed"].as_u64().unwrap_or(0));
    row.load.push(loadavg());
    row.baseline = before as f64 / 1024.0;
    row.note = format!(
        "{open} of {} sessions open; {:.1} MB before; {:.0} bytes per session",
        p.idle_sessions,
        before as f64 / 1024.0,
        (peak.saturating_sub(before) * 1024) as f64 / open.max(1) as f64
    );
    eprintln!("{}", row.line());
    table.rows.push(row);
    Ok(())
}

/// The p99 bound of the capacity search, in µs.
const P99_BOUND_US: f64 = 50_000.0;

/// Scenario 9: how many students one instance serves (unpinned, capture on) at p99 under
/// 50 ms and no errors. Steps up through the plan's sizes, then bisects between the last good
/// step and the first bad one; each step uses a fresh gateway.
pub fn capacity(bins: &Bins, p: &Plan) -> Result<Capacity> {
    let mut c = Capacity::default();
    if let Err(e) = gateway(bins, None, "on", None) {
        c.note = Some(format!("a gateway with capture on could not start (it needs root or CAP_NET_RAW): {e}"));
        return Ok(c);
    }
    let mut step = |n: usize| -> Result<bool> {
        let g = gateway(bins, None, "on", None)?;
        let args = vec!["students".to_owned(), g.url(), n.to_string(), p.student_secs.to_string()];
        let v = load(bins, &args, None)?;
        let (ok, errors) = (v["ok"].as_u64().unwrap_or(0), v["errors"].as_u64().unwrap_or(0));
        let (p50, p99) = (v["p50_us"].as_f64().unwrap_or(0.0), v["p99_us"].as_f64().unwrap_or(f64::MAX));
        c.steps.push((n, ok, errors, p50 / 1000.0, p99 / 1000.0, loadavg()));
        eprintln!("xtask bench: 9. Capacity | {n} students | p99 {:.1} ms | {errors} errors", p99 / 1000.0);
        Ok(ok > 0 && errors == 0 && p99 < P99_BOUND_US)
    };
    let (mut good, mut bad) = (0usize, None);
    for &n in p.students {
        if step(n)? {
            good = n;
        } else {
            bad = Some(n);
            break;
        }
    }
    for _ in 0..p.bisect {
        let Some(b) = bad else { break };
        let mid = good.midpoint(b);
        if mid <= good || mid >= b {
            break;
        }
        if step(mid)? { good = mid } else { bad = Some(mid) }
    }
    c.served = good;
    c.failed = bad;
    Ok(c)
}
