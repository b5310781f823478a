//! Counters for `/metrics`, in the Prometheus text format, kept with atomics only.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use socketlab_proto::wire::{ErrorCode, Protocol};

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

/// The gateway's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    ok: [AtomicU64; 2],
    failed: [AtomicU64; 2],
    errors: Mutex<BTreeMap<&'static str, u64>>,
    sessions_open: AtomicI64,
    sessions_total: AtomicU64,
    latency: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    capture_up: AtomicI64,
    capture_stops: AtomicU64,
}

fn slot(p: Protocol) -> usize {
    match p {
        Protocol::Udp => 0,
        Protocol::Tcp => 1,
    }
}

impl Metrics {
    /// Counts a finished exchange and its latency.
    pub fn exchange_ok(&self, protocol: Protocol, elapsed_us: u64) {
        self.ok[slot(protocol)].fetch_add(1, Ordering::Relaxed);
        let secs = elapsed_us as f64 / 1e6;
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            self.latency[i].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(elapsed_us, Ordering::Relaxed);
    }

    /// Counts a failed exchange.
    pub fn exchange_failed(&self, protocol: Protocol) {
        self.failed[slot(protocol)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an error answered to a client, by code.
    pub fn error(&self, code: ErrorCode) {
        let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        *errors.entry(code.as_str()).or_default() += 1;
    }

    /// A WebSocket opened.
    pub fn session_opened(&self) {
        self.sessions_open.fetch_add(1, Ordering::Relaxed);
        self.sessions_total.fetch_add(1, Ordering::Relaxed);
    }

    /// A WebSocket closed.
    pub fn session_closed(&self) {
        self.sessions_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// The capture started (`true`) or died (`false`).
    pub fn capture_running(&self, running: bool) {
        self.capture_up.store(i64::from(running), Ordering::Relaxed);
        if !running {
            self.capture_stops.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# HELP socketlab_exchanges_total Exchanges run by the gateway.\n");
        out.push_str("# TYPE socketlab_exchanges_total counter\n");
        for p in [Protocol::Udp, Protocol::Tcp] {
            let name = p.as_str();
            let _ = writeln!(
                out,
                "socketlab_exchanges_total{{protocol=\"{name}\",outcome=\"ok\"}} {}",
                get(&self.ok[slot(p)])
            );
            let _ = writeln!(
                out,
                "socketlab_exchanges_total{{protocol=\"{name}\",outcome=\"error\"}} {}",
                get(&self.failed[slot(p)])
            );
        }
        out.push_str("# HELP socketlab_errors_total Errors answered to clients, by code.\n");
        out.push_str("# TYPE socketlab_errors_total counter\n");
        for (code, n) in self.errors.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(out, "socketlab_errors_total{{code=\"{code}\"}} {n}");
        }
        out.push_str("# HELP socketlab_ws_sessions WebSockets open now.\n# TYPE socketlab_ws_sessions gauge\n");
        let _ = writeln!(out, "socketlab_ws_sessions {}", self.sessions_open.load(Ordering::Relaxed));
        out.push_str(
            "# HELP socketlab_ws_sessions_total WebSockets opened.\n# TYPE socketlab_ws_sessions_total counter\n",
        );
        let _ = writeln!(out, "socketlab_ws_sessions_total {}", get(&self.sessions_total));
        out.push_str("# HELP socketlab_capture_up Whether packets are being captured (1) or not (0).\n");
        out.push_str("# TYPE socketlab_capture_up gauge\n");
        let _ = writeln!(out, "socketlab_capture_up {}", self.capture_up.load(Ordering::Relaxed));
        out.push_str("# HELP socketlab_capture_stops_total Times the packet capture died.\n");
        out.push_str("# TYPE socketlab_capture_stops_total counter\n");
        let _ = writeln!(out, "socketlab_capture_stops_total {}", get(&self.capture_stops));
        out.push_str("# HELP socketlab_exchange_seconds Time from the first client call to the reply.\n");
        out.push_str("# TYPE socketlab_exchange_seconds histogram\n");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.latency) {
            cumulative += get(count);
            let _ = writeln!(out, "socketlab_exchange_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let total = get(&self.latency_count);
        let _ = writeln!(out, "socketlab_exchange_seconds_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "socketlab_exchange_seconds_sum {}", get(&self.latency_sum_us) as f64 / 1e6);
        let _ = writeln!(out, "socketlab_exchange_seconds_count {total}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.exchange_ok(Protocol::Udp, 300);
        m.exchange_ok(Protocol::Udp, 30_000);
        m.exchange_failed(Protocol::Tcp);
        m.error(ErrorCode::Timeout);
        m.session_opened();
        m.capture_running(true);
        m.capture_running(false);
        let text = m.render();
        assert!(text.contains("socketlab_capture_up 0\n"), "{text}");
        assert!(text.contains("socketlab_capture_stops_total 1\n"), "{text}");
        assert!(text.contains("socketlab_exchanges_total{protocol=\"udp\",outcome=\"ok\"} 2\n"), "{text}");
        assert!(text.contains("socketlab_exchanges_total{protocol=\"tcp\",outcome=\"error\"} 1\n"));
        assert!(text.contains("socketlab_errors_total{code=\"timeout\"} 1\n"));
        assert!(text.contains("socketlab_ws_sessions 1\n"));
        assert!(text.contains("socketlab_exchange_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("socketlab_exchange_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("socketlab_exchange_seconds_count 2\n"));
    }
}
