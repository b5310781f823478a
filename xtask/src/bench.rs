//! `cargo xtask bench [--quick|--smoke]`: every benchmark scenario in one run, side by side with
//! its peer (the Python servers that behave like the lesson's, and websocat), pinned and
//! unpinned, several repetitions each, reported as medians with min and max.
//!
//! The load comes from `socketlab-load` (our own tokio generators). Servers are pinned to core
//! 0 and the load to core 1 with `taskset` in the pinned variant. `--quick` is the short
//! version; `--smoke` only proves the harness works end to end (debug binaries, tiny runs) and
//! is part of `cargo xtask test`. Only a full run writes `BENCHMARKS.md`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::plan::{Plan, Size, plan};
use crate::procs::{Server, ensure_websocat, free_port, pinned, port_after, rss_kb, start};
use crate::report::{Row, Table, machine};

struct Bins {
    socketlab: String,
    load: String,
    websocat: String,
}

fn load(bins: &Bins, args: &[String], core: Option<usize>) -> Result<Value> {
    let mut cmd = vec![bins.load.clone()];
    cmd.extend(args.iter().cloned());
    let mut c = pinned(&cmd, core);
    if core.is_some() {
        c.env("TOKIO_WORKER_THREADS", "1");
    }
    let out = c.output().with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).with_context(|| format!("{cmd:?} printed {text:?}"))
}

fn cores(pin: bool) -> (Option<usize>, Option<usize>) {
    if pin { (Some(0), Some(1)) } else { (None, None) }
}

/// Runs `reps` loads and adds the rates (and losses) as one row.
#[allow(clippy::too_many_arguments)]
fn measure(
    table: &mut Table,
    bins: &Bins,
    p: &Plan,
    scenario: &str,
    who: &str,
    level: usize,
    pin: bool,
    args: impl Fn(usize) -> Vec<String>,
) -> Result<()> {
    let mut row = Row::new(scenario, who, level, pin, "exchanges/s");
    for _ in 0..p.reps {
        let v = load(bins, &args(level), cores(pin).1)?;
        row.push(v["rate"].as_f64().unwrap_or(0.0), v["lost"].as_u64().unwrap_or(0), v["errors"].as_u64().unwrap_or(0));
        row.latency(v["p50_us"].as_f64().unwrap_or(0.0), v["p99_us"].as_f64().unwrap_or(0.0));
    }
    eprintln!("{}", row.line());
    table.rows.push(row);
    Ok(())
}

fn servers(table: &mut Table, bins: &Bins, p: &Plan) -> Result<()> {
    let ours = |args: &[&str]| {
        let mut cmd = vec![bins.socketlab.clone()];
        cmd.extend(args.iter().map(|a| (*a).to_owned()));
        cmd
    };
    let python = |script: &str| vec!["python3".to_owned(), format!("tests/peers/{script}"), "0".to_owned()];
    let scenarios = [
        ("1. UDP server", "udp", p.udp_inflight, ours(&["udp-server", "--port", "0"]), python("udp_server.py")),
        (
            "2. TCP server",
            "tcp",
            p.tcp_clients,
            ours(&["tcp-server", "--port", "0", "--mode", "concurrent", "--backlog", "128"]),
            python("tcp_server.py"),
        ),
    ];
    for &pin in p.pins {
        let (server_core, _) = cores(pin);
        for (scenario, kind, levels, socketlab, peer) in &scenarios {
            for (who, cmd, marker) in [("socketlab", socketlab, "127.0.0.1:"), ("python", peer, "port ")] {
                let s = start(cmd, server_core, &[])?;
                let port = port_after(&s.ready, marker)?;
                for &n in *levels {
                    measure(table, bins, p, scenario, who, n, pin, |n| {
                        vec![(*kind).into(), format!("127.0.0.1:{port}"), n.to_string(), p.secs.to_string()]
                    })?;
                }
            }
        }
    }
    Ok(())
}

const GATEWAY_ENV: &[(&str, &str)] = &[
    ("SOCKETLAB_RATE_PER_SEC", "1000000"),
    ("SOCKETLAB_BURST", "1000000"),
    ("SOCKETLAB_MAX_CONNECTIONS_PER_IP", "100000"),
    ("SOCKETLAB_CAPTURE", "off"),
];

struct Gateway {
    _server: Server,
    http: u16,
    udp: u16,
    tcp: u16,
}

fn gateway(bins: &Bins, core: Option<usize>, capture: &str) -> Result<Gateway> {
    let cmd = vec![
        bins.socketlab.clone(),
        "serve".into(),
        "--http".into(),
        "127.0.0.1:0".into(),
        "--udp-port".into(),
        "0".into(),
        "--tcp-port".into(),
        "0".into(),
        "--capture".into(),
        capture.into(),
    ];
    let s = start(&cmd, core, GATEWAY_ENV)?;
    let http = port_after(&s.ready, "http://127.0.0.1:")?;
    let udp = port_after(&s.ready, "UDP server on 127.0.0.1:")?;
    let tcp = port_after(&s.ready, "TCP server on 127.0.0.1:")?;
    Ok(Gateway { _server: s, http, udp, tcp })
}

