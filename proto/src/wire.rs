//! The gateway's API: WebSocket frames and REST bodies, shared by the server and the browser.
//!
//! Every WebSocket frame is a JSON object tagged by `"type"`. A client asks for exchanges; the
//! server streams each exchange's events and ends it with exactly one `reply` or one `error`.

use serde::{Deserialize, Serialize};

use crate::check::{CheckRequest, ItemResult, ListedTarget, Report};
use crate::event::Event;
use crate::impair::{Impair, Impairments, Pinger};

pub use crate::errors::{ErrorBody, ErrorCode, ErrorDetail};

/// The API version announced in `hello` and carried in every path (`/api/v1/...`).
pub const API_VERSION: u32 = 1;

/// The transport an exchange uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Udp,
    Tcp,
}

impl Protocol {
    /// The protocol's name in lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
        }
    }
}

/// Which traffic a WebSocket sees besides its own exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Only this socket's own exchanges (the default).
    Own,
    /// Also every exchange other clients make with the hosted servers.
    All,
}

/// What a browser or script sends on the WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Send one message to a hosted server and stream the exchange back.
    Exchange(ExchangeRequest),
    /// Choose which traffic this socket sees.
    Subscribe { scope: Scope },
    /// Grade a student's program against a listed target; streams `check_item` frames, then
    /// one `check_report` or `error`.
    Check(CheckRequest),
}

/// One exchange to run, over WebSocket (with `id`) or REST (without).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExchangeRequest {
    /// The client's name for this exchange, echoed on every frame about it. Required on the
    /// WebSocket, ignored by REST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The hosted server to talk to.
    pub protocol: Protocol,
    /// The sentence to send, as UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The bytes to send, in standard base64, instead of `message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_base64: Option<String>,
    /// Whether to record the timeline (default true). `false` is the lean path for scripts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<bool>,
    /// Which server to reach: the hosted one (default), or a port the gateway keeps closed on
    /// purpose to show a refused connection. Never an arbitrary address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// TCP only: milliseconds to keep the connection open before sending (at most 1000), as a
    /// slow typist does; a second client of the `iterative` target waits in the backlog meanwhile.
    #[serde(default, deserialize_with = "crate::whole::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(maximum = 1000))]
    pub hold_ms: Option<u64>,
    /// Loss on demand for this one exchange (see `Impair`): UDP `drop` (`request`, `reply`),
    /// `delay_ms` or `duplicate`; TCP `drop` (`syn`, `syn_ack`, `data`, `reply`, `fin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impair: Option<Impair>,
}

/// Where an exchange goes; only these two places exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The hosted UDP or TCP server.
    #[default]
    Hosted,
    /// A port the gateway keeps closed: TCP answers SYN with RST, UDP with ICMP port-unreachable.
    ClosedPort,
    /// TCP only: the hosted TCP server in iterative mode; later clients wait in its backlog.
    Iterative,
}

/// Whether the gateway captures packets, and why not when it does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaptureStatus {
    pub enabled: bool,
    /// The interface captured, such as `lo`.
    pub interface: String,
    /// Why capture is off (or why it stopped), in one sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the gateway sends on the WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The first frame: what this gateway hosts and which limits hold.
    Hello(Hello),
    /// One step of an exchange this socket asked for.
    Event { id: String, event: Event },
    /// One step of traffic from another client, for sockets subscribed to `all`.
    Observed { conversation: String, event: Event },
    /// The end of a successful exchange.
    Reply(Reply),
    /// The end of a failed exchange (`id` set), or a frame that could not be taken (`id` null).
    /// `exchange` names a failed exchange that ran, for lab checks and its capture. `refused_id` names the id
    /// of a refused frame whose id is already running (`duplicate_id`): that error is no end
    /// of the running exchange, so it does not carry the id in `id`.
    Error {
        id: Option<String>,
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exchange: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refused_id: Option<String>,
    },
    /// The subscription now in force.
    Subscribed { scope: Scope },
    /// One item of a check this socket asked for, as soon as it is graded, with its timeline.
    CheckItem { id: String, item: ItemResult },
    /// The end of a check that ran: the whole report, as `POST /api/v1/checks` returns it.
    CheckReport { id: String, report: Report },
}

