//! Packet capture: the kernel's own segments on the hosted servers' interface, put on the
//! same timeline as the socket calls that caused them.
//!
//! A raw `AF_PACKET` socket on the interface (loopback by default) with a BPF filter in the
//! kernel receives only frames with a hosted port (and ICMP); user space parses them and checks
//! again. Kept packets become `segment` events stamped with the kernel's receive time
//! on the tracer's clock and are routed, with their raw frames, to the exchange of the client
//! they belong to.
//!
//! The capture can die (the packet socket fails or is closed). [`Liveness`] makes that visible:
//! the gateway reports it, and exchanges stop waiting for packets that will never come.

mod bpf;
pub(crate) mod parse;
pub mod pcapng;
mod sys;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use socketlab_proto::wire::CaptureStatus;
use socketlab_proto::{Event, Op, Role, Side, SocketRef, Transport};
use tokio::io::unix::AsyncFd;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::parse::{Packet, Parser, Watched};
use self::pcapng::Frame;
use crate::trace::Tracer;

/// Whether to capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    /// Capture when the process may open a raw socket (root or CAP_NET_RAW), and say why not
    /// otherwise.
    #[default]
    Auto,
    /// Capture, or refuse to start.
    On,
    /// Never capture.
    Off,
}

/// Capture was required but cannot run.
#[derive(Debug, thiserror::Error)]
#[error("packet capture on {interface} is not possible: {reason}")]
pub struct CaptureError {
    pub interface: String,
    pub reason: String,
}

/// One captured packet on its way to an exchange.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The client end, which names the exchange.
    pub client: SocketAddr,
    pub event: Event,
    pub frame: Frame,
}

/// Whether the capture task runs, and why it stopped; also how to stop it.
#[derive(Debug)]
pub struct Liveness {
    /// Stops the task on shutdown, which is not a death.
    stop: CancellationToken,
    running: AtomicBool,
    reason: Mutex<Option<String>>,
    /// Fires when the task dies (not when it is stopped on shutdown).
    died: CancellationToken,
    /// Asks the task to close its packet socket as if it had failed.
    close: CancellationToken,
}

impl Liveness {
    /// A capture not started yet, stopped by `stop`.
    pub fn new(stop: CancellationToken) -> Self {
        Self {
            stop,
            running: AtomicBool::new(false),
            reason: Mutex::new(None),
            died: CancellationToken::new(),
            close: CancellationToken::new(),
        }
    }

    /// Whether packets are being captured now.
    pub fn running(&self) -> bool {
        // Acquire: a reader that sees the capture stopped also sees why (`die`).
        self.running.load(Ordering::Acquire)
    }

    /// Why the capture stopped, once it has.
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Resolves when the capture dies.
    pub async fn died(&self) {
        self.died.cancelled().await;
    }

    /// Closes the packet socket, as a failure would: for drills and tests.
    pub fn close_socket(&self) {
        self.close.cancel();
    }

    fn die(&self, reason: String) {
        tracing::error!(%reason, "packet capture stopped; timelines fall back to inferred packets");
        *self.reason.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
        self.running.store(false, Ordering::Release);
        self.died.cancel();
    }
}

/// Where captured packets go.
pub trait PacketSink: Send + Sync + 'static {
    fn packet(&self, captured: Captured);
}

/// Lets an unconnected UDP client socket hear ICMP errors (see `sys::report_icmp_errors`).
pub fn report_icmp_errors(socket: &impl std::os::fd::AsFd, v6: bool) -> io::Result<()> {
    sys::report_icmp_errors(socket.as_fd(), v6)
}

fn explain(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => {
            "opening a raw socket needs root or the CAP_NET_RAW capability (for example: sudo setcap cap_net_raw+ep socketlab)".to_owned()
        }
        Some(libc::ENODEV) => "no such interface".to_owned(),
        _ => e.to_string(),
    }
}

/// Starts capturing according to `mode`. Returns the status to announce; with `On` a socket
/// that cannot be opened is an error.
pub fn start(
    mode: CaptureMode,
    interface: &str,
    watched: Watched,
    tracer: Tracer,
    sink: Arc<dyn PacketSink>,
    live: Arc<Liveness>,
    tracker: &TaskTracker,
) -> Result<CaptureStatus, CaptureError> {
    let off = |reason: String| CaptureStatus { enabled: false, interface: interface.to_owned(), reason: Some(reason) };
    if mode == CaptureMode::Off {
        return Ok(off(
            "packet capture is turned off (--capture off); packets are inferred from socket calls".to_owned()
        ));
    }
    let ports: Vec<u16> = watched.udp.iter().chain(&watched.tcp).copied().collect();
    let fd = sys::open_async(interface, &ports);
    let fd = match fd {
        Ok(fd) => fd,
        Err(e) if mode == CaptureMode::Auto => {
            return Ok(off(format!("{}; packets are inferred from socket calls instead", explain(&e))));
        }
        Err(e) => return Err(CaptureError { interface: interface.to_owned(), reason: explain(&e) }),
    };
    live.running.store(true, Ordering::Relaxed);
    tracker.spawn(async move {
        if let Err(reason) = run(fd, Parser::new(watched), tracer, sink, &live).await {
            live.die(reason);
        }
    });
    Ok(CaptureStatus { enabled: true, interface: interface.to_owned(), reason: None })
}

async fn run(
    fd: AsyncFd<std::os::fd::OwnedFd>,
    mut parser: Parser,
    tracer: Tracer,
    sink: Arc<dyn PacketSink>,
    live: &Liveness,
) -> Result<(), String> {
    let mut buf = vec![0u8; 65_536 + 256];
    let mut control = sys::control_buffer();
    loop {
        let mut guard = tokio::select! {
            () = live.stop.cancelled() => return Ok(()),
            () = live.close.cancelled() => {
                drop(fd);
                return Err("the packet socket was closed".to_owned());
            }
            g = fd.readable() => match g {
                Ok(g) => g,
                Err(e) => return Err(format!("waiting on the packet socket failed: {e}")),
            },
        };
        // Drain everything queued before waiting again.
        loop {
            match sys::recv(fd.get_ref(), &mut buf, &mut control) {
                Ok(got) => {
                    if got.outgoing {
                        continue;
                    }
                    let frame = &buf[..got.len];
                    if let Some(packet) = parser.parse(frame) {
                        let event = to_event(&tracer, &packet, got.unix_ns);
                        let frame = Frame { unix_ns: got.unix_ns, data: frame.to_vec(), wire_len: got.wire_len as u32 };
                        sink.packet(Captured { client: packet.client, event, frame });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("reading the packet socket failed: {e}")),
            }
        }
    }
}

fn to_event(tracer: &Tracer, p: &Packet, unix_ns: u64) -> Event {
    let (side, role) = match (p.from_server, p.transport) {
        (false, _) => (Side::Client, Role::Client),
        (true, Transport::Udp) => (Side::Server, Role::Udp),
        (true, Transport::Tcp) => (Side::Server, Role::Connection),
    };
    let socket = SocketRef { id: 0, role, transport: p.transport };
    let mut e = Event::new(tracer.unix_to_us(unix_ns), side, socket, Op::Segment).addrs(Some(p.src), Some(p.dst));
    e.segment = Some(p.segment.clone());
    e
}
