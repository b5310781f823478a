//! The timeline's atoms: one typed event for every socket call and every packet.
//!
//! Servers, the gateway's client side and (later) packet capture all speak this one type, so
//! `--trace`, the WebSocket stream and the browser's diagram never translate between shapes.
//! Events are plain data; the clock that stamps them lives with whoever does the I/O.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// How many payload bytes an event carries for display.
pub const PREVIEW_BYTES: usize = 96;

/// Which end of an exchange produced an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The program that starts the exchange: the gateway, a student's client, `nc`.
    Client,
    /// A hosted upper-case server.
    Server,
}

/// What a socket is for, in the lesson's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The UDP server's one socket, which serves every client.
    Udp,
    /// The TCP server's welcome (listening) socket.
    Welcome,
    /// A TCP connection socket that `accept()` made for one client.
    Connection,
    /// A client's socket, UDP or TCP.
    Client,
}

/// The transport protocol of a socket or packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// User Datagram Protocol.
    Udp,
    /// Transmission Control Protocol.
    Tcp,
}

/// Identifies one socket for the lifetime of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SocketRef {
    /// A number unique within the process that made the socket.
    pub id: u64,
    /// What the socket is for.
    pub role: Role,
    /// UDP or TCP.
    pub transport: Transport,
}

/// The operation an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `socket()`: a socket was created.
    Socket,
    /// `bind()`: the socket took its local address.
    Bind,
    /// `listen()`: a TCP socket became a welcome socket.
    Listen,
    /// `accept()`: the welcome socket handed over a new connection socket.
    Accept,
    /// `connect()`: a TCP client opened a connection.
    Connect,
    /// `send()` on a connected socket.
    Send,
    /// `recv()` on a connected socket; zero bytes means the peer closed.
    Recv,
    /// `sendto()` of one datagram.
    Sendto,
    /// `recvfrom()` of one datagram.
    Recvfrom,
    /// `shutdown()` of the sending direction.
    Shutdown,
    /// `close()`: the socket is gone.
    Close,
    /// A packet on the wire: a TCP segment or a UDP datagram.
    Segment,
}

impl Op {
    /// The operation's name as the socket API spells it, such as `recvfrom`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Socket => "socket",
            Self::Bind => "bind",
            Self::Listen => "listen",
            Self::Accept => "accept",
            Self::Connect => "connect",
            Self::Send => "send",
            Self::Recv => "recv",
            Self::Sendto => "sendto",
            Self::Recvfrom => "recvfrom",
            Self::Shutdown => "shutdown",
            Self::Close => "close",
            Self::Segment => "segment",
        }
    }
}

/// Facts about an event worth a badge in the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// The payload did not fit the receive buffer and the rest was discarded.
    Truncated,
    /// The payload was not valid UTF-8.
    InvalidUtf8,
    /// The event was derived from socket calls, not observed on the wire.
    Inferred,
    /// The call failed; `detail` says why.
    Failed,
    /// The packet was lost on purpose (the exchange's `impair`): sent, never delivered.
    Lost,
    /// A TCP segment the kernel sent again because the first copy was not acknowledged in
    /// time, as Wireshark's `TCP Retransmission`.
    Retransmission,
}

/// One packet, as drawn on the diagram.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// TCP flags in Wireshark's order and spelling, such as `SYN` or `SYN,ACK`; empty for a
    /// UDP datagram; `ICMP port unreachable` for that ICMP message.
    pub flags: String,
    /// Payload length in bytes.
    pub len: u64,
    /// The TCP sequence number, absolute, when captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
    /// The TCP acknowledgment number, absolute, when captured and the ACK flag is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<u32>,
    /// `seq` relative to this direction's initial sequence number, as Wireshark shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel_seq: Option<u32>,
    /// `ack` relative to the other direction's initial sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel_ack: Option<u32>,
    /// The advertised receive window, unscaled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u16>,
    /// TCP options, such as `MSS=65495`, `WS=7`, `SACK_PERM`, `TS val=1 ecr=0`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Segment {
    /// An inferred packet: only flags and length are known.
    pub fn inferred(flags: &str, len: u64) -> Self {
        Self { flags: flags.to_owned(), len, ..Self::default() }
    }
}

