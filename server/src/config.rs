//! The gateway's settings: flags override `SOCKETLAB_*` environment variables, which override
//! an optional TOML file, which overrides the defaults below.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use socketlab_proto::wire::Limits;

use crate::capture::CaptureMode;
use crate::tcp_server::Mode;

/// `socketlab serve` flags; each also reads `SOCKETLAB_<NAME>` from the environment.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// HTTP address of the gateway [default: 127.0.0.1:8080].
    #[arg(long, env = "SOCKETLAB_HTTP")]
    pub http: Option<SocketAddr>,
    /// Address the hosted UDP and TCP servers bind [default: 127.0.0.1].
    #[arg(long, env = "SOCKETLAB_BIND")]
    pub bind: Option<IpAddr>,
    /// Port of the hosted UDP server [default: 12000].
    #[arg(long, env = "SOCKETLAB_UDP_PORT")]
    pub udp_port: Option<u16>,
    /// Port of the hosted TCP server [default: 12000].
    #[arg(long, env = "SOCKETLAB_TCP_PORT")]
    pub tcp_port: Option<u16>,
    /// How the hosted TCP server takes turns [default: concurrent].
    #[arg(long, env = "SOCKETLAB_TCP_MODE", value_enum)]
    pub tcp_mode: Option<Mode>,
    /// How long the hosted TCP server waits for a connection's message before closing it, in
    /// milliseconds, 100 to 600000 [default: 5000].
    #[arg(long, env = "SOCKETLAB_TCP_READ_TIMEOUT_MS")]
    pub tcp_read_timeout_ms: Option<u64>,
    /// Connections the hosted TCP server keeps open at once, 1 to 65536; at the cap it stops
    /// accepting [default: 512].
    #[arg(long, env = "SOCKETLAB_TCP_MAX_CONNECTIONS")]
    pub tcp_max_connections: Option<usize>,
    /// Capture packets on the servers' interface: `auto` when permitted, `on` or fail, `off`
    /// [default: auto].
    #[arg(long, env = "SOCKETLAB_CAPTURE", value_enum)]
    pub capture: Option<CaptureMode>,
    /// The interface to capture on [default: lo].
    #[arg(long, env = "SOCKETLAB_INTERFACE")]
    pub interface: Option<String>,
    /// Exchanges whose captures are kept for export [default: 1000].
    #[arg(long, env = "SOCKETLAB_STORE_EXCHANGES")]
    pub store_exchanges: Option<usize>,
    /// How long a capture is kept, in seconds [default: 3600].
    #[arg(long, env = "SOCKETLAB_STORE_SECS")]
    pub store_secs: Option<u64>,
    /// A TOML file with any of these settings (names in snake_case).
    #[arg(long, env = "SOCKETLAB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Extra origins allowed to open WebSockets, comma-separated (same origin always is).
    #[arg(long, env = "SOCKETLAB_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,
    /// The host name browsers use to reach the gateway when it is not the listen address or
    /// `localhost`, e.g. behind a reverse proxy; requests naming any other host are refused.
    #[arg(long, env = "SOCKETLAB_PUBLIC_NAME")]
    pub public_name: Option<String>,
    /// Whether WebSockets may subscribe to all traffic [default: true].
    #[arg(long, env = "SOCKETLAB_OBSERVE_ALL")]
    pub observe_all: Option<bool>,
    /// Largest message one exchange may send, in bytes [default: 8192].
    #[arg(long, env = "SOCKETLAB_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Largest WebSocket message or REST body, in bytes [default: 65536].
    #[arg(long, env = "SOCKETLAB_MAX_FRAME_BYTES")]
    pub max_frame_bytes: Option<usize>,
    /// Exchanges one WebSocket may have in flight [default: 16].
    #[arg(long, env = "SOCKETLAB_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// WebSockets one IP address may hold open [default: 32].
    #[arg(long, env = "SOCKETLAB_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Exchanges per second one IP address may start, on average [default: 20].
    #[arg(long, env = "SOCKETLAB_RATE_PER_SEC")]
    pub rate_per_sec: Option<u32>,
    /// Exchanges one IP address may start in a burst [default: 60].
    #[arg(long, env = "SOCKETLAB_BURST")]
    pub burst: Option<u32>,
    /// How long to wait for a hosted server's reply, in milliseconds [default: 2000].
    #[arg(long, env = "SOCKETLAB_EXCHANGE_TIMEOUT_MS")]
    pub exchange_timeout_ms: Option<u64>,
    /// How long a WebSocket upgrade may take, in milliseconds [default: 5000].
    #[arg(long, env = "SOCKETLAB_HANDSHAKE_TIMEOUT_MS")]
    pub handshake_timeout_ms: Option<u64>,
    /// How long a WebSocket may stay silent, in milliseconds [default: 300000].
    #[arg(long, env = "SOCKETLAB_IDLE_TIMEOUT_MS")]
    pub idle_timeout_ms: Option<u64>,
    /// How long one WebSocket may live, in milliseconds [default: 3600000].
    #[arg(long, env = "SOCKETLAB_SESSION_TIMEOUT_MS")]
    pub session_timeout_ms: Option<u64>,
}

