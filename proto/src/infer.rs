//! Packets inferred from socket calls, for when nobody captured the real ones.
//!
//! A `connect()` that returns means the kernel sent SYN, got SYN-ACK and sent ACK; a `send()`
//! puts a segment on the wire; a `close()` sends FIN. This module turns a timeline of calls
//! into the same timeline with those packets added, each flagged `inferred`, so the diagram can
//! draw arrows before packet capture exists and where it is not allowed.
//!
//! When both ends of a connection are on the timeline the sender's calls decide; when only one
//! end is (a student's own client talking to a hosted server), the receiver's calls stand in.

use std::net::SocketAddr;

use crate::event::{Event, Flag, Op, Role, Segment, Side, SocketRef, Transport};

type Key = (Transport, SocketAddr, SocketAddr);

fn key(transport: Transport, a: SocketAddr, b: SocketAddr) -> Key {
    if a <= b { (transport, a, b) } else { (transport, b, a) }
}

fn other(side: Side) -> Side {
    match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    }
}

/// Returns `events` with inferred packets added, ordered by time.
///
/// Events that already are packets pass through untouched, and calls whose addresses are
/// unknown imply nothing.
pub fn with_inferred(events: &[Event]) -> Vec<Event> {
    into_inferred(events.to_vec())
}

/// An event on the finished timeline, by index: one of the given ones, or an inferred one.
enum Item {
    Given(usize),
    Inferred(usize),
}

