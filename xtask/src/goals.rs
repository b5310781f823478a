//! The performance goals and the capacity of one instance, each beside
//! the ratio measured in the same run: met, not met, or not measured. Informational: nothing
//! fails on a threshold, since a shared machine's noise is no bug.

use std::fmt::Write;

use crate::report::{Capacity, Row, Table, median};

/// The gateway scenarios' levels (WebSockets) and the servers' (clients in flight).
const SOCKETS: [usize; 3] = [1, 10, 100];
const CLIENTS: [usize; 2] = [1, 64];

/// Scenario names, shared by the runner and the goals.
pub const UDP_SERVER: &str = "1. UDP server";
pub const TCP_SERVER_1: &str = "2. TCP server, listen(1)";
pub const TCP_SERVER_128: &str = "2. TCP server, listen(128)";
pub const LEAN_UDP: &str = "3. Gateway lean, UDP";
pub const LEAN_TCP: &str = "3. Gateway lean, TCP";
pub const TRACED_UDP: &str = "4. Gateway traced, UDP";
pub const TRACED_TCP: &str = "4. Gateway traced, TCP";
pub const NEW_WS: &str = "5. New WebSocket per exchange, TCP";
pub const UPGRADE: &str = "5. Upgrade only";
pub const CAPTURE_UDP: &str = "6. Traced, capture on, UDP";
pub const CAPTURE_TCP: &str = "6. Traced, capture on, TCP";
pub const THREADS_LEAN: &str = "7. Worker threads, lean UDP";
pub const THREADS_TRACED: &str = "7. Worker threads, traced UDP";
pub const MEMORY: &str = "8. Memory, idle WebSockets";

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "—".to_owned(), |x| format!("{x:.2}x"))
}

/// `ours` over `peer` in `scenario` at `level`.
fn over(t: &Table, scenario: &str, ours: &str, peer: &str, level: usize, pinned: bool) -> Option<f64> {
    let a = t.find(scenario, ours, level, pinned)?.median();
    let b = t.find(scenario, peer, level, pinned)?.median();
    (b > 0.0).then(|| a / b)
}

/// A row's CPU per exchange and kernel share, as evidence beside a server goal.
fn cpu_of(t: &Table, scenario: &str, who: &str, level: usize, pinned: bool) -> String {
    match t.find(scenario, who, level, pinned) {
        Some(r) if !r.cpu.is_empty() && !r.kernel.is_empty() => {
            format!("{who} {:.1} µs, {:.0}% in the kernel", median(&r.cpu), median(&r.kernel) * 100.0)
        }
        _ => format!("{who} —"),
    }
}

fn ratio_of(t: &Table, scenario: &str, level: usize, pinned: bool) -> Option<f64> {
    t.find(scenario, "socketlab", level, pinned).and_then(|r| t.ratio(r))
}

