//! The check's own socket calls when it plays the client, each recorded for the item's
//! timeline.
//!
//! Unlike [`crate::client`], these calls judge rather than converse: a UDP reply is accepted
//! from any address (the item decides whether the sender was right), and a TCP read keeps the
//! reply even when the connection ends in a reset, so one broken habit fails one item only.

use std::net::SocketAddr;
use std::time::Duration;

use socketlab_proto::{Event, Flag, Op, Side, SocketRef, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::client::Recorder;
use crate::net;

/// Bytes a probe keeps of one reply, and reads of a stream past which it stops reading.
pub const MAX_REPLY: usize = 64 * 1024;
/// Reads of one stream that a timeline shows one by one; the rest are summed up in one event.
pub const MAX_READ_EVENTS: usize = 32;

/// Counts the reads of one stream, so that a peer that keeps sending grows neither the
/// timeline nor the memory without bound.
#[derive(Debug, Default)]
pub struct ReadLog {
    bytes: usize,
    shown: usize,
    unshown_reads: usize,
    unshown_bytes: usize,
}

impl ReadLog {
    /// Counts a read of `n` bytes; true when it gets its own event.
    pub fn count(&mut self, n: usize) -> bool {
        self.bytes = self.bytes.saturating_add(n);
        if self.shown < MAX_READ_EVENTS {
            self.shown += 1;
            return true;
        }
        self.unshown_reads += 1;
        self.unshown_bytes = self.unshown_bytes.saturating_add(n);
        false
    }

    /// Set once more than [`MAX_REPLY`] bytes arrived: reading stops there.
    pub fn full(&self) -> Option<String> {
        (self.bytes > MAX_REPLY).then(|| format!("more than {MAX_REPLY} bytes arrived; the check stopped reading"))
    }

    /// The one event's detail for the reads not shown, if any.
    pub fn summary(&self) -> Option<String> {
        (self.unshown_reads > 0)
            .then(|| format!("{} more reads ({} bytes) not shown one by one", self.unshown_reads, self.unshown_bytes))
    }
}

/// The recorder, timeout and liveness that the items of one check share.
#[derive(Debug)]
pub struct Probe {
    /// Collects the current item's socket calls.
    pub rec: Recorder,
    /// How long any one wait may take.
    pub timeout: Duration,
    /// The target to grade.
    pub target: SocketAddr,
    /// Set when the target refused us: nothing listens there (any more).
    pub refused: bool,
}

/// What came back to one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpAnswer {
    /// A datagram, from `from`.
    Reply { data: Vec<u8>, from: SocketAddr },
    /// Nothing within the timeout.
    Silent,
    /// An ICMP port unreachable: nothing listens on the port.
    Refused,
    /// Another failure.
    Error(String),
}

/// How a TCP connection ended after the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpEnd {
    /// The server closed with FIN.
    Fin,
    /// The connection was reset (RST).
    Reset,
    /// It was still open when the timeout ran out.
    Open,
}

/// A TCP reply and how the connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpAnswer {
    pub data: Vec<u8>,
    pub end: TcpEnd,
}

/// Why a TCP connection could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    Refused,
    Timeout,
    Other(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused => f.write_str("the connection was refused: nothing listens on that port"),
            Self::Timeout => f.write_str("the handshake did not finish in time"),
            Self::Other(e) => write!(f, "connect failed: {e}"),
        }
    }
}

fn ev(t: u64, sock: SocketRef, op: Op, local: Option<SocketAddr>, peer: Option<SocketAddr>) -> Event {
    Event::new(t, Side::Client, sock, op).addrs(local, peer)
}

impl Probe {
    /// A probe of `target` whose waits last at most `timeout`.
    pub fn new(rec: Recorder, target: SocketAddr, timeout: Duration) -> Self {
        Self { rec, timeout, target, refused: false }
    }

    /// Takes the events recorded since the last call.
    pub fn events(&mut self) -> Vec<Event> {
        self.rec.take()
    }

