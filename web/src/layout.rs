//! The sequence diagram's geometry: lanes, rows, arrows. Pure, so it is tested natively.
//!
//! A UDP exchange has two lanes (the client socket, the server's one socket). A TCP exchange
//! has three: the client, the welcome socket that takes the handshake, and the connection
//! socket that `accept()` hands the conversation to. Packets are arrows between lanes, socket
//! calls are boxes on their own lane. When nothing listens (a closed port answers with RST or
//! ICMP and no server call happens) there are two lanes, the client and the closed port.

use std::net::SocketAddr;

use socketlab_proto::{Event, Flag, Op, Role, Side, Transport};

/// Which lane a socket sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneKind {
    Client,
    UdpServer,
    Welcome,
    Connection,
    /// A port nothing listens on: no socket, only the kernel's refusal.
    Closed,
}

impl LaneKind {
    /// The i18n key of the lane's title.
    pub fn title_key(self) -> &'static str {
        match self {
            Self::Client => "lane_client",
            Self::UdpServer => "lane_udp",
            Self::Welcome => "lane_welcome",
            Self::Connection => "lane_connection",
            Self::Closed => "lane_closed",
        }
    }

    /// A stable name for tests and CSS.
    pub fn name(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::UdpServer => "udp",
            Self::Welcome => "welcome",
            Self::Connection => "connection",
            Self::Closed => "closed",
        }
    }
}

/// One lane.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub kind: LaneKind,
    pub addr: Option<SocketAddr>,
    pub x: f64,
}

/// What a row draws.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A packet from one lane to another.
    Arrow { from: usize, to: usize, label: String, src_port: Option<u16>, dst_port: Option<u16> },
    /// A socket call on one lane.
    Call { lane: usize, label: String },
}

/// One step of the diagram.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Index into the events.
    pub step: usize,
    pub y: f64,
    /// Time since the first event, such as `+0.125 ms`.
    pub time: String,
    pub shape: Shape,
    pub inferred: bool,
    pub failed: bool,
    /// A packet lost on purpose, and a TCP segment the kernel sent again.
    pub lost: bool,
    pub retransmission: bool,
}

/// The whole diagram.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagram {
    pub transport: Transport,
    pub lanes: Vec<Lane>,
    pub rows: Vec<Row>,
    pub width: f64,
    pub height: f64,
}

pub const WIDTH: f64 = 760.0;
pub const LEFT: f64 = 92.0;
pub const TOP: f64 = 66.0;
pub const ROW: f64 = 34.0;

/// How Wireshark's flow graph labels a packet.
pub fn packet_label(transport: Transport, flags: &str, len: u64) -> String {
    if flags.starts_with("ICMP") {
        return flags.to_owned();
    }
    match transport {
        Transport::Udp => format!("UDP Len={len}"),
        Transport::Tcp => {
            let named = match flags {
                "SYN,ACK" => "SYN-ACK".to_owned(),
                other => other.replace(',', ", "),
            };
            if len > 0 { format!("{named} Len={len}") } else { named }
        }
    }
}

/// How a socket call is written on its box.
pub fn call_label(e: &Event) -> String {
    if e.has(Flag::Failed) && e.op != Op::Segment {
        return format!("{}() ✗", e.op.name());
    }
    let bytes = e.bytes.unwrap_or(0);
    let mut label = match e.op {
        Op::Socket => "socket()".to_owned(),
        Op::Bind => format!("bind(:{})", e.local.map_or(0, |a| a.port())),
        Op::Listen => "listen()".to_owned(),
        Op::Accept => match e.spawned {
            Some(s) => format!("accept() → socket #{}", s.id),
            None => "accept()".to_owned(),
        },
        Op::Connect => "connect()".to_owned(),
        Op::Send => format!("send({bytes} B)"),
        Op::Recv if bytes == 0 && !e.has(Flag::Failed) => "recv() → 0 B (closed)".to_owned(),
        Op::Recv => format!("recv() → {bytes} B"),
        Op::Sendto => format!("sendto({bytes} B)"),
        Op::Recvfrom => format!("recvfrom() → {bytes} B"),
        Op::Shutdown => "shutdown(SHUT_WR)".to_owned(),
        Op::Close => "close()".to_owned(),
        Op::Segment => String::new(),
    };
    if e.has(Flag::Truncated) {
        label.push_str(" ✂");
    }
    if e.has(Flag::Failed) {
        label.push_str(" ✗");
    }
    label
}

