//! Benchmark results: medians with min and max, ratios against the peer measured in the same
//! run, latency percentiles, CPU per exchange, the load average, and the machine they ran on.
//! The goals are in `goals.rs`.

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
    /// The server's (or bridge's) CPU time per exchange, in µs, for each repetition.
    pub cpu: Vec<f64>,
    /// The share of that CPU time spent in the kernel (0 to 1), for each repetition.
    pub kernel: Vec<f64>,
    /// The 1-minute load average after each repetition.
    pub load: Vec<f64>,
    /// The row this one is compared with: (scenario, program), same level and pinning.
    pub peer: Option<(String, String)>,
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
            cpu: Vec::new(),
            kernel: Vec::new(),
            load: Vec::new(),
            peer: None,
            note: String::new(),
            baseline: 0.0,
        }
    }

    /// Compares this row with `who` in `scenario` at the same level and pinning.
    #[must_use]
    pub fn vs(mut self, scenario: &str, who: &str) -> Self {
        self.peer = Some((scenario.to_owned(), who.to_owned()));
        self
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

    /// The median CPU per exchange with its kernel share, such as `26.1 (81% kernel)`.
    pub fn cpu_text(&self) -> String {
        match (self.cpu.is_empty(), self.kernel.is_empty()) {
            (true, _) => String::new(),
            (false, true) => format!("{:.1}", median(&self.cpu)),
            (false, false) => format!("{:.1} ({:.0}% kernel)", median(&self.cpu), median(&self.kernel) * 100.0),
        }
    }

    /// One progress line.
    pub fn line(&self) -> String {
        format!(
            "xtask bench: {} | {} | {} | {} | median {:.0} {} | p99 {:.0} µs | load {:.1}",
            self.scenario,
            self.who,
            self.level,
            if self.pinned { "pinned" } else { "unpinned" },
            self.median(),
            self.unit,
            median(&self.p99),
            median(&self.load),
        )
    }
}

/// The capacity search: one step per number of simulated students.
#[derive(Debug, Clone, Default)]
pub struct Capacity {
    /// (students, exchanges completed, errors, p50 ms, p99 ms, load average).
    pub steps: Vec<(usize, u64, u64, f64, f64, f64)>,
    /// The most students served within the bound, and the fewest that were not.
    pub served: usize,
    pub failed: Option<usize>,
    /// Why the search could not run, when it could not.
    pub note: Option<String>,
}

/// A whole run.
#[derive(Debug)]
pub struct Table {
    pub machine: String,
    pub size: Size,
    pub rows: Vec<Row>,
    /// The wasm bundle: raw and gzip bytes.
    pub wasm: Option<(usize, usize)>,
    pub capacity: Option<Capacity>,
    /// The load average when the run started and ended.
    pub load: (f64, f64),
}

impl Table {
    pub fn find(&self, scenario: &str, who: &str, level: usize, pinned: bool) -> Option<&Row> {
        self.rows.iter().find(|r| r.scenario == scenario && r.who == who && r.level == level && r.pinned == pinned)
    }

    /// The row's median over its peer's, at the same level and pinning.
    pub fn ratio(&self, r: &Row) -> Option<f64> {
        let (scenario, who) = r.peer.as_ref()?;
        let peer = self.find(scenario, who, r.level, r.pinned)?;
        (peer.median() > 0.0).then(|| r.median() / peer.median())
    }

    /// The results table in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let run = match self.size {
            Size::Full => "full: 5 repetitions of 3 s each, contenders interleaved (ABAB)",
            Size::Quick => "quick: 3 repetitions of 0.5 s each, interleaved, unpinned only",
            Size::Smoke => "smoke: 1 repetition of 0.3 s, debug build; the figures mean nothing",
        };
        let _ = writeln!(
            out,
            "Machine: {}. Run: {run}. Load average (1 min): {:.2} at the start, {:.2} at the end.\n",
            self.machine, self.load.0, self.load.1
        );
        out.push_str(
            "| scenario | program | level | pinning | median | min | max | unit | ratio | p50 µs | p99 µs | CPU µs/exchange | load | losses, errors |\n",
        );
        out.push_str(
            "| --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |\n",
        );
        let opt = |v: &[f64]| if v.is_empty() { String::new() } else { format!("{:.0}", median(v)) };
        for r in &self.rows {
            let ratio = match (self.ratio(r), &r.peer) {
                (Some(x), Some((_, who))) => format!("{x:.2}x {who}"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {:.1} | {}, {}{} |",
                r.scenario,
                r.who,
                r.level,
                if r.pinned { "pinned" } else { "unpinned" },
                r.median(),
                r.min(),
                r.max(),
                r.unit,
                ratio,
                opt(&r.p50),
                opt(&r.p99),
                r.cpu_text(),
                median(&r.load),
                r.lost,
                r.errors,
                if r.note.is_empty() { String::new() } else { format!("; {}", r.note) }
            );
        }
        if let Some((raw, gz)) = self.wasm {
            let _ = writeln!(
                out,
                "\nFrontend: the wasm bundle is {:.1} KB, {:.1} KB gzip.",
                raw as f64 / 1024.0,
                gz as f64 / 1024.0
            );
        }
        if let Some(c) = &self.capacity {
            out.push_str(&crate::goals::capacity(c));
        }
        out.push_str(&crate::goals::goals(self));
        out
    }
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
        ours.cpu.extend([5.0, 6.0, 7.0]);
        ours.kernel.extend([0.5, 0.6, 0.7]);
        let ours = ours.vs("1. UDP server", "python");
        let table = Table {
            machine: "m".into(),
            size: Size::Smoke,
            rows: vec![ours, peer],
            wasm: Some((300_000, 120_000)),
            capacity: None,
            load: (0.5, 0.7),
        };
        let md = table.markdown();
        assert!(
            md.contains("| 1. UDP server | socketlab | 64 | unpinned | 200 | 100 | 300 | exchanges/s | 4.00x python |"),
            "{md}"
        );
        assert!(md.contains("| python | 64 | unpinned | 50 |"), "{md}");
        assert!(md.contains("| 0.0 | 0, 0 |") && md.contains("| 6.0 (60% kernel) |"), "{md}");
        assert!(
            md.contains(
                "UDP server ≥ 2x Python at 64 (unpinned): 4.00x (CPU per exchange: socketlab 6.0 µs, 60% in the kernel, python —, C —): met"
            ),
            "{md}"
        );
        assert!(md.contains("UDP server ≥ 2x Python at 1 (unpinned): — (CPU per exchange:"), "{md}");
        assert!(md.contains("UDP server ≥ 0.9x the C peer at 1 (unpinned): —: not measured"), "{md}");
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
