//! Turns captured Ethernet frames into the timeline's packets, keeping only traffic with the
//! hosted servers. Pure, so every rule is tested with frames built in the test.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use etherparse::{Icmpv4Type, NetSlice, SlicedPacket, TcpOptionElement, TransportSlice, icmpv4};
use socketlab_proto::{Segment, Transport};

/// Tracked directions before the oldest are forgotten.
const MAX_FLOWS: usize = 20_000;

/// The ports whose traffic is kept.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    pub udp: Vec<u16>,
    pub tcp: Vec<u16>,
}

/// One kept packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub transport: Transport,
    /// Sender and receiver; for an ICMP error, the server that refused and the client.
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// The end that is not a hosted server: the key that routes the packet to its exchange.
    pub client: SocketAddr,
    pub from_server: bool,
    pub segment: Segment,
}

/// Parses frames, remembering each direction's initial sequence number for relative numbers.
#[derive(Debug, Default)]
pub struct Parser {
    watched: Watched,
    isn: HashMap<(SocketAddr, SocketAddr), u32>,
}

impl Parser {
    pub fn new(watched: Watched) -> Self {
        Self { watched, isn: HashMap::new() }
    }

    /// The packet in `frame`, if it is traffic with a watched port.
    pub fn parse(&mut self, frame: &[u8]) -> Option<Packet> {
        let sliced = SlicedPacket::from_ethernet(frame).ok()?;
        let Some(NetSlice::Ipv4(ip)) = &sliced.net else { return None };
        let (src_ip, dst_ip) = (IpAddr::V4(ip.header().source_addr()), IpAddr::V4(ip.header().destination_addr()));
        match sliced.transport.as_ref()? {
            TransportSlice::Udp(udp) => {
                let src = SocketAddr::new(src_ip, udp.source_port());
                let dst = SocketAddr::new(dst_ip, udp.destination_port());
                let from_server = self.watched.udp.contains(&src.port());
                if !from_server && !self.watched.udp.contains(&dst.port()) {
                    return None;
                }
                let len = udp.payload().len() as u64;
                let client = if from_server { dst } else { src };
                Some(Packet {
                    transport: Transport::Udp,
                    src,
                    dst,
                    client,
                    from_server,
                    segment: Segment::inferred("", len),
                })
            }
            TransportSlice::Tcp(tcp) => {
                let src = SocketAddr::new(src_ip, tcp.source_port());
                let dst = SocketAddr::new(dst_ip, tcp.destination_port());
                let from_server = self.watched.tcp.contains(&src.port());
                if !from_server && !self.watched.tcp.contains(&dst.port()) {
                    return None;
                }
                let names = [
                    (tcp.fin(), "FIN"),
                    (tcp.syn(), "SYN"),
                    (tcp.rst(), "RST"),
                    (tcp.psh(), "PSH"),
                    (tcp.ack(), "ACK"),
                    (tcp.urg(), "URG"),
                ];
                // Wireshark's order: SYN, then the rest as they come in its flag summary.
                let mut flags: Vec<&str> = Vec::new();
                for wanted in ["SYN", "FIN", "RST", "PSH", "URG", "ACK"] {
                    if names.iter().any(|(on, name)| *on && *name == wanted) {
                        flags.push(wanted);
                    }
                }
                let seq = tcp.sequence_number();
                if tcp.syn() || !self.isn.contains_key(&(src, dst)) {
                    if self.isn.len() >= MAX_FLOWS {
                        self.isn.clear();
                    }
                    self.isn.insert((src, dst), seq);
                }
                let rel_seq = self.isn.get(&(src, dst)).map(|isn| seq.wrapping_sub(*isn));
                let ack = tcp.ack().then(|| tcp.acknowledgment_number());
                let rel_ack = ack.and_then(|a| self.isn.get(&(dst, src)).map(|isn| a.wrapping_sub(*isn)));
                let options = tcp.options_iterator().filter_map(Result::ok).filter_map(|o| option_name(&o)).collect();
                let segment = Segment {
                    flags: flags.join(","),
                    len: tcp.payload().len() as u64,
                    seq: Some(seq),
                    ack,
                    rel_seq,
                    rel_ack,
                    window: Some(tcp.window_size()),
                    options,
                };
                let client = if from_server { dst } else { src };
                Some(Packet { transport: Transport::Tcp, src, dst, client, from_server, segment })
            }
            TransportSlice::Icmpv4(icmp) => {
                let Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Port) = icmp.icmp_type() else {
                    return None;
                };
                // The message quotes the datagram's IP header and first 8 bytes.
                let quoted = icmp.payload();
                let inner = etherparse::Ipv4HeaderSlice::from_slice(quoted).ok()?;
                let ports = quoted.get(inner.slice().len()..inner.slice().len() + 4)?;
                let client = SocketAddr::new(IpAddr::V4(inner.source_addr()), u16::from_be_bytes([ports[0], ports[1]]));
                let server =
                    SocketAddr::new(IpAddr::V4(inner.destination_addr()), u16::from_be_bytes([ports[2], ports[3]]));
                if !self.watched.udp.contains(&server.port()) {
                    return None;
                }
                let segment = Segment::inferred("ICMP port unreachable", quoted.len() as u64);
                Some(Packet { transport: Transport::Udp, src: server, dst: client, client, from_server: true, segment })
            }
            _ => None,
        }
    }
}

