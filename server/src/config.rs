//! The gateway's settings, declared once: [`Settings`] is both the `socketlab serve` flags
//! (clap, each also read from `SOCKETLAB_<NAME>`) and the TOML file's keys (serde, unknown keys
//! refused). Flags beat the environment (clap), which beats the file, which beats the defaults
//! in [`Config::default`].
//!
//! To add a setting: one field on [`Settings`]; its resolved field and default on [`Config`] and
//! one line in `Settings::apply` (both in `resolved.rs`); and, for a number, its range in
//! [`range`] and a row in `Settings::bounded`.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use clap::Args;
use clap::builder::RangedU64ValueParser;
use serde::{Deserialize, Serialize};

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
    pub const MAX_CONNECTIONS: RangeInclusive<u64> = 1..=1_000_000;
    pub const MAX_EXCHANGES: RangeInclusive<u64> = 1..=1_000_000;
    pub const RATE_PER_SEC: RangeInclusive<u64> = 1..=1_000_000;
    pub const BURST: RangeInclusive<u64> = 1..=1_000_000;
    pub const RATE_PER_IP: RangeInclusive<u64> = 1..=1_000_000;
    pub const BURST_PER_IP: RangeInclusive<u64> = 1..=1_000_000;
    pub const EXCHANGE_TIMEOUT_MS: RangeInclusive<u64> = 1..=600_000;
    pub const HANDSHAKE_TIMEOUT_MS: RangeInclusive<u64> = 1..=600_000;
    pub const IDLE_TIMEOUT_MS: RangeInclusive<u64> = 1..=86_400_000;
    pub const SESSION_TIMEOUT_MS: RangeInclusive<u64> = 1..=604_800_000;
    pub const CHECK_WAIT_MS: RangeInclusive<u64> = 100..=600_000;
    pub const WORKER_THREADS: RangeInclusive<u64> = 1..=1024;
    pub const SAVED_MAX_BYTES: RangeInclusive<u64> = 1024..=67_108_864;
    pub const SAVED_DAYS: RangeInclusive<u64> = 1..=36_500;
    pub const STUDENT_SESSION_DAYS: RangeInclusive<u64> = 1..=3_650;
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

/// What `database` must look like.
const DATABASE_RULE: &str = "a postgres:// or postgresql:// URL";

fn database_url(s: &str) -> Result<String, String> {
    if crate::db::is_postgres_url(s) { Ok(s.to_owned()) } else { Err(format!("the database is not {DATABASE_RULE}")) }
}

