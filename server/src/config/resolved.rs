//! [`Config`], the settings resolved: what the gateway reads, with every default filled in, and
//! the one mapping from the layered [`Settings`] onto it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use socketlab_proto::wire::Limits;

use super::{ConfigError, Settings};
use crate::capture::CaptureMode;
use crate::tcp_server::Mode;

/// The gateway's settings, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub http: SocketAddr,
    pub bind: IpAddr,
    pub udp_port: u16,
    pub tcp_port: u16,
    pub pinger_port: u16,
    pub tcp_mode: Mode,
    /// How long the hosted TCP server waits for a connection's message.
    pub tcp_read_timeout_ms: u64,
    /// The hosted TCP server's connection cap (lowered at run time to fit the descriptors).
    pub tcp_max_connections: usize,
    pub udp_buffer: usize,
    pub tcp_buffer: usize,
    pub allowed_origins: Vec<String>,
    /// A host name, besides the listen address and `localhost`, that requests may name.
    pub public_name: Option<String>,
    /// Proxies whose forwarding headers name the client.
    pub trusted_proxies: Vec<crate::gateway::proxy::Cidr>,
    /// The one header those proxies' word on the client is read from.
    pub forwarded_header: crate::gateway::proxy::ForwardedHeader,
    pub observe_all: bool,
    pub capture: CaptureMode,
    pub interface: String,
    pub store_exchanges: usize,
    pub store_age: Duration,
    /// Where the SQLite store lives (unless `database` names PostgreSQL).
    pub data_dir: PathBuf,
    /// A PostgreSQL URL; `None` for the embedded SQLite store.
    pub database: Option<String>,
    /// The largest saved exchange, timeline and capture together.
    pub saved_max_bytes: usize,
    /// How long a saved exchange is kept.
    pub saved_age: Duration,
    /// How long a student's class cookie is accepted.
    pub student_session: Duration,
    /// The operator's token for creating classes over HTTP; `None` turns that off.
    pub instructor_token: Option<String>,
    pub limits: Limits,
    /// The servers checks may reach, by name; no request can name any other address.
    pub targets: std::collections::BTreeMap<String, SocketAddr>,
    /// The operator's labs, besides the built-in ones.
    pub labs_dir: Option<PathBuf>,
    /// Where client checks listen; `None` takes no client checks.
    pub check_listen: Option<SocketAddr>,
    /// How long a client check waits for the client's first message.
    pub check_wait: Duration,
    /// The runtime's worker threads; `None` for one per core.
    pub worker_threads: Option<usize>,
    /// How long a WebSocket client may take to accept frames before it is cut off (not a
    /// setting: tests shorten it).
    pub send_timeout: Duration,
    /// The period the rate limits' `rate_per_sec` and `rate_per_ip` count over (not a
    /// setting: one second, which tests lengthen so a stall does not refill their buckets).
    pub rate_period: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            udp_port: 12000,
            tcp_port: 12000,
            pinger_port: 0,
            tcp_mode: Mode::Concurrent,
            tcp_read_timeout_ms: 5000,
            tcp_max_connections: 512,
            udp_buffer: crate::udp_server::DEFAULT_BUFFER,
            tcp_buffer: crate::tcp_server::DEFAULT_BUFFER,
            allowed_origins: Vec::new(),
            public_name: None,
            trusted_proxies: Vec::new(),
            forwarded_header: crate::gateway::proxy::ForwardedHeader::XForwardedFor,
            observe_all: true,
            capture: CaptureMode::Auto,
            interface: "lo".to_owned(),
            store_exchanges: 1000,
            store_age: Duration::from_secs(3600),
            data_dir: PathBuf::from("socketlab-data"),
            database: None,
            saved_max_bytes: 1_048_576,
            saved_age: Duration::from_secs(90 * 86_400),
            student_session: Duration::from_secs(180 * 86_400),
            instructor_token: None,
            limits: Limits {
                max_message_bytes: 8192,
                max_frame_bytes: 64 * 1024,
                max_in_flight: 16,
                max_connections_per_ip: 256,
                max_connections: 4096,
                max_exchanges: 1024,
                rate_per_sec: 20,
                burst: 60,
                rate_per_ip: 500,
                burst_per_ip: 1500,
                exchange_timeout_ms: 2000,
                handshake_timeout_ms: 5000,
                idle_timeout_ms: 300_000,
                session_timeout_ms: 3_600_000,
            },
            targets: std::collections::BTreeMap::new(),
            labs_dir: None,
            check_listen: None,
            check_wait: Duration::from_secs(60),
            worker_threads: None,
            send_timeout: Duration::from_secs(10),
            rate_period: Duration::from_secs(1),
        }
    }
}

