//! The hand-written frames against serde's, byte for byte.

use super::*;
use crate::event::{Op, PREVIEW_BYTES};
use crate::wire::ServerMsg;

fn serde_event(id: &str, event: &Event) -> String {
    serde_json::to_string(&ServerMsg::Event { id: id.to_owned(), event: event.clone() }).expect("serializes")
}

fn serde_observed(conversation: &str, event: &Event) -> String {
    serde_json::to_string(&ServerMsg::Observed { conversation: conversation.to_owned(), event: event.clone() })
        .expect("serializes")
}

fn same(id: &str, event: &Event) {
    assert_eq!(event_frame(id, event), serde_event(id, event));
    assert_eq!(observed_frame(id, event), serde_observed(id, event));
}

fn sock(id: u64, role: Role, transport: Transport) -> SocketRef {
    SocketRef { id, role, transport }
}

/// Every field set. A struct literal without `..`: a new field of `Event` or `Segment` stops
/// this from compiling until it is added here, and then the comparison says whether the
/// writer writes it.
fn full() -> Event {
    Event {
        t_us: u64::MAX,
        started_us: Some(0),
        side: Side::Server,
        socket: sock(3, Role::Connection, Transport::Tcp),
        op: Op::Accept,
        local: Some("127.0.0.1:12000".parse().expect("addr")),
        peer: Some("[fe80::1%3]:5555".parse().expect("addr")),
        bytes: Some(12),
        wire_bytes: Some(4000),
        preview: Some("say \"hi\"\\ \u{1}\u{8}\t\n\u{c}\r\u{1f}\u{7f} é ΐ \u{fffd} 🦀 </script>".to_owned()),
        preview_hex: Some("68 69".to_owned()),
        flags: vec![Flag::Truncated, Flag::InvalidUtf8, Flag::Inferred, Flag::Failed, Flag::Lost, Flag::Retransmission],
        detail: Some("The datagram had 4000 bytes.".to_owned()),
        segment: Some(Segment {
            flags: "SYN,ACK".to_owned(),
            len: 0,
            seq: Some(u32::MAX),
            ack: Some(1),
            rel_seq: Some(0),
            rel_ack: Some(1),
            window: Some(65535),
            options: vec!["MSS=65495".to_owned(), "TS val=1 ecr=0".to_owned(), "odd \"one\"".to_owned()],
        }),
        spawned: Some(sock(4, Role::Welcome, Transport::Udp)),
    }
}

#[test]
fn every_field_as_serde_writes_it() {
    same("a", &full());
    same("x\"y\\z\u{0}", &full());
}

#[test]
fn no_optional_field_as_serde_writes_it() {
    for (side, role, transport, op) in [
        (Side::Client, Role::Client, Transport::Udp, Op::Socket),
        (Side::Server, Role::Udp, Transport::Udp, Op::Recvfrom),
        (Side::Server, Role::Welcome, Transport::Tcp, Op::Listen),
        (Side::Client, Role::Client, Transport::Tcp, Op::Segment),
    ] {
        same("", &Event::new(0, side, sock(1, role, transport), op));
    }
    let mut seg = Event::new(9, Side::Client, sock(1, Role::Client, Transport::Udp), Op::Segment);
    seg.segment = Some(Segment::inferred("", 12));
    same("1-2", &seg.with_flag(Flag::Inferred));
}

#[test]
fn every_op_and_payload_as_serde_writes_it() {
    let ops = [
        Op::Socket,
        Op::Bind,
        Op::Listen,
        Op::Accept,
        Op::Connect,
        Op::Send,
        Op::Recv,
        Op::Sendto,
        Op::Recvfrom,
        Op::Shutdown,
        Op::Close,
        Op::Segment,
    ];
    let payloads: [&[u8]; 5] = [b"hello socket", b"", b"a\xff\xfe", &[b'x'; PREVIEW_BYTES + 10], b"\"\\\x00\x7f"];
    for (i, op) in ops.into_iter().enumerate() {
        for payload in payloads {
            let e = Event::new(i as u64 * 1_000_003, Side::Client, sock(i as u64, Role::Client, Transport::Udp), op)
                .addrs(Some(([10, 0, i as u8, 255], 40000 + i as u16).into()), Some("[::1]:9".parse().expect("addr")))
                .started(7)
                .payload(payload);
            same("id", &e);
        }
    }
}

#[test]
fn strings_escape_as_serde_escapes_them() {
    let mut all: String = (0u8..0x80).map(char::from).collect();
    all.push_str("é\u{2028}\u{fffd}🦀");
    for s in [all.as_str(), "", "plain", "\"", "\\", "\u{1f}x", "x\u{1f}"] {
        let mut ours = String::new();
        string(&mut ours, s);
        assert_eq!(ours, serde_json::to_string(s).expect("serializes"), "{s:?}");
    }
}
