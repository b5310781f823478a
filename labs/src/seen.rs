//! Observations: whether the student's exchanges show something, such as a truncated datagram
//! or two connection sockets from one welcome socket.
//!
//! Each kind reads the timelines for the thing itself and, when it is absent, for the nearest
//! step worth looking at, so a failure still points somewhere.

use std::collections::{HashMap, HashSet};

use socketlab_proto::{Event, Flag, Op, Role, Side, Transport};

use crate::eval::{At, CheckResult, Timeline, has_tcp_flag, step_ref, tr};
use crate::{Lang, Observation, Seen};

/// Where an observation was seen, or the nearest step to look at when it was not.
enum Saw {
    Yes(At),
    No(Option<At>),
}

fn at(t: &Timeline<'_>, i: usize) -> At {
    At { exchange: t.exchange.to_owned(), step: i + 1 }
}

fn first(timelines: &[Timeline<'_>], p: impl Fn(&[Event], usize) -> bool) -> Option<At> {
    timelines.iter().find_map(|t| (0..t.events.len()).find(|&i| p(t.events, i)).map(|i| at(t, i)))
}

fn srv(e: &Event, op: Op) -> bool {
    e.side == Side::Server && e.op == op
}

fn udp(e: &Event) -> bool {
    e.socket.transport == Transport::Udp
}

fn saw(kind: Seen, timelines: &[Timeline<'_>]) -> Saw {
    let ev = |p: fn(&Event) -> bool| first(timelines, move |es, i| p(&es[i]));
    let yes_or = |yes: Option<At>, near: Option<At>| yes.map_or(Saw::No(near), Saw::Yes);
    match kind {
        Seen::UdpExchange => yes_or(
            first(timelines, |es, i| {
                srv(&es[i], Op::Recvfrom) && !es.iter().any(|e| e.op == Op::Segment && has_tcp_flag(e, "SYN"))
            }),
            None,
        ),
        Seen::TcpExchange => yes_or(
            ev(|e| e.side == Side::Client && e.op == Op::Connect && !e.has(Flag::Failed)),
            ev(|e| e.op == Op::Connect),
        ),
        Seen::UdpTruncated => {
            yes_or(ev(|e| srv(e, Op::Recvfrom) && e.has(Flag::Truncated)), ev(|e| srv(e, Op::Recvfrom)))
        }
        Seen::TcpRecvCut => yes_or(
            first(timelines, |es, i| {
                let e = &es[i];
                let sent = es.iter().filter(|c| c.side == Side::Client && c.op == Op::Send).filter_map(|c| c.bytes);
                srv(e, Op::Recv) && !e.has(Flag::Truncated) && e.bytes.is_some_and(|b| sent.clone().any(|s| s > b))
            }),
            ev(|e| srv(e, Op::Recv)),
        ),
        Seen::TwoConnections => two_connections(timelines),
        Seen::TcpRst => yes_or(
            ev(|e| has_tcp_flag(e, "RST") || (e.op == Op::Connect && e.has(Flag::Failed))),
            ev(|e| e.op == Op::Connect),
        ),
        Seen::UdpRefused => yes_or(
            ev(|e| {
                e.segment.as_ref().is_some_and(|s| s.flags.starts_with("ICMP"))
                    || (e.side == Side::Client && udp(e) && e.op == Op::Recvfrom && e.has(Flag::Failed))
            }),
            ev(|e| e.side == Side::Client && udp(e) && e.op == Op::Recvfrom),
        ),
        Seen::InvalidUtf8Answered => yes_or(
            first(timelines, |es, i| {
                let e = &es[i];
                e.side == Side::Server
                    && matches!(e.op, Op::Recv | Op::Recvfrom)
                    && e.has(Flag::InvalidUtf8)
                    && es[i..].iter().any(|s| {
                        s.side == Side::Server && matches!(s.op, Op::Send | Op::Sendto) && s.bytes.unwrap_or(0) > 0
                    })
            }),
            ev(|e| e.side == Side::Server && matches!(e.op, Op::Recv | Op::Recvfrom)),
        ),
        Seen::FinBothSides => yes_or(
            first(timelines, |es, i| {
                has_tcp_flag(&es[i], "FIN")
                    && es[i].side == Side::Server
                    && es.iter().any(|e| e.side == Side::Client && has_tcp_flag(e, "FIN"))
            }),
            ev(|e| e.op == Op::Segment && has_tcp_flag(e, "FIN")),
        ),
        Seen::BacklogHeld => backlog(timelines),
        Seen::OutsideClient => yes_or(
            first(timelines, |es, i| {
                // Only the server's calls: no gateway client made this conversation.
                (srv(&es[i], Op::Recvfrom) || srv(&es[i], Op::Recv))
                    && !es.iter().any(|e| e.side == Side::Client && e.op != Op::Segment)
            }),
            None,
        ),
    }
}

/// Two `accept()`s on one welcome socket that handed over different connection sockets.
fn two_connections(timelines: &[Timeline<'_>]) -> Saw {
    let mut by_welcome: HashMap<u64, HashSet<u64>> = HashMap::new();
    let mut last = None;
    for t in timelines {
        for (i, e) in t.events.iter().enumerate() {
            if let (Side::Server, Op::Accept, Some(conn)) = (e.side, e.op, e.spawned) {
                let spawned = by_welcome.entry(e.socket.id).or_default();
                spawned.insert(conn.id);
                if spawned.len() >= 2 {
                    return Saw::Yes(at(t, i));
                }
                last = Some(at(t, i));
            }
        }
    }
    Saw::No(last)
}

/// A client whose `connect()` returned while another connection was still being served, and
/// whose `accept()` came only after that connection closed.
fn backlog(timelines: &[Timeline<'_>]) -> Saw {
    let mut last = None;
    for t in timelines {
        let connect = t.events.iter().find(|e| e.side == Side::Client && e.op == Op::Connect && !e.has(Flag::Failed));
        let accept = t.events.iter().position(|e| e.side == Side::Server && e.op == Op::Accept);
        let (Some(c), Some(a)) = (connect, accept) else { continue };
        last = Some(at(t, a));
        let accepted = t.events[a].t_us;
        let freed = timelines.iter().filter(|o| o.exchange != t.exchange).any(|o| {
            o.events.iter().any(|e| {
                e.side == Side::Server
                    && e.op == Op::Close
                    && e.socket.role == Role::Connection
                    && e.t_us > c.t_us
                    && e.t_us <= accepted
            })
        });
        if freed {
            return Saw::Yes(at(t, a));
        }
    }
    Saw::No(last)
}

fn seen_text(kind: Seen, lang: Lang) -> String {
    let (en, zh) = match kind {
        Seen::UdpExchange => ("a UDP exchange (no handshake)", "一次 UDP 交换（没有握手）"),
        Seen::TcpExchange => ("a TCP connection that was set up", "一条建立成功的 TCP 连接"),
        Seen::UdpTruncated => ("a datagram cut by the server's recvfrom", "被服务器 recvfrom 截断的数据报"),
        Seen::TcpRecvCut => ("a message longer than the server's recv returned", "比服务器 recv 返回的更长的消息"),
        Seen::TwoConnections => {
            ("two connection sockets from one welcome socket", "同一个欢迎套接字产生的两个连接套接字")
        }
        Seen::TcpRst => ("a connection refused with RST", "被 RST 拒绝的连接"),
        Seen::UdpRefused => ("a datagram refused with ICMP port unreachable", "被 ICMP 端口不可达拒绝的数据报"),
        Seen::InvalidUtf8Answered => ("an invalid UTF-8 message that got an answer", "得到回答的非法 UTF-8 消息"),
        Seen::FinBothSides => ("a FIN from each side", "双方各自发出的 FIN"),
        Seen::BacklogHeld => ("a second client held in the backlog", "在 backlog 中等待的第二个客户端"),
        Seen::OutsideClient => ("a client from outside the gateway, seen live", "来自网关之外、被实时看到的客户端"),
    };
    tr(lang, en.to_owned(), zh.to_owned())
}

pub(crate) fn observation(o: &Observation, timelines: &[Timeline<'_>], lang: Lang) -> CheckResult {
    let what = seen_text(o.kind, lang);
    let (passed, why, at) = match saw(o.kind, timelines) {
        Saw::Yes(at) => {
            let r = step_ref(lang, &at);
            (true, tr(lang, format!("Seen: {what}, at {r}."), format!("看到了：{what}，在{r}。")), Some(at))
        }
        Saw::No(Some(at)) => {
            let r = step_ref(lang, &at);
            let why = tr(
                lang,
                format!("Not seen yet: {what}; look at {r}, then run this step's action again."),
                format!("还没有看到{what}：请看{r}，然后再执行本步骤的操作。"),
            );
            (false, why, Some(at))
        }
        Saw::No(None) => {
            let why = tr(
                lang,
                format!("None of the exchanges you named shows {what}: run this step's action, then check again."),
                format!("你指定的交换里都没有{what}：先执行本步骤的操作，再检查。"),
            );
            (false, why, None)
        }
    };
    CheckResult { id: o.id.clone(), passed, why, needs_capture: false, at }
}
