//! Loss on demand: the `impair` field of an exchange request, its rules, and how a lost packet
//! is shown on the timeline.
//!
//! On loopback nothing is ever lost, so the lesson's contrast (UDP may lose a datagram, TCP
//! retransmits) is invisible. An exchange may ask for one impairment: a UDP datagram lost, its
//! reply delayed or duplicated (the hosted server does this itself), or one TCP segment of the
//! connection dropped once (the kernel then retransmits it). This module only describes and
//! checks the request and marks lost packets on a timeline; the I/O lives in the server.

use serde::{Deserialize, Serialize};

use crate::event::{Event, Flag, Op, Segment, Side, Transport};
use crate::wire::Protocol;

/// The longest `delay_ms` an exchange may ask for.
pub const MAX_DELAY_MS: u64 = 5000;

/// Which one packet to lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Lose {
    /// UDP: the client's datagram.
    Request,
    /// UDP: the server's answer. TCP: the server's first data segment.
    Reply,
    /// TCP: the client's SYN.
    Syn,
    /// TCP: the server's SYN-ACK.
    SynAck,
    /// TCP: the client's first data segment.
    Data,
    /// TCP: the first FIN.
    Fin,
}

impl Lose {
    /// The value as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Reply => "reply",
            Self::Syn => "syn",
            Self::SynAck => "syn_ack",
            Self::Data => "data",
            Self::Fin => "fin",
        }
    }
}

/// `"impair"`: what to do to one exchange's packets. At most one kind per exchange.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Impair {
    /// Lose one packet. UDP: `request` or `reply`. TCP: `syn`, `syn_ack`, `data`, `reply`
    /// or `fin`, dropped once so that the kernel retransmits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<Lose>,
    /// UDP only: the server waits this long before it answers (at most 5000, and below the
    /// gateway's exchange timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5000))]
    pub delay_ms: Option<u64>,
    /// UDP only: the server sends its answer twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
}

/// Which impairments this gateway can apply, and why not, as `hello` and `/api/v1/servers`
/// announce them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Impairments {
    /// UDP drops, delays and duplicates: the hosted server does them, so they always work.
    pub udp: bool,
    /// TCP drops, which need nftables and the CAP_NET_ADMIN capability.
    pub tcp: bool,
    /// Why TCP drops are unavailable, in one sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_reason: Option<String>,
}

/// The pinger server `serve` hosts, for the pinger lab: it upper-cases and loses a share of
/// requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pinger {
    /// Such as `127.0.0.1:40123`.
    pub addr: String,
    pub port: u16,
    /// The share of requests it loses, in percent.
    pub loss_percent: u32,
    /// The seed of its losses.
    pub seed: u64,
}

/// A checked impairment for a UDP exchange, done by the hosted server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpImpair {
    pub drop_request: bool,
    pub drop_reply: bool,
    pub delay_ms: u64,
    pub duplicate: bool,
}

/// A checked impairment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to do.
    None,
    Udp(UdpImpair),
    /// Drop this one TCP segment once.
    Tcp(Lose),
}

impl<'de> Deserialize<'de> for Impair {
    /// Only from an object: serde's derive would also take an array of the fields in order.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            #[serde(default)]
            drop: Option<Lose>,
            // `1755.0` is a whole number to JSON Schema, and so to the OpenAPI document.
            #[serde(default, deserialize_with = "crate::whole::option")]
            delay_ms: Option<u64>,
            #[serde(default)]
            duplicate: Option<bool>,
        }
        struct Object;
        impl<'de> serde::de::Visitor<'de> for Object {
            type Value = Impair;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object with drop, delay_ms or duplicate")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Impair, A::Error> {
                let f = Fields::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Impair { drop: f.drop, delay_ms: f.delay_ms, duplicate: f.duplicate })
            }
        }
        d.deserialize_map(Object)
    }
}

impl Impair {
    /// How many of the fields are given (not absent, not null); at most one may be.
    pub fn kinds(&self) -> usize {
        usize::from(self.drop.is_some()) + usize::from(self.delay_ms.is_some()) + usize::from(self.duplicate.is_some())
    }

