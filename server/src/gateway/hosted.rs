//! The servers the gateway hosts (UDP, TCP, and TCP in iterative mode for the backlog lab), and
//! the port it keeps closed on purpose.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use socketlab_proto::wire::{HostedServer as HostedInfo, Protocol, ServerStatus, Target};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::NetError;
use crate::log::Log;
use crate::net;
use crate::tcp_server::{Mode, TcpServer, TcpStatus};

/// One hosted server as the gateway sees it.
#[derive(Debug)]
pub struct Hosted {
    pub protocol: Protocol,
    pub addr: SocketAddr,
    pub buffer: usize,
    /// The TCP server in iterative mode, beside the concurrent one.
    pub iterative: bool,
    pub(super) up: AtomicBool,
    pub(super) stop: CancellationToken,
    /// Why the server stopped, when it failed.
    failure: Mutex<Option<String>>,
}

impl Hosted {
    pub(super) fn new(protocol: Protocol, addr: SocketAddr, buffer: usize) -> Self {
        Self {
            protocol,
            addr,
            buffer,
            iterative: false,
            up: AtomicBool::new(true),
            stop: CancellationToken::new(),
            failure: Mutex::new(None),
        }
    }

    /// The same, for the TCP server in iterative mode.
    pub(super) fn iterative(mut self) -> Self {
        self.iterative = true;
        self
    }

    fn name(&self) -> String {
        let name = self.protocol.as_str().to_uppercase();
        if self.iterative { format!("iterative {name}") } else { name }
    }

    /// Records how the server's `run` ended: it no longer serves, and a failure is logged and
    /// kept for `/healthz`.
    pub(super) fn ended(&self, result: Result<(), NetError>) {
        self.up.store(false, Ordering::Relaxed);
        let name = self.name();
        match result {
            Ok(()) => tracing::info!(server = %name, addr = %self.addr, "hosted server stopped"),
            Err(e) => {
                tracing::error!(server = %name, addr = %self.addr, error = %e, "hosted server failed");
                *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
            }
        }
    }

    /// Why the server is not serving, if it is not.
    pub(super) fn problem(&self) -> Option<String> {
        if self.is_up() {
            return None;
        }
        let name = self.name();
        Some(match &*self.failure.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(e) => format!("the hosted {name} server on {} failed: {e}", self.addr),
            None => format!("the hosted {name} server on {} is not running", self.addr),
        })
    }

    /// Whether the server is still serving.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub(super) fn describe(&self) -> HostedInfo {
        HostedInfo {
            protocol: self.protocol,
            addr: self.addr.to_string(),
            port: self.addr.port(),
            status: if self.is_up() { ServerStatus::Up } else { ServerStatus::Down },
            buffer: self.buffer,
            iterative: self.iterative,
        }
    }
}

/// The hosted servers: UDP, TCP, and TCP in iterative mode for the backlog.
#[derive(Debug)]
pub struct HostedServers {
    pub udp: Hosted,
    pub tcp: Hosted,
    pub tcp_iterative: Hosted,
}

impl HostedServers {
    pub fn get(&self, p: Protocol) -> &Hosted {
        match p {
            Protocol::Udp => &self.udp,
            Protocol::Tcp => &self.tcp,
        }
    }

    /// The server an exchange with `target` reaches; the closed port is not a server.
    pub fn for_target(&self, p: Protocol, target: Target) -> &Hosted {
        match (p, target) {
            (Protocol::Tcp, Target::Iterative) => &self.tcp_iterative,
            _ => self.get(p),
        }
    }

    pub(super) fn all(&self) -> [&Hosted; 3] {
        [&self.udp, &self.tcp, &self.tcp_iterative]
    }

    pub(super) fn describe(&self) -> Vec<HostedInfo> {
        self.all().iter().map(|h| h.describe()).collect()
    }
}

/// Runs the backlog lab's TCP server: one client at a time, as in the lesson, with the hosted
/// server's bounds so that a silent client is closed in time.
pub(super) fn spawn_iterative(
    state: &Arc<super::AppState>,
    listener: TcpListener,
    bounds: crate::tcp_server::Bounds,
    tasks: &tokio_util::task::TaskTracker,
) {
    let c = &state.config;
    let server = TcpServer::new(listener, c.tcp_buffer, Mode::Iterative, state.tracer.clone(), Log::Quiet)
        .bounded(bounds, Arc::new(TcpStatus::default()));
    let (s, stop) = (Arc::clone(state), state.servers.tcp_iterative.stop.clone());
    tasks.spawn(async move { s.servers.tcp_iterative.ended(server.run(stop).await) });
}

