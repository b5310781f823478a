//! The UDP upper-case server: one socket, `recvfrom`, upper-case, `sendto`, forever.
//!
//! It behaves like the lesson's server byte for byte, with two differences students can see:
//! a datagram longer than the buffer is reported as truncated (the kernel's `MSG_TRUNC`), and
//! bytes that are not UTF-8 are answered and explained instead of crashing the server.
//!
//! It runs on a thread of its own with a blocking socket, like the lesson's loop: a datagram
//! wakes the thread directly, with no runtime's readiness polling in between, and under load
//! each system call takes or sends a whole batch (`udp_batch.rs`). Only delayed answers go to
//! the async runtime, as timers.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use socketlab_proto::{Event, Flag, Op, Role, Side, SocketRef, Transport, uppercase, utf8_problem};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::error::NetError;
use crate::impair::{Loss, UdpTable};
use crate::log::{Log, Pending, Short};
use crate::trace::Tracer;
use crate::udp_batch::Batch;

/// The lesson's `recvfrom(2048)`.
pub const DEFAULT_BUFFER: usize = 2048;

/// The longest a blocked receive waits before it looks at the shutdown signal again; shutdown
/// also sends the socket a datagram, so this only bounds a wake-up that got lost.
const WAKE_EVERY: Duration = Duration::from_millis(250);

/// Log lines written together at most this long (in bytes) while datagrams keep coming.
const LOG_BATCH: usize = 64 * 1024;

/// The UDP server, ready to run on an already-bound socket.
#[derive(Debug)]
pub struct UdpServer {
    socket: UdpSocket,
    buffer: usize,
    tracer: Tracer,
    log: Log,
    sock: SocketRef,
    impair: Option<Arc<UdpTable>>,
    loss: Option<Loss>,
}

/// The server's state on its own thread.
struct Worker {
    socket: Arc<std::net::UdpSocket>,
    local: SocketAddr,
    buffer: usize,
    tracer: Tracer,
    log: Log,
    sock: SocketRef,
    impair: Option<Arc<UdpTable>>,
    loss: Option<Loss>,
    cancel: CancellationToken,
    runtime: tokio::runtime::Handle,
}

impl UdpServer {
    /// Takes a bound socket; `buffer` is the `recvfrom` size.
    pub fn new(socket: UdpSocket, buffer: usize, tracer: Tracer, log: Log) -> Self {
        let sock = tracer.socket(Role::Udp, Transport::Udp);
        Self { socket, buffer, tracer, log, sock, impair: None, loss: None }
    }

    /// Lets the gateway impair chosen clients' next datagram (see [`UdpTable`]).
    #[must_use]
    pub fn impaired(mut self, table: Arc<UdpTable>) -> Self {
        self.impair = Some(table);
        self
    }

    /// Loses a share of all requests at random, as the pinger server does.
    #[must_use]
    pub fn lossy(mut self, loss: Loss) -> Self {
        self.loss = Some(loss);
        self
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.socket.local_addr().map_err(|source| NetError::Io { op: "getsockname", source })
    }

    /// Serves until `cancel` fires. Errors on one datagram never stop the server.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), NetError> {
        let local = self.local_addr()?;
        // Recorded before the thread starts, so that it comes before anything the server does.
        self.tracer.record(None, |t| Event::new(t, Side::Server, self.sock, Op::Bind).addrs(Some(local), None));
        let io = |op| move |source| NetError::Io { op, source };
        let socket = self.socket.into_std().map_err(io("socket"))?;
        socket.set_nonblocking(false).map_err(io("fcntl"))?;
        socket.set_read_timeout(Some(WAKE_EVERY)).map_err(io("setsockopt"))?;
        let worker = Worker {
            socket: Arc::new(socket),
            local,
            buffer: self.buffer,
            tracer: self.tracer,
            log: self.log,
            sock: self.sock,
            impair: self.impair,
            loss: self.loss,
            cancel: cancel.clone(),
            runtime: tokio::runtime::Handle::current(),
        };
        let (done, mut finished) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("udp-server".into())
            .spawn(move || {
                let _ = done.send(worker.serve());
            })
            .map_err(io("spawn"))?;
        tokio::select! {
            ended = &mut finished => return ended.unwrap_or(Ok(())),
            () = cancel.cancelled() => wake(local),
        }
        finished.await.unwrap_or(Ok(()))
    }
}