    /// Checks the combination against the protocol; the error is one sentence naming the field.
    pub fn plan(&self, protocol: Protocol) -> Result<Plan, String> {
        if self.kinds() > 1 {
            return Err("impair takes one of drop, delay_ms or duplicate, not several".to_owned());
        }
        match protocol {
            Protocol::Udp => {
                let mut u = UdpImpair::default();
                match self.drop {
                    None => {}
                    Some(Lose::Request) => u.drop_request = true,
                    Some(Lose::Reply) => u.drop_reply = true,
                    Some(other) => {
                        return Err(format!(
                            "impair.drop {:?} is for TCP; UDP can drop \"request\" or \"reply\"",
                            other.as_str()
                        ));
                    }
                }
                if let Some(ms) = self.delay_ms {
                    if ms == 0 || ms > MAX_DELAY_MS {
                        return Err(format!("impair.delay_ms must be between 1 and {MAX_DELAY_MS}"));
                    }
                    u.delay_ms = ms;
                }
                u.duplicate = self.duplicate == Some(true);
                Ok(if u == UdpImpair::default() { Plan::None } else { Plan::Udp(u) })
            }
            Protocol::Tcp => {
                if self.delay_ms.is_some() || self.duplicate.is_some() {
                    return Err("impair.delay_ms and impair.duplicate are for UDP; TCP can only drop".to_owned());
                }
                match self.drop {
                    None => Ok(Plan::None),
                    Some(Lose::Request) => Err(
                        "impair.drop \"request\" is for UDP; TCP can drop \"syn\", \"syn_ack\", \"data\", \"reply\" or \"fin\""
                            .to_owned(),
                    ),
                    Some(l) => Ok(Plan::Tcp(l)),
                }
            }
        }
    }
}

/// Why a lost datagram never arrived, for the inspector.
fn lost_note(from: Side) -> &'static str {
    match from {
        Side::Client => {
            "Lost: the hosted server discarded this datagram on purpose (impair drop: request), as the textbook's pinger server does. UDP does not notice or resend it; the client waits until its timeout."
        }
        Side::Server => {
            "Lost: the hosted server did not let this reply reach the client (impair drop: reply). UDP does not notice or resend it; the client waits until its timeout."
        }
    }
}

/// Marks the first UDP datagram sent by `from` as lost. When no packet stands for it (the
/// capture saw nothing because it never went on the wire), one is added at the `sendto` that
/// sent it, flagged `inferred` and `lost`.
pub fn mark_lost_datagram(events: &mut Vec<Event>, from: Side) {
    let is_datagram = |e: &Event| {
        e.op == Op::Segment
            && e.side == from
            && e.segment.as_ref().is_some_and(|s| s.flags.is_empty())
            && e.socket.transport == Transport::Udp
    };
    if let Some(e) = events.iter_mut().find(|e| is_datagram(e)) {
        e.flag(Flag::Lost);
        e.detail = Some(lost_note(from).to_owned());
        return;
    }
    let Some(send) = events.iter().find(|e| e.op == Op::Sendto && e.side == from && !e.has(Flag::Failed)) else {
        return;
    };
    let mut lost = Event::new(send.t_us, from, send.socket, Op::Segment)
        .addrs(send.local, send.peer)
        .with_flag(Flag::Inferred)
        .with_flag(Flag::Lost)
        .detail(lost_note(from));
    lost.segment = Some(Segment::inferred("", send.bytes.unwrap_or(0)));
    let at = events.iter().position(|e| e.t_us > send.t_us).unwrap_or(events.len());
    events.insert(at, lost);
}

/// Whether a captured segment is one the nftables rule for `lose` drops: each arm follows that
/// rule's match (server/src/impair/nft.rs), so that a message longer than one segment has its
/// loss on the segment that carries PSH, the one the rule drops, not on the first.
fn is_target(lose: Lose, e: &Event) -> bool {
    let Some(s) = &e.segment else { return false };
    let flags: Vec<&str> = s.flags.split(',').collect();
    let has = |f: &str| flags.contains(&f);
    let pushed = has("PSH") && !has("SYN") && !has("RST");
    match lose {
        Lose::Syn => e.side == Side::Client && has("SYN") && !has("ACK"),
        Lose::SynAck => e.side == Side::Server && has("SYN") && has("ACK"),
        Lose::Data => e.side == Side::Client && pushed,
        Lose::Reply => e.side == Side::Server && pushed,
        Lose::Fin => e.side == Side::Server && has("FIN"),
        Lose::Request => false,
    }
}

