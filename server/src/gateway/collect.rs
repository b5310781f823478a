//! Gathering the rest of an exchange's timeline once the client side is done.
//!
//! The server's last call (its `sendto` or `close`) can land a moment after the client already
//! has the reply, and captured packets trail the calls that sent them (the final ACK of a
//! teardown comes after both closes). An exchange waits, briefly and boundedly, until what it
//! expects has arrived, and stops waiting for packets the moment the capture dies.

use std::time::Duration;

use socketlab_proto::wire::Protocol;
use socketlab_proto::{Event, Flag, Op, Role, Side};
use tokio::time::Instant;

use super::hub::Route;
use crate::capture::Liveness;
use crate::capture::pcapng::Frame;

/// The longest an exchange waits for the rest of its timeline.
const GRACE: Duration = Duration::from_millis(300);

/// What an exchange still expects to see.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// The server's last call, when the server took part.
    pub server_last: Option<Op>,
    /// How many of that call to wait for (two when a UDP reply is duplicated).
    pub server_calls: usize,
    /// The protocol whose captured packets to wait for, when capture is on.
    pub captured: Option<Protocol>,
    /// How many UDP datagrams the capture should see (one when one is lost, three when the
    /// reply is duplicated).
    pub datagrams: usize,
}

fn captured(events: &[Event]) -> impl Iterator<Item = &str> {
    events
        .iter()
        .filter(|e| e.op == Op::Segment && !e.has(Flag::Inferred))
        .filter_map(|e| e.segment.as_ref().map(|s| s.flags.as_str()))
}

/// Whether `events` hold everything `expect` asks for.
pub fn complete(events: &[Event], expect: Expect) -> bool {
    let server_done = expect.server_last.is_none_or(|last| {
        // The server's own calls: the client's `sendto` or `close` is no sign of the server's.
        events
            .iter()
            .filter(|e| e.side == Side::Server && e.op == last && e.socket.role != Role::Welcome && e.op != Op::Segment)
            .count()
            >= expect.server_calls
    });
    let capture_done = match expect.captured {
        None => true,
        Some(Protocol::Udp) => {
            captured(events).any(|f| f.starts_with("ICMP"))
                || captured(events).filter(|f| f.is_empty()).count() >= expect.datagrams
        }
        Some(Protocol::Tcp) => {
            let flags: Vec<&str> = captured(events).collect();
            let fins: Vec<usize> =
                flags.iter().enumerate().filter(|(_, f)| f.contains("FIN")).map(|(i, _)| i).collect();
            flags.iter().any(|f| f.contains("RST")) || (fins.len() >= 2 && flags[fins[1] + 1..].contains(&"ACK"))
        }
    };
    server_done && capture_done
}

/// Collects the route's events and frames until `expect` is met or the grace time passes.
pub async fn collect(
    mut route: Route,
    mut events: Vec<Event>,
    mut expect: Expect,
    capture: &Liveness,
) -> (Vec<Event>, Vec<Frame>) {
    let mut frames = Vec::new();
    let mut take = |r: super::hub::Routed, events: &mut Vec<Event>| {
        if let Some(f) = r.frame {
            frames.push(f);
        }
        events.push(r.event);
    };
    for r in route.drain() {
        take(r, &mut events);
    }
    let deadline = Instant::now() + GRACE;
    while !complete(&events, expect) {
        let next = tokio::select! {
            r = route.next_until(deadline) => r,
            () = capture.died(), if expect.captured.is_some() => {
                expect.captured = None;
                continue;
            }
        };
        match next {
            Some(r) => take(r, &mut events),
            None => break,
        }
    }
    for r in route.drain() {
        take(r, &mut events);
    }
    frames.sort_by_key(|f| f.unix_ns);
    (events, frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketlab_proto::{Segment, SocketRef, Transport};

    fn seg(flags: &str) -> Event {
        let mut e = Event::new(
            0,
            Side::Client,
            SocketRef { id: 0, role: Role::Client, transport: Transport::Tcp },
            Op::Segment,
        );
        e.segment = Some(Segment::inferred(flags, 0));
        e
    }

    fn call(op: Op, role: Role) -> Event {
        Event::new(0, Side::Server, SocketRef { id: 1, role, transport: Transport::Tcp }, op)
    }

    #[test]
    fn the_clients_own_call_does_not_stand_for_the_servers() {
        let expect = Expect { server_last: Some(Op::Sendto), server_calls: 1, captured: None, datagrams: 2 };
        let client =
            Event::new(0, Side::Client, SocketRef { id: 0, role: Role::Client, transport: Transport::Udp }, Op::Sendto);
        assert!(!complete(std::slice::from_ref(&client), expect), "only the client has sent");
        let server =
            Event::new(1, Side::Server, SocketRef { id: 1, role: Role::Udp, transport: Transport::Udp }, Op::Sendto);
        assert!(complete(&[client, server], expect));
    }

    #[test]
    fn tcp_waits_for_the_last_ack_and_the_servers_close() {
        let expect =
            Expect { server_last: Some(Op::Close), server_calls: 1, captured: Some(Protocol::Tcp), datagrams: 2 };
        let mut events = vec![seg("SYN"), seg("SYN,ACK"), seg("ACK"), seg("FIN,ACK"), seg("ACK"), seg("FIN,ACK")];
        assert!(!complete(&events, expect));
        events.push(seg("ACK"));
        assert!(!complete(&events, expect), "the server's close() is still missing");
        events.push(call(Op::Close, Role::Connection));
        assert!(complete(&events, expect));
        let inferred = seg("RST").with_flag(Flag::Inferred);
        assert!(!complete(
            &[inferred],
            Expect { server_last: None, server_calls: 1, captured: Some(Protocol::Tcp), datagrams: 2 }
        ));
        assert!(complete(
            &[seg("RST,ACK")],
            Expect { server_last: None, server_calls: 1, captured: Some(Protocol::Tcp), datagrams: 2 }
        ));
    }

    #[test]
    fn udp_waits_for_both_datagrams_or_the_icmp_error() {
        let expect = Expect { server_last: None, server_calls: 1, captured: Some(Protocol::Udp), datagrams: 2 };
        assert!(!complete(&[seg("")], expect));
        assert!(complete(&[seg(""), seg("")], expect));
        assert!(complete(&[seg(""), seg("ICMP port unreachable")], expect));
        assert!(complete(&[], Expect { server_last: None, server_calls: 1, captured: None, datagrams: 2 }));
    }
}
