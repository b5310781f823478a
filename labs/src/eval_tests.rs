//! Table tests of the evaluator on timelines built by hand.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use socketlab_proto::{Event, Flag, Op, Role, Segment, Side, SocketRef, Transport};

use super::*;
use crate::{Answer, Lang, Observation, Question, Seen, Step, Text};

const SERVER: u16 = 12000;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn sock(id: u64, role: Role, transport: Transport) -> SocketRef {
    SocketRef { id, role, transport }
}

/// A call by `side` on socket `id` between `port` (the client's) and the server.
fn call(t: u64, side: Side, s: SocketRef, op: Op, client: u16) -> Event {
    let (l, p) = if side == Side::Client { (client, SERVER) } else { (SERVER, client) };
    Event::new(t, side, s, op).addrs(Some(addr(l)), Some(addr(p)))
}

fn seg(t: u64, side: Side, flags: &str, client: u16, seq: Option<u32>, ack: Option<u32>) -> Event {
    let role = if side == Side::Client { Role::Client } else { Role::Connection };
    let mut e = call(t, side, sock(9, role, Transport::Tcp), Op::Segment, client);
    e.segment = Some(Segment { flags: flags.into(), seq, ack, ..Segment::default() });
    if seq.is_none() {
        e.flag(Flag::Inferred);
    }
    e
}

/// A TCP exchange from `client`; `isn` is the client's initial sequence number, `None` when
/// nothing was captured. `sent` bytes go out, `got` come in on the server's recv.
fn tcp(client: u16, isn: Option<u32>, conn: u64, sent: usize, got: usize) -> Vec<Event> {
    let c = sock(1, Role::Client, Transport::Tcp);
    let welcome = sock(100, Role::Welcome, Transport::Tcp);
    let conn = sock(conn, Role::Connection, Transport::Tcp);
    let server_isn = isn.map(|i| i.wrapping_mul(7));
    let mut accept = call(40, Side::Server, welcome, Op::Accept, client);
    accept.spawned = Some(conn);
    vec![
        Event::new(10, Side::Client, c, Op::Socket).addrs(Some(addr(client)), None),
        seg(20, Side::Client, "SYN", client, isn, None),
        seg(21, Side::Server, "SYN,ACK", client, server_isn, isn.map(|i| i.wrapping_add(1))),
        seg(22, Side::Client, "ACK", client, isn.map(|i| i + 1), server_isn.map(|i| i + 1)),
        call(30, Side::Client, c, Op::Connect, client),
        accept,
        call(50, Side::Client, c, Op::Send, client).payload(&vec![b'x'; sent]),
        call(60, Side::Server, conn, Op::Recv, client).payload(&vec![b'x'; got]),
        call(70, Side::Server, conn, Op::Send, client).payload(&vec![b'X'; got]),
        seg(71, Side::Server, "FIN,ACK", client, server_isn, None),
        call(72, Side::Server, conn, Op::Close, client),
        seg(80, Side::Client, "FIN,ACK", client, isn, None),
    ]
}

fn udp(client: u16, payload: &[u8], kept: usize) -> Vec<Event> {
    let c = sock(1, Role::Client, Transport::Udp);
    let s = sock(2, Role::Udp, Transport::Udp);
    let mut recv = call(20, Side::Server, s, Op::Recvfrom, client).payload(&payload[..kept]);
    if kept < payload.len() {
        recv.wire_bytes = Some(payload.len() as u64);
        recv.flag(Flag::Truncated);
    }
    vec![
        Event::new(5, Side::Client, c, Op::Socket).addrs(Some(addr(client)), None),
        call(10, Side::Client, c, Op::Sendto, client).payload(payload),
        recv,
        call(30, Side::Server, s, Op::Sendto, client).payload(&payload[..kept]),
        call(40, Side::Client, c, Op::Recvfrom, client).payload(&payload[..kept]),
    ]
}

fn text(s: &str) -> Text {
    Text { en: s.into(), zh: s.into() }
}

fn step(questions: &[(&str, Answer)], seen: &[Seen]) -> Step {
    Step {
        id: "s".into(),
        title: text("t"),
        instructions: text("i"),
        actions: Vec::new(),
        questions: questions
            .iter()
            .map(|(id, a)| Question { id: (*id).into(), prompt: text("p"), answer: *a })
            .collect(),
        observations: seen.iter().map(|k| Observation { id: format!("{k:?}"), prompt: text("p"), kind: *k }).collect(),
    }
}

fn run(step: &Step, timelines: &[(&str, &[Event])], answers: &[(&str, &str)]) -> StepResult {
    let tl: Vec<Timeline<'_>> = timelines.iter().map(|(x, e)| Timeline { exchange: x, events: e }).collect();
    let answers: BTreeMap<String, String> = answers.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    check_step(step, &tl, &answers, Lang::En)
}