/// The first frame on every WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hello {
    pub api_version: u32,
    /// The gateway's version.
    pub version: String,
    pub servers: Vec<HostedServer>,
    pub limits: Limits,
    /// Whether this gateway lets sockets subscribe to `all`.
    pub observe_all: bool,
    /// Packet capture: on, or off and why.
    pub capture: CaptureStatus,
    /// The port the gateway keeps closed for the `closed_port` target.
    pub closed_port: u16,
    /// The servers the operator listed for checks (empty when none).
    #[serde(default)]
    pub targets: Vec<ListedTarget>,
    /// Where client checks listen for a student's client, UDP or TCP; absent when the
    /// gateway takes no client checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_listen: Option<String>,
    /// Which `impair` kinds work here, and why TCP drops do not when they do not.
    #[serde(default)]
    pub impairments: Impairments,
    /// The hosted pinger server, which loses a share of requests on purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinger: Option<Pinger>,
    /// This gateway process. A page that reconnects and meets another value (a restart, or
    /// another instance behind a proxy) knows the exchanges it ran before are not kept here.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub instance: String,
}

/// The end of a successful exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reply {
    pub id: String,
    /// The server's answer as text, with invalid UTF-8 replaced by U+FFFD.
    pub reply: String,
    /// The exact bytes, in standard base64, when they are not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_base64: Option<String>,
    /// From the first client call to the last byte of the reply, in microseconds.
    pub elapsed_us: u64,
    /// The gateway's name for this (traced) exchange: for lab checks, and for
    /// `GET /api/v1/exchanges/{exchange}/pcapng` when its packets were captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
}

/// A finished exchange, as `POST /api/v1/exchanges` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExchangeResult {
    pub id: String,
    pub protocol: Protocol,
    pub reply: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_base64: Option<String>,
    pub elapsed_us: u64,
    /// The timeline, client and server side merged, in time order.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub events: Vec<Event>,
}

/// A server the gateway hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostedServer {
    pub protocol: Protocol,
    /// The address the server is bound to, such as `127.0.0.1:12000`.
    pub addr: String,
    pub port: u16,
    /// `up` while the server is serving, `down` after it stopped.
    pub status: ServerStatus,
    /// The receive buffer: `recvfrom(2048)` or `recv(1024)`.
    pub buffer: usize,
    /// True for the TCP server in iterative mode (the `iterative` target), as in the lesson.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub iterative: bool,
}

/// `GET /api/v1/servers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Servers {
    pub servers: Vec<HostedServer>,
    /// Whether packets are being captured now: `enabled` turns false, with a `reason`, when
    /// the capture stops.
    pub capture: CaptureStatus,
    /// The servers the operator listed for checks (empty when none).
    #[serde(default)]
    pub targets: Vec<ListedTarget>,
    /// Where client checks listen for a student's client, UDP or TCP; absent when the
    /// gateway takes no client checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_listen: Option<String>,
    /// Which `impair` kinds work here, and why not.
    #[serde(default)]
    pub impairments: Impairments,
}

/// Whether a hosted server is serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServerStatus {
    Up,
    Down,
}

/// The limits in force, all announced so that clients never have to guess.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Limits {
    /// Largest message an exchange may send, in bytes.
    pub max_message_bytes: usize,
    /// Largest WebSocket frame or message, and largest REST body, in bytes.
    pub max_frame_bytes: usize,
    /// Exchanges one WebSocket may have in flight at once.
    pub max_in_flight: usize,
    /// WebSockets one IP address may hold open at once.
    pub max_connections_per_ip: usize,
    /// WebSockets the gateway holds open at once, from everyone; past it an upgrade gets 503.
    #[serde(default)]
    pub max_connections: usize,
    /// Exchanges the gateway runs at once, WebSocket and REST; past it an exchange gets
    /// `gateway_full`.
    #[serde(default)]
    pub max_exchanges: usize,
    /// Exchanges per second one WebSocket (over REST, one IP address) may start, on average.
    pub rate_per_sec: u32,
    /// Exchanges one WebSocket (over REST, one IP address) may start in a burst.
    pub burst: u32,
    /// Exchanges per second one IP address may start in all, its WebSockets and REST together.
    #[serde(default)]
    pub rate_per_ip: u32,
    /// Exchanges one IP address may start in a burst, its WebSockets and REST together.
    #[serde(default)]
    pub burst_per_ip: u32,
    /// How long the gateway waits for a server's reply.
    pub exchange_timeout_ms: u64,
    /// How long an upgrade may take before the gateway gives up.
    pub handshake_timeout_ms: u64,
    /// How long a WebSocket may stay silent.
    pub idle_timeout_ms: u64,
    /// How long one WebSocket may live.
    pub session_timeout_ms: u64,
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
