//! The upgraded connection under the WebSocket, which remembers whether its last read found
//! nothing.
//!
//! tungstenite zeroes its read buffer's free room (1 KiB, `handshake.rs`) before every read,
//! including the reads that find nothing, and the session polls its socket again each time it
//! wakes for anything else (an exchange ending, a tick). Those polls cannot find a frame: a read that
//! found nothing means tungstenite's buffer held no whole frame, and nothing has arrived
//! since. So this wrapper notes a read that found nothing until the connection wakes its
//! reader again, and the session skips the socket meanwhile (`io.rs`).
//!
//! A read also sends what tungstenite queued on its own (the reply to a ping or to a close).
//! While a write is stuck on a full send buffer, the socket is never skipped, so that the
//! wake-up for room to write reaches a read that sends it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The upgraded connection; see the module doc.
#[derive(Debug)]
pub struct Conn {
    inner: TokioIo<Upgraded>,
    read: Arc<ReadWake>,
}

/// Whether the last read found nothing and no wake-up came since, and whom to wake: the
/// reader, and the session waiting in [`Conn::poll_parked`].
#[derive(Debug, Default)]
struct ReadWake {
    parked: AtomicBool,
    /// The last write found no room; the next read must run to finish it.
    write_blocked: AtomicBool,
    reader: AtomicWaker,
    session: AtomicWaker,
}

impl Wake for ReadWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.parked.store(false, Ordering::Release);
        self.reader.wake();
        self.session.wake();
    }
}

impl Conn {
    pub fn new(inner: TokioIo<Upgraded>) -> Self {
        Self { inner, read: Arc::default() }
    }

    /// True when a read now would surely find nothing: the last one did, and the connection
    /// has not woken its reader since. The task of `cx` is woken when that changes.
    pub fn poll_parked(&self, cx: &Context<'_>) -> bool {
        self.read.session.register(cx.waker());
        self.read.parked.load(Ordering::Acquire) && !self.read.write_blocked.load(Ordering::Acquire)
    }

    /// Notes whether a write found room, passing its result on.
    fn wrote<T>(&self, polled: Poll<T>) -> Poll<T> {
        self.read.write_blocked.store(polled.is_pending(), Ordering::Release);
        polled
    }
}

impl AsyncRead for Conn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.read.reader.register(cx.waker());
        // Parked before the read, so that a wake-up that comes during it unparks.
        self.read.parked.store(true, Ordering::Release);
        let waker = Waker::from(Arc::clone(&self.read));
        let polled = Pin::new(&mut self.inner).poll_read(&mut Context::from_waker(&waker), buf);
        if polled.is_ready() {
            self.read.parked.store(false, Ordering::Release);
        }
        polled
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.wrote(polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
