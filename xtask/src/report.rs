//! Benchmark results: medians with min and max, ratios against the peer measured in the same
//! run, the goals, and the machine they ran on.

use std::fmt::Write;

use crate::plan::Size;

/// One scenario for one program at one level: several repetitions.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub who: String,
    pub level: usize,
    pub pinned: bool,
    pub unit: String,
    pub samples: Vec<f64>,
    pub lost: u64,
    pub errors: u64,
    pub p50: Vec<f64>,
    pub p99: Vec<f64>,
    pub note: String,
    /// For memory: the RSS in MB before the sessions opened.
    pub baseline: f64,
}

/// The median of `v` (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 }
}

impl Row {
    pub fn new(scenario: &str, who: &str, level: usize, pinned: bool, unit: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            who: who.to_owned(),
            level,
            pinned,
            unit: unit.to_owned(),
            samples: Vec::new(),
            lost: 0,
            errors: 0,
            p50: Vec::new(),
            p99: Vec::new(),
            note: String::new(),
            baseline: 0.0,
        }
    }

    pub fn push(&mut self, value: f64, lost: u64, errors: u64) {
        self.samples.push(value);
        self.lost += lost;
        self.errors += errors;
    }

    pub fn latency(&mut self, p50: f64, p99: f64) {
        self.p50.push(p50);
        self.p99.push(p99);
    }

    pub fn median(&self) -> f64 {
        median(&self.samples)
    }

    fn min(&self) -> f64 {
        self.samples.iter().copied().fold(f64::INFINITY, f64::min)
    }

    fn max(&self) -> f64 {
        self.samples.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    /// One progress line.
    pub fn line(&self) -> String {
        format!(
            "xtask bench: {} | {} | {} | {} | median {:.0} {}",
            self.scenario,
            self.who,
            self.level,
            if self.pinned { "pinned" } else { "unpinned" },
            self.median(),
            self.unit
        )
    }
}

/// A whole run.
#[derive(Debug)]
pub struct Table {
    pub machine: String,
    pub size: Size,
    pub rows: Vec<Row>,
    /// The wasm bundle: raw and gzip bytes.
    pub wasm: Option<(usize, usize)>,
}

impl Table {
    fn find(&self, scenario: &str, who: &str, level: usize, pinned: bool) -> Option<&Row> {
        self.rows.iter().find(|r| r.scenario == scenario && r.who == who && r.level == level && r.pinned == pinned)
    }

    /// Our median over the peer's in the same scenario, level and pinning.
    fn ratio(&self, r: &Row) -> Option<f64> {
        let peer = ["python", "websocat", "capture off"]
            .iter()
            .filter(|p| **p != r.who)
            .find_map(|p| self.find(&r.scenario, p, r.level, r.pinned))
            .or_else(|| {
                // Traced rows compare with websocat's lean numbers.
                let lean = r.scenario.replace("4. Gateway traced", "3. Gateway lean");
                self.find(&lean, "websocat", r.level, r.pinned)
            })?;
        let ours = r.who == "socketlab" || r.who == "capture on";
        (ours && peer.median() > 0.0).then(|| r.median() / peer.median())
    }

