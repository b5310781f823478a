//! The HTTP listener with a handshake timeout: a connection that has not delivered a complete
//! request (a WebSocket upgrade or a REST call) within the limit is dropped.
//!
//! axum's server has no header-read timeout, so a client could hold a connection open by
//! sending its request head byte by byte. Each accepted stream is wrapped in [`HandshakeIo`],
//! which fails reads once the deadline passes; a middleware marks the connection as arrived as
//! soon as a request reaches the router, which switches the deadline off for good.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// The gateway's listener.
#[derive(Debug)]
pub struct GuardedListener {
    inner: TcpListener,
    timeout: Duration,
}

impl GuardedListener {
    pub fn new(inner: TcpListener, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

/// Who is connected, and whether their first request has arrived.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    arrived: Arc<AtomicBool>,
}

impl Listener for GuardedListener {
    type Io = HandshakeIo;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let arrived = Arc::new(AtomicBool::new(false));
                    let io = HandshakeIo {
                        inner: stream,
                        deadline: Box::pin(tokio::time::sleep(self.timeout)),
                        arrived: Arc::clone(&arrived),
                    };
                    return (io, Peer { addr, arrived });
                }
                // Out of descriptors or a connection reset before accept: wait a moment and
                // go on, as axum's own listener does.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Peer { addr: self.inner.local_addr()?, arrived: Arc::new(AtomicBool::new(true)) })
    }
}

impl Connected<IncomingStream<'_, GuardedListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Marks the connection's first request as arrived.
pub async fn mark_arrived(ConnectInfo(peer): ConnectInfo<Peer>, request: Request, next: Next) -> Response {
    peer.arrived.store(true, Ordering::Relaxed);
    next.run(request).await
}

/// A TCP stream whose reads fail once the handshake deadline passes without a request.
#[derive(Debug)]
pub struct HandshakeIo {
    inner: TcpStream,
    deadline: Pin<Box<Sleep>>,
    arrived: Arc<AtomicBool>,
}

impl AsyncRead for HandshakeIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.arrived.load(Ordering::Relaxed) && self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no complete request within the handshake timeout",
            )));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for HandshakeIo {
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
