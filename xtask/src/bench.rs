//! `cargo xtask bench [--quick|--smoke]`: every benchmark scenario in one run, side by side with
//! its peer (the Python servers that behave like the lesson's, a C server, and websocat), pinned
//! and unpinned, several repetitions each, reported as medians with min and max.
//!
//! Honesty rules: contenders of a scenario run at the same time and take turns, one repetition
//! each (ABAB), so a burst of noise from the shared machine hits both; every server's output
//! goes to `/dev/null`; both sides of a TCP comparison use the same backlog; every row records
//! the load average. The load comes from `socketlab-load` (our own tokio generators). Servers
//! are pinned to core 0 and the load to core 1 with `taskset` in the pinned variant. `--quick`
//! is the short version; `--smoke` only proves the harness works end to end (debug binaries,
//! tiny runs, every scenario once) and is part of `cargo xtask test`. Only a full run writes
//! `BENCHMARKS.md`. The gateway's scenarios are in `bridges.rs`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::goals::{TCP_SERVER_1, TCP_SERVER_128, UDP_SERVER};
use crate::plan::{Plan, Size, plan};
use crate::procs::{c_echo, cpu_us, ensure_websocat, free_port, loadavg, pinned, probe_tcp, probe_udp, start_quiet};
use crate::report::{Row, Table, machine};

pub struct Bins {
    pub socketlab: String,
    pub load: String,
    pub websocat: String,
    pub c_echo: String,
}

pub fn load(bins: &Bins, args: &[String], core: Option<usize>) -> Result<Value> {
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

pub fn cores(pin: bool) -> (Option<usize>, Option<usize>) {
    if pin { (Some(0), Some(1)) } else { (None, None) }
}

/// One program in a scenario: its name, the load generator's arguments, the process whose
/// CPU time it spends (if any), and the row it is compared with.
pub struct Contender {
    pub who: String,
    pub args: Vec<String>,
    pub pid: Option<u32>,
    pub peer: Option<(&'static str, &'static str)>,
}

impl Contender {
    pub fn new(who: &str, args: Vec<String>, pid: Option<u32>) -> Self {
        Self { who: who.to_owned(), args, pid, peer: None }
    }

    #[must_use]
    pub fn vs(mut self, scenario: &'static str, who: &'static str) -> Self {
        self.peer = Some((scenario, who));
        self
    }
}

/// Runs every contender `reps` times, taking turns (ABAB), and adds one row per contender.
pub fn interleaved(
    table: &mut Table,
    bins: &Bins,
    p: &Plan,
    (scenario, level, pin): (&str, usize, bool),
    contenders: Vec<Contender>,
) -> Result<()> {
    let mut rows: Vec<Row> = contenders
        .iter()
        .map(|c| {
            let row = Row::new(scenario, &c.who, level, pin, "exchanges/s");
            match c.peer {
                Some((s, w)) => row.vs(s, w),
                None => row,
            }
        })
        .collect();
    for _ in 0..p.reps {
        for (c, row) in contenders.iter().zip(rows.iter_mut()) {
            let before = c.pid.and_then(cpu_us);
            let v = load(bins, &c.args, cores(pin).1)?;
            let after = c.pid.and_then(cpu_us);
            let ok = v["ok"].as_f64().unwrap_or(0.0);
            row.push(
                v["rate"].as_f64().unwrap_or(0.0),
                v["lost"].as_u64().unwrap_or(0),
                v["errors"].as_u64().unwrap_or(0),
            );
            row.latency(v["p50_us"].as_f64().unwrap_or(0.0), v["p99_us"].as_f64().unwrap_or(0.0));
            if let (Some((bu, bs)), Some((au, as_))) = (before, after)
                && ok > 0.0
            {
                let (user, system) = (au - bu, as_ - bs);
                row.cpu.push((user + system) / ok);
                if user + system > 0.0 {
                    row.kernel.push(system / (user + system));
                }
            }
            row.load.push(loadavg());
        }
    }
    for row in rows {
        eprintln!("{}", row.line());
        table.rows.push(row);
    }
    Ok(())
}

/// The hosted servers alone against the lesson's Python servers and the C peer, all running
/// at once with their output to `/dev/null`.
fn servers(table: &mut Table, bins: &Bins, p: &Plan) -> Result<()> {
    let ours = |args: &[&str], port: u16| {
        let mut cmd = vec![bins.socketlab.clone()];
        cmd.extend(args.iter().map(|a| (*a).to_owned()));
        cmd.extend(["--port".to_owned(), port.to_string()]);
        cmd
    };
    let python = |script: &str, port: u16, extra: &[&str]| {
        let mut cmd = vec!["python3".to_owned(), format!("tests/peers/{script}"), port.to_string()];
        cmd.extend(extra.iter().map(|a| (*a).to_owned()));
        cmd
    };
    let load_args = |kind: &str, port: u16, n: usize| {
        vec![kind.to_owned(), format!("127.0.0.1:{port}"), n.to_string(), p.secs.to_string()]
    };
    for &pin in p.pins {
        let (core, _) = cores(pin);
        // UDP: socketlab, Python and C side by side.
        let (a, b, c) = (free_port()?, free_port()?, free_port()?);
        let sa = start_quiet(&ours(&["udp-server"], a), core, &[], || probe_udp(a))?;
        let sb = start_quiet(&python("udp_server.py", b, &[]), core, &[], || probe_udp(b))?;
        let sc = start_quiet(&[bins.c_echo.clone(), c.to_string()], core, &[], || probe_udp(c))?;
        for &n in p.udp_inflight {
            let contenders = vec![
                Contender::new("socketlab", load_args("udp", a, n), Some(sa.child.id())).vs(UDP_SERVER, "python"),
                Contender::new("python", load_args("udp", b, n), Some(sb.child.id())),
                Contender::new("C", load_args("udp", c, n), Some(sc.child.id())),
            ];
            interleaved(table, bins, p, (UDP_SERVER, n, pin), contenders)?;
        }
        drop((sa, sb, sc));
        // TCP: the same backlog on both sides, the lesson's 1 and a common 128.
        for (scenario, backlog) in [(TCP_SERVER_1, "1"), (TCP_SERVER_128, "128")] {
            let (a, b) = (free_port()?, free_port()?);
            let args = ["tcp-server", "--mode", "concurrent", "--backlog", backlog];
            let sa = start_quiet(&ours(&args, a), core, &[], || probe_tcp(a))?;
            let sb = start_quiet(&python("tcp_server.py", b, &[backlog]), core, &[], || probe_tcp(b))?;
            for &n in p.tcp_clients {
                let contenders = vec![
                    Contender::new("socketlab", load_args("tcp", a, n), Some(sa.child.id())).vs(scenario, "python"),
                    Contender::new("python", load_args("tcp", b, n), Some(sb.child.id())),
                ];
                interleaved(table, bins, p, (scenario, n, pin), contenders)?;
            }
        }
    }
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
        c_echo: c_echo()?,
    };
    let mut table = Table { machine: machine(), size, rows: Vec::new(), wasm, capacity: None, load: (loadavg(), 0.0) };
    servers(&mut table, &bins, &p)?;
    crate::bridges::bridges(&mut table, &bins, &p)?;
    crate::bridges::threads(&mut table, &bins, &p)?;
    crate::bridges::memory(&mut table, &bins, &p)?;
    table.capacity = Some(crate::bridges::capacity(&bins, &p)?);
    table.load.1 = loadavg();
    Ok(table)
}