/// Why the kernel resent a segment, and after how long.
fn retransmit_note(waited_us: u64) -> String {
    format!(
        "TCP Retransmission: no acknowledgment came for the first copy, so the kernel sent it again after {} ms, when its retransmission timeout (RTO) ran out. The first SYN's RTO is 1 s; later ones follow the measured round-trip time (at least 200 ms).",
        waited_us / 1000
    )
}

/// Marks the captured TCP segment that `lose` dropped as lost, and the copies the kernel sent
/// again (same direction, sequence number, flags and length) as retransmissions. The rule drops
/// the first segment it matches; that segment is marked only when a later copy was captured,
/// the evidence that the receiver never got it (a rule that never fired leaves no mark).
pub fn mark_lost_segment(events: &mut [Event], lose: Lose) {
    let captured = |e: &Event| e.op == Op::Segment && !e.has(Flag::Inferred) && e.socket.transport == Transport::Tcp;
    let Some(i) = events.iter().position(|e| captured(e) && is_target(lose, e)) else { return };
    let (t0, side, seg) = (events[i].t_us, events[i].side, events[i].segment.clone().unwrap_or_default());
    let copies: Vec<usize> = (i + 1..events.len())
        .filter(|&j| {
            let e = &events[j];
            captured(e)
                && e.side == side
                && e.segment.as_ref().is_some_and(|s| s.seq == seg.seq && s.flags == seg.flags && s.len == seg.len)
        })
        .collect();
    if copies.is_empty() {
        return;
    }
    events[i].flag(Flag::Lost);
    events[i].detail = Some(format!(
        "Lost: socketlab's nftables rule dropped this segment once (impair drop: {}), after the capture saw it. The receiving kernel never got it.",
        lose.as_str()
    ));
    for j in copies {
        let e = &mut events[j];
        e.flag(Flag::Retransmission);
        e.detail = Some(retransmit_note(e.t_us.saturating_sub(t0)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Role, SocketRef};

    fn plan(json: &str, p: Protocol) -> Result<Plan, String> {
        serde_json::from_str::<Impair>(json).expect("parses").plan(p)
    }

    #[test]
    fn udp_and_tcp_take_their_own_kinds() {
        let udp = |j| plan(j, Protocol::Udp);
        let tcp = |j| plan(j, Protocol::Tcp);
        assert_eq!(
            udp(r#"{"drop":"request"}"#),
            Ok(Plan::Udp(UdpImpair { drop_request: true, ..UdpImpair::default() }))
        );
        assert_eq!(udp(r#"{"delay_ms":300}"#), Ok(Plan::Udp(UdpImpair { delay_ms: 300, ..UdpImpair::default() })));
        assert_eq!(udp(r#"{"duplicate":true}"#), Ok(Plan::Udp(UdpImpair { duplicate: true, ..UdpImpair::default() })));
        assert_eq!(udp("{}"), Ok(Plan::None));
        assert_eq!(tcp(r#"{"drop":"syn_ack"}"#), Ok(Plan::Tcp(Lose::SynAck)));
        assert_eq!(tcp(r#"{"drop":"reply"}"#), Ok(Plan::Tcp(Lose::Reply)));
        assert_eq!(udp(r#"{"duplicate":false,"drop":null}"#), Ok(Plan::None));
        for bad in [
            r#"{"drop":"syn"}"#,
            r#"{"delay_ms":0}"#,
            r#"{"delay_ms":5001}"#,
            r#"{"drop":"reply","duplicate":true}"#,
            r#"{"drop":"reply","duplicate":false}"#,
        ] {
            assert!(udp(bad).is_err(), "{bad}");
        }
        for bad in [r#"{"drop":"request"}"#, r#"{"delay_ms":10}"#, r#"{"duplicate":true}"#] {
            assert!(tcp(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Impair>(r#"{"loss":1}"#).is_err(), "unknown fields are refused");
        assert!(serde_json::from_str::<Impair>("[null, null]").is_err(), "only an object");
    }

    #[test]
    fn a_lost_datagram_is_marked_or_added() {
        let sock = SocketRef { id: 1, role: Role::Client, transport: Transport::Udp };
        let a = Some(([127, 0, 0, 1], 5000).into());
        let b = Some(([127, 0, 0, 1], 12000).into());
        let send = Event::new(10, Side::Client, sock, Op::Sendto).addrs(a, b).payload(b"hi");
        let close = Event::new(20, Side::Client, sock, Op::Close).addrs(a, b);
        let mut events = vec![send.clone(), close.clone()];
        mark_lost_datagram(&mut events, Side::Client);
        assert_eq!(events.len(), 3);
        assert!(events[1].has(Flag::Lost) && events[1].has(Flag::Inferred));
        assert_eq!(events[1].segment.as_ref().map(|s| s.len), Some(2));

        let mut captured = Event::new(11, Side::Client, sock, Op::Segment).addrs(a, b);
        captured.segment = Some(Segment::inferred("", 2));
        let mut events = vec![send, captured, close];
        mark_lost_datagram(&mut events, Side::Client);
        assert_eq!(events.len(), 3);
        assert!(events[1].has(Flag::Lost) && !events[1].has(Flag::Inferred));
    }

    #[test]
    fn the_dropped_segment_is_lost_and_its_copy_a_retransmission() {
        let seg = |t: u64, side: Side, flags: &str, seq: u32| {
            let role = if side == Side::Client { Role::Client } else { Role::Connection };
            let mut e = Event::new(t, side, SocketRef { id: 0, role, transport: Transport::Tcp }, Op::Segment);
            e.segment = Some(Segment { seq: Some(seq), ..Segment::inferred(flags, 0) });
            e
        };
        let mut events = vec![
            seg(0, Side::Client, "SYN", 7),
            seg(10, Side::Server, "SYN,ACK", 90),
            seg(1_000_000, Side::Client, "SYN", 7),
            seg(1_000_010, Side::Server, "SYN,ACK", 90),
            seg(1_000_020, Side::Client, "ACK", 8),
        ];
        mark_lost_segment(&mut events, Lose::SynAck);
        let lost: Vec<bool> = events.iter().map(|e| e.has(Flag::Lost)).collect();
        assert_eq!(lost, [false, true, false, false, false]);
        assert!(events[3].has(Flag::Retransmission));
        assert!(events[3].detail.as_deref().is_some_and(|d| d.contains("after 1000 ms")));
        assert!(!events[2].has(Flag::Retransmission), "only the lost segment's copies are marked");
    }

    fn data(t: u64, flags: &str, seq: u32, len: u64) -> Event {
        let sock = SocketRef { id: 0, role: Role::Client, transport: Transport::Tcp };
        let mut e = Event::new(t, Side::Client, sock, Op::Segment);
        e.segment = Some(Segment { seq: Some(seq), ..Segment::inferred(flags, len) });
        e
    }

    #[test]
    fn a_message_longer_than_a_segment_loses_the_one_the_rule_drops_once_resent() {
        // Two segments: the first fills the MSS without PSH, the rule drops the second.
        let sent = [data(0, "ACK", 1, 65483), data(10, "PSH,ACK", 65484, 1000)];
        let mut events = [sent[0].clone(), sent[1].clone(), data(200_000, "PSH,ACK", 65484, 1000)];
        mark_lost_segment(&mut events, Lose::Data);
        let lost: Vec<bool> = events.iter().map(|e| e.has(Flag::Lost)).collect();
        assert_eq!(lost, [false, true, false]);
        assert!(events[2].has(Flag::Retransmission));
        let mut events = sent;
        mark_lost_segment(&mut events, Lose::Data);
        assert!(events.iter().all(|e| e.flags.is_empty()), "no later copy, no loss shown: {events:?}");
    }
}
