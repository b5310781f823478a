//! The errors of the servers and clients, each worded so that a student knows what to do.
//!
//! `main` prints one of these as a single line and exits non-zero; the gateway maps them to
//! API error codes.

use std::io;
use std::net::SocketAddr;

/// What can go wrong with a socket in this crate.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Another program already holds the address.
    #[error("address {addr} is already in use: stop the program holding port {port} or choose another port with --port", port = addr.port())]
    AddrInUse { addr: SocketAddr },
    /// Binding failed for another reason, such as an address this host does not have.
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    /// Nobody listens at the address (TCP), or an ICMP port-unreachable came back (UDP).
    #[error("connection refused by {addr}: is the server running on that port?")]
    Refused { addr: SocketAddr },
    /// The host name did not resolve.
    #[error("unknown host {host:?}: {reason}")]
    UnknownHost { host: String, reason: String },
    /// No UDP reply came in time.
    #[error("no reply from {addr} within {ms} ms: the datagram or its reply was lost, or the server is not running")]
    Timeout { addr: SocketAddr, ms: u64 },
    /// A TCP step did not finish in time. TCP retransmits what is lost, so nothing was lost:
    /// the server is busy (another client holds it), stalled or unreachable.
    #[error(
        "{addr} did not {step} within {ms} ms: TCP resends lost segments, so the server is busy serving another client, stalled, or unreachable"
    )]
    TcpTimeout { addr: SocketAddr, ms: u64, step: &'static str },
    /// Any other socket call failed.
    #[error("{op} failed: {source}")]
    Io { op: &'static str, source: io::Error },
}

impl NetError {
    /// Wraps a failed bind, recognising the common "address in use" case.
    pub fn bind(addr: SocketAddr, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::AddrInUse { Self::AddrInUse { addr } } else { Self::Bind { addr, source } }
    }

    /// Wraps a failed call that talked to `addr`, recognising a refused connection.
    pub fn io(op: &'static str, addr: SocketAddr, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::ConnectionRefused { Self::Refused { addr } } else { Self::Io { op, source } }
    }
}

/// Resolves `host:port` to one IPv4 or IPv6 address, preferring IPv4 like the lesson.
pub async fn resolve(host: &str, port: u16) -> Result<SocketAddr, NetError> {
    let unknown = |reason: String| NetError::UnknownHost { host: host.to_owned(), reason };
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host, port)).await.map_err(|e| unknown(e.to_string()))?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| unknown("the name has no addresses".to_owned()))
}
