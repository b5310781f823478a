//! Packet capture: the kernel's own segments on the hosted servers' interface, put on the
//! same timeline as the socket calls that caused them.
//!
//! A raw `AF_PACKET` socket on the interface (loopback by default) with a BPF filter in the
//! kernel receives only frames with a hosted port (and ICMP); user space parses them and checks
//! again. Kept packets become `segment` events stamped with the kernel's receive time
//! on the tracer's clock and are routed, with their raw frames, to the exchange of the client
//! they belong to.

mod bpf;
pub(crate) mod parse;
pub mod pcapng;
mod sys;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

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

/// Where captured packets go.
pub trait PacketSink: Send + Sync + 'static {
    fn packet(&self, captured: Captured);
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
    cancel: CancellationToken,
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
    tracker.spawn(run(fd, Parser::new(watched), tracer, sink, cancel));
    Ok(CaptureStatus { enabled: true, interface: interface.to_owned(), reason: None })
}

async fn run(
    fd: AsyncFd<std::os::fd::OwnedFd>,
    mut parser: Parser,
    tracer: Tracer,
    sink: Arc<dyn PacketSink>,
    cancel: CancellationToken,
) {
    let mut buf = vec![0u8; 65_536 + 256];
    loop {
        let mut guard = tokio::select! {
            () = cancel.cancelled() => return,
            g = fd.readable() => match g {
                Ok(g) => g,
                Err(_) => return,
            },
        };
        // Drain everything queued before waiting again.
        loop {
            match sys::recv(fd.get_ref(), &mut buf) {
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
                Err(_) => return,
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
