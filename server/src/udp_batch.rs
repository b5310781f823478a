//! Batched datagram I/O for the UDP server: `recvmmsg` takes every datagram already queued (up
//! to a batch) in one system call after blocking for the first, and `sendmmsg` sends a batch's
//! answers in one. Under load this divides the system calls per datagram; with one client it is
//! one call in and one out, as `recvfrom` and `sendto` would be. nix wraps `recvmmsg` and
//! rustix `sendmmsg`, so no `unsafe` lives here.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};
use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny, sendmmsg};

/// At most this many datagrams per call, and at most this many bytes of buffers in all.
const MAX_BATCH: usize = 32;
const MAX_BYTES: usize = 256 * 1024;

/// One received datagram.
#[derive(Debug, Clone, Copy)]
pub struct Datagram {
    /// Which receive buffer holds it.
    pub slot: usize,
    /// Bytes kept in the buffer.
    pub len: usize,
    /// Bytes the datagram really had; more than `len` when it was truncated.
    pub wire_len: usize,
    /// Who sent it.
    pub from: SocketAddr,
}

/// Receive buffers and the kernel's message headers, allocated once.
#[derive(Debug)]
pub struct Batch {
    bufs: Vec<Vec<u8>>,
    buffer: usize,
    rx: MultiHeaders<SockaddrStorage>,
    /// What the last [`Batch::recv`] got, in order.
    pub got: Vec<Datagram>,
}

fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

impl Batch {
    /// Buffers of `buffer` bytes each, as many as fit the budget.
    pub fn new(buffer: usize) -> Self {
        let n = (MAX_BYTES / buffer.max(1)).clamp(1, MAX_BATCH);
        Self {
            bufs: vec![vec![0; buffer]; n],
            buffer,
            rx: MultiHeaders::preallocate(n, None),
            got: Vec::with_capacity(n),
        }
    }

    /// How many datagrams one call may take.
    pub fn capacity(&self) -> usize {
        self.bufs.len()
    }

    /// The bytes kept of a datagram from the last [`Batch::recv`].
    pub fn data(&self, d: &Datagram) -> &[u8] {
        self.bufs.get(d.slot).map_or(&[][..], |b| &b[..d.len.min(b.len())])
    }

    /// Blocks until at least one datagram is queued (or the socket's read timeout passes),
    /// then takes up to a batch without waiting more. Each datagram's real length is kept
    /// (`MSG_TRUNC`), so a truncated one is known.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.got.clear();
        let buffer = self.buffer;
        let mut slices: Vec<[IoSliceMut<'_>; 1]> = self.bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        let flags = MsgFlags::MSG_WAITFORONE | MsgFlags::MSG_TRUNC;
        let results = recvmmsg(socket.as_raw_fd(), &mut self.rx, slices.iter_mut(), flags, None)?;
        for (slot, msg) in results.enumerate() {
            // A datagram without an IP source cannot be answered; there is none on an IP socket.
            if let Some(from) = msg.address.as_ref().and_then(to_std) {
                self.got.push(Datagram { slot, len: msg.bytes.min(buffer), wire_len: msg.bytes, from });
            }
        }
        Ok(self.got.len())
    }

    /// Sends each `(bytes, to)` in order with as few calls as the kernel takes; returns one
    /// result per datagram.
    pub fn send(socket: &UdpSocket, out: &[(&[u8], SocketAddr)]) -> Vec<io::Result<usize>> {
        let mut results = Vec::with_capacity(out.len());
        let mut rest = out;
        while !rest.is_empty() {
            let chunk = &rest[..rest.len().min(2 * MAX_BATCH)];
            let addrs: Vec<SocketAddrAny> = chunk.iter().map(|(_, a)| SocketAddrAny::from(*a)).collect();
            let slices: Vec<[IoSlice<'_>; 1]> = chunk.iter().map(|(b, _)| [IoSlice::new(b)]).collect();
            let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> =
                chunk.iter().map(|_| SendAncillaryBuffer::default()).collect();
            let mut msgs: Vec<MMsgHdr<'_>> = addrs
                .iter()
                .zip(&slices)
                .zip(controls.iter_mut())
                .map(|((a, s), c)| MMsgHdr::new_with_addr(a, s, c))
                .collect();
            match sendmmsg(socket, &mut msgs, SendFlags::empty()) {
                Ok(n) if n > 0 => {
                    let n = n.min(chunk.len());
                    results.extend(chunk[..n].iter().map(|(b, _)| Ok(b.len())));
                    rest = &rest[n..];
                }
                // Nothing went: send the first alone to learn its own error, then go on.
                _ => {
                    let (bytes, to) = rest[0];
                    results.push(socket.send_to(bytes, to));
                    rest = &rest[1..];
                }
            }
        }
        results
    }
}
