//! The TCP upper-case server: a welcome socket that `accept()`s one connection socket per
//! client, which reads once, upper-cases, answers and closes.
//!
//! `iterative` serves one client at a time exactly as the lesson's loop does, so a silent
//! client holds everyone else in the backlog; `concurrent` gives each connection its own task.
//! When a client sends more than one `recv` can hold, the rest is read and discarded after the
//! reply, so the close is a clean FIN instead of the RST an unread buffer causes, and the
//! truncation is reported.
//!
//! [`Bounds`] keep a hosted server alive under abuse: a connection that sends nothing within
//! the read timeout is closed (in either mode, so a silent client holds an iterative server
//! only that long), and at the connection cap the welcome socket stops accepting until a
//! connection ends, leaving later clients in the kernel's backlog instead of using up the
//! process's descriptors. [`TcpStatus`] lets the gateway see both.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use socketlab_proto::{Event, Flag, Op, Role, Side, SocketRef, Transport, uppercase, utf8_problem};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::NetError;
use crate::log::{Log, Short};
use crate::trace::Tracer;
use crate::udp_server::utf8_note;

/// The lesson's `recv(1024)`.
pub const DEFAULT_BUFFER: usize = 1024;
/// The lesson's `listen(1)`.
pub const DEFAULT_BACKLOG: u32 = 1;
/// How long a connection waits for the rest of an over-long message before closing.
const DRAIN_WAIT: Duration = Duration::from_secs(1);
/// The most a connection reads and discards after an over-long message.
const DRAIN_LIMIT: usize = 1 << 20;

/// How the server takes turns between clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One client at a time, as in the lesson.
    Iterative,
    /// A task for each connection.
    Concurrent,
}

/// Limits that keep the server serving when clients misbehave. The default has none, as in
/// the lesson.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bounds {
    /// How long a connection may stay silent before the server closes it.
    pub read_timeout: Option<Duration>,
    /// The most connections open at once; at the cap the server stops accepting.
    pub max_connections: Option<usize>,
}

/// What the server is doing, for health checks.
#[derive(Debug, Default)]
pub struct TcpStatus {
    open: AtomicUsize,
    /// When (on the tracer's clock, plus one; 0 for never) the connection being served began
    /// waiting for its message. Only the iterative mode sets it: there, that wait holds
    /// everyone else.
    waiting_since: AtomicU64,
    cap: AtomicUsize,
}

impl TcpStatus {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// The connection cap in force (`usize::MAX` when there is none).
    pub fn cap(&self) -> usize {
        self.cap.load(Ordering::Relaxed)
    }

    /// How long, in microseconds up to `now_us`, an iterative server has been held by a
    /// client that has not sent its message yet.
    pub fn held_for_us(&self, now_us: u64) -> Option<u64> {
        match self.waiting_since.load(Ordering::Relaxed) {
            0 => None,
            since => Some(now_us.saturating_sub(since - 1)),
        }
    }
}

/// The TCP server, ready to run on an already-listening welcome socket.
#[derive(Debug)]
pub struct TcpServer {
    welcome: TcpListener,
    buffer: usize,
    mode: Mode,
    bounds: Bounds,
    status: Arc<TcpStatus>,
    tracer: Tracer,
    log: Log,
    sock: SocketRef,
}

impl TcpServer {
    /// Takes a listening socket; `buffer` is the `recv` size.
    pub fn new(welcome: TcpListener, buffer: usize, mode: Mode, tracer: Tracer, log: Log) -> Self {
        let sock = tracer.socket(Role::Welcome, Transport::Tcp);
        let status = Arc::new(TcpStatus { cap: AtomicUsize::new(usize::MAX), ..TcpStatus::default() });
        Self { welcome, buffer, mode, bounds: Bounds::default(), status, tracer, log, sock }
    }

    /// Applies `bounds`, and reports to `status` instead of the server's own.
    #[must_use]
    pub fn bounded(mut self, bounds: Bounds, status: Arc<TcpStatus>) -> Self {
        status.cap.store(bounds.max_connections.unwrap_or(usize::MAX), Ordering::Relaxed);
        self.status = status;
        self.bounds = bounds;
        self
    }

    /// The server's status, shared with whoever watches it.
    pub fn status(&self) -> Arc<TcpStatus> {
        Arc::clone(&self.status)
    }

