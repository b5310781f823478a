//! The UDP upper-case server: one socket, `recvfrom`, upper-case, `sendto`, forever.
//!
//! It behaves like the lesson's server byte for byte, with two differences students can see:
//! a datagram longer than the buffer is reported as truncated (the kernel's `MSG_TRUNC`), and
//! bytes that are not UTF-8 are answered and explained instead of crashing the server.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustix::net::RecvFlags;
use socketlab_proto::{Event, Flag, Op, Role, Side, SocketRef, Transport, uppercase, utf8_problem};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::error::NetError;
use crate::impair::{Loss, UdpTable};
use crate::log::{Log, Pending, shorten};
use crate::trace::Tracer;

/// The lesson's `recvfrom(2048)`.
pub const DEFAULT_BUFFER: usize = 2048;

/// One received datagram.
#[derive(Debug)]
pub struct Datagram {
    /// Bytes kept in the buffer.
    pub len: usize,
    /// Bytes the datagram really had; more than `len` when it was truncated.
    pub wire_len: usize,
    /// Who sent it.
    pub from: SocketAddr,
}

/// `recvfrom` that also tells the datagram's real length, as `MSG_TRUNC` does on Linux, without
/// waiting: `WouldBlock` when nothing is queued.
pub fn try_recv_from_truncating(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Datagram> {
    socket.try_io(Interest::READABLE, || {
        let (len, wire_len, from) = rustix::net::recvfrom(socket, &mut *buf, RecvFlags::TRUNC)?;
        let from = from
            .and_then(|a| SocketAddr::try_from(a).ok())
            .ok_or_else(|| io::Error::other("datagram without an IP source address"))?;
        Ok(Datagram { len, wire_len, from })
    })
}

/// The UDP server, ready to run on an already-bound socket.
#[derive(Debug)]
pub struct UdpServer {
    socket: Arc<UdpSocket>,
    buffer: usize,
    tracer: Tracer,
    log: Log,
    sock: SocketRef,
    impair: Option<Arc<UdpTable>>,
    loss: Option<Loss>,
}

impl UdpServer {
    /// Takes a bound socket; `buffer` is the `recvfrom` size.
    pub fn new(socket: UdpSocket, buffer: usize, tracer: Tracer, log: Log) -> Self {
        let sock = tracer.socket(Role::Udp, Transport::Udp);
        Self { socket: Arc::new(socket), buffer, tracer, log, sock, impair: None, loss: None }
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
    pub async fn run(mut self, cancel: CancellationToken) -> Result<(), NetError> {
        let local = self.local_addr()?;
        let (tracer, sock) = (&self.tracer, self.sock);
        tracer.record(None, |t| Event::new(t, Side::Server, sock, Op::Bind).addrs(Some(local), None));
        let mut buf = vec![0u8; self.buffer];
        let mut pending = Pending::default();
        let mut started = tracer.now_us();
        loop {
            let got = match try_recv_from_truncating(&self.socket, &mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Nothing queued: write the log lines gathered so far, then wait.
                    self.log.flush(&mut pending);
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        ready = self.socket.readable() => {
                            if let Err(e) = ready {
                                return Err(NetError::Io { op: "recvfrom", source: e });
                            }
                        }
                    }
                    continue;
                }
                got => got,
            };
            let dgram = match got {
                Ok(d) => d,
                Err(e) => {
                    // Linux reports an earlier ICMP error on the next call; it is not fatal.
                    tracing::warn!(error = %e, "udp: recvfrom failed; still serving");
                    continue;
                }
            };
            let data = &buf[..dgram.len];
            let from = dgram.from;
            let entry = self.impair.as_ref().and_then(|t| t.take(from));
            let impair = entry.as_ref().map(|e| e.impair).unwrap_or_default();
            if self.loss.as_mut().is_some_and(Loss::lose) {
                // The pinger assignment's server: read the request and pretend it was lost.
                self.log.queue(&mut pending, format_args!("udp {from}: request lost (simulated)"));
                started = tracer.now_us();
                continue;
            }
            if impair.drop_request {
                // As the textbook's pinger server does: read it and act as if it never came.
                self.log.queue(&mut pending, format_args!("udp {from}: discarded on purpose (impair drop: request)"));
                started = tracer.now_us();
                continue;
            }
            let truncated = dgram.wire_len > dgram.len;
            let upper = uppercase(data);
            tracer.record(Some(from), |t| {
                let mut e = Event::new(t, Side::Server, sock, Op::Recvfrom)
                    .addrs(Some(local), Some(from))
                    .started(started)
                    .payload(data);
                let mut notes = Vec::new();
                if truncated {
                    e.wire_bytes = Some(dgram.wire_len as u64);
                    e.flag(Flag::Truncated);
                    notes.push(truncation_note(dgram.wire_len, dgram.len));
                }
                if let Some(problem) = utf8_problem(data) {
                    notes.push(utf8_note(&problem));
                }
                if !notes.is_empty() {
                    e = e.detail(notes.join(" "));
                }
                e
            });
            self.log_datagram(&mut pending, from, data, dgram.wire_len);
            let reply = Reply { socket: &self.socket, tracer, sock, local, to: from };
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
                let (socket, tracer, bytes) = (Arc::clone(&self.socket), tracer.clone(), upper.bytes.clone());
                let (cancel, wait) = (cancel.clone(), Duration::from_millis(impair.delay_ms));
                let ended = entry.map(|e| e.ended).unwrap_or_default();
                tokio::spawn(async move {
                    tokio::select! {
                        biased;
                        () = cancel.cancelled() => {}
                        () = ended.cancelled() => {
                            tracing::debug!(peer = %from, "udp: the exchange ended before its delayed answer; not sent");
                        }
                        () = tokio::time::sleep(wait) => {
                            let reply = Reply { socket: &socket, tracer: &tracer, sock, local, to: from };
                            let _ = reply.send(&bytes).await;
                        }
                    }
                });
            } else {
                let copies = if impair.duplicate { 2 } else { 1 };
                for _ in 0..copies {
                    if let Err(e) = reply.send(&upper.bytes).await {
                        tracing::warn!(peer = %from, error = %e, "udp: sendto failed; still serving");
                    }
                }
            }
            started = tracer.now_us();
        }
        tracer.record(None, |t| Event::new(t, Side::Server, sock, Op::Close).addrs(Some(local), None));
        Ok(())
    }

    fn log_datagram(&self, pending: &mut Pending, from: SocketAddr, data: &[u8], wire_len: usize) {
        if !self.log.on() {
            return;
        }
        let mut line = format!("udp {from}: {} bytes {}", data.len(), shorten(data, 60));
        if wire_len > data.len() {
            line.push_str(&format!(" [truncated: {wire_len} bytes arrived]"));
        }
        if let Some(problem) = utf8_problem(data) {
            line.push_str(&format!(" [invalid UTF-8: {problem}; answered anyway]"));
        }
        self.log.queue(pending, format_args!("{line}"));
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

/// The server's answer to one client.
struct Reply<'a> {
    socket: &'a UdpSocket,
    tracer: &'a Tracer,
    sock: SocketRef,
    local: SocketAddr,
    to: SocketAddr,
}

impl Reply<'_> {
    /// Sends `bytes` and records the `sendto`.
    async fn send(&self, bytes: &[u8]) -> io::Result<usize> {
        // A send is stamped when it starts: the client may have the reply before it returns.
        let t_send = self.tracer.now_us();
        let sent = self.socket.send_to(bytes, self.to).await;
        self.tracer.record(Some(self.to), |_| {
            let e = Event::new(t_send, Side::Server, self.sock, Op::Sendto)
                .addrs(Some(self.local), Some(self.to))
                .payload(bytes);
            match &sent {
                Ok(_) => e,
                Err(err) => e.with_flag(Flag::Failed).detail(format!("sendto failed: {err}")),
            }
        });
        sent
    }
}