/// A port nobody listens on, kept that way by the gateway so no other program can take it.
///
/// A TCP socket bound to it but never listening makes the kernel answer every SYN with RST. A
/// UDP socket bound to it and connected to its own address holds the UDP port too, yet matches
/// no datagram from anyone else (a connected UDP socket only takes datagrams from its peer), so
/// the kernel still answers each one with ICMP port unreachable.
#[derive(Debug)]
pub struct ClosedPort {
    pub addr: SocketAddr,
    _tcp: TcpSocket,
    _udp: std::net::UdpSocket,
}

impl ClosedPort {
    /// Reserves a port on `ip` for both TCP and UDP.
    pub fn reserve(ip: IpAddr) -> Result<Self, NetError> {
        let io = |source| NetError::Io { op: "bind", source };
        for _ in 0..20 {
            let tcp = if ip.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(io)?;
            tcp.bind(SocketAddr::new(ip, 0)).map_err(io)?;
            let addr = tcp.local_addr().map_err(io)?;
            // Someone may hold the UDP twin already; try another port then.
            let Ok(udp) = std::net::UdpSocket::bind(addr) else { continue };
            udp.connect(addr).map_err(|source| NetError::Io { op: "connect", source })?;
            return Ok(Self { addr, _tcp: tcp, _udp: udp });
        }
        Err(io(std::io::Error::other("no port with a free UDP twin was found")))
    }
}

/// The gateway's sockets, bound before anything runs.
#[derive(Debug)]
pub struct Bound {
    pub http: TcpListener,
    pub udp: UdpSocket,
    pub tcp: TcpListener,
    /// The TCP server in iterative mode, on a port the kernel picks (listed in `hello`).
    pub tcp_iterative: TcpListener,
    pub closed: ClosedPort,
    pub pinger: UdpSocket,
}

impl Bound {
    /// Binds the sockets `config` names, and the iterative TCP server's on any free port.
    pub async fn bind(config: &Config) -> Result<Self, NetError> {
        let udp = net::bind_udp(SocketAddr::new(config.bind, config.udp_port)).await?;
        let tcp = net::bind_tcp(SocketAddr::new(config.bind, config.tcp_port), 128)?;
        let http = TcpListener::bind(config.http).await.map_err(|e| NetError::bind(config.http, e))?;
        let tcp_iterative = net::bind_tcp(SocketAddr::new(config.bind, 0), 128)?;
        let closed = ClosedPort::reserve(config.bind)?;
        let pinger = net::bind_udp(SocketAddr::new(config.bind, config.pinger_port)).await?;
        Ok(Self { http, udp, tcp, tcp_iterative, closed, pinger })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_server_is_down_with_its_reason() {
        let h = Hosted::new(Protocol::Tcp, SocketAddr::from(([127, 0, 0, 1], 12000)), 1024);
        assert_eq!(h.problem(), None);
        h.ended(Err(NetError::Io { op: "accept", source: std::io::Error::other("boom") }));
        assert!(!h.is_up());
        assert_eq!(
            h.problem().as_deref(),
            Some("the hosted TCP server on 127.0.0.1:12000 failed: accept failed: boom")
        );
        assert_eq!(h.describe().status, ServerStatus::Down);
    }

    #[test]
    fn the_closed_port_refuses_udp_from_anyone() {
        let closed = ClosedPort::reserve(IpAddr::from([127, 0, 0, 1])).expect("reserve");
        assert!(std::net::UdpSocket::bind(closed.addr).is_err(), "held");
        let client = std::net::UdpSocket::bind("127.0.0.1:0").expect("client");
        client.connect(closed.addr).expect("connect");
        client.set_read_timeout(Some(std::time::Duration::from_secs(5))).expect("timeout");
        client.send(b"knock").expect("send");
        let mut buf = [0u8; 16];
        let err = client.recv(&mut buf).expect_err("no socket takes the datagram");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "ICMP port unreachable");
    }
}