impl Settings {
    /// The settings given, over `base`.
    pub(super) fn apply(self, base: Config) -> Config {
        let l = base.limits.clone();
        let d = base;
        Config {
            http: self.http.unwrap_or(d.http),
            bind: self.bind.unwrap_or(d.bind),
            udp_port: self.udp_port.unwrap_or(d.udp_port),
            tcp_port: self.tcp_port.unwrap_or(d.tcp_port),
            pinger_port: self.pinger_port.unwrap_or(d.pinger_port),
            tcp_mode: self.tcp_mode.unwrap_or(d.tcp_mode),
            tcp_read_timeout_ms: self.tcp_read_timeout_ms.unwrap_or(d.tcp_read_timeout_ms),
            tcp_max_connections: self.tcp_max_connections.unwrap_or(d.tcp_max_connections),
            udp_buffer: d.udp_buffer,
            tcp_buffer: d.tcp_buffer,
            allowed_origins: self.allowed_origins.unwrap_or(d.allowed_origins),
            public_name: self.public_name.or(d.public_name),
            trusted_proxies: match self.trusted_proxies {
                Some(nets) => nets.iter().filter_map(|n| n.parse().ok()).collect(),
                None => d.trusted_proxies,
            },
            forwarded_header: self.forwarded_header.unwrap_or(d.forwarded_header),
            observe_all: self.observe_all.unwrap_or(d.observe_all),
            capture: self.capture.unwrap_or(d.capture),
            interface: self.interface.unwrap_or(d.interface),
            store_exchanges: self.store_exchanges.unwrap_or(d.store_exchanges),
            store_age: self.store_secs.map_or(d.store_age, Duration::from_secs),
            data_dir: self.data_dir.unwrap_or(d.data_dir),
            database: self.database.or(d.database),
            saved_max_bytes: self.saved_max_bytes.unwrap_or(d.saved_max_bytes),
            saved_age: self.saved_days.map_or(d.saved_age, |days| Duration::from_secs(days * 86_400)),
            student_session: self
                .student_session_days
                .map_or(d.student_session, |days| Duration::from_secs(days * 86_400)),
            instructor_token: self.instructor_token.or(d.instructor_token).filter(|t| !t.is_empty()),
            limits: Limits {
                max_message_bytes: self.max_message_bytes.unwrap_or(l.max_message_bytes),
                max_frame_bytes: self.max_frame_bytes.unwrap_or(l.max_frame_bytes),
                max_in_flight: self.max_in_flight.unwrap_or(l.max_in_flight),
                max_connections_per_ip: self.max_connections_per_ip.unwrap_or(l.max_connections_per_ip),
                max_connections: self.max_connections.unwrap_or(l.max_connections),
                max_exchanges: self.max_exchanges.unwrap_or(l.max_exchanges),
                rate_per_sec: self.rate_per_sec.unwrap_or(l.rate_per_sec),
                burst: self.burst.unwrap_or(l.burst),
                rate_per_ip: self.rate_per_ip.unwrap_or(l.rate_per_ip),
                burst_per_ip: self.burst_per_ip.unwrap_or(l.burst_per_ip),
                exchange_timeout_ms: self.exchange_timeout_ms.unwrap_or(l.exchange_timeout_ms),
                handshake_timeout_ms: self.handshake_timeout_ms.unwrap_or(l.handshake_timeout_ms),
                idle_timeout_ms: self.idle_timeout_ms.unwrap_or(l.idle_timeout_ms),
                session_timeout_ms: self.session_timeout_ms.unwrap_or(l.session_timeout_ms),
            },
            targets: self.targets.unwrap_or(d.targets),
            labs_dir: self.labs_dir.or(d.labs_dir),
            check_listen: self.check_listen.or(d.check_listen),
            check_wait: self.check_wait_ms.map_or(d.check_wait, Duration::from_millis),
            worker_threads: self.worker_threads.or(d.worker_threads),
            send_timeout: d.send_timeout,
            rate_period: d.rate_period,
        }
    }
}

impl Config {
    /// Layers flags and environment (`args`, already merged by clap) over the file they name
    /// over the defaults, and checks every range.
    pub fn resolve(args: &Settings) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        let merged = file.overlay(args)?;
        merged.validate()?;
        Ok(merged.apply(Self::default()))
    }

    /// The hosted TCP server's bounds, with the cap lowered to `fd_room` when that is smaller.
    pub fn tcp_bounds(&self, fd_room: usize) -> crate::tcp_server::Bounds {
        crate::tcp_server::Bounds {
            read_timeout: Some(Duration::from_millis(self.tcp_read_timeout_ms)),
            max_connections: Some(self.tcp_max_connections.min(fd_room).max(1)),
        }
    }

    /// The exchange timeout as a duration.
    pub fn exchange_timeout(&self) -> Duration {
        Duration::from_millis(self.limits.exchange_timeout_ms)
    }
}
