//! The gateway's metrics for `/metrics`, kept and written by `prometheus-client` in the
//! OpenMetrics text format. A counter's family is registered without `_total`; the exposition
//! adds it, so the samples keep their names (`socketlab_exchanges_total`, ...).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use socketlab_proto::wire::{ErrorCode, Protocol};

/// The exposition's media type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ExchangeLabels {
    protocol: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabels {
    code: &'static str,
}

/// The gateway's metrics; each handle shares its value with the registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    exchanges: Family<ExchangeLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    sessions_open: Gauge,
    sessions_opened: Counter,
    latency: Histogram,
    capture_up: Gauge,
    capture_stops: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Self {
            registry: Registry::default(),
            exchanges: Family::default(),
            errors: Family::default(),
            sessions_open: Gauge::default(),
            sessions_opened: Counter::default(),
            latency: Histogram::new(BUCKETS),
            capture_up: Gauge::default(),
            capture_stops: Counter::default(),
        };
        let mut registry = Registry::default();
        registry.register("socketlab_exchanges", "Exchanges run by the gateway", m.exchanges.clone());
        registry.register("socketlab_errors", "Errors answered to clients, by code", m.errors.clone());
        registry.register("socketlab_ws_sessions", "WebSockets open now", m.sessions_open.clone());
        registry.register("socketlab_ws_sessions_opened", "WebSockets opened", m.sessions_opened.clone());
        registry.register(
            "socketlab_exchange_seconds",
            "Time from the first client call to the reply",
            m.latency.clone(),
        );
        registry.register(
            "socketlab_capture_up",
            "Whether packets are being captured (1) or not (0)",
            m.capture_up.clone(),
        );
        registry.register("socketlab_capture_stops", "Times the packet capture died", m.capture_stops.clone());
        // Zero samples for both protocols, so that a dashboard sees them before any exchange.
        for p in [Protocol::Udp, Protocol::Tcp] {
            for outcome in ["ok", "error"] {
                drop(m.exchanges.get_or_create(&exchange(p, outcome)));
            }
        }
        Self { registry, ..m }
    }
}

fn exchange(protocol: Protocol, outcome: &'static str) -> ExchangeLabels {
    ExchangeLabels { protocol: protocol.as_str(), outcome }
}

impl Metrics {
    /// Counts a finished exchange and its latency.
    pub fn exchange_ok(&self, protocol: Protocol, elapsed_us: u64) {
        self.exchanges.get_or_create(&exchange(protocol, "ok")).inc();
        self.latency.observe(elapsed_us as f64 / 1e6);
    }

    /// Counts a failed exchange.
    pub fn exchange_failed(&self, protocol: Protocol) {
        self.exchanges.get_or_create(&exchange(protocol, "error")).inc();
    }

    /// Counts an error answered to a client, by code.
    pub fn error(&self, code: ErrorCode) {
        self.errors.get_or_create(&ErrorLabels { code: code.as_str() }).inc();
    }

    /// The counter of one error code, for what answers outside the router (the listener's
    /// 408); it shares its value with `/metrics`.
    pub fn error_counter(&self, code: ErrorCode) -> Counter {
        self.errors.get_or_create(&ErrorLabels { code: code.as_str() }).clone()
    }

    /// A WebSocket opened.
    pub fn session_opened(&self) {
        self.sessions_open.inc();
        self.sessions_opened.inc();
    }

    /// A WebSocket closed.
    pub fn session_closed(&self) {
        self.sessions_open.dec();
    }

    /// The capture started (`true`) or died (`false`).
    pub fn capture_running(&self, running: bool) {
        self.capture_up.set(i64::from(running));
        if !running {
            self.capture_stops.inc();
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; a metric that could not be written would be cut.
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.push_str("# EOF\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

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
        for line in [
            "socketlab_capture_up 0",
            "socketlab_capture_stops_total 1",
            "socketlab_exchanges_total{protocol=\"udp\",outcome=\"ok\"} 2",
            "socketlab_exchanges_total{protocol=\"tcp\",outcome=\"error\"} 1",
            "socketlab_exchanges_total{protocol=\"tcp\",outcome=\"ok\"} 0",
            "socketlab_errors_total{code=\"timeout\"} 1",
            "socketlab_ws_sessions 1",
            "socketlab_ws_sessions_opened_total 1",
            "socketlab_exchange_seconds_bucket{le=\"0.0005\"} 1",
            "socketlab_exchange_seconds_bucket{le=\"0.05\"} 2",
            "socketlab_exchange_seconds_bucket{le=\"+Inf\"} 2",
            "socketlab_exchange_seconds_count 2",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
        }
    }

    #[test]
    fn every_family_is_declared_once() {
        let m = Metrics::default();
        m.error(ErrorCode::Timeout);
        let text = m.render();
        let types: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).collect();
        let names: HashSet<&str> = types.iter().filter_map(|t| t.split(' ').next()).collect();
        assert_eq!(names.len(), types.len(), "a family name is declared twice: {types:?}");
        assert_eq!(types.len(), 7, "{text}");
    }
}
