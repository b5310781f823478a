//! The gateway's settings, declared once: [`Settings`] is both the `socketlab serve` flags
//! (clap, each also read from `SOCKETLAB_<NAME>`) and the TOML file's keys (serde, unknown keys
//! refused). Flags beat the environment (clap), which beats the file, which beats the defaults
//! in [`Config::default`].
//!
//! To add a setting: one field on [`Settings`], one line in [`Settings::apply`], and, for a
//! number, its range in [`range`] and a row in [`Settings::bounded`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use clap::builder::RangedU64ValueParser;
use serde::{Deserialize, Serialize};
use socketlab_proto::wire::Limits;

use crate::capture::CaptureMode;
use crate::tcp_server::Mode;

/// The allowed values of every bounded setting. The flags' value parsers, their `--help` text
/// and the check of the merged settings all read these.
pub mod range {
    use std::ops::RangeInclusive;

    pub const TCP_READ_TIMEOUT_MS: RangeInclusive<u64> = 100..=600_000;
    pub const TCP_MAX_CONNECTIONS: RangeInclusive<u64> = 1..=65_536;
    pub const STORE_EXCHANGES: RangeInclusive<u64> = 1..=1_000_000;
    pub const STORE_SECS: RangeInclusive<u64> = 1..=604_800;
    /// The largest UDP payload over IPv4.
    pub const MAX_MESSAGE_BYTES: RangeInclusive<u64> = 1..=65_507;
    pub const MAX_FRAME_BYTES: RangeInclusive<u64> = 1024..=16_777_216;
    pub const MAX_IN_FLIGHT: RangeInclusive<u64> = 1..=1024;
    pub const MAX_CONNECTIONS_PER_IP: RangeInclusive<u64> = 1..=100_000;
    pub const RATE_PER_SEC: RangeInclusive<u64> = 1..=1_000_000;
    pub const BURST: RangeInclusive<u64> = 1..=1_000_000;
    pub const EXCHANGE_TIMEOUT_MS: RangeInclusive<u64> = 1..=600_000;
    pub const HANDSHAKE_TIMEOUT_MS: RangeInclusive<u64> = 1..=600_000;
    pub const IDLE_TIMEOUT_MS: RangeInclusive<u64> = 1..=86_400_000;
    pub const SESSION_TIMEOUT_MS: RangeInclusive<u64> = 1..=604_800_000;
}

/// A clap value parser that accepts only `r`.
fn within<T: TryFrom<u64> + Clone + Send + Sync + 'static>(r: RangeInclusive<u64>) -> RangedU64ValueParser<T> {
    RangedU64ValueParser::<T>::new().range(r)
}

/// What `public_name` must look like: a host name with an optional port.
const HOST_NAME_RULE: &str = "a host name with an optional port, such as lab.example.edu";

/// A host name with an optional port, such as `lab.example.edu` or `[::1]:8080`.
fn host_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b));
    if ok { Ok(s.to_owned()) } else { Err(format!("{s:?} is not {HOST_NAME_RULE}")) }
}

