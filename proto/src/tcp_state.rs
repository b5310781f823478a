//! TCP connection states (RFC 9293's state diagram) derived from the packets on a timeline.
//!
//! The browser's state panel asks "what state were both ends in after step N?". Answering it
//! from packets alone, captured or inferred, keeps the panel honest: it shows what the wire
//! implies, not what a program claims.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::event::{Event, Flag, Op};

/// One end's TCP state, spelled as in textbooks and `netstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TcpState {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    #[serde(rename = "FIN_WAIT_1")]
    FinWait1,
    #[serde(rename = "FIN_WAIT_2")]
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl TcpState {
    /// The state's name as students read it, such as `FIN_WAIT_1`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Closed => "CLOSED",
            Self::Listen => "LISTEN",
            Self::SynSent => "SYN_SENT",
            Self::SynReceived => "SYN_RECEIVED",
            Self::Established => "ESTABLISHED",
            Self::FinWait1 => "FIN_WAIT_1",
            Self::FinWait2 => "FIN_WAIT_2",
            Self::CloseWait => "CLOSE_WAIT",
            Self::Closing => "CLOSING",
            Self::LastAck => "LAST_ACK",
            Self::TimeWait => "TIME_WAIT",
        }
    }

    /// The state after this end sends a segment with `flags`.
    pub fn on_send(self, flags: &Flags) -> Self {
        use TcpState::*;
        match self {
            _ if flags.rst => Closed,
            Closed if flags.syn => SynSent,
            Established if flags.fin => FinWait1,
            CloseWait if flags.fin => LastAck,
            s => s,
        }
    }

    /// The state after this end receives a segment with `flags`.
    pub fn on_recv(self, flags: &Flags) -> Self {
        use TcpState::*;
        match self {
            _ if flags.rst => Closed,
            Listen if flags.syn => SynReceived,
            SynSent if flags.syn && flags.ack => Established,
            SynReceived if flags.ack => Established,
            Established if flags.fin => CloseWait,
            FinWait1 if flags.fin => Closing,
            FinWait1 if flags.ack => FinWait2,
            FinWait2 if flags.fin => TimeWait,
            Closing if flags.ack => TimeWait,
            LastAck if flags.ack => Closed,
            s => s,
        }
    }
}

/// The control flags of one segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

impl Flags {
    /// Parses Wireshark-style flags such as `SYN,ACK`; unknown names are ignored.
    pub fn parse(text: &str) -> Self {
        let mut f = Self::default();
        for name in text.split(',').map(str::trim) {
            match name {
                "SYN" => f.syn = true,
                "ACK" => f.ack = true,
                "FIN" => f.fin = true,
                "RST" => f.rst = true,
                _ => {}
            }
        }
        f
    }
}

/// The states of the client and the server end after each event of `events`.
///
/// The client starts `CLOSED`; the server starts `LISTEN` when a welcome socket listens on its
/// port and `CLOSED` otherwise. Events that are not segments between `client` and `server`
/// leave both states as they were.
pub fn tcp_states(
    events: &[Event],
    client: SocketAddr,
    server: SocketAddr,
    server_listening: bool,
) -> Vec<[TcpState; 2]> {
    let server_start = if server_listening { TcpState::Listen } else { TcpState::Closed };
    let mut now = [TcpState::Closed, server_start];
    events
        .iter()
        .map(|e| {
            if let (Op::Segment, Some(seg), Some(src), Some(dst)) = (e.op, &e.segment, e.local, e.peer) {
                let flags = Flags::parse(&seg.flags);
                // A lost segment changes its sender only: the receiver waits on, in SYN_SENT
                // or SYN_RECEIVED for a lost handshake segment, until the retransmission.
                let recv = |s: TcpState| if e.has(Flag::Lost) { s } else { s.on_recv(&flags) };
                if (src, dst) == (client, server) {
                    now = [now[0].on_send(&flags), recv(now[1])];
                } else if (src, dst) == (server, client) {
                    now = [recv(now[0]), now[1].on_send(&flags)];
                }
            }
            now
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Role, Segment, Side, SocketRef, Transport};
    use TcpState::*;

    const C: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);
    const S: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 12000);

    fn seg(from_client: bool, flags: &str) -> Event {
        let (src, dst) = if from_client { (C, S) } else { (S, C) };
        let sock = SocketRef { id: 1, role: Role::Client, transport: Transport::Tcp };
        let mut e = Event::new(0, Side::Client, sock, Op::Segment).addrs(Some(src), Some(dst));
        e.segment = Some(Segment::inferred(flags, 0));
        e
    }

    #[test]
    fn a_lost_syn_ack_keeps_the_client_in_syn_sent_until_the_retransmission() {
        let lost = seg(false, "SYN,ACK").with_flag(Flag::Lost);
        let events = [seg(true, "SYN"), lost, seg(false, "SYN,ACK"), seg(true, "ACK")];
        let states = tcp_states(&events, C, S, true);
        assert_eq!(states[1], [SynSent, SynReceived], "waiting after the loss");
        assert_eq!(states[2], [Established, SynReceived]);
        assert_eq!(states[3], [Established, Established]);
    }

    #[test]
    fn lesson_exchange_walks_the_textbook_diagram() {
        // (segment from the client?, flags, client state after, server state after)
        let table = [
            (true, "SYN", SynSent, SynReceived),
            (false, "SYN,ACK", Established, SynReceived),
            (true, "ACK", Established, Established),
            (true, "PSH,ACK", Established, Established),
            (false, "PSH,ACK", Established, Established),
            (false, "FIN,ACK", CloseWait, FinWait1),
            (true, "ACK", CloseWait, FinWait2),
            (true, "FIN,ACK", LastAck, TimeWait),
            (false, "ACK", Closed, TimeWait),
        ];
        let events: Vec<Event> = table.iter().map(|(c, f, _, _)| seg(*c, f)).collect();
        let got = tcp_states(&events, C, S, true);
        for (i, (_, flags, cs, ss)) in table.iter().enumerate() {
            assert_eq!(got[i], [*cs, *ss], "after step {i} ({flags})");
        }
    }

    #[test]
    fn simultaneous_close_passes_through_closing() {
        let events = [
            seg(true, "SYN"),
            seg(false, "SYN,ACK"),
            seg(true, "ACK"),
            seg(true, "FIN,ACK"),
            seg(false, "FIN,ACK"),
            seg(true, "ACK"),
            seg(false, "ACK"),
        ];
        let got = tcp_states(&events, C, S, true);
        assert_eq!(got[4], [Closing, LastAck]);
        assert_eq!(got[6], [TimeWait, Closed]);
    }

    #[test]
    fn refused_connection_ends_closed() {
        let got = tcp_states(&[seg(true, "SYN"), seg(false, "RST,ACK")], C, S, false);
        assert_eq!(got, vec![[SynSent, Closed], [Closed, Closed]]);
    }

    #[test]
    fn names_match_textbooks() {
        assert_eq!(FinWait1.name(), "FIN_WAIT_1");
        assert_eq!(serde_json_name(TimeWait), "\"TIME_WAIT\"");
        assert_eq!(serde_json_name(FinWait2), "\"FIN_WAIT_2\"");
    }

    fn serde_json_name(s: TcpState) -> String {
        serde_json::to_string(&s).expect("serializes")
    }
}