    /// A fresh UDP client socket.
    pub async fn udp_socket(&mut self) -> Result<(UdpSocket, SocketRef), String> {
        let socket = net::client_udp_socket(self.target).await.map_err(|e| e.to_string())?;
        let sock = self.rec.socket(Transport::Udp);
        let local = socket.local_addr().ok();
        self.rec.push(|t| ev(t, sock, Op::Socket, local, None));
        Ok((socket, sock))
    }

    /// Sends one datagram to the target.
    pub async fn udp_send(&mut self, socket: &UdpSocket, sock: SocketRef, payload: &[u8]) -> Result<(), String> {
        let local = socket.local_addr().ok();
        let t = self.rec.now();
        let sent = socket.send_to(payload, self.target).await;
        let target = Some(self.target);
        self.rec.push_at(t, |t| {
            let e = ev(t, sock, Op::Sendto, local, target).payload(payload);
            if sent.is_ok() { e } else { e.with_flag(Flag::Failed) }
        });
        sent.map(drop).map_err(|e| format!("sendto failed: {e}"))
    }

    /// Waits for one datagram on `socket`, from anyone.
    pub async fn udp_recv(&mut self, socket: &UdpSocket, sock: SocketRef) -> UdpAnswer {
        let local = socket.local_addr().ok();
        let started = self.rec.now();
        let mut buf = vec![0u8; MAX_REPLY];
        let got = tokio::time::timeout(self.timeout, socket.recv_from(&mut buf)).await;
        let target = Some(self.target);
        let (answer, detail) = match got {
            Ok(Ok((n, from))) => (UdpAnswer::Reply { data: buf[..n].to_vec(), from }, None),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                self.refused = true;
                (
                    UdpAnswer::Refused,
                    Some("an ICMP port unreachable came back: nothing listens on that port".to_owned()),
                )
            }
            Ok(Err(e)) => (UdpAnswer::Error(e.to_string()), Some(format!("recvfrom failed: {e}"))),
            Err(_) => (UdpAnswer::Silent, Some(format!("no datagram within {} ms", self.timeout.as_millis()))),
        };
        self.rec.push(|t| match (&answer, detail) {
            (UdpAnswer::Reply { data, from }, _) => {
                ev(t, sock, Op::Recvfrom, local, Some(*from)).started(started).payload(data)
            }
            (_, detail) => ev(t, sock, Op::Recvfrom, local, target)
                .started(started)
                .with_flag(Flag::Failed)
                .detail(detail.unwrap_or_default()),
        });
        answer
    }

    /// One datagram from a fresh socket, and what came back.
    pub async fn udp_ask(&mut self, payload: &[u8]) -> UdpAnswer {
        let (socket, sock) = match self.udp_socket().await {
            Ok(s) => s,
            Err(e) => return UdpAnswer::Error(e),
        };
        if let Err(e) = self.udp_send(&socket, sock, payload).await {
            return UdpAnswer::Error(e);
        }
        let answer = self.udp_recv(&socket, sock).await;
        let local = socket.local_addr().ok();
        self.rec.push(|t| ev(t, sock, Op::Close, local, None));
        answer
    }

    /// Connects to the target.
    pub async fn tcp_connect(&mut self) -> Result<(TcpStream, SocketRef), ConnectError> {
        let (socket, local) = net::client_tcp_socket(self.target).map_err(|e| ConnectError::Other(e.to_string()))?;
        let sock = self.rec.socket(Transport::Tcp);
        let target = Some(self.target);
        self.rec.push(|t| ev(t, sock, Op::Socket, Some(local), None));
        let started = self.rec.now();
        let result = match tokio::time::timeout(self.timeout, socket.connect(self.target)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                self.refused = true;
                Err(ConnectError::Refused)
            }
            Ok(Err(e)) => Err(ConnectError::Other(e.to_string())),
            Err(_) => Err(ConnectError::Timeout),
        };
        self.rec.push(|t| {
            let e = ev(t, sock, Op::Connect, Some(local), target).started(started);
            match &result {
                Ok(_) => e,
                Err(err) => e.with_flag(Flag::Failed).detail(err.to_string()),
            }
        });
        result.map(|s| (s, sock))
    }

    /// Sends `payload` on a connected stream.
    pub async fn tcp_send(&mut self, stream: &mut TcpStream, sock: SocketRef, payload: &[u8]) -> Result<(), String> {
        let (local, peer) = (stream.local_addr().ok(), stream.peer_addr().ok());
        let t = self.rec.now();
        let sent = tokio::time::timeout(self.timeout, stream.write_all(payload)).await;
        let ok = matches!(sent, Ok(Ok(())));
        self.rec.push_at(t, |t| {
            let e = ev(t, sock, Op::Send, local, peer).payload(payload);
            if ok { e } else { e.with_flag(Flag::Failed) }
        });
        if ok { Ok(()) } else { Err("send did not complete".to_owned()) }
    }

    /// Reads until the server closes, resets, or the timeout runs out, keeping what arrived.
    pub async fn tcp_read_to_end(&mut self, stream: &mut TcpStream, sock: SocketRef) -> TcpAnswer {
        let (local, peer) = (stream.local_addr().ok(), stream.peer_addr().ok());
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut data = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut log = ReadLog::default();
        // Each read either moves bytes, ends the connection, or runs into the deadline; reading
        // stops past MAX_REPLY.
        loop {
            let started = self.rec.now();
            let end = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(0)) => Some((TcpEnd::Fin, "the server closed the connection (FIN)".to_owned())),
                Ok(Ok(n)) => {
                    let room = MAX_REPLY.saturating_sub(data.len());
                    data.extend_from_slice(&buf[..n.min(room)]);
                    if log.count(n) {
                        self.rec.push(|t| ev(t, sock, Op::Recv, local, peer).started(started).payload(&buf[..n]));
                    }
                    log.full().map(|why| (TcpEnd::Open, why))
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    Some((TcpEnd::Reset, "the connection was reset (RST)".to_owned()))
                }
                Ok(Err(e)) => Some((TcpEnd::Reset, format!("recv failed: {e}"))),
                Err(_) => Some((TcpEnd::Open, format!("still open after {} ms", self.timeout.as_millis()))),
            };
            if let Some((end, detail)) = end {
                if let Some(summary) = log.summary() {
                    self.rec.push(|t| ev(t, sock, Op::Recv, local, peer).detail(summary));
                }
                self.rec.push(|t| {
                    let e = ev(t, sock, Op::Recv, local, peer).started(started).detail(detail);
                    if end == TcpEnd::Fin { e.payload(&[]) } else { e.with_flag(Flag::Failed) }
                });
                return TcpAnswer { data, end };
            }
        }
    }

    /// Records the close of a stream and drops it.
    pub fn tcp_close(&mut self, stream: TcpStream, sock: SocketRef) {
        let (local, peer) = (stream.local_addr().ok(), stream.peer_addr().ok());
        let t = self.rec.now();
        drop(stream);
        self.rec.push_at(t, |t| ev(t, sock, Op::Close, local, peer));
    }

    /// One whole exchange on a fresh connection: connect, send, read to the end, close.
    pub async fn tcp_ask(&mut self, payload: &[u8]) -> Result<TcpAnswer, ConnectError> {
        let (mut stream, sock) = self.tcp_connect().await?;
        if let Err(e) = self.tcp_send(&mut stream, sock, payload).await {
            self.tcp_close(stream, sock);
            return Err(ConnectError::Other(e));
        }
        let answer = self.tcp_read_to_end(&mut stream, sock).await;
        self.tcp_close(stream, sock);
        Ok(answer)
    }
}

/// Shows bytes in a reason: quoted text, cut at 40 characters.
pub fn shown(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let cut: String = text.chars().take(40).collect();
    if cut.len() < text.len() { format!("{cut:?}...") } else { format!("{cut:?}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_log_shows_32_reads_then_sums_up_and_fills_past_the_reply_size() {
        let mut log = ReadLog::default();
        let shown = (0..100).filter(|_| log.count(10)).count();
        assert_eq!(shown, MAX_READ_EVENTS);
        assert_eq!(log.summary().as_deref(), Some("68 more reads (680 bytes) not shown one by one"));
        assert!(log.full().is_none());
        assert!(!log.count(MAX_REPLY));
        assert!(log.full().is_some(), "more than MAX_REPLY bytes in all");
    }
}