/// `socketlab serve`'s settings: flags, `SOCKETLAB_*` variables and TOML keys (snake_case).
#[derive(Debug, Default, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTP address of the gateway [default: 127.0.0.1:8080].
    #[arg(long, env = "SOCKETLAB_HTTP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<SocketAddr>,
    /// Address the hosted UDP and TCP servers bind [default: 127.0.0.1].
    #[arg(long, env = "SOCKETLAB_BIND")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<IpAddr>,
    /// Port of the hosted UDP server [default: 12000].
    #[arg(long, env = "SOCKETLAB_UDP_PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp_port: Option<u16>,
    /// Port of the hosted TCP server [default: 12000].
    #[arg(long, env = "SOCKETLAB_TCP_PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_port: Option<u16>,
    /// How the hosted TCP server takes turns [default: concurrent].
    #[arg(long, env = "SOCKETLAB_TCP_MODE", value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_mode: Option<Mode>,
    /// How long the hosted TCP server waits for a connection's message before closing it, in
    /// milliseconds [default: 5000] [range: 100-600000].
    #[arg(long, env = "SOCKETLAB_TCP_READ_TIMEOUT_MS", value_parser = within::<u64>(range::TCP_READ_TIMEOUT_MS))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_read_timeout_ms: Option<u64>,
    /// Connections the hosted TCP server keeps open at once; at the cap it stops accepting
    /// [default: 512] [range: 1-65536].
    #[arg(long, env = "SOCKETLAB_TCP_MAX_CONNECTIONS", value_parser = within::<usize>(range::TCP_MAX_CONNECTIONS))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_max_connections: Option<usize>,
    /// Capture packets on the servers' interface: `auto` when permitted, `on` or fail, `off`
    /// [default: auto].
    #[arg(long, env = "SOCKETLAB_CAPTURE", value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureMode>,
    /// The interface to capture on [default: lo].
    #[arg(long, env = "SOCKETLAB_INTERFACE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Exchanges whose captures are kept for export [default: 1000] [range: 1-1000000].
    #[arg(long, env = "SOCKETLAB_STORE_EXCHANGES", value_parser = within::<usize>(range::STORE_EXCHANGES))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_exchanges: Option<usize>,
    /// How long a capture is kept, in seconds [default: 3600] [range: 1-604800].
    #[arg(long, env = "SOCKETLAB_STORE_SECS", value_parser = within::<u64>(range::STORE_SECS))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_secs: Option<u64>,
    /// A TOML file with any of these settings (names in snake_case; unknown names are an error).
    #[arg(long, env = "SOCKETLAB_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Extra origins allowed to open WebSockets, comma-separated (same origin always is).
    #[arg(long, env = "SOCKETLAB_ALLOWED_ORIGINS", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// The host name browsers use to reach the gateway when it is not the listen address or
    /// `localhost`, e.g. behind a reverse proxy; requests naming any other host are refused.
    #[arg(long, env = "SOCKETLAB_PUBLIC_NAME", value_parser = host_name)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_name: Option<String>,
    /// Whether WebSockets may subscribe to all traffic [default: true].
    #[arg(long, env = "SOCKETLAB_OBSERVE_ALL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observe_all: Option<bool>,
    /// Largest message one exchange may send, in bytes [default: 8192] [range: 1-65507].
    #[arg(long, env = "SOCKETLAB_MAX_MESSAGE_BYTES", value_parser = within::<usize>(range::MAX_MESSAGE_BYTES))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_message_bytes: Option<usize>,
    /// Largest WebSocket message or REST body, in bytes [default: 65536] [range: 1024-16777216].
    #[arg(long, env = "SOCKETLAB_MAX_FRAME_BYTES", value_parser = within::<usize>(range::MAX_FRAME_BYTES))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_frame_bytes: Option<usize>,
    /// Exchanges one WebSocket may have in flight [default: 16] [range: 1-1024].
    #[arg(long, env = "SOCKETLAB_MAX_IN_FLIGHT", value_parser = within::<usize>(range::MAX_IN_FLIGHT))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
    /// WebSockets one IP address may hold open [default: 32] [range: 1-100000].
    #[arg(long, env = "SOCKETLAB_MAX_CONNECTIONS_PER_IP", value_parser = within::<usize>(range::MAX_CONNECTIONS_PER_IP))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_ip: Option<usize>,
    /// Exchanges per second one IP address may start, on average [default: 20] [range: 1-1000000].
    #[arg(long, env = "SOCKETLAB_RATE_PER_SEC", value_parser = within::<u32>(range::RATE_PER_SEC))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_sec: Option<u32>,
    /// Exchanges one IP address may start in a burst [default: 60] [range: 1-1000000].
    #[arg(long, env = "SOCKETLAB_BURST", value_parser = within::<u32>(range::BURST))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// How long to wait for a hosted server's reply, in milliseconds [default: 2000]
    /// [range: 1-600000].
    #[arg(long, env = "SOCKETLAB_EXCHANGE_TIMEOUT_MS", value_parser = within::<u64>(range::EXCHANGE_TIMEOUT_MS))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange_timeout_ms: Option<u64>,
    /// How long each HTTP request's head (from the connection's start or its previous
    /// response), and then its body, may take, in milliseconds [default: 5000]
    /// [range: 1-600000].
    #[arg(long, env = "SOCKETLAB_HANDSHAKE_TIMEOUT_MS", value_parser = within::<u64>(range::HANDSHAKE_TIMEOUT_MS))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_timeout_ms: Option<u64>,
    /// How long a WebSocket may stay silent, in milliseconds [default: 300000]
    /// [range: 1-86400000].
    #[arg(long, env = "SOCKETLAB_IDLE_TIMEOUT_MS", value_parser = within::<u64>(range::IDLE_TIMEOUT_MS))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout_ms: Option<u64>,
    /// How long one WebSocket may live, in milliseconds [default: 3600000] [range: 1-604800000].
    #[arg(long, env = "SOCKETLAB_SESSION_TIMEOUT_MS", value_parser = within::<u64>(range::SESSION_TIMEOUT_MS))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_timeout_ms: Option<u64>,
    /// A directory of the operator's own labs (`*.toml`, see labs/README.md), offered after
    /// the built-in ones; a malformed file stops startup.
    #[arg(long, env = "SOCKETLAB_LABS_DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labs_dir: Option<PathBuf>,
    /// Servers `POST /api/v1/checks` may grade, by name; only a config file's `[targets]`
    /// table sets them, such as `my-server = "127.0.0.1:12001"`.
    #[arg(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<std::collections::BTreeMap<String, SocketAddr>>,
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("setting {name} = {value} is outside its range {min}-{max}")]
    OutOfRange { name: &'static str, value: u64, min: u64, max: u64 },
    #[error("setting {name} must be {rule}")]
    Invalid { name: &'static str, rule: &'static str },
    #[error("settings cannot be merged: {0}")]
    Merge(String),
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
    /// The servers checks may reach, by name; no request can name any other address.
    pub targets: std::collections::BTreeMap<String, SocketAddr>,
    /// The operator's labs, besides the built-in ones.
    pub labs_dir: Option<PathBuf>,
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
            targets: std::collections::BTreeMap::new(),
            labs_dir: None,
        }
    }
}

