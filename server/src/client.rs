//! The client side of an exchange: what the lesson's clients do, one traced call at a time.
//!
//! Both the `udp-client` and `tcp-client` subcommands and the gateway (which plays the client
//! for browsers and scripts) run these functions, so the timeline a browser sees is made of the
//! same calls a student's terminal runs.

use std::net::SocketAddr;
use std::time::Duration;

use socketlab_proto::{Event, Flag, Op, Role, Side, SocketRef, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::time::Instant;

use crate::error::NetError;
use crate::trace::Tracer;

/// Collects one exchange's client-side events, stamped on the process's clock.
#[derive(Debug)]
pub struct Recorder {
    tracer: Tracer,
    on: bool,
    events: Vec<Event>,
    /// The UDP socket's own address, when the caller already asked the kernel for it.
    local: Option<SocketAddr>,
}

impl Recorder {
    /// A recorder that keeps events when `on`, and only keeps time otherwise.
    pub fn new(tracer: Tracer, on: bool) -> Self {
        // Room for a UDP exchange's client calls and the packets they imply, which are added later.
        Self { tracer, on, events: if on { Vec::with_capacity(16) } else { Vec::new() }, local: None }
    }

    /// Tells the recorder the UDP socket's own address, which the caller already has, so
    /// that [`udp_exchange`] does not ask the kernel again (`getsockname`).
    pub fn knows_local(&mut self, local: SocketAddr) {
        self.local = Some(local);
    }

    /// Microseconds on the shared clock.
    pub fn now(&self) -> u64 {
        self.tracer.now_us()
    }

    /// Numbers a new client socket.
    pub fn socket(&self, transport: Transport) -> SocketRef {
        self.tracer.socket(Role::Client, transport)
    }

    /// Records an event built at the current time, if recording.
    pub fn push(&mut self, build: impl FnOnce(u64) -> Event) {
        if self.on {
            let t = self.tracer.now_us();
            self.events.push(build(t));
        }
    }

    /// Records an event stamped `t`: a sending call is stamped when it starts, because the
    /// kernel may deliver its bytes (and the receiver may record them) before the call returns.
    pub fn push_at(&mut self, t: u64, build: impl FnOnce(u64) -> Event) {
        if self.on {
            self.events.push(build(t));
        }
    }

    /// Takes the events recorded so far.
    pub fn take(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

fn event(t: u64, sock: SocketRef, op: Op, local: SocketAddr, peer: SocketAddr) -> Event {
    Event::new(t, Side::Client, sock, op).addrs(Some(local), Some(peer))
}

/// Sends `payload` to `server` from `socket` and waits for the reply from that server.
///
/// Datagrams from anyone else are ignored; a reply longer than `max_reply` is cut there.
/// Without `timeout` it waits forever, as the lesson's client does.
pub async fn udp_exchange(
    socket: &UdpSocket,
    sock: SocketRef,
    server: SocketAddr,
    payload: &[u8],
    timeout: Option<Duration>,
    max_reply: usize,
    rec: &mut Recorder,
) -> Result<Vec<u8>, NetError> {
    // The address only goes into events; the lean path skips the system call.
    let local = match (rec.on, rec.local) {
        (true, Some(local)) => local,
        (true, None) => socket.local_addr().map_err(|source| NetError::Io { op: "getsockname", source })?,
        (false, _) => SocketAddr::from(([0, 0, 0, 0], 0)),
    };
    let t_send = rec.now();
    let sent = socket.send_to(payload, server).await;
    rec.push_at(t_send, |t| {
        let e = event(t, sock, Op::Sendto, local, server).payload(payload);
        match &sent {
            Ok(_) => e,
            Err(err) => e.with_flag(Flag::Failed).detail(format!("sendto failed: {err}")),
        }
    });
    sent.map_err(|e| NetError::io("sendto", server, e))?;

    let started = rec.now();
    // Spare capacity, not zeroed memory: zeroing 64 KiB for every reply cost more than the
    // rest of the exchange.
    let mut buf: Vec<u8> = Vec::with_capacity(max_reply);
    let wait = async {
        loop {
            buf.clear();
            let (n, from) = socket.recv_buf_from(&mut buf).await?;
            if from == server {
                return Ok::<usize, std::io::Error>(n);
            }
        }
    };
    let got = match timeout {
        Some(limit) => tokio::time::timeout(limit, wait).await.ok(),
        None => Some(wait.await),
    };
    match got {
        Some(Ok(n)) => {
            let reply = buf[..n].to_vec();
            rec.push(|t| event(t, sock, Op::Recvfrom, local, server).started(started).payload(&reply));
            Ok(reply)
        }
        Some(Err(err)) => {
            let detail = if err.kind() == std::io::ErrorKind::ConnectionRefused {
                "recvfrom failed: an ICMP port unreachable came back, so nobody listens on that port.".to_owned()
            } else {
                format!("recvfrom failed: {err}")
            };
            rec.push(|t| {
                event(t, sock, Op::Recvfrom, local, server).started(started).with_flag(Flag::Failed).detail(detail)
            });
            Err(NetError::io("recvfrom", server, err))
        }
        None => {
            let ms = timeout.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            rec.push(|t| {
                event(t, sock, Op::Recvfrom, local, server)
                    .started(started)
                    .with_flag(Flag::Failed)
                    .detail(format!("No reply within {ms} ms. UDP does not retransmit: the datagram or its reply was lost, or nobody is listening."))
            });
            Err(NetError::Timeout { addr: server, ms })
        }
    }
}

/// When a TCP client gives up, and the timeout that set it (for the error's wording).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    /// A deadline `total` from now.
    pub fn after(total: Duration) -> Self {
        Self { at: Instant::now() + total, total }
    }

    fn missed(self, addr: SocketAddr, step: &'static str) -> NetError {
        let ms = u64::try_from(self.total.as_millis()).unwrap_or(u64::MAX);
        NetError::TcpTimeout { addr, ms, step }
    }
}

/// Runs `fut` until `deadline`, if there is one; `None` means the deadline passed.
async fn within<F: Future>(deadline: Option<Deadline>, fut: F) -> Option<F::Output> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d.at, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// The error for a step that ran out of time; only reached with a deadline.
fn missed(deadline: Option<Deadline>, addr: SocketAddr, step: &'static str) -> NetError {
    deadline.map_or(NetError::TcpTimeout { addr, ms: 0, step }, |d| d.missed(addr, step))
}

/// Connects `socket` to `server`: the three-way handshake.
pub async fn tcp_connect(
    socket: TcpSocket,
    sock: SocketRef,
    server: SocketAddr,
    deadline: Option<Deadline>,
    rec: &mut Recorder,
) -> Result<TcpStream, NetError> {
    let local = socket.local_addr().map_err(|source| NetError::Io { op: "getsockname", source })?;
    let started = rec.now();
    match within(deadline, socket.connect(server)).await {
        Some(Ok(stream)) => {
            rec.push(|t| event(t, sock, Op::Connect, local, server).started(started));
            Ok(stream)
        }
        Some(Err(err)) => {
            let error = NetError::io("connect", server, err);
            let detail = error.to_string();
            rec.push(|t| {
                event(t, sock, Op::Connect, local, server).started(started).with_flag(Flag::Failed).detail(detail)
            });
            Err(error)
        }
        None => {
            rec.push(|t| {
                event(t, sock, Op::Connect, local, server)
                    .started(started)
                    .with_flag(Flag::Failed)
                    .detail("connect() timed out: the handshake did not finish in time.")
            });
            Err(missed(deadline, server, "complete the handshake"))
        }
    }
}

/// On a connected stream: sends `payload`, reads the reply until the server closes (at most
/// `max_reply` bytes are kept), and closes.
pub async fn tcp_converse(
    mut stream: TcpStream,
    sock: SocketRef,
    payload: &[u8],
    deadline: Option<Deadline>,
    max_reply: usize,
    rec: &mut Recorder,
) -> Result<Vec<u8>, NetError> {
    let io = |op, source| NetError::Io { op, source };
    let local = stream.local_addr().map_err(|e| io("getsockname", e))?;
    let server = stream.peer_addr().map_err(|e| io("getpeername", e))?;
    let t_send = rec.now();
    let sent = within(deadline, stream.write_all(payload)).await;
    rec.push_at(t_send, |t| {
        let e = event(t, sock, Op::Send, local, server).payload(payload);
        if matches!(sent, Some(Ok(()))) { e } else { e.with_flag(Flag::Failed) }
    });
    match sent {
        Some(Ok(())) => {}
        Some(Err(err)) => return Err(NetError::io("send", server, err)),
        None => return Err(missed(deadline, server, "take the message")),
    }

    let mut reply = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let started = rec.now();
        buf.clear();
        match within(deadline, stream.read_buf(&mut buf)).await {
            Some(Ok(n)) => {
                let data = &buf[..n];
                rec.push(|t| {
                    let e = event(t, sock, Op::Recv, local, server).started(started).payload(data);
                    if n == 0 { e.detail("The server closed the connection: the reply is complete.") } else { e }
                });
                if n == 0 {
                    break;
                }
                let room = max_reply.saturating_sub(reply.len());
                reply.extend_from_slice(&data[..n.min(room)]);
                if n > room {
                    break;
                }
            }
            Some(Err(err)) => {
                let detail = format!("recv failed: {err}");
                rec.push(|t| {
                    event(t, sock, Op::Recv, local, server).started(started).with_flag(Flag::Failed).detail(detail)
                });
                return Err(NetError::io("recv", server, err));
            }
            None => {
                rec.push(|t| {
                    event(t, sock, Op::Recv, local, server)
                        .started(started)
                        .with_flag(Flag::Failed)
                        .detail("The server did not finish its reply in time.")
                });
                return Err(missed(deadline, server, "finish its reply"));
            }
        }
    }
    let t_close = rec.now();
    drop(stream);
    rec.push_at(t_close, |t| event(t, sock, Op::Close, local, server));
    Ok(reply)
}

/// The whole TCP exchange within `timeout`: connect, send, read to the end, close.
pub async fn tcp_exchange(
    socket: TcpSocket,
    sock: SocketRef,
    server: SocketAddr,
    payload: &[u8],
    timeout: Duration,
    max_reply: usize,
    rec: &mut Recorder,
) -> Result<Vec<u8>, NetError> {
    let deadline = Some(Deadline::after(timeout));
    let stream = tcp_connect(socket, sock, server, deadline, rec).await?;
    tcp_converse(stream, sock, payload, deadline, max_reply, rec).await
}