/// The goals, each with its measured figure.
pub fn goals(t: &Table) -> String {
    let mut out = String::from("\nGoals (informational; nothing fails on a threshold):\n\n");
    let mut goal = |text: String, met: Option<bool>| {
        let mark = match met {
            Some(true) => "met",
            Some(false) => "not met",
            None if text.contains("no goal") => "measured",
            None => "not measured",
        };
        let _ = writeln!(out, "- {text}: {mark}");
    };
    let mut pins: Vec<bool> = t.rows.iter().map(|r| r.pinned).collect();
    pins.sort_unstable();
    pins.dedup();
    if pins.is_empty() {
        pins.push(false);
    }
    for &pinned in &pins {
        let pin = if pinned { "pinned" } else { "unpinned" };
        for n in CLIENTS {
            let r = over(t, UDP_SERVER, "socketlab", "python", n, pinned);
            let cpu = ["socketlab", "python", "C"].map(|who| cpu_of(t, UDP_SERVER, who, n, pinned)).join(", ");
            goal(
                format!("UDP server ≥ 2x Python at {n} ({pin}): {} (CPU per exchange: {cpu})", fmt_ratio(r)),
                r.map(|x| x >= 2.0),
            );
            let r = over(t, UDP_SERVER, "socketlab", "C", n, pinned);
            goal(format!("UDP server ≥ 0.9x the C peer at {n} ({pin}): {}", fmt_ratio(r)), r.map(|x| x >= 0.9));
        }
        for scenario in [TCP_SERVER_1, TCP_SERVER_128] {
            for n in CLIENTS {
                let r = over(t, scenario, "socketlab", "python", n, pinned);
                let cpu = ["socketlab", "python"].map(|who| cpu_of(t, scenario, who, n, pinned)).join(", ");
                goal(
                    format!("{scenario} ≥ 1.5x Python at {n} ({pin}): {} (CPU per exchange: {cpu})", fmt_ratio(r)),
                    r.map(|x| x >= 1.5),
                );
            }
        }
        for n in SOCKETS {
            let r = ratio_of(t, LEAN_UDP, n, pinned);
            goal(format!("lean UDP ≥ 1.5x websocat at {n} WebSockets ({pin}): {}", fmt_ratio(r)), r.map(|x| x >= 1.5));
            let p99 = |who: &str| t.find(LEAN_UDP, who, n, pinned).map(|r: &Row| median(&r.p99));
            let added = match (p99("direct"), p99("socketlab"), p99("websocat")) {
                (Some(d), Some(o), Some(w)) => Some((o - d, w - d)),
                _ => None,
            };
            let text = added.map_or_else(|| "—".to_owned(), |(o, w)| format!("ours +{o:.0} µs, websocat +{w:.0} µs"));
            goal(
                format!("lean UDP p99 added latency ≤ websocat's at {n} WebSockets ({pin}): {text}"),
                added.map(|(o, w)| o <= w),
            );
            for scenario in [TRACED_UDP, CAPTURE_UDP] {
                let r = ratio_of(t, scenario, n, pinned);
                goal(
                    format!("{scenario} ≥ 0.8x websocat's lean UDP at {n} ({pin}): {}", fmt_ratio(r)),
                    r.map(|x| x >= 0.8),
                );
            }
            let r = ratio_of(t, NEW_WS, n, pinned);
            goal(format!("{NEW_WS} ≥ 1x websocat at {n} ({pin}): {}", fmt_ratio(r)), r.map(|x| x >= 1.0));
        }
    }
    for scenario in [THREADS_LEAN, THREADS_TRACED] {
        let n = t.rows.iter().filter(|r| r.scenario == scenario).map(|r| r.level).max().unwrap_or(0);
        let r = over(t, scenario, "2 threads", "1 thread", n, false);
        let cpu = |who: &str| t.find(scenario, who, n, false).map(|r| median(&r.cpu));
        goal(
            format!(
                "{scenario}, 2 worker threads over 1 at {n} WebSockets (no goal; CPU per exchange {} µs with 1, {} µs with 2): {}",
                cpu("1 thread").map_or_else(|| "—".to_owned(), |c| format!("{c:.1}")),
                cpu("2 threads").map_or_else(|| "—".to_owned(), |c| format!("{c:.1}")),
                fmt_ratio(r),
            ),
            None,
        );
    }
    if let Some(r) = t.rows.iter().find(|r| r.scenario == MEMORY) {
        // Smaller runs extrapolate the per-session cost to 10,000 sessions.
        // The row's level is the sessions that opened; fewer than 10,000 in a smaller run is
        // extrapolated from the cost per session, and says so. Sessions the gateway refused
        // (its errors) fail the goal: it did not hold them, whatever they would have cost.
        let at_10k = r.baseline + (r.median() - r.baseline) * 10_000.0 / r.level.max(1) as f64;
        let text = if r.level >= 10_000 {
            format!("{:.0} MB with {} open", r.median(), r.level)
        } else {
            format!("{:.0} MB with {} open, {at_10k:.0} MB extrapolated to 10,000", r.median(), r.level)
        };
        let text = if r.errors > 0 { format!("{text}; {} refused", r.errors) } else { text };
        goal(format!("10,000 idle WebSockets ≤ 300 MB RSS: {text}"), Some(r.errors == 0 && at_10k <= 300.0));
    }
    if let Some((_, gz)) = t.wasm {
        goal(format!("wasm bundle ≤ 150 KB gzip: {:.1} KB", gz as f64 / 1024.0), Some(gz <= 150 * 1024));
    }
    out
}

/// The capacity section: every step of the search and its result.
pub fn capacity(c: &Capacity) -> String {
    let mut out = String::from(
        "\nCapacity: simulated students, each one traced exchange every 2 s (UDP and TCP in turn) over \
         its own WebSocket, open loop, packet capture on; latency from the planned send to the reply.\n\n\
         | students | exchanges | errors | p50 ms | p99 ms | load |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    if let Some(note) = &c.note {
        return format!("\nCapacity: not measured: {note}.\n");
    }
    for (n, ok, errors, p50, p99, load) in &c.steps {
        let _ = writeln!(out, "| {n} | {ok} | {errors} | {p50:.1} | {p99:.1} | {load:.1} |");
    }
    let _ = writeln!(
        out,
        "\nOne instance serves {} students at p99 under 50 ms{}.",
        c.served,
        c.failed.map_or_else(|| " (the largest step tried)".to_owned(), |f| format!("; {f} was too many"))
    );
    out
}
