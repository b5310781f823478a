//! Binding the servers' sockets, with errors a student can act on.
//!
//! Servers take sockets that are already bound (`run` never binds), so tests bind port 0 and
//! `serve` can report a port in use before anything starts.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket, UdpSocket};

use crate::error::NetError;

/// Binds a UDP socket to `addr`.
pub async fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, NetError> {
    UdpSocket::bind(addr).await.map_err(|e| NetError::bind(addr, e))
}

/// Binds a TCP welcome socket to `addr` and listens with `backlog`.
///
/// Unlike the lesson's server it sets `SO_REUSEADDR`, so a restart does not fail while old
/// connections linger in TIME_WAIT; a port held by a live listener is still reported in use.
pub fn bind_tcp(addr: SocketAddr, backlog: u32) -> Result<TcpListener, NetError> {
    let socket =
        if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(|e| NetError::bind(addr, e))?;
    socket.set_reuseaddr(true).map_err(|e| NetError::bind(addr, e))?;
    socket.bind(addr).map_err(|e| NetError::bind(addr, e))?;
    socket.listen(backlog).map_err(|e| NetError::bind(addr, e))
}

/// A TCP client socket bound to an ephemeral port on the address family of `server`.
pub fn client_tcp_socket(server: SocketAddr) -> Result<(TcpSocket, SocketAddr), NetError> {
    let io = |source| NetError::Io { op: "bind", source };
    let (socket, any) = if server.is_ipv4() {
        (TcpSocket::new_v4().map_err(io)?, SocketAddr::from(([0, 0, 0, 0], 0)))
    } else {
        (TcpSocket::new_v6().map_err(io)?, SocketAddr::from(([0u16; 8], 0)))
    };
    // Bind to the loopback address for loopback servers, so the local address is the one the
    // server will see and events from both ends can be matched.
    let local = if server.ip().is_loopback() { SocketAddr::new(server.ip(), 0) } else { any };
    socket.bind(local).map_err(io)?;
    let bound = socket.local_addr().map_err(io)?;
    Ok((socket, bound))
}

/// A UDP client socket bound to an ephemeral port, as `sendto` on a fresh socket would do.
///
/// It is never connected, like the lesson's client; it asks the kernel to report ICMP errors
/// anyway (`IP_RECVERR`), so a datagram to a port nobody listens on fails the next `recvfrom`
/// with "connection refused" instead of waiting out the timeout.
pub async fn client_udp_socket(server: SocketAddr) -> Result<UdpSocket, NetError> {
    let local = if server.ip().is_loopback() {
        SocketAddr::new(server.ip(), 0)
    } else if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = UdpSocket::bind(local).await.map_err(|source| NetError::Io { op: "bind", source })?;
    crate::capture::report_icmp_errors(&socket, server.is_ipv6())
        .map_err(|source| NetError::Io { op: "setsockopt(IP_RECVERR)", source })?;
    Ok(socket)
}