fn websocat(bins: &Bins, core: Option<usize>, target: &str) -> Result<(Server, u16)> {
    let port = free_port()?;
    let cmd =
        vec![bins.websocat.clone(), "-t".into(), "-E".into(), format!("ws-l:127.0.0.1:{port}"), target.to_owned()];
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

fn bridges(table: &mut Table, bins: &Bins, p: &Plan) -> Result<()> {
    for &pin in p.pins {
        let (core, _) = cores(pin);
        let g = gateway(bins, core, "off")?;
        let url = format!("ws://127.0.0.1:{}/api/v1/ws", g.http);
        let (_wu, wu) = websocat(bins, core, &format!("udp:127.0.0.1:{}", g.udp))?;
        let (_wt, wt) = websocat(bins, core, &format!("tcp:127.0.0.1:{}", g.tcp))?;
        for &n in p.sockets {
            for (scenario, who, target, mode) in [
                ("3. Gateway lean, UDP", "socketlab", url.clone(), "gateway-udp"),
                ("3. Gateway lean, UDP", "websocat", format!("ws://127.0.0.1:{wu}/"), "raw"),
                ("3. Gateway lean, TCP", "socketlab", url.clone(), "gateway-tcp"),
                ("3. Gateway lean, TCP", "websocat", format!("ws://127.0.0.1:{wt}/"), "oneshot"),
                ("4. Gateway traced, UDP", "socketlab", url.clone(), "traced-udp"),
                ("4. Gateway traced, TCP", "socketlab", url.clone(), "traced-tcp"),
            ] {
                measure(table, bins, p, scenario, who, n, pin, |n| {
                    vec!["ws".into(), target.clone(), n.to_string(), p.secs.to_string(), mode.into()]
                })?;
            }
        }
        // Latency: one client in sequence, directly and through both bridges.
        for (who, args) in [
            ("direct", vec!["udp".to_owned(), format!("127.0.0.1:{}", g.udp), "1".into(), p.secs.to_string()]),
            ("socketlab", vec!["ws".into(), url.clone(), "1".into(), p.secs.to_string(), "gateway-udp".into()]),
            (
                "websocat",
                vec!["ws".into(), format!("ws://127.0.0.1:{wu}/"), "1".into(), p.secs.to_string(), "raw".into()],
            ),
        ] {
            let mut row = Row::new("5. Latency, UDP, 1 client", who, 1, pin, "µs p50");
            for _ in 0..p.reps {
                let v = load(bins, &args, cores(pin).1)?;
                row.push(v["p50_us"].as_f64().unwrap_or(0.0), 0, v["errors"].as_u64().unwrap_or(0));
                row.latency(v["p50_us"].as_f64().unwrap_or(0.0), v["p99_us"].as_f64().unwrap_or(0.0));
            }
            eprintln!("{}", row.line());
            table.rows.push(row);
        }
    }
    Ok(())
}

/// The same gateway exchanges with packet capture off and on (capture needs root or
/// CAP_NET_RAW; without it the rows say so instead).
fn capture(table: &mut Table, bins: &Bins, p: &Plan) -> Result<()> {
    let n = p.sockets.last().copied().unwrap_or(1);
    for &pin in p.pins {
        let (core, _) = cores(pin);
        for (who, mode) in [("capture off", "off"), ("capture on", "on")] {
            let g = match gateway(bins, core, mode) {
                Ok(g) => g,
                Err(e) => {
                    let mut row = Row::new("8. Capture, traced UDP", who, n, pin, "exchanges/s");
                    row.note = format!("could not start: {e}");
                    table.rows.push(row);
                    continue;
                }
            };
            let url = format!("ws://127.0.0.1:{}/api/v1/ws", g.http);
            for (scenario, ws_mode) in
                [("8. Capture, lean UDP", "gateway-udp"), ("8. Capture, traced UDP", "traced-udp")]
            {
                measure(table, bins, p, scenario, who, n, pin, |n| {
                    vec!["ws".into(), url.clone(), n.to_string(), p.secs.to_string(), ws_mode.into()]
                })?;
            }
        }
    }
    Ok(())
}

fn memory(table: &mut Table, bins: &Bins, p: &Plan) -> Result<()> {
    let g = gateway(bins, None, "off")?;
    // `sh -c exec` keeps the pid: the gateway is the child itself.
    let pid = g._server.child.id();
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kb(pid, "VmRSS:")?;
    let url = format!("ws://127.0.0.1:{}/api/v1/ws", g.http);
    let hold = 3.0;
    let cmd = vec![bins.load.clone(), "idle".into(), url, p.idle_sessions.to_string(), hold.to_string()];
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
    let mut row = Row::new("6. Memory, idle WebSockets", "socketlab", p.idle_sessions, false, "MB peak RSS");
    row.push(peak as f64 / 1024.0, 0, opened["failed"].as_u64().unwrap_or(0));
    row.baseline = before as f64 / 1024.0;
    row.note = format!(
        "{open} sessions open; {:.1} MB before; {:.0} bytes per session",
        before as f64 / 1024.0,
        (peak.saturating_sub(before) * 1024) as f64 / open.max(1) as f64
    );
    eprintln!("{}", row.line());
    table.rows.push(row);
    Ok(())
}

/// Runs the benchmarks; returns the table.
pub fn bench(size: Size, dist: &Path, wasm: Option<(usize, usize)>) -> Result<Table> {
    let p = plan(size);
    let profile = if size == Size::Smoke { "debug" } else { "release" };
    let mut build = crate::cargo();
    build.args(["build", "--package", "socketlab", "--package", "socketlab-bench"]).env("SOCKETLAB_WEB_DIST", dist);
    if size != Size::Smoke {
        build.arg("--release");
    }
    crate::run(&mut build)?;
    let dir: PathBuf = crate::target_dir().join(profile);
    let bins = Bins {
        socketlab: dir.join("socketlab").display().to_string(),
        load: dir.join("socketlab-load").display().to_string(),
        websocat: ensure_websocat()?,
    };
    let mut table = Table { machine: machine(), size, rows: Vec::new(), wasm };
    servers(&mut table, &bins, &p)?;
    bridges(&mut table, &bins, &p)?;
    capture(&mut table, &bins, &p)?;
    memory(&mut table, &bins, &p)?;
    Ok(table)
}
