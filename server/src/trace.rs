//! Stamping and delivering timeline events.
//!
//! Every socket call in this process goes through one [`Tracer`], so the UDP server, the TCP
//! server and the gateway's client side share one monotonic clock and one socket numbering.
//! Where the events go is the sink's business: stderr for `--trace`, the gateway's hub for
//! `serve`, nowhere when nobody listens. Servers ask [`Tracer::wants`] first, so building an
//! event costs nothing when no one will read it.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use socketlab_proto::{Event, Role, SocketRef, Transport};

/// Somewhere events go.
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Whether anyone will read events about a conversation with `peer`.
    fn wants(&self, peer: Option<SocketAddr>) -> bool;
    /// Delivers one event.
    fn emit(&self, event: Event);
}

/// Writes each event as one JSON line on stderr.
#[derive(Debug, Default)]
pub struct StderrSink;

impl Sink for StderrSink {
    fn wants(&self, _peer: Option<SocketAddr>) -> bool {
        true
    }

    fn emit(&self, event: Event) {
        if let Ok(line) = serde_json::to_string(&event) {
            let mut err = std::io::stderr().lock();
            // A closed stderr must not take the server down with it.
            let _ = writeln!(err, "{line}");
        }
    }
}

#[derive(Debug)]
struct Inner {
    origin: Instant,
    /// The wall clock at `origin`, in nanoseconds since the Unix epoch.
    origin_unix_ns: u64,
    next_socket: AtomicU64,
    sink: Option<Arc<dyn Sink>>,
}

/// The process's clock, socket numbering and event sink. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Tracer {
    inner: Arc<Inner>,
}

impl Tracer {
    /// A tracer that delivers events to `sink`.
    pub fn new(sink: Arc<dyn Sink>) -> Self {
        Self::build(Some(sink))
    }

    /// A tracer that keeps the clock and numbering but delivers nothing.
    pub fn silent() -> Self {
        Self::build(None)
    }

    /// `--trace` on the command line: JSON lines on stderr, or nothing.
    pub fn for_cli(trace: bool) -> Self {
        if trace { Self::new(Arc::new(StderrSink)) } else { Self::silent() }
    }

    fn build(sink: Option<Arc<dyn Sink>>) -> Self {
        let origin = Instant::now();
        let origin_unix_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Self { inner: Arc::new(Inner { origin, origin_unix_ns, next_socket: AtomicU64::new(1), sink }) }
    }

    /// Microseconds since this tracer was made.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.inner.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// A wall-clock time (such as a kernel packet timestamp) on this tracer's clock.
    pub fn unix_to_us(&self, unix_ns: u64) -> u64 {
        unix_ns.saturating_sub(self.inner.origin_unix_ns) / 1000
    }

    /// Numbers a new socket.
    pub fn socket(&self, role: Role, transport: Transport) -> SocketRef {
        let id = self.inner.next_socket.fetch_add(1, Ordering::Relaxed);
        SocketRef { id, role, transport }
    }

    /// Whether an event about a conversation with `peer` would be read by anyone.
    pub fn wants(&self, peer: Option<SocketAddr>) -> bool {
        self.inner.sink.as_ref().is_some_and(|s| s.wants(peer))
    }

    /// Builds and delivers an event about a conversation with `peer`, if anyone wants it.
    pub fn record(&self, peer: Option<SocketAddr>, build: impl FnOnce(u64) -> Event) {
        if let Some(sink) = &self.inner.sink {
            if sink.wants(peer) {
                sink.emit(build(self.now_us()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketlab_proto::{Op, Side};
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Collect(Mutex<Vec<Event>>);

    impl Sink for Collect {
        fn wants(&self, peer: Option<SocketAddr>) -> bool {
            peer.is_some()
        }
        fn emit(&self, event: Event) {
            self.0.lock().expect("not poisoned").push(event);
        }
    }

    #[test]
    fn records_only_what_the_sink_wants_with_rising_stamps() {
        let sink = Arc::new(Collect::default());
        let tracer = Tracer::new(sink.clone());
        let a = tracer.socket(Role::Udp, Transport::Udp);
        let b = tracer.socket(Role::Client, Transport::Udp);
        assert_ne!(a.id, b.id);
        let peer = Some(SocketAddr::from(([127, 0, 0, 1], 9)));
        tracer.record(None, |t| Event::new(t, Side::Server, a, Op::Bind));
        tracer.record(peer, |t| Event::new(t, Side::Server, a, Op::Recvfrom));
        tracer.record(peer, |t| Event::new(t, Side::Server, a, Op::Sendto));
        let got = sink.0.lock().expect("not poisoned");
        assert_eq!(got.iter().map(|e| e.op).collect::<Vec<_>>(), [Op::Recvfrom, Op::Sendto]);
        assert!(got[0].t_us <= got[1].t_us);
    }

    #[test]
    fn silent_tracer_wants_nothing() {
        let tracer = Tracer::silent();
        assert!(!tracer.wants(None));
        tracer.record(None, |_| unreachable!("a silent tracer builds no events"));
    }
}