/// The same settings as read from a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    capture: Option<CaptureMode>,
    interface: Option<String>,
    store_exchanges: Option<usize>,
    store_secs: Option<u64>,
    http: Option<SocketAddr>,
    bind: Option<IpAddr>,
    udp_port: Option<u16>,
    tcp_port: Option<u16>,
    tcp_mode: Option<Mode>,
    tcp_read_timeout_ms: Option<u64>,
    tcp_max_connections: Option<usize>,
    allowed_origins: Option<Vec<String>>,
    public_name: Option<String>,
    observe_all: Option<bool>,
    max_message_bytes: Option<usize>,
    max_frame_bytes: Option<usize>,
    max_in_flight: Option<usize>,
    max_connections_per_ip: Option<usize>,
    rate_per_sec: Option<u32>,
    burst: Option<u32>,
    exchange_timeout_ms: Option<u64>,
    handshake_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    session_timeout_ms: Option<u64>,
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("setting {name} must be {rule}")]
    Invalid { name: &'static str, rule: &'static str },
}

/// The gateway's settings, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub http: SocketAddr,
    pub bind: IpAddr,
    pub udp_port: u16,
    pub tcp_port: u16,
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
    pub observe_all: bool,
    pub capture: CaptureMode,
    pub interface: String,
    pub store_exchanges: usize,
    pub store_age: Duration,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            udp_port: 12000,
            tcp_port: 12000,
            tcp_mode: Mode::Concurrent,
            tcp_read_timeout_ms: 5000,
            tcp_max_connections: 512,
            udp_buffer: crate::udp_server::DEFAULT_BUFFER,
            tcp_buffer: crate::tcp_server::DEFAULT_BUFFER,
            allowed_origins: Vec::new(),
            public_name: None,
            observe_all: true,
            capture: CaptureMode::Auto,
            interface: "lo".to_owned(),
            store_exchanges: 1000,
            store_age: Duration::from_secs(3600),
            limits: Limits {
                max_message_bytes: 8192,
                max_frame_bytes: 64 * 1024,
                max_in_flight: 16,
                max_connections_per_ip: 32,
                rate_per_sec: 20,
                burst: 60,
                exchange_timeout_ms: 2000,
                handshake_timeout_ms: 5000,
                idle_timeout_ms: 300_000,
                session_timeout_ms: 3_600_000,
            },
        }
    }
}