fn option_name(o: &TcpOptionElement) -> Option<String> {
    match o {
        TcpOptionElement::MaximumSegmentSize(mss) => Some(format!("MSS={mss}")),
        TcpOptionElement::WindowScale(ws) => Some(format!("WS={}", 1u32 << u32::from(*ws).min(14))),
        TcpOptionElement::SelectiveAcknowledgementPermitted => Some("SACK_PERM".to_owned()),
        TcpOptionElement::SelectiveAcknowledgement(first, _) => Some(format!("SACK {}-{}", first.0, first.1)),
        TcpOptionElement::Timestamp(val, ecr) => Some(format!("TSval={val} TSecr={ecr}")),
        TcpOptionElement::Noop => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const CLIENT: [u8; 4] = [127, 0, 0, 1];

    fn watched() -> Watched {
        Watched { udp: vec![12000], tcp: vec![12001] }
    }

    fn tcp(
        src: u16,
        dst: u16,
        seq: u32,
        build: impl FnOnce(
            etherparse::PacketBuilderStep<etherparse::TcpHeader>,
        ) -> etherparse::PacketBuilderStep<etherparse::TcpHeader>,
        payload: &[u8],
    ) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([0; 6], [0; 6]).ipv4(CLIENT, CLIENT, 64).tcp(src, dst, seq, 65495);
        let b = build(b);
        let mut out = Vec::new();
        b.write(&mut out, payload).expect("builds");
        out
    }

    #[test]
    fn tcp_handshake_gets_flags_and_relative_numbers() {
        let mut p = Parser::new(watched());
        let syn = p.parse(&tcp(40000, 12001, 1000, |b| b.syn(), b"")).expect("kept");
        assert_eq!(syn.segment.flags, "SYN");
        assert_eq!((syn.segment.seq, syn.segment.rel_seq, syn.segment.ack), (Some(1000), Some(0), None));
        assert!(!syn.from_server);
        assert_eq!(syn.client.port(), 40000);

        let synack = p.parse(&tcp(12001, 40000, 5000, |b| b.syn().ack(1001), b"")).expect("kept");
        assert_eq!(synack.segment.flags, "SYN,ACK");
        assert_eq!((synack.segment.ack, synack.segment.rel_ack), (Some(1001), Some(1)));
        assert!(synack.from_server);
        assert_eq!(synack.client.port(), 40000);

        let data = p.parse(&tcp(40000, 12001, 1001, |b| b.psh().ack(5001), b"hello")).expect("kept");
        assert_eq!(data.segment.flags, "PSH,ACK");
        assert_eq!((data.segment.len, data.segment.rel_seq, data.segment.rel_ack), (5, Some(1), Some(1)));

        let fin = p.parse(&tcp(12001, 40000, 5001, |b| b.fin().ack(1006), b"")).expect("kept");
        assert_eq!(fin.segment.flags, "FIN,ACK");
    }

    #[test]
    fn other_ports_and_protocols_are_dropped() {
        let mut p = Parser::new(watched());
        assert!(p.parse(&tcp(40000, 8080, 1, |b| b.syn(), b"")).is_none(), "the gateway's own HTTP");
        let mut udp = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4(CLIENT, CLIENT, 64)
            .udp(5353, 5353)
            .write(&mut udp, b"x")
            .expect("builds");
        assert!(p.parse(&udp).is_none());
        assert!(p.parse(b"short").is_none());
    }

    #[test]
    fn udp_datagrams_and_icmp_port_unreachable() {
        let mut p = Parser::new(watched());
        let mut dgram = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4(CLIENT, CLIENT, 64)
            .udp(40000, 12000)
            .write(&mut dgram, b"hey")
            .expect("builds");
        let got = p.parse(&dgram).expect("kept");
        assert_eq!((got.transport, got.segment.len, got.from_server), (Transport::Udp, 3, false));

        // The kernel's answer quotes the datagram's IP and UDP headers.
        let quoted = &dgram[14..14 + 28];
        let mut icmp = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4(CLIENT, CLIENT, 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Port))
            .write(&mut icmp, quoted)
            .expect("builds");
        let got = p.parse(&icmp).expect("kept");
        assert_eq!(got.segment.flags, "ICMP port unreachable");
        assert_eq!((got.src.port(), got.dst.port(), got.client.port()), (12000, 40000, 40000));
        assert!(got.from_server);
    }
}