    /// The results table in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let run = match self.size {
            Size::Full => "full: 5 repetitions of 3 s each",
            Size::Quick => "quick: 3 repetitions of 0.5 s each, unpinned only",
            Size::Smoke => "smoke: 1 repetition of 0.3 s, debug build; the figures mean nothing",
        };
        let _ = writeln!(out, "Machine: {}. Run: {run}.\n", self.machine);
        out.push_str(
            "| scenario | program | level | pinning | median | min | max | unit | ours / peer | losses, errors |\n",
        );
        out.push_str("| --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | --- |\n");
        for r in &self.rows {
            let ratio = self.ratio(r).map_or_else(String::new, |x| format!("{x:.2}x"));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {}, {}{} |",
                r.scenario,
                r.who,
                r.level,
                if r.pinned { "pinned" } else { "unpinned" },
                r.median(),
                r.min(),
                r.max(),
                r.unit,
                ratio,
                r.lost,
                r.errors,
                if r.note.is_empty() { String::new() } else { format!("; {}", r.note) }
            );
        }
        if let Some((raw, gz)) = self.wasm {
            let _ = writeln!(
                out,
                "\n7. Frontend: the wasm bundle is {:.1} KB, {:.1} KB gzip.",
                raw as f64 / 1024.0,
                gz as f64 / 1024.0
            );
        }
        out.push_str(&self.goals());
        out
    }

    fn goals(&self) -> String {
        let mut out = String::from("\nGoals (informational; nothing fails on a threshold):\n\n");
        let mut goal = |text: String, met: Option<bool>| {
            let mark = match met {
                Some(true) => "met",
                Some(false) => "not met",
                None => "not measured",
            };
            let _ = writeln!(out, "- {text}: {mark}");
        };
        for pinned in [false, true] {
            let pin = if pinned { "pinned" } else { "unpinned" };
            for (scenario, want) in [
                ("3. Gateway lean, UDP", 1.5),
                ("3. Gateway lean, TCP", 1.5),
                ("4. Gateway traced, UDP", 0.5),
                ("4. Gateway traced, TCP", 0.5),
            ] {
                let r = self.find(scenario, "socketlab", 100, pinned).and_then(|r| self.ratio(r));
                goal(
                    format!("{scenario} at 100 WebSockets ≥ {want}x websocat ({pin}): {}", fmt_ratio(r)),
                    r.map(|x| x >= want),
                );
            }
            for (scenario, level) in [("1. UDP server", 64), ("2. TCP server", 64)] {
                let r = self.find(scenario, "socketlab", level, pinned).and_then(|r| self.ratio(r));
                goal(format!("{scenario} at {level} ≥ 2x Python ({pin}): {}", fmt_ratio(r)), r.map(|x| x >= 2.0));
            }
            let lat = |who: &str| self.find("5. Latency, UDP, 1 client", who, 1, pinned).map(Row::median);
            if let (Some(direct), Some(ours), Some(peer)) = (lat("direct"), lat("socketlab"), lat("websocat")) {
                goal(
                    format!(
                        "latency overhead ≤ websocat's ({pin}): ours +{:.0} µs, websocat +{:.0} µs",
                        ours - direct,
                        peer - direct
                    ),
                    Some(ours - direct <= peer - direct),
                );
            }
        }
        for pinned in [false, true] {
            let pin = if pinned { "pinned" } else { "unpinned" };
            let r = self
                .rows
                .iter()
                .find(|r| r.scenario == "8. Capture, traced UDP" && r.who == "capture on" && r.pinned == pinned)
                .and_then(|r| self.ratio(r));
            goal(
                format!("capture does not slow traced exchanges ({pin}): on/off {}", fmt_ratio(r)),
                r.map(|x| x >= 0.9),
            );
        }
        if let Some(r) = self.rows.iter().find(|r| r.scenario.starts_with("6.")) {
            // Smaller runs extrapolate the per-session cost to 10,000 sessions.
            let at_10k = r.baseline + (r.median() - r.baseline) * 10_000.0 / r.level.max(1) as f64;
            goal(
                format!(
                    "10,000 idle WebSockets ≤ 300 MB RSS: {:.0} MB at {} sessions, {at_10k:.0} MB at 10,000",
                    r.median(),
                    r.level
                ),
                Some(at_10k <= 300.0),
            );
        }
        if let Some((_, gz)) = self.wasm {
            goal(format!("wasm bundle ≤ 150 KB gzip: {:.1} KB", gz as f64 / 1024.0), Some(gz <= 150 * 1024));
        }
        out
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "—".to_owned(), |x| format!("{x:.2}x"))
}

/// What the benchmarks ran on.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or(0.0, |kb| kb as f64 / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores ({cpu}), {mem:.0} GiB, Linux {}", kernel.trim())
}

/// Replaces the generated part of BENCHMARKS.md, keeping the hand-written analysis.
pub fn write_benchmarks(path: &std::path::Path, results: &str) -> std::io::Result<()> {
    const START: &str = "<!-- results:start -->";
    const END: &str = "<!-- results:end -->";
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{START}\n{results}\n{END}");
    let new = match (old.find(START), old.find(END)) {
        (Some(a), Some(b)) if a < b => format!("{}{block}{}", &old[..a], &old[b + END.len()..]),
        _ => format!("# Benchmarks\n\n{block}\n"),
    };
    std::fs::write(path, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        let mut ours = Row::new("1. UDP server", "socketlab", 64, false, "exchanges/s");
        let mut peer = Row::new("1. UDP server", "python", 64, false, "exchanges/s");
        for v in [100.0, 300.0, 200.0] {
            ours.push(v, 0, 0);
            peer.push(v / 4.0, 1, 0);
        }
        let table =
            Table { machine: "m".into(), size: Size::Smoke, rows: vec![ours, peer], wasm: Some((300_000, 120_000)) };
        let md = table.markdown();
        assert!(
            md.contains("| 1. UDP server | socketlab | 64 | unpinned | 200 | 100 | 300 | exchanges/s | 4.00x | 0, 0 |"),
            "{md}"
        );
        assert!(md.contains("| python | 64 | unpinned | 50 |"), "{md}");
        assert!(md.contains("1. UDP server at 64 ≥ 2x Python (unpinned): 4.00x: met"), "{md}");
        assert!(md.contains("wasm bundle ≤ 150 KB gzip: 117.2 KB: met"), "{md}");
    }

    #[test]
    fn rewriting_keeps_the_analysis() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("BENCHMARKS.md");
        std::fs::write(&path, "# B\n\nintro\n<!-- results:start -->\nold\n<!-- results:end -->\n\n## Analysis\nkept\n")
            .expect("write");
        write_benchmarks(&path, "new").expect("rewrite");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "# B\n\nintro\n<!-- results:start -->\nnew\n<!-- results:end -->\n\n## Analysis\nkept\n");
        std::fs::remove_dir_all(&dir).ok();
    }
}