impl Config {
    /// Layers flags and environment (already merged by clap) over the file over defaults.
    pub fn resolve(args: &ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let d = Self::default();
        let l = d.limits;
        let config = Self {
            http: args.http.or(file.http).unwrap_or(d.http),
            bind: args.bind.or(file.bind).unwrap_or(d.bind),
            udp_port: args.udp_port.or(file.udp_port).unwrap_or(d.udp_port),
            tcp_port: args.tcp_port.or(file.tcp_port).unwrap_or(d.tcp_port),
            tcp_mode: args.tcp_mode.or(file.tcp_mode).unwrap_or(d.tcp_mode),
            tcp_read_timeout_ms: args.tcp_read_timeout_ms.or(file.tcp_read_timeout_ms).unwrap_or(d.tcp_read_timeout_ms),
            tcp_max_connections: args.tcp_max_connections.or(file.tcp_max_connections).unwrap_or(d.tcp_max_connections),
            udp_buffer: d.udp_buffer,
            tcp_buffer: d.tcp_buffer,
            allowed_origins: args.allowed_origins.clone().or(file.allowed_origins).unwrap_or_default(),
            public_name: args.public_name.clone().or(file.public_name),
            observe_all: args.observe_all.or(file.observe_all).unwrap_or(d.observe_all),
            capture: args.capture.or(file.capture).unwrap_or(d.capture),
            interface: args.interface.clone().or(file.interface).unwrap_or(d.interface),
            store_exchanges: args.store_exchanges.or(file.store_exchanges).unwrap_or(d.store_exchanges),
            store_age: args.store_secs.or(file.store_secs).map_or(d.store_age, Duration::from_secs),
            limits: Limits {
                max_message_bytes: args.max_message_bytes.or(file.max_message_bytes).unwrap_or(l.max_message_bytes),
                max_frame_bytes: args.max_frame_bytes.or(file.max_frame_bytes).unwrap_or(l.max_frame_bytes),
                max_in_flight: args.max_in_flight.or(file.max_in_flight).unwrap_or(l.max_in_flight),
                max_connections_per_ip: args
                    .max_connections_per_ip
                    .or(file.max_connections_per_ip)
                    .unwrap_or(l.max_connections_per_ip),
                rate_per_sec: args.rate_per_sec.or(file.rate_per_sec).unwrap_or(l.rate_per_sec),
                burst: args.burst.or(file.burst).unwrap_or(l.burst),
                exchange_timeout_ms: args
                    .exchange_timeout_ms
                    .or(file.exchange_timeout_ms)
                    .unwrap_or(l.exchange_timeout_ms),
                handshake_timeout_ms: args
                    .handshake_timeout_ms
                    .or(file.handshake_timeout_ms)
                    .unwrap_or(l.handshake_timeout_ms),
                idle_timeout_ms: args.idle_timeout_ms.or(file.idle_timeout_ms).unwrap_or(l.idle_timeout_ms),
                session_timeout_ms: args.session_timeout_ms.or(file.session_timeout_ms).unwrap_or(l.session_timeout_ms),
            },
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        let public = self
            .public_name
            .as_deref()
            .is_none_or(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b)));
        let checks: [(bool, &'static str, &'static str); 10] = [
            ((100..=600_000).contains(&self.tcp_read_timeout_ms), "tcp_read_timeout_ms", "from 100 to 600000"),
            ((1..=65_536).contains(&self.tcp_max_connections), "tcp_max_connections", "from 1 to 65536"),
            (l.max_message_bytes >= 1, "max_message_bytes", "at least 1"),
            (l.max_frame_bytes >= 1024, "max_frame_bytes", "at least 1024"),
            (l.max_in_flight >= 1, "max_in_flight", "at least 1"),
            (l.max_connections_per_ip >= 1, "max_connections_per_ip", "at least 1"),
            (l.rate_per_sec >= 1, "rate_per_sec", "at least 1"),
            (l.burst >= 1, "burst", "at least 1"),
            (l.exchange_timeout_ms >= 1, "exchange_timeout_ms", "at least 1"),
            (public, "public_name", "a host name with an optional port, such as lab.example.edu"),
        ];
        match checks.into_iter().find(|(ok, _, _)| !ok) {
            Some((_, name, rule)) => Err(ConfigError::Invalid { name, rule }),
            None => Ok(()),
        }
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

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.message().to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("socketlab-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("socketlab.toml");
        std::fs::write(
            &path,
            "udp_port = 13000\ntcp_port = 13001\nburst = 5\nobserve_all = false\npublic_name = \"lab.example.edu\"\n",
        )
        .expect("write config");
        let args = ServeArgs { config: Some(path), tcp_port: Some(14000), ..ServeArgs::default() };
        let c = Config::resolve(&args).expect("valid");
        assert_eq!(c.udp_port, 13000, "from the file");
        assert_eq!(c.tcp_port, 14000, "the flag wins");
        assert_eq!(c.limits.burst, 5);
        assert!(!c.observe_all);
        assert_eq!(c.public_name.as_deref(), Some("lab.example.edu"));
        assert_eq!(c.limits.rate_per_sec, 20, "the default stays");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_files_and_values_are_named() {
        let dir = std::env::temp_dir().join(format!("socketlab-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("bad.toml");
        std::fs::write(&path, "udp_prot = 1\n").expect("write config");
        let err = Config::resolve(&ServeArgs { config: Some(path), ..ServeArgs::default() }).expect_err("unknown key");
        assert!(err.to_string().contains("udp_prot"), "{err}");

        let err = Config::resolve(&ServeArgs { burst: Some(0), ..ServeArgs::default() }).expect_err("zero burst");
        assert_eq!(err.to_string(), "setting burst must be at least 1");
        for (timeout, ok) in [(99, false), (100, true), (600_000, true), (600_001, false)] {
            let args = ServeArgs { tcp_read_timeout_ms: Some(timeout), ..ServeArgs::default() };
            assert_eq!(Config::resolve(&args).is_ok(), ok, "tcp_read_timeout_ms {timeout}");
        }
        for (cap, ok) in [(0, false), (1, true), (65_536, true), (65_537, false)] {
            let args = ServeArgs { tcp_max_connections: Some(cap), ..ServeArgs::default() };
            assert_eq!(Config::resolve(&args).is_ok(), ok, "tcp_max_connections {cap}");
        }

        let url = Some("https://lab.example.edu/".to_owned());
        let err = Config::resolve(&ServeArgs { public_name: url, ..ServeArgs::default() }).expect_err("a URL");
        assert!(err.to_string().starts_with("setting public_name must be a host name"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
