//! The HTTP listener with a deadline on every request head: a connection that has not
//! delivered a complete request head within the limit, counted from when it was accepted or
//! from when its previous response was written, is answered 408 (when part of a head came) and
//! closed.
//!
//! axum's server has no header-read timeout, so a client could hold a connection open by
//! sending its request head byte by byte, or by sending one prompt request and then the next
//! one slowly. Each accepted stream is wrapped in [`DeadlineIo`], whose reads fail once the
//! deadline passes while the connection waits for a head. A middleware ([`track`]) tells it
//! when a request's head has arrived (no deadline while it is served: `edge.rs` bounds the
//! body) and, through the response body's drop, when the response is written and the wait
//! for the next head begins. A connection upgraded to a WebSocket has no deadline here; the
//! session keeps its own.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use http_body::{Frame, SizeHint};
use prometheus_client::metrics::counter::Counter;
use socketlab_proto::wire::ErrorCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

use super::error::ApiError;

/// The turn of a connection whose requests are over: it became a WebSocket.
const UPGRADED: u64 = u64::MAX;

/// The gateway's listener.
#[derive(Debug)]
pub struct GuardedListener {
    inner: TcpListener,
    timeout: Duration,
    /// `/metrics`' count of 408 answers.
    timeouts: Counter,
}

impl GuardedListener {
    pub fn new(inner: TcpListener, timeout: Duration, timeouts: Counter) -> Self {
        Self { inner, timeout, timeouts }
    }
}

/// Who is connected, and where their connection is: the turn counts requests and responses,
/// even while waiting for a head, odd while a request is served.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    turn: Arc<AtomicU64>,
}

impl Listener for GuardedListener {
    type Io = DeadlineIo;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let turn = Arc::new(AtomicU64::new(0));
                    let io = DeadlineIo {
                        inner: stream,
                        timeout: self.timeout,
                        deadline: Box::pin(tokio::time::sleep(self.timeout)),
                        seen: 0,
                        partial: false,
                        turn: Arc::clone(&turn),
                        timeouts: self.timeouts.clone(),
                    };
                    return (io, Peer { addr, turn });
                }
                // Out of descriptors or a connection reset before accept: wait a moment and
                // go on, as axum's own listener does.
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed; still serving");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Peer { addr: self.inner.local_addr()?, turn: Arc::new(AtomicU64::new(UPGRADED)) })
    }
}

impl Connected<IncomingStream<'_, GuardedListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Marks a request's head as arrived, and its response's end as the start of the next wait.
pub async fn track(ConnectInfo(peer): ConnectInfo<Peer>, request: Request, next: Next) -> Response {
    let turn = peer.turn;
    // Even to odd: a request is served. HTTP/1 serves one request of a connection at a time.
    let _ = turn.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| (t % 2 == 0 && t != UPGRADED).then_some(t + 1));
    let response = next.run(request).await;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        turn.store(UPGRADED, Ordering::Release);
        return response;
    }
    response.map(|body| Body::new(Written { inner: body, turn }))
}

/// A response body that ends its request's turn when it is dropped, that is once it has been
/// written or the connection is gone.
#[derive(Debug)]
struct Written {
    inner: Body,
    turn: Arc<AtomicU64>,
}

impl Drop for Written {
    fn drop(&mut self) {
        let _ = self.turn.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| (t % 2 == 1).then_some(t + 1));
    }
}

impl HttpBody for Written {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A TCP stream whose reads fail once a request head is overdue.
#[derive(Debug)]
pub struct DeadlineIo {
    inner: TcpStream,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    /// The turn the deadline was set for.
    seen: u64,
    /// Whether part of the awaited head has come.
    partial: bool,
    turn: Arc<AtomicU64>,
    timeouts: Counter,
}

impl DeadlineIo {
    /// Answers 408 on a connection whose head is overdue. Nothing else is being written then,
    /// and a few hundred bytes fit the socket's buffer; if they do not, the close says enough.
    fn answer_timeout(&self) {
        let e = ApiError::new(ErrorCode::RequestTimeout, "the request head did not arrive in time");
        let body = serde_json::to_string(&e.body()).unwrap_or_default();
        let head = format!(
            "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let _ = self.inner.try_write(format!("{head}{body}").as_bytes());
        self.timeouts.inc();
    }
}

impl AsyncRead for DeadlineIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let turn = self.turn.load(Ordering::Acquire);
        let waiting = turn % 2 == 0 && turn != UPGRADED;
        if waiting {
            if turn != self.seen {
                self.seen = turn;
                self.partial = false;
                let at = Instant::now() + self.timeout;
                self.deadline.as_mut().reset(at);
            }
            if self.deadline.as_mut().poll(cx).is_ready() {
                tracing::debug!(partial = self.partial, "request head overdue; closing the connection");
                if self.partial {
                    self.answer_timeout();
                }
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no complete request head in time")));
            }
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if waiting && buf.filled().len() > before {
            self.partial = true;
        }
        polled
    }
}

impl AsyncWrite for DeadlineIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