/// Sends the server one empty datagram so that a blocked receive returns and sees the
/// shutdown at once.
fn wake(local: SocketAddr) {
    let ip = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let from = SocketAddr::new(
        if ip.is_ipv4() { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { IpAddr::V6(Ipv6Addr::UNSPECIFIED) },
        0,
    );
    if let Ok(s) = std::net::UdpSocket::bind(from) {
        let _ = s.send_to(&[], SocketAddr::new(ip, local.port()));
    }
}

impl Worker {
    fn serve(mut self) -> Result<(), NetError> {
        let (tracer, sock, local) = (self.tracer.clone(), self.sock, self.local);
        let mut batch = Batch::new(self.buffer);
        let mut pending = Pending::default();
        let mut replies: Vec<(Vec<u8>, SocketAddr)> = Vec::with_capacity(2 * batch.capacity());
        while !self.cancel.is_cancelled() {
            let started = tracer.now_us();
            match batch.recv(&self.socket) {
                Ok(_) => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    self.log.flush(&mut pending);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Linux reports an earlier ICMP error on the next call; it is not fatal.
                    tracing::warn!(error = %e, "udp: recvfrom failed; still serving");
                    continue;
                }
            }
            if self.cancel.is_cancelled() {
                break;
            }
            for d in &batch.got {
                self.datagram(batch.data(d), d.from, d.wire_len, started, &mut pending, &mut replies);
            }
            self.answer(&mut replies);
            // A batch that was not full emptied the queue: write the log lines now.
            if batch.got.len() < batch.capacity() || pending.len() >= LOG_BATCH {
                self.log.flush(&mut pending);
            }
        }
        self.log.flush(&mut pending);
        tracer.record(None, |t| Event::new(t, Side::Server, sock, Op::Close).addrs(Some(local), None));
        Ok(())
    }

    /// One datagram: records it, logs it and queues its answer (or loses it, or delays it).
    fn datagram(
        &mut self,
        data: &[u8],
        from: SocketAddr,
        wire_len: usize,
        started: u64,
        pending: &mut Pending,
        replies: &mut Vec<(Vec<u8>, SocketAddr)>,
    ) {
        let (tracer, sock, local) = (&self.tracer, self.sock, self.local);
        let entry = self.impair.as_ref().and_then(|t| t.take(from));
        let impair = entry.as_ref().map(|e| e.impair).unwrap_or_default();
        if self.loss.as_mut().is_some_and(Loss::lose) {
            // The pinger assignment's server: read the request and pretend it was lost.
            self.log.queue(pending, format_args!("udp {from}: request lost (simulated)"));
            return;
        }
        if impair.drop_request {
            // As the textbook's pinger server does: read it and act as if it never came.
            self.log.queue(pending, format_args!("udp {from}: discarded on purpose (impair drop: request)"));
            return;
        }
        let truncated = wire_len > data.len();
        let upper = uppercase(data);
        tracer.record(Some(from), |t| {
            let mut e = Event::new(t, Side::Server, sock, Op::Recvfrom)
                .addrs(Some(local), Some(from))
                .started(started)
                .payload(data);
            let mut notes = Vec::new();
            if truncated {
                e.wire_bytes = Some(wire_len as u64);
                e.flag(Flag::Truncated);
                notes.push(truncation_note(wire_len, data.len()));
            }
            if let Some(problem) = utf8_problem(data) {
                notes.push(utf8_note(&problem));
            }
            if !notes.is_empty() {
                e = e.detail(notes.join(" "));
            }
            e
        });
        self.log_datagram(pending, from, data, wire_len);
        if impair.drop_reply {
            tracer.record(Some(from), |t| {
                Event::new(t, Side::Server, sock, Op::Sendto).addrs(Some(local), Some(from)).payload(&upper.bytes).detail(
                    "impair drop: reply. socketlab did not hand this datagram to the kernel: it stands for an answer the network lost.",
                )
            });
        } else if impair.delay_ms > 0 {
            // Answer later without holding up other clients. Shutdown cancels the wait, and
            // so does the end of the exchange: its socket is closed by then, and a later
            // socket on the same port must not take this answer for its own.
            let (socket, tracer, bytes) = (Arc::clone(&self.socket), tracer.clone(), upper.bytes);
            let (cancel, wait) = (self.cancel.clone(), Duration::from_millis(impair.delay_ms));
            let ended = entry.map(|e| e.ended).unwrap_or_default();
            self.runtime.spawn(async move {
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => {}
                    () = ended.cancelled() => {
                        tracing::debug!(peer = %from, "udp: the exchange ended before its delayed answer; not sent");
                    }
                    () = tokio::time::sleep(wait) => {
                        let t_send = tracer.now_us();
                        let sent = socket.send_to(&bytes, from);
                        record_send(&tracer, sock, local, from, t_send, &bytes, &sent);
                    }
                }
            });
        } else {
            if impair.duplicate {
                replies.push((upper.bytes.clone(), from));
            }
            replies.push((upper.bytes, from));
        }
    }

    /// Sends the batch's answers together and records each `sendto`.
    fn answer(&self, replies: &mut Vec<(Vec<u8>, SocketAddr)>) {
        if replies.is_empty() {
            return;
        }
        // A send is stamped when it starts: the client may have the reply before it returns.
        let t_send = self.tracer.now_us();
        let out: Vec<(&[u8], SocketAddr)> = replies.iter().map(|(b, a)| (b.as_slice(), *a)).collect();
        let sent = Batch::send(&self.socket, &out);
        for ((bytes, to), result) in out.iter().zip(&sent) {
            if let Err(e) = result {
                tracing::warn!(peer = %to, error = %e, "udp: sendto failed; still serving");
            }
            record_send(&self.tracer, self.sock, self.local, *to, t_send, bytes, result);
        }
        replies.clear();
    }

    fn log_datagram(&self, pending: &mut Pending, from: SocketAddr, data: &[u8], wire_len: usize) {
        if !self.log.on() {
            return;
        }
        let truncated =
            if wire_len > data.len() { format!(" [truncated: {wire_len} bytes arrived]") } else { String::new() };
        let invalid = match utf8_problem(data) {
            Some(problem) => format!(" [invalid UTF-8: {problem}; answered anyway]"),
            None => String::new(),
        };
        self.log
            .queue(pending, format_args!("udp {from}: {} bytes {}{truncated}{invalid}", data.len(), Short(data, 60)));
    }
}

/// One sentence on a datagram that did not fit.
pub fn truncation_note(wire_len: usize, kept: usize) -> String {
    format!(
        "The datagram had {wire_len} bytes but the buffer holds {kept}: the kernel kept the first {kept} and discarded the other {}.",
        wire_len - kept
    )
}

/// One sentence on a payload that is not UTF-8.
pub fn utf8_note(problem: &str) -> String {
    format!(
        "The payload is not valid UTF-8 ({problem}): the lesson's Python server would crash with UnicodeDecodeError here; socketlab upper-cases the ASCII letters and leaves the other bytes as they are."
    )
}

/// Records one `sendto` of `bytes` to `to`, stamped `t_send`, failed or not.
fn record_send(
    tracer: &Tracer,
    sock: SocketRef,
    local: SocketAddr,
    to: SocketAddr,
    t_send: u64,
    bytes: &[u8],
    sent: &io::Result<usize>,
) {
    tracer.record(Some(to), |_| {
        let e = Event::new(t_send, Side::Server, sock, Op::Sendto).addrs(Some(local), Some(to)).payload(bytes);
        match sent {
            Ok(_) => e,
            Err(err) => e.with_flag(Flag::Failed).detail(format!("sendto failed: {err}")),
        }
    });
}