/// The transport of a timeline: that of its first event.
pub fn transport_of(events: &[Event]) -> Transport {
    events.first().map_or(Transport::Udp, |e| e.socket.transport)
}

fn lane_of_call(e: &Event, transport: Transport) -> LaneKind {
    match (e.side, e.socket.role, transport) {
        (Side::Client, _, _) | (_, Role::Client, _) => LaneKind::Client,
        (_, Role::Udp, _) | (_, _, Transport::Udp) => LaneKind::UdpServer,
        (_, Role::Welcome, _) => LaneKind::Welcome,
        (_, Role::Connection, _) => LaneKind::Connection,
    }
}

/// Whether nothing listened: no server-side call, and the far end refused with RST or ICMP.
pub fn refused(events: &[Event]) -> bool {
    let refusal = |e: &Event| {
        e.side == Side::Server
            && e.segment.as_ref().is_some_and(|s| s.flags.starts_with("RST") || s.flags.starts_with("ICMP"))
    };
    !events.iter().any(|e| e.side == Side::Server && e.op != Op::Segment) && events.iter().any(refusal)
}

/// Lays out one exchange (or one observed conversation).
pub fn layout(events: &[Event]) -> Diagram {
    let transport = transport_of(events);
    let closed = refused(events);
    let kinds: &[LaneKind] = match transport {
        _ if closed => &[LaneKind::Client, LaneKind::Closed],
        Transport::Udp => &[LaneKind::Client, LaneKind::UdpServer],
        Transport::Tcp => &[LaneKind::Client, LaneKind::Welcome, LaneKind::Connection],
    };
    // The outer lanes keep room for their titles and for call boxes centred on them.
    let (first, last) = (LEFT + 70.0, WIDTH - 100.0);
    let span = (last - first) / (kinds.len() as f64 - 1.0);
    let mut lanes: Vec<Lane> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| Lane { kind: *kind, addr: None, x: first + span * i as f64 })
        .collect();
    let index = |kind: LaneKind| kinds.iter().position(|k| *k == kind).unwrap_or(0);
    let t0 = events.first().map_or(0, |e| e.t_us);
    let mut handshake_left = 3;
    let mut rows = Vec::with_capacity(events.len());
    for (step, e) in events.iter().enumerate() {
        let shape = if e.op == Op::Segment {
            let seg = e.segment.as_ref();
            let flags = seg.map_or("", |s| s.flags.as_str());
            // The handshake's three packets belong to the welcome socket.
            let server_lane = if closed {
                LaneKind::Closed
            } else if transport == Transport::Tcp && handshake_left > 0 && (flags.contains("SYN") || handshake_left < 3)
            {
                handshake_left -= 1;
                LaneKind::Welcome
            } else if transport == Transport::Tcp {
                LaneKind::Connection
            } else {
                LaneKind::UdpServer
            };
            let (from, to) = match e.side {
                Side::Client => (LaneKind::Client, server_lane),
                Side::Server => (server_lane, LaneKind::Client),
            };
            // Packets name both ends even when no call on a lane did (a refused connection).
            let (client_end, server_end) = if e.side == Side::Client { (e.local, e.peer) } else { (e.peer, e.local) };
            lanes[0].addr = lanes[0].addr.or(client_end);
            let s = index(server_lane);
            lanes[s].addr = lanes[s].addr.or(server_end);
            Shape::Arrow {
                from: index(from),
                to: index(to),
                label: packet_label(transport, flags, seg.map_or(0, |s| s.len)),
                src_port: e.local.map(|a| a.port()),
                dst_port: e.peer.map(|a| a.port()),
            }
        } else {
            let kind = lane_of_call(e, transport);
            let lane = index(kind);
            if lanes[lane].addr.is_none() {
                lanes[lane].addr = e.local.filter(|a| a.port() != 0);
            }
            // The server side names the client's address even when the client is not traced.
            if e.side == Side::Server && lanes[0].addr.is_none() {
                lanes[0].addr = e.peer;
            }
            if e.op == Op::Accept && lanes.len() == 3 {
                lanes[1].addr = lanes[1].addr.or(e.local);
            }
            Shape::Call { lane, label: call_label(e) }
        };
        rows.push(Row {
            step,
            y: TOP + ROW * step as f64 + ROW / 2.0,
            time: format!("+{:.3} ms", e.t_us.saturating_sub(t0) as f64 / 1000.0),
            shape,
            inferred: e.has(Flag::Inferred),
            failed: e.has(Flag::Failed),
            lost: e.has(Flag::Lost),
            retransmission: e.has(Flag::Retransmission),
        });
    }
    let height = TOP + ROW * events.len().max(1) as f64 + 16.0;
    Diagram { transport, lanes, rows, width: WIDTH, height }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketlab_proto::infer::with_inferred;
    use socketlab_proto::{Segment, SocketRef};

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn call(t: u64, side: Side, role: Role, tr: Transport, op: Op, bytes: Option<u64>) -> Event {
        let (l, p) = if side == Side::Client { (addr(40000), addr(12000)) } else { (addr(12000), addr(40000)) };
        let mut e = Event::new(t, side, SocketRef { id: t, role, transport: tr }, op).addrs(Some(l), Some(p));
        e.bytes = bytes;
        e
    }

    fn tcp_exchange() -> Vec<Event> {
        use Op::*;
        let (c, s, tcp) = (Side::Client, Side::Server, Transport::Tcp);
        with_inferred(&[
            call(1000, c, Role::Client, tcp, Connect, None).started(900),
            call(1100, s, Role::Welcome, tcp, Accept, None),
            call(1200, c, Role::Client, tcp, Send, Some(5)),
            call(1300, s, Role::Connection, tcp, Recv, Some(5)),
            call(1400, s, Role::Connection, tcp, Send, Some(5)),
            call(1500, s, Role::Connection, tcp, Close, None),
            call(1600, c, Role::Client, tcp, Recv, Some(5)),
            call(1700, c, Role::Client, tcp, Recv, Some(0)),
            call(1800, c, Role::Client, tcp, Close, None),
        ])
    }

    /// Each row as `lane>lane label` or `lane: label`.
    fn sketch(d: &Diagram) -> Vec<String> {
        let name = |i: usize| d.lanes[i].kind.name();
        d.rows
            .iter()
            .map(|r| match &r.shape {
                Shape::Arrow { from, to, label, .. } => format!("{}>{} {label}", name(*from), name(*to)),
                Shape::Call { lane, label } => format!("{}: {label}", name(*lane)),
            })
            .collect()
    }

    #[test]
    fn tcp_handshake_goes_to_the_welcome_socket_and_data_to_the_connection_socket() {
        let d = layout(&tcp_exchange());
        assert_eq!(d.lanes.iter().map(|l| l.kind.name()).collect::<Vec<_>>(), ["client", "welcome", "connection"]);
        assert_eq!(
            sketch(&d),
            [
                "client>welcome SYN",
                "welcome>client SYN-ACK",
                "client>welcome ACK",
                "client: connect()",
                "welcome: accept()",
                "client: send(5 B)",
                "client>connection PSH, ACK Len=5",
                "connection: recv() → 5 B",
                "connection: send(5 B)",
                "connection>client PSH, ACK Len=5",
                "connection: close()",
                "connection>client FIN, ACK",
                "client>connection ACK",
                "client: recv() → 5 B",
                "client: recv() → 0 B (closed)",
                "client: close()",
                "client>connection FIN, ACK",
                "connection>client ACK",
            ]
        );
        let first = &d.rows[0];
        assert!(first.inferred);
        assert_eq!(first.time, "+0.000 ms");
        assert_eq!(d.rows[3].time, "+0.100 ms");
        let Shape::Arrow { src_port, dst_port, .. } = &first.shape else { panic!("arrow") };
        assert_eq!((*src_port, *dst_port), (Some(40000), Some(12000)));
        assert_eq!(d.lanes[0].addr, Some(addr(40000)));
        assert_eq!(d.lanes[1].addr, Some(addr(12000)));
        assert!(d.rows.windows(2).all(|w| w[0].y < w[1].y));
        assert!(d.lanes.windows(2).all(|w| w[0].x < w[1].x) && d.lanes[2].x < d.width);
    }

    #[test]
    fn udp_has_two_lanes_and_datagram_arrows() {
        let (c, s, udp) = (Side::Client, Side::Server, Transport::Udp);
        let mut truncated = call(20, s, Role::Udp, udp, Op::Recvfrom, Some(2048));
        truncated.flag(Flag::Truncated);
        let d = layout(&with_inferred(&[
            call(10, c, Role::Client, udp, Op::Sendto, Some(3000)),
            truncated,
            call(30, s, Role::Udp, udp, Op::Sendto, Some(2048)),
            call(40, c, Role::Client, udp, Op::Recvfrom, Some(2048)),
        ]));
        assert_eq!(d.lanes.len(), 2);
        assert_eq!(
            sketch(&d),
            [
                "client: sendto(3000 B)",
                "client>udp UDP Len=3000",
                "udp: recvfrom() → 2048 B ✂",
                "udp: sendto(2048 B)",
                "udp>client UDP Len=2048",
                "client: recvfrom() → 2048 B",
            ]
        );
    }

    #[test]
    fn a_closed_port_has_no_welcome_socket() {
        let refused = call(10, Side::Client, Role::Client, Transport::Tcp, Op::Connect, None).with_flag(Flag::Failed);
        let tcp = layout(&with_inferred(&[refused]));
        assert_eq!(tcp.lanes.iter().map(|l| l.kind.name()).collect::<Vec<_>>(), ["client", "closed"]);
        assert_eq!(sketch(&tcp), ["client>closed SYN", "closed>client RST, ACK", "client: connect() ✗"]);
        assert_eq!(tcp.lanes[1].addr, Some(addr(12000)), "the closed lane still names its port");
        assert!(tcp.lanes.iter().all(|l| l.kind.title_key() != "lane_welcome"));

        let udp = Transport::Udp;
        let mut icmp = Event::new(30, Side::Server, SocketRef { id: 0, role: Role::Udp, transport: udp }, Op::Segment)
            .addrs(Some(addr(12000)), Some(addr(40000)));
        icmp.segment = Some(Segment::inferred("ICMP port unreachable", 12));
        let recv = call(40, Side::Client, Role::Client, udp, Op::Recvfrom, None).with_flag(Flag::Failed);
        let d = layout(&with_inferred(&[call(10, Side::Client, Role::Client, udp, Op::Sendto, Some(5)), icmp, recv]));
        assert_eq!(d.lanes.iter().map(|l| l.kind.name()).collect::<Vec<_>>(), ["client", "closed"]);
        assert!(sketch(&d).contains(&"closed>client ICMP port unreachable".to_owned()), "{:?}", sketch(&d));

        // A server that answers is never drawn as a closed port, even if it resets later.
        assert_eq!(layout(&tcp_exchange()).lanes[1].kind, LaneKind::Welcome);
    }

    #[test]
    fn labels_follow_wireshark() {
        assert_eq!(packet_label(Transport::Tcp, "SYN,ACK", 0), "SYN-ACK");
        assert_eq!(packet_label(Transport::Tcp, "RST,ACK", 0), "RST, ACK");
        assert_eq!(packet_label(Transport::Tcp, "PSH,ACK", 12), "PSH, ACK Len=12");
        assert_eq!(packet_label(Transport::Udp, "", 7), "UDP Len=7");
        let mut seg = Event::new(
            0,
            Side::Client,
            SocketRef { id: 1, role: Role::Client, transport: Transport::Tcp },
            Op::Segment,
        );
        seg.segment = Some(Segment::inferred("SYN", 0));
        assert_eq!(call_label(&seg), "");
    }
}