#[test]
fn questions_are_answered_from_the_timeline() {
    let a = tcp(40001, Some(1_000_000), 5, 5, 5);
    let b = tcp(40002, Some(2_000_000), 6, 2000, 1024);
    let u = udp(50000, &[b'y'; 3000], 2048);
    let outside: Vec<Event> = udp(50003, b"terminal", 8).into_iter().filter(|e| e.side == Side::Server).collect();
    let handshake = step(&[("syn_seq", Answer::SynSeq), ("synack_ack", Answer::SynackAck)], &[]);
    type Row<'a> = (&'a Step, &'a [(&'a str, &'a [Event])], &'a [(&'a str, &'a str)], &'a [bool]);
    #[rustfmt::skip]
    let table: &[Row<'_>] = &[
        (&handshake, &[("xa", &a)], &[("syn_seq", "1000000"), ("synack_ack", "1000001")], &[true, true]),
        (&handshake, &[("xa", &a)], &[("syn_seq", " 1000000\n"), ("synack_ack", "1000002")], &[true, false]),
        (&handshake, &[("xb", &b)], &[("syn_seq", "1000000"), ("synack_ack", "1000001")], &[false, false]),
        (&handshake, &[("xa", &a), ("xb", &b)], &[("syn_seq", "2000000"), ("synack_ack", "2000001")], &[true, true]),
        (&handshake, &[("xa", &a)], &[("syn_seq", "one million")], &[false, false]),
        (&step(&[("p", Answer::ClientPort), ("s", Answer::ServerPort)], &[]), &[("u", &u)], &[("p", "50000"), ("s", "12000")], &[true, true]),
        (&step(&[("p", Answer::ClientPort)], &[]), &[("u", &u), ("xa", &a)], &[("p", "50000")], &[false]),
        (&step(&[("r", Answer::ServerRecvBytes)], &[]), &[("xb", &b)], &[("r", "1024")], &[true]),
        (&step(&[("r", Answer::ServerRecvfromBytes), ("c", Answer::ClientSentBytes)], &[]), &[("u", &u)], &[("r", "2048"), ("c", "3000")], &[true, true]),
        (&step(&[("f", Answer::FirstFin)], &[]), &[("xa", &a)], &[("f", "Server")], &[true]),
        (&step(&[("f", Answer::FirstFin)], &[]), &[("xa", &a)], &[("f", "客户端")], &[false]),
        (&step(&[("k", Answer::ConnectionPort), ("q", Answer::SynackSeq)], &[]), &[("xa", &a)], &[("k", "12000"), ("q", "7000000")], &[true, true]),
        (&step(&[("r", Answer::ServerRecvBytes)], &[]), &[("u", &u)], &[("r", "2048")], &[false]),
        (&step(&[("p", Answer::ClientPort)], &[]), &[("o", &outside)], &[("p", "50003")], &[true]),
    ];
    for (i, (step, timelines, answers, expect)) in table.iter().enumerate() {
        let r = run(step, timelines, answers);
        let got: Vec<bool> = r.checks.iter().map(|c| c.passed).collect();
        assert_eq!(&got, expect, "row {i}: {:?}", r.checks);
        assert_eq!(r.passed, expect.iter().all(|p| *p), "row {i}");
        for c in &r.checks {
            assert!(!c.why.is_empty() && !c.why.contains('\n'), "row {i}: one sentence: {c:?}");
        }
    }
}

#[test]
fn a_failure_names_the_step_and_never_the_expected_value() {
    let a = tcp(40001, Some(1_000_000), 5, 5, 5);
    let r = run(&step(&[("syn_seq", Answer::SynSeq)], &[]), &[("x7-ab", &a)], &[("syn_seq", "1000001")]);
    let c = &r.checks[0];
    assert!(!c.passed);
    assert_eq!(c.at, Some(At { exchange: "x7-ab".into(), step: 2 }));
    assert!(c.why.contains("step 2 of exchange x7-ab"), "{}", c.why);
    assert!(!c.why.contains("1000000"), "the expected value leaks: {}", c.why);

    let r = run(&step(&[("syn_seq", Answer::SynSeq)], &[]), &[], &[("syn_seq", "1")]);
    assert!(!r.passed && r.checks[0].at.is_none() && r.checks[0].why.contains("run this step's action"));
}

#[test]
fn without_capture_questions_on_packets_say_so_and_accept_nothing() {
    let a = tcp(40001, None, 5, 5, 5);
    let s = step(&[("syn_seq", Answer::SynSeq), ("p", Answer::ClientPort)], &[]);
    for guess in ["0", "", "1"] {
        let r = run(&s, &[("xa", &a)], &[("syn_seq", guess), ("p", "40001")]);
        assert!(!r.passed);
        let c = &r.checks[0];
        assert!(c.needs_capture && !c.passed, "{c:?}");
        assert!(c.why.contains("captured no packets"), "{}", c.why);
        assert!(r.checks[1].passed, "the client port needs no capture");
    }
    // A captured exchange beside it answers.
    let b = tcp(40002, Some(5), 6, 5, 5);
    let r = run(&s, &[("xb", &b), ("xa", &a)], &[("syn_seq", "5"), ("p", "40001")]);
    assert!(r.passed, "{:?}", r.checks);
}