/// One `trusted_proxies` entry, checked.
fn proxy_net(s: &str) -> Result<String, String> {
    s.parse::<crate::gateway::proxy::Cidr>().map(|_| s.trim().to_owned())
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
    /// Port of the hosted pinger server, which loses 30% of requests; 0 picks a free one
    /// [default: 0].
    #[arg(long, env = "SOCKETLAB_PINGER_PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinger_port: Option<u16>,
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
    /// Directory of the embedded SQLite store (saved exchanges), created on first run
    /// [default: socketlab-data].
    #[arg(long, env = "SOCKETLAB_DATA_DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// A PostgreSQL URL such as postgres://user:password@host/db: keep saved exchanges there
    /// instead of in SQLite, shared by every instance given the same URL.
    #[arg(long, env = "SOCKETLAB_DATABASE", value_parser = database_url)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Largest saved exchange, timeline and capture together, in bytes [default: 1048576]
    /// [range: 1024-67108864].
    #[arg(long, env = "SOCKETLAB_SAVED_MAX_BYTES", value_parser = within::<usize>(range::SAVED_MAX_BYTES))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_max_bytes: Option<usize>,
    /// How long a saved exchange is kept, in days [default: 90] [range: 1-36500].
    #[arg(long, env = "SOCKETLAB_SAVED_DAYS", value_parser = within::<u64>(range::SAVED_DAYS))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_days: Option<u64>,
    /// How long a student's class cookie is accepted after joining or resuming, in days
    /// [default: 180] [range: 1-3650].
    #[arg(long, env = "SOCKETLAB_STUDENT_SESSION_DAYS", value_parser = within::<u64>(range::STUDENT_SESSION_DAYS))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub student_session_days: Option<u64>,
    /// The operator's token: `Authorization: Bearer <token>` may create classes over HTTP
    /// (without it, only `socketlab class create` creates them).
    #[arg(long, env = "SOCKETLAB_INSTRUCTOR_TOKEN", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructor_token: Option<String>,
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
    /// Reverse proxies whose forwarding header names the client, as addresses or CIDR networks,
    /// comma-separated (such as 127.0.0.1 for nginx on this machine); limits then apply to the
    /// client's address, not the proxy's. They must not cover any client's network.
    #[arg(long, env = "SOCKETLAB_TRUSTED_PROXIES", value_delimiter = ',', value_parser = proxy_net)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_proxies: Option<Vec<String>>,
    /// The one header those proxies name the client (and HTTPS) in; the other is ignored
    /// [default: x-forwarded-for].
    #[arg(long, env = "SOCKETLAB_FORWARDED_HEADER", value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_header: Option<crate::gateway::proxy::ForwardedHeader>,
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
    /// WebSockets one IP address may hold open [default: 256] [range: 1-100000].
    #[arg(long, env = "SOCKETLAB_MAX_CONNECTIONS_PER_IP", value_parser = within::<usize>(range::MAX_CONNECTIONS_PER_IP))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_ip: Option<usize>,
    /// WebSockets the gateway holds open at once in all; past it an upgrade is answered 503
    /// `gateway_full` [default: 4096] [range: 1-1000000].
    #[arg(long, env = "SOCKETLAB_MAX_CONNECTIONS", value_parser = within::<usize>(range::MAX_CONNECTIONS))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Exchanges the gateway runs at once in all, WebSocket and REST; past it an exchange is
    /// refused with `gateway_full` (503) [default: 1024] [range: 1-1000000].
    #[arg(long, env = "SOCKETLAB_MAX_EXCHANGES", value_parser = within::<usize>(range::MAX_EXCHANGES))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_exchanges: Option<usize>,
    /// Exchanges per second one WebSocket (over REST, one IP address) may start, on average
    /// [default: 20] [range: 1-1000000].
    #[arg(long, env = "SOCKETLAB_RATE_PER_SEC", value_parser = within::<u32>(range::RATE_PER_SEC))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_sec: Option<u32>,
    /// Exchanges one WebSocket (over REST, one IP address) may start in a burst [default: 60]
    /// [range: 1-1000000].
    #[arg(long, env = "SOCKETLAB_BURST", value_parser = within::<u32>(range::BURST))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Exchanges per second one IP address may start in all, its WebSockets and REST together
    /// [default: 500] [range: 1-1000000].
    #[arg(long, env = "SOCKETLAB_RATE_PER_IP", value_parser = within::<u32>(range::RATE_PER_IP))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_ip: Option<u32>,
    /// Exchanges one IP address may start in a burst, its WebSockets and REST together
    /// [default: 1500] [range: 1-1000000].
    #[arg(long, env = "SOCKETLAB_BURST_PER_IP", value_parser = within::<u32>(range::BURST_PER_IP))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst_per_ip: Option<u32>,
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
    /// Where client checks (`udp-client`, `tcp-client`) listen for a student's client, UDP
    /// or TCP; without it the gateway takes no client checks.
    #[arg(long, env = "SOCKETLAB_CHECK_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_listen: Option<SocketAddr>,
    /// How long a client check waits for the client's first message, in milliseconds
    /// [default: 60000] [range: 100-600000].
    #[arg(long, env = "SOCKETLAB_CHECK_WAIT_MS", value_parser = within::<u64>(range::CHECK_WAIT_MS))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_wait_ms: Option<u64>,
    /// Runtime worker threads, which serve every WebSocket and exchange; one per core unless
    /// set [range: 1-1024].
    #[arg(long, env = "SOCKETLAB_WORKER_THREADS", value_parser = within::<usize>(range::WORKER_THREADS))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_threads: Option<usize>,
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
    fn bounded(&self) -> [(&'static str, Option<u64>, RangeInclusive<u64>); 23] {
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
            ("max_connections", n(self.max_connections), range::MAX_CONNECTIONS),
            ("max_exchanges", n(self.max_exchanges), range::MAX_EXCHANGES),
            ("rate_per_sec", self.rate_per_sec.map(u64::from), range::RATE_PER_SEC),
            ("burst", self.burst.map(u64::from), range::BURST),
            ("rate_per_ip", self.rate_per_ip.map(u64::from), range::RATE_PER_IP),
            ("burst_per_ip", self.burst_per_ip.map(u64::from), range::BURST_PER_IP),
            ("exchange_timeout_ms", self.exchange_timeout_ms, range::EXCHANGE_TIMEOUT_MS),
            ("handshake_timeout_ms", self.handshake_timeout_ms, range::HANDSHAKE_TIMEOUT_MS),
            ("idle_timeout_ms", self.idle_timeout_ms, range::IDLE_TIMEOUT_MS),
            ("session_timeout_ms", self.session_timeout_ms, range::SESSION_TIMEOUT_MS),
            ("check_wait_ms", self.check_wait_ms, range::CHECK_WAIT_MS),
            ("saved_max_bytes", n(self.saved_max_bytes), range::SAVED_MAX_BYTES),
            ("saved_days", self.saved_days, range::SAVED_DAYS),
            ("worker_threads", n(self.worker_threads), range::WORKER_THREADS),
            ("student_session_days", self.student_session_days, range::STUDENT_SESSION_DAYS),
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
        if self.trusted_proxies.iter().flatten().any(|n| proxy_net(n).is_err()) {
            return Err(ConfigError::Invalid { name: "trusted_proxies", rule: crate::gateway::proxy::CIDR_RULE });
        }
        if self.database.as_deref().is_some_and(|u| database_url(u).is_err()) {
            return Err(ConfigError::Invalid { name: "database", rule: DATABASE_RULE });
        }
        Ok(())
    }
}

mod resolved;
pub use resolved::Config;

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