/// [`with_inferred`], taking the events: the given ones are moved into the result, not
/// cloned.
pub fn into_inferred(events: Vec<Event>) -> Vec<Event> {
    let mut calls: Vec<(usize, &Event)> = events.iter().enumerate().filter(|(_, e)| e.op != Op::Segment).collect();
    calls.sort_by_key(|(_, e)| e.t_us);

    // Which ends of each conversation are on the timeline, and with which sockets.
    // Lists, not hash maps: a timeline has a few conversations, and hashing would bring its
    // tables into the browser's bundle for nothing.
    let mut seen: Vec<(Key, Vec<(Side, SocketRef)>)> = Vec::new();
    for (_, e) in &calls {
        if let (Some(l), Some(p)) = (e.local, e.peer) {
            // accept() is called on the welcome socket, but the conversation is the
            // connection socket's.
            let sock = if e.op == Op::Accept { e.spawned.unwrap_or(e.socket) } else { e.socket };
            if sock.role != Role::Welcome {
                let k = key(e.socket.transport, l, p);
                let i = seen.iter().position(|(s, _)| *s == k).unwrap_or_else(|| {
                    seen.push((k, Vec::new()));
                    seen.len() - 1
                });
                if !seen[i].1.iter().any(|(side, _)| *side == e.side) {
                    seen[i].1.push((e.side, sock));
                }
            }
        }
    }

    // Conversations whose packets were captured need none inferred.
    let captured: Vec<Key> = events
        .iter()
        .filter(|e| e.op == Op::Segment && !e.has(Flag::Inferred))
        .filter_map(|e| Some(key(e.socket.transport, e.local?, e.peer?)))
        .collect();

    // When the server's accept() returned before the client's connect() did (the scheduler
    // decides), the handshake was already complete by then.
    let mut accepted: Vec<(Key, u64)> = Vec::new();
    for (_, e) in &calls {
        if let (Op::Accept, Some(l), Some(p)) = (e.op, e.local, e.peer) {
            let k = key(e.socket.transport, l, p);
            if !accepted.iter().any(|(a, _)| *a == k) {
                accepted.push((k, e.t_us));
            }
        }
    }

    let mut out: Vec<(u64, u8, Item)> = Vec::with_capacity(events.len() * 2);
    let mut inferred: Vec<Option<Event>> = Vec::with_capacity(events.len());
    let mut fin_sent: Vec<(Key, Side)> = Vec::new();
    // Notes a FIN from `side`; false when one was noted already.
    let mut first_fin = |k: Key, side: Side| {
        let first = !fin_sent.contains(&(k, side));
        if first {
            fin_sent.push((k, side));
        }
        first
    };
    for &(i, e) in &calls {
        let (Some(local), Some(peer)) = (e.local, e.peer) else {
            out.push((e.t_us, 1, Item::Given(i)));
            continue;
        };
        let k = key(e.socket.transport, local, peer);
        if captured.contains(&k) {
            out.push((e.t_us, 1, Item::Given(i)));
            continue;
        }
        let sides = seen.iter().find(|(s, _)| *s == k).map(|(_, sides)| sides.as_slice()).unwrap_or_default();
        let observed = |side: Side| sides.iter().any(|(s, _)| *s == side);
        let sock = |side: Side| {
            sides.iter().find(|(s, _)| *s == side).map(|(_, r)| *r).unwrap_or(SocketRef {
                id: 0,
                role: match (side, e.socket.transport) {
                    (Side::Client, _) => Role::Client,
                    (Side::Server, Transport::Udp) => Role::Udp,
                    (Side::Server, Transport::Tcp) => Role::Connection,
                },
                transport: e.socket.transport,
            })
        };
        // A packet from `from` (this call's own end when `ours`) at time `t`.
        let packet = |ours: bool, flags: &str, len: u64, t: u64| {
            let (side, src, dst) = if ours { (e.side, local, peer) } else { (other(e.side), peer, local) };
            let mut p =
                Event::new(t, side, sock(side), Op::Segment).addrs(Some(src), Some(dst)).with_flag(Flag::Inferred);
            p.segment = Some(Segment::inferred(flags, len));
            p
        };
        let failed = e.has(Flag::Failed);
        let len = e.wire_bytes.or(e.bytes).unwrap_or(0);
        let mut before = Vec::new();
        let mut after = Vec::new();
        match (e.socket.transport, e.op) {
            (Transport::Udp, Op::Sendto) if !failed => after.push(packet(true, "", len, e.t_us)),
            (Transport::Udp, Op::Recvfrom) if !failed && !observed(other(e.side)) => {
                before.push(packet(false, "", len, e.t_us));
            }
            (Transport::Tcp, Op::Connect) => {
                before.push(packet(true, "SYN", 0, e.started_us.unwrap_or(e.t_us)));
                if failed {
                    before.push(packet(false, "RST,ACK", 0, e.t_us));
                } else {
                    let done = accepted.iter().find(|(a, _)| *a == k).map_or(e.t_us, |&(_, a)| a.min(e.t_us));
                    before.push(packet(false, "SYN,ACK", 0, done));
                    before.push(packet(true, "ACK", 0, done));
                }
            }
            (Transport::Tcp, Op::Accept) if !observed(Side::Client) => {
                before.push(packet(false, "SYN", 0, e.t_us));
                before.push(packet(true, "SYN,ACK", 0, e.t_us));
                before.push(packet(false, "ACK", 0, e.t_us));
            }
            (Transport::Tcp, Op::Send) if !failed && len > 0 => {
                after.push(packet(true, "PSH,ACK", len, e.t_us));
            }
            (Transport::Tcp, Op::Recv) if !failed && !observed(other(e.side)) => {
                if len > 0 {
                    before.push(packet(false, "PSH,ACK", len, e.t_us));
                } else if first_fin(k, other(e.side)) {
                    before.push(packet(false, "FIN,ACK", 0, e.t_us));
                    before.push(packet(true, "ACK", 0, e.t_us));
                }
            }
            (Transport::Tcp, Op::Shutdown | Op::Close)
                if e.socket.role != Role::Welcome && !failed && first_fin(k, e.side) =>
            {
                after.push(packet(true, "FIN,ACK", 0, e.t_us));
                after.push(packet(false, "ACK", 0, e.t_us));
            }
            _ => {}
        }
        // At equal times, packets a call implies come before it or after it as listed.
        for p in before {
            out.push((p.t_us, 0, Item::Inferred(inferred.len())));
            inferred.push(Some(p));
        }
        out.push((e.t_us, 1, Item::Given(i)));
        for p in after {
            out.push((p.t_us, 2, Item::Inferred(inferred.len())));
            inferred.push(Some(p));
        }
    }
    // Packets that were already on the timeline keep their place by time.
    out.extend(
        events.iter().enumerate().filter(|(_, e)| e.op == Op::Segment).map(|(i, e)| (e.t_us, 1, Item::Given(i))),
    );
    out.sort_by_key(|&(t, rank, _)| (t, rank));
    drop(calls);
    // Every given event is named exactly once above, so each is taken once.
    let mut given: Vec<Option<Event>> = events.into_iter().map(Some).collect();
    out.into_iter()
        .filter_map(|(_, _, item)| match item {
            Item::Given(i) => given.get_mut(i).and_then(Option::take),
            Item::Inferred(i) => inferred.get_mut(i).and_then(Option::take),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);
    const S: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 12000);

    fn call(t: u64, side: Side, role: Role, tr: Transport, op: Op, bytes: Option<u64>) -> Event {
        let (l, p) = if side == Side::Client { (C, S) } else { (S, C) };
        let mut e = Event::new(t, side, SocketRef { id: t, role, transport: tr }, op).addrs(Some(l), Some(p));
        e.bytes = bytes;
        e
    }

    /// Each packet as `side flags len`, in order.
    fn packets(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| {
                let s = e.segment.as_ref()?;
                assert!(e.has(Flag::Inferred));
                let dir = if e.local == Some(C) { "C>S" } else { "S>C" };
                let flags = if s.flags.is_empty() { String::new() } else { format!(" {}", s.flags) };
                Some(format!("{dir}{flags} {}", s.len))
            })
            .collect()
    }

    #[test]
    fn full_tcp_exchange_seen_from_both_ends() {
        let (cl, sv) = (Side::Client, Side::Server);
        let tcp = Transport::Tcp;
        let events = vec![
            call(10, cl, Role::Client, tcp, Op::Connect, None).started(5),
            call(12, sv, Role::Connection, tcp, Op::Accept, None),
            call(20, cl, Role::Client, tcp, Op::Send, Some(5)),
            call(22, sv, Role::Connection, tcp, Op::Recv, Some(5)),
            call(30, sv, Role::Connection, tcp, Op::Send, Some(5)),
            call(31, sv, Role::Connection, tcp, Op::Close, None),
            call(32, cl, Role::Client, tcp, Op::Recv, Some(5)),
            call(33, cl, Role::Client, tcp, Op::Recv, Some(0)),
            call(34, cl, Role::Client, tcp, Op::Close, None),
        ];
        let got = with_inferred(&events);
        assert_eq!(
            packets(&got),
            [
                "C>S SYN 0",
                "S>C SYN,ACK 0",
                "C>S ACK 0",
                "C>S PSH,ACK 5",
                "S>C PSH,ACK 5",
                "S>C FIN,ACK 0",
                "C>S ACK 0",
                "C>S FIN,ACK 0",
                "S>C ACK 0",
            ]
        );
        assert_eq!(got.len(), events.len() + 9);
        assert!(got.windows(2).all(|w| w[0].t_us <= w[1].t_us), "ordered by time");
        // The SYN is stamped when connect() started, before the call returned.
        assert_eq!(got[0].t_us, 5);
        assert_eq!(got[0].op, Op::Segment);
    }

    #[test]
    fn handshake_completes_no_later_than_accept() {
        let tcp = Transport::Tcp;
        let events = vec![
            call(10, Side::Client, Role::Client, tcp, Op::Connect, None).started(2),
            call(7, Side::Server, Role::Connection, tcp, Op::Accept, None),
        ];
        let got = with_inferred(&events);
        let order: Vec<String> =
            got.iter().map(|e| e.segment.as_ref().map_or_else(|| format!("{:?}", e.op), |s| s.flags.clone())).collect();
        assert_eq!(order, ["SYN", "SYN,ACK", "ACK", "Accept", "Connect"]);
        assert_eq!(got[1].t_us, 7);
    }

    #[test]
    fn server_only_view_infers_the_unseen_client() {
        let sv = Side::Server;
        let tcp = Transport::Tcp;
        let events = vec![
            call(12, sv, Role::Connection, tcp, Op::Accept, None),
            call(22, sv, Role::Connection, tcp, Op::Recv, Some(4)),
            call(30, sv, Role::Connection, tcp, Op::Send, Some(4)),
            call(31, sv, Role::Connection, tcp, Op::Recv, Some(0)),
            call(32, sv, Role::Connection, tcp, Op::Close, None),
        ];
        assert_eq!(
            packets(&with_inferred(&events)),
            [
                "C>S SYN 0",
                "S>C SYN,ACK 0",
                "C>S ACK 0",
                "C>S PSH,ACK 4",
                "S>C PSH,ACK 4",
                "C>S FIN,ACK 0",
                "S>C ACK 0",
                "S>C FIN,ACK 0",
                "C>S ACK 0",
            ]
        );
    }

    #[test]
    fn refused_connect_is_syn_then_rst() {
        let e = call(10, Side::Client, Role::Client, Transport::Tcp, Op::Connect, None).with_flag(Flag::Failed);
        assert_eq!(packets(&with_inferred(&[e])), ["C>S SYN 0", "S>C RST,ACK 0"]);
    }

    #[test]
    fn udp_datagrams_come_from_sendto_or_an_unseen_sender() {
        let udp = Transport::Udp;
        let both = vec![
            call(1, Side::Client, Role::Client, udp, Op::Sendto, Some(3)),
            call(2, Side::Server, Role::Udp, udp, Op::Recvfrom, Some(3)),
            call(3, Side::Server, Role::Udp, udp, Op::Sendto, Some(3)),
            call(4, Side::Client, Role::Client, udp, Op::Recvfrom, Some(3)),
        ];
        assert_eq!(packets(&with_inferred(&both)), ["C>S 3", "S>C 3"]);

        let mut truncated = call(2, Side::Server, Role::Udp, udp, Op::Recvfrom, Some(2048));
        truncated.wire_bytes = Some(3000);
        let server_only = vec![truncated, call(3, Side::Server, Role::Udp, udp, Op::Sendto, Some(2048))];
        assert_eq!(packets(&with_inferred(&server_only)), ["C>S 3000", "S>C 2048"]);
    }

    #[test]
    fn captured_packets_replace_inference() {
        let tcp = Transport::Tcp;
        let mut syn = call(6, Side::Client, Role::Client, tcp, Op::Segment, None);
        syn.segment = Some(Segment { seq: Some(7), ..Segment::inferred("SYN", 0) });
        let events = vec![call(10, Side::Client, Role::Client, tcp, Op::Connect, None).started(5), syn];
        let got = with_inferred(&events);
        assert_eq!(got.len(), 2, "nothing inferred: {got:?}");
        assert_eq!(got[0].segment.as_ref().and_then(|s| s.seq), Some(7));
        assert!(!got[0].has(Flag::Inferred));
    }

    #[test]
    fn calls_without_addresses_pass_through() {
        let listen = Event::new(
            1,
            Side::Server,
            SocketRef { id: 1, role: Role::Welcome, transport: Transport::Tcp },
            Op::Listen,
        );
        assert_eq!(with_inferred(std::slice::from_ref(&listen)), vec![listen]);
    }
}