impl Settings {
    /// Reads a TOML file of settings; unknown keys and wrong types are errors naming the file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse { path: path.to_owned(), message })
    }

    /// Parses settings; an error names the line it is about, as `line 2 (`burst = "x"`): ...`.
    fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e: toml::de::Error| match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count();
                let source = text.lines().nth(line).unwrap_or_default().trim();
                format!("line {} (`{source}`): {}", line + 1, e.message())
            }
            None => e.message().to_owned(),
        })
    }

    /// `self` with every setting `over` has replacing this one's.
    pub fn overlay(self, over: &Self) -> Result<Self, ConfigError> {
        let merge = |e: toml::ser::Error| ConfigError::Merge(e.to_string());
        let mut table = toml::Table::try_from(&self).map_err(merge)?;
        table.extend(toml::Table::try_from(over).map_err(merge)?);
        let mut merged: Self = table.try_into().map_err(|e: toml::de::Error| ConfigError::Merge(e.to_string()))?;
        merged.config = over.config.clone().or(self.config);
        Ok(merged)
    }

    /// Every bounded setting: its name, its value if set, and its range.
    fn bounded(&self) -> [(&'static str, Option<u64>, RangeInclusive<u64>); 14] {
        let n = |v: Option<usize>| v.map(|v| v as u64);
        [
            ("tcp_read_timeout_ms", self.tcp_read_timeout_ms, range::TCP_READ_TIMEOUT_MS),
            ("tcp_max_connections", n(self.tcp_max_connections), range::TCP_MAX_CONNECTIONS),
            ("store_exchanges", n(self.store_exchanges), range::STORE_EXCHANGES),
            ("store_secs", self.store_secs, range::STORE_SECS),
            ("max_message_bytes", n(self.max_message_bytes), range::MAX_MESSAGE_BYTES),
            ("max_frame_bytes", n(self.max_frame_bytes), range::MAX_FRAME_BYTES),
            ("max_in_flight", n(self.max_in_flight), range::MAX_IN_FLIGHT),
            ("max_connections_per_ip", n(self.max_connections_per_ip), range::MAX_CONNECTIONS_PER_IP),
            ("rate_per_sec", self.rate_per_sec.map(u64::from), range::RATE_PER_SEC),
            ("burst", self.burst.map(u64::from), range::BURST),
            ("exchange_timeout_ms", self.exchange_timeout_ms, range::EXCHANGE_TIMEOUT_MS),
            ("handshake_timeout_ms", self.handshake_timeout_ms, range::HANDSHAKE_TIMEOUT_MS),
            ("idle_timeout_ms", self.idle_timeout_ms, range::IDLE_TIMEOUT_MS),
            ("session_timeout_ms", self.session_timeout_ms, range::SESSION_TIMEOUT_MS),
        ]
    }

    /// Refuses any setting outside its range (flags and environment were already checked by
    /// clap with the same ranges; this catches the file).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, value, range) in self.bounded() {
            if let Some(value) = value.filter(|v| !range.contains(v)) {
                return Err(ConfigError::OutOfRange { name, value, min: *range.start(), max: *range.end() });
            }
        }
        if self.public_name.as_deref().is_some_and(|n| host_name(n).is_err()) {
            return Err(ConfigError::Invalid { name: "public_name", rule: HOST_NAME_RULE });
        }
        Ok(())
    }

    /// The settings given, over `base`.
    fn apply(self, base: Config) -> Config {
        let l = base.limits.clone();
        let d = base;
        Config {
            http: self.http.unwrap_or(d.http),
            bind: self.bind.unwrap_or(d.bind),
            udp_port: self.udp_port.unwrap_or(d.udp_port),
            tcp_port: self.tcp_port.unwrap_or(d.tcp_port),
            tcp_mode: self.tcp_mode.unwrap_or(d.tcp_mode),
            tcp_read_timeout_ms: self.tcp_read_timeout_ms.unwrap_or(d.tcp_read_timeout_ms),
            tcp_max_connections: self.tcp_max_connections.unwrap_or(d.tcp_max_connections),
            udp_buffer: d.udp_buffer,
            tcp_buffer: d.tcp_buffer,
            allowed_origins: self.allowed_origins.unwrap_or(d.allowed_origins),
            public_name: self.public_name.or(d.public_name),
            observe_all: self.observe_all.unwrap_or(d.observe_all),
            capture: self.capture.unwrap_or(d.capture),
            interface: self.interface.unwrap_or(d.interface),
            store_exchanges: self.store_exchanges.unwrap_or(d.store_exchanges),
            store_age: self.store_secs.map_or(d.store_age, Duration::from_secs),
            limits: Limits {
                max_message_bytes: self.max_message_bytes.unwrap_or(l.max_message_bytes),
                max_frame_bytes: self.max_frame_bytes.unwrap_or(l.max_frame_bytes),
                max_in_flight: self.max_in_flight.unwrap_or(l.max_in_flight),
                max_connections_per_ip: self.max_connections_per_ip.unwrap_or(l.max_connections_per_ip),
                rate_per_sec: self.rate_per_sec.unwrap_or(l.rate_per_sec),
                burst: self.burst.unwrap_or(l.burst),
                exchange_timeout_ms: self.exchange_timeout_ms.unwrap_or(l.exchange_timeout_ms),
                handshake_timeout_ms: self.handshake_timeout_ms.unwrap_or(l.handshake_timeout_ms),
                idle_timeout_ms: self.idle_timeout_ms.unwrap_or(l.idle_timeout_ms),
                session_timeout_ms: self.session_timeout_ms.unwrap_or(l.session_timeout_ms),
            },
            targets: self.targets.unwrap_or(d.targets),
            labs_dir: self.labs_dir.or(d.labs_dir),
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

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