/// One step on the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When the call returned (or the packet was seen), in microseconds on a monotonic clock.
    pub t_us: u64,
    /// When a blocking call started, if it blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_us: Option<u64>,
    /// Which end of the exchange produced the event.
    pub side: Side,
    /// The socket that made the call or sent the packet.
    pub socket: SocketRef,
    /// What happened.
    pub op: Op,
    /// The socket's own address; for a packet, its source.
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "crate::addr::serialize_opt")]
    pub local: Option<SocketAddr>,
    /// The other end's address; for a packet, its destination.
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "crate::addr::serialize_opt")]
    pub peer: Option<SocketAddr>,
    /// Bytes the call moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Bytes that arrived on the wire, when more arrived than the call kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire_bytes: Option<u64>,
    /// The first bytes of the payload as text, with invalid UTF-8 replaced by U+FFFD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    /// The same bytes in hexadecimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_hex: Option<String>,
    /// Badges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<Flag>,
    /// One sentence for people: why a call failed, how much was truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The packet, when `op` is `segment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Segment>,
    /// The connection socket that `accept()` handed over, when `op` is `accept`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawned: Option<SocketRef>,
}

impl Event {
    /// A new event with only the required fields set.
    pub fn new(t_us: u64, side: Side, socket: SocketRef, op: Op) -> Self {
        Self {
            t_us,
            started_us: None,
            side,
            socket,
            op,
            local: None,
            peer: None,
            bytes: None,
            wire_bytes: None,
            preview: None,
            preview_hex: None,
            flags: Vec::new(),
            detail: None,
            segment: None,
            spawned: None,
        }
    }

    /// Sets the local and peer addresses.
    #[must_use]
    pub fn addrs(mut self, local: Option<SocketAddr>, peer: Option<SocketAddr>) -> Self {
        self.local = local;
        self.peer = peer;
        self
    }

    /// Records the payload a call moved: its length, a preview and the UTF-8 badge.
    #[must_use]
    pub fn payload(mut self, data: &[u8]) -> Self {
        self.bytes = Some(data.len() as u64);
        let shown = &data[..data.len().min(PREVIEW_BYTES)];
        self.preview = Some(String::from_utf8_lossy(shown).into_owned());
        self.preview_hex = Some(hex(shown));
        if std::str::from_utf8(data).is_err() {
            self.flag(Flag::InvalidUtf8);
        }
        self
    }

    /// Marks when a blocking call started.
    #[must_use]
    pub fn started(mut self, started_us: u64) -> Self {
        self.started_us = Some(started_us);
        self
    }

    /// Adds a sentence for people.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a badge once.
    pub fn flag(&mut self, flag: Flag) {
        if !self.flags.contains(&flag) {
            self.flags.push(flag);
        }
    }

    /// Adds a badge once, builder style.
    #[must_use]
    pub fn with_flag(mut self, flag: Flag) -> Self {
        self.flag(flag);
        self
    }

    /// True when the event carries `flag`.
    pub fn has(&self, flag: Flag) -> bool {
        self.flags.contains(&flag)
    }
}

/// Lower-case hexadecimal with a space between bytes, as Wireshark's byte pane shows it.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock() -> SocketRef {
        SocketRef { id: 7, role: Role::Udp, transport: Transport::Udp }
    }

    #[test]
    fn payload_sets_preview_hex_and_utf8_badge() {
        let ok = Event::new(1, Side::Server, sock(), Op::Recvfrom).payload(b"hi");
        assert_eq!(ok.bytes, Some(2));
        assert_eq!(ok.preview.as_deref(), Some("hi"));
        assert_eq!(ok.preview_hex.as_deref(), Some("68 69"));
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "00 0f a0 ff");
        assert_eq!(hex(&[]), "");
        assert!(!ok.has(Flag::InvalidUtf8));

        let bad = Event::new(1, Side::Server, sock(), Op::Recvfrom).payload(b"a\xff");
        assert_eq!(bad.preview.as_deref(), Some("a\u{fffd}"));
        assert!(bad.has(Flag::InvalidUtf8));
    }

    #[test]
    fn preview_is_bounded() {
        let big = vec![b'x'; 5000];
        let e = Event::new(1, Side::Client, sock(), Op::Sendto).payload(&big);
        assert_eq!(e.bytes, Some(5000));
        assert_eq!(e.preview.map(|p| p.len()), Some(PREVIEW_BYTES));
    }

    #[test]
    fn serializes_compactly_with_snake_case_names() {
        let e = Event::new(42, Side::Server, sock(), Op::Recvfrom)
            .addrs(Some(([127, 0, 0, 1], 12000).into()), Some(([127, 0, 0, 1], 5555).into()))
            .with_flag(Flag::Truncated);
        let json = serde_json::to_value(&e).expect("serializes");
        assert_eq!(json["op"], "recvfrom");
        assert_eq!(json["side"], "server");
        assert_eq!(json["socket"]["role"], "udp");
        assert_eq!(json["local"], "127.0.0.1:12000");
        assert_eq!(json["flags"][0], "truncated");
        assert!(json.get("segment").is_none());
        let back: Event = serde_json::from_value(json).expect("round-trips");
        assert_eq!(back, e);
    }
}