    /// The welcome socket's address.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.welcome.local_addr().map_err(|source| NetError::Io { op: "getsockname", source })
    }

    /// Serves until `cancel` fires; connections being served are finished or cut off then too.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), NetError> {
        let local = self.local_addr()?;
        let (tracer, welcome) = (&self.tracer, self.sock);
        tracer.record(None, |t| Event::new(t, Side::Server, welcome, Op::Listen).addrs(Some(local), None));
        let tasks = TaskTracker::new();
        let slots = Arc::new(Semaphore::new(self.bounds.max_connections.unwrap_or(Semaphore::MAX_PERMITS)));
        loop {
            // At the cap, wait for a connection to end before taking the next one.
            let slot = tokio::select! {
                () = cancel.cancelled() => break,
                s = Arc::clone(&slots).acquire_owned() => match s {
                    Ok(s) => s,
                    Err(_) => break,
                },
            };
            let started = tracer.now_us();
            let accepted = tokio::select! {
                () = cancel.cancelled() => break,
                a = self.welcome.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Per-connection failures (ECONNABORTED, EMFILE) must not end the server.
                    tracing::warn!(error = %e, "tcp: accept failed; still serving");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let conn = Connection {
                sock: tracer.socket(Role::Connection, Transport::Tcp),
                // Bound to one address, the welcome socket's is every connection's: no
                // getsockname per connection then.
                local: if local.ip().is_unspecified() { stream.local_addr().unwrap_or(local) } else { local },
                peer,
                stream,
                buffer: self.buffer,
                read_timeout: self.bounds.read_timeout,
                status: Arc::clone(&self.status),
                iterative: self.mode == Mode::Iterative,
                tracer: tracer.clone(),
                log: self.log,
            };
            self.status.open.fetch_add(1, Ordering::Relaxed);
            tracer.record(Some(peer), |t| {
                let mut e = Event::new(t, Side::Server, welcome, Op::Accept)
                    .addrs(Some(conn.local), Some(peer))
                    .started(started)
                    .detail(format!(
                        "The welcome socket handed the new connection to connection socket #{}.",
                        conn.sock.id
                    ));
                e.spawned = Some(conn.sock);
                e
            });
            match self.mode {
                Mode::Iterative => {
                    conn.serve(&cancel).await;
                    drop(slot);
                }
                Mode::Concurrent => {
                    let cancel = cancel.clone();
                    tasks.spawn(async move {
                        conn.serve(&cancel).await;
                        drop(slot);
                    });
                }
            }
        }
        tasks.close();
        tasks.wait().await;
        tracer.record(None, |t| Event::new(t, Side::Server, welcome, Op::Close).addrs(Some(local), None));
        Ok(())
    }
}

/// One accepted client.
struct Connection {
    sock: SocketRef,
    local: SocketAddr,
    peer: SocketAddr,
    stream: TcpStream,
    buffer: usize,
    read_timeout: Option<Duration>,
    status: Arc<TcpStatus>,
    iterative: bool,
    tracer: Tracer,
    log: Log,
}

impl Connection {
    fn event(&self, t: u64, op: Op) -> Event {
        Event::new(t, Side::Server, self.sock, op).addrs(Some(self.local), Some(self.peer))
    }