#[test]
fn observations_pass_only_when_the_timeline_shows_them() {
    let a = tcp(40001, Some(10), 5, 5, 5);
    let b = tcp(40002, Some(20), 6, 2000, 1024);
    let same_conn = tcp(40003, Some(30), 5, 5, 5);
    let short = udp(50000, b"hi", 2);
    let long = udp(50001, &[b'y'; 3000], 2048);
    let bad = udp(50002, b"\xff\xfe", 2);
    let mut refused_tcp = vec![
        Event::new(1, Side::Client, sock(1, Role::Client, Transport::Tcp), Op::Socket),
        call(2, Side::Client, sock(1, Role::Client, Transport::Tcp), Op::Connect, 40009).with_flag(Flag::Failed),
    ];
    let refused_udp = vec![
        call(2, Side::Client, sock(1, Role::Client, Transport::Udp), Op::Sendto, 40010).payload(b"x"),
        call(3, Side::Client, sock(1, Role::Client, Transport::Udp), Op::Recvfrom, 40010).with_flag(Flag::Failed),
    ];
    let outside: Vec<Event> = udp(50003, b"terminal", 8).into_iter().filter(|e| e.side == Side::Server).collect();
    let mut unanswered = bad.clone();
    unanswered.truncate(3);
    use Seen::*;
    #[rustfmt::skip]
    let table: &[(Seen, &[&[Event]], bool)] = &[
        (UdpExchange, &[&short], true),
        (UdpExchange, &[&a], false),
        (TcpExchange, &[&a], true),
        (TcpExchange, &[&short, &refused_tcp], false),
        (UdpTruncated, &[&long], true),
        (UdpTruncated, &[&short], false),
        (TcpRecvCut, &[&b], true),
        (TcpRecvCut, &[&a], false),
        (TwoConnections, &[&a, &b], true),
        (TwoConnections, &[&a], false),
        (TwoConnections, &[&a, &same_conn], false),
        (TcpRst, &[&refused_tcp], true),
        (TcpRst, &[&a], false),
        (UdpRefused, &[&refused_udp], true),
        (UdpRefused, &[&short, &refused_tcp], false),
        (InvalidUtf8Answered, &[&bad], true),
        (InvalidUtf8Answered, &[&unanswered], false),
        (InvalidUtf8Answered, &[&short], false),
        (FinBothSides, &[&a], true),
        (FinBothSides, &[&a[..10]], false),
        (BacklogHeld, &[&a, &b], false),
        (OutsideClient, &[&outside], true),
        (OutsideClient, &[&short, &a], false),
    ];
    for (i, (kind, timelines, expect)) in table.iter().enumerate() {
        let names: Vec<String> = (0..timelines.len()).map(|n| format!("x{n}")).collect();
        let tl: Vec<(&str, &[Event])> = names.iter().map(String::as_str).zip(timelines.iter().copied()).collect();
        let r = run(&step(&[], &[*kind]), &tl, &[]);
        assert_eq!(r.passed, *expect, "row {i} {kind:?}: {:?}", r.checks);
        assert_eq!(r.checks[0].at.is_some(), *expect || r.checks[0].why.contains("look at"), "row {i}");
    }
    // An RST segment on the wire counts as well as a failed connect().
    refused_tcp[1] = seg(3, Side::Server, "RST,ACK", 40009, Some(0), Some(1));
    assert!(run(&step(&[], &[TcpRst]), &[("x", &refused_tcp)], &[]).passed);
}

#[test]
fn a_second_client_waits_in_the_backlog() {
    // The first connection is served from 40 until its close at 72; the second client's
    // connect returns at 30 too, but it is accepted only after the close.
    let first = tcp(40001, Some(10), 5, 5, 5);
    let mut second = tcp(40002, Some(20), 6, 5, 5);
    for e in &mut second {
        if e.op == Op::Accept {
            e.t_us = 75;
        }
    }
    let r = run(&step(&[], &[Seen::BacklogHeld]), &[("x1", &first), ("x2", &second)], &[]);
    assert!(r.passed, "{:?}", r.checks);
    assert_eq!(r.checks[0].at, Some(At { exchange: "x2".into(), step: 6 }));
}

#[test]
fn reasons_come_in_chinese_too() {
    let a = tcp(40001, Some(10), 5, 5, 5);
    let tl = [Timeline { exchange: "xa", events: &a }];
    let answers = BTreeMap::from([("q".to_owned(), "11".to_owned())]);
    let r = check_step(&step(&[("q", Answer::SynSeq)], &[]), &tl, &answers, Lang::Zh);
    assert!(r.checks[0].why.contains("交换 xa 的第 2 步"), "{}", r.checks[0].why);
}