    async fn serve(mut self, cancel: &CancellationToken) {
        if let Err(e) = self.exchange(cancel).await {
            tracing::warn!(peer = %self.peer, error = %e, "tcp connection failed");
        }
        let peer = Some(self.peer);
        self.tracer.record(peer, |t| self.event(t, Op::Close));
        drop(self.stream);
        if self.iterative {
            // A wait cut short by shutdown ends here too.
            self.status.waiting_since.store(0, Ordering::Relaxed);
        }
        self.status.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// The first `recv`, bounded by the read timeout; `None` when the client stayed silent.
    async fn first_read(&mut self, buf: &mut [u8]) -> Option<std::io::Result<usize>> {
        if self.iterative {
            self.status.waiting_since.store(self.tracer.now_us() + 1, Ordering::Relaxed);
        }
        let read = self.stream.read(buf);
        let n = match self.read_timeout {
            Some(limit) => tokio::time::timeout(limit, read).await.ok(),
            None => Some(read.await),
        };
        if self.iterative {
            self.status.waiting_since.store(0, Ordering::Relaxed);
        }
        n
    }

    async fn exchange(&mut self, cancel: &CancellationToken) -> Result<(), std::io::Error> {
        let mut buf = vec![0u8; self.buffer];
        let started = self.tracer.now_us();
        let n = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            n = self.first_read(&mut buf) => n,
        };
        let Some(n) = n else {
            let ms = self.read_timeout.map_or(0, |d| d.as_millis());
            self.tracer.record(Some(self.peer), |t| {
                self.event(t, Op::Recv).started(started).with_flag(Flag::Failed).detail(format!(
                    "The client sent nothing for {ms} ms, so the server gives up on it and closes the connection; the lesson's server would wait forever."
                ))
            });
            self.log.line(format_args!("tcp {}: sent nothing within {ms} ms; closed", self.peer));
            return Ok(());
        };
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                self.tracer.record(Some(self.peer), |t| {
                    self.event(t, Op::Recv).started(started).with_flag(Flag::Failed).detail(format!("recv failed: {e}"))
                });
                return Err(e);
            }
        };
        let data = &buf[..n];
        self.tracer.record(Some(self.peer), |t| {
            let e = self.event(t, Op::Recv).started(started).payload(data);
            match (n, utf8_problem(data)) {
                (0, _) => e.detail("The client closed the connection without sending anything."),
                (_, Some(problem)) => e.detail(utf8_note(&problem)),
                _ => e,
            }
        });
        if n == 0 {
            self.log.line(format_args!("tcp {}: closed without sending", self.peer));
            return Ok(());
        }
        let upper = uppercase(data);
        // Sends are stamped when they start: the client may have the bytes before they return.
        let t_send = self.tracer.now_us();
        let sent = self.stream.write_all(&upper.bytes).await;
        self.tracer.record(Some(self.peer), |_| {
            let e = self.event(t_send, Op::Send).payload(&upper.bytes);
            match &sent {
                Ok(()) => e,
                Err(err) => e.with_flag(Flag::Failed).detail(format!("send failed: {err}")),
            }
        });
        sent?;
        let extra = if n == self.buffer { self.drain(cancel).await } else { 0 };
        if self.log.on() {
            let mut line = format!("tcp {}: {n} bytes {}", self.peer, Short(data, 60));
            if upper.invalid_utf8 {
                line.push_str(" [invalid UTF-8; answered anyway]");
            }
            if extra > 0 {
                line.push_str(&format!(" [truncated: {extra} more bytes discarded]"));
            }
            self.log.line(format_args!("{line}"));
        }
        Ok(())
    }

    /// After a reply to a full buffer: send FIN, then read and discard whatever else the
    /// client sent, for a bounded time. Returns how many bytes were discarded.
    async fn drain(&mut self, cancel: &CancellationToken) -> usize {
        let t_shut = self.tracer.now_us();
        let shut = self.stream.shutdown().await;
        self.tracer.record(Some(self.peer), |_| {
            let e = self.event(t_shut, Op::Shutdown);
            if shut.is_ok() { e } else { e.with_flag(Flag::Failed) }
        });
        let started = self.tracer.now_us();
        let mut extra = 0usize;
        let mut eof = false;
        // On the heap: an array here would live in every connection's future, which is moved
        // (copied) several times when its task is spawned, drained or not.
        let mut scratch = vec![0u8; 4096];
        let deadline = tokio::time::sleep(DRAIN_WAIT);
        tokio::pin!(deadline);
        while extra < DRAIN_LIMIT {
            let n = tokio::select! {
                () = cancel.cancelled() => break,
                () = &mut deadline => break,
                n = self.stream.read(&mut scratch) => n,
            };
            match n {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => extra += n,
                Err(_) => break,
            }
        }
        if extra > 0 {
            self.tracer.record(Some(self.peer), |t| {
                let mut e = self.event(t, Op::Recv).started(started).with_flag(Flag::Truncated);
                e.bytes = Some(extra as u64);
                e.detail(format!(
                    "{extra} more bytes arrived than one recv({}) returns. The lesson's server never reads them, and closing with unread data would reset the connection; socketlab reads and discards them so the connection closes cleanly.",
                    self.buffer
                ))
            });
        }
        if eof {
            self.tracer.record(Some(self.peer), |t| {
                let mut e = self.event(t, Op::Recv).detail("The client closed its side of the connection.");
                e.bytes = Some(0);
                e
            });
        }
        extra
    }
}
