//! Table tests of the model: how frames and clicks change the page's state.

use super::*;
use socketlab_proto::wire::Reply;
use socketlab_proto::{Op, Role, Side, SocketRef, Transport};

fn event(t: u64) -> Event {
    Event::new(t, Side::Client, SocketRef { id: 1, role: Role::Client, transport: Transport::Udp }, Op::Sendto)
}

#[test]
fn an_exchange_goes_from_pending_to_reply_and_can_be_stepped() {
    let mut m = Model::default();
    assert_eq!(m.start(Protocol::Udp, "", Target::Hosted), Err("err_empty"));
    let ClientMsg::Exchange(req) = m.start(Protocol::Udp, "hi", Target::Hosted).expect("frame") else {
        panic!("exchange")
    };
    let id = req.id.expect("id");
    assert_eq!(m.view, View::Exchange(0));
    for t in 0..3 {
        m.receive(ServerMsg::Event { id: id.clone(), event: event(t) });
    }
    m.receive(ServerMsg::Reply(Reply {
        id: id.clone(),
        reply: "HI".into(),
        reply_base64: None,
        elapsed_us: 42,
        exchange: Some("x1-a".into()),
    }));
    assert_eq!(m.exchanges[0].outcome, Outcome::Reply { text: "HI".into(), elapsed_us: 42 });
    assert_eq!(m.exchanges[0].capture, None, "named, but no packets were captured to export");
    let mut wire = event(4);
    wire.op = Op::Segment;
    m.exchanges[0].events.push(wire);
    m.receive(ServerMsg::Reply(Reply {
        id: id.clone(),
        reply: "HI".into(),
        reply_base64: None,
        elapsed_us: 42,
        exchange: Some("x1-a".into()),
    }));
    assert_eq!(m.exchanges[0].capture.as_deref(), Some("x1-a"));
    m.exchanges[0].events.pop();
    assert_eq!(m.steps(), 3);
    m.step_by(1);
    m.step_by(5);
    assert_eq!(m.step, 2, "clamped at the last step");
    m.step_by(-9);
    assert_eq!(m.step, 0);
    m.playing = true;
    m.tick();
    m.tick();
    m.tick();
    assert_eq!((m.step, m.playing), (2, false), "play stops at the end");
}

#[test]
fn compare_sends_both_and_disconnect_loses_pending() {
    let mut m = Model::default();
    let [a, b] = m.compare("same").expect("frames");
    assert!(
        matches!((a, b), (ClientMsg::Exchange(x), ClientMsg::Exchange(y)) if x.protocol == Protocol::Udp && y.protocol == Protocol::Tcp)
    );
    assert_eq!(m.view, View::Compare(0, 1));
    assert_eq!(m.shown().len(), 2);
    m.receive(ServerMsg::Error {
        id: Some("e1".into()),
        code: ErrorCode::Timeout,
        message: "slow".into(),
        exchange: None,
        refused_id: None,
    });
    m.disconnected();
    assert!(matches!(m.exchanges[0].outcome, Outcome::Failed { code: ErrorCode::Timeout, .. }));
    assert_eq!(m.exchanges[1].outcome, Outcome::Lost);
    assert_eq!(m.status, Status::Reconnecting);
}

fn observed(t: u64, op: Op) -> Event {
    let sock = SocketRef { id: 1, role: Role::Udp, transport: Transport::Udp };
    Event::new(t, Side::Server, sock, op)
        .addrs(Some(([127, 0, 0, 1], 12000).into()), Some(([127, 0, 0, 1], 5).into()))
        .payload(b"abc")
}

#[test]
fn observed_traffic_groups_by_conversation_and_opens_when_live() {
    let mut m = Model::default();
    m.receive(ServerMsg::Subscribed { scope: Scope::All });
    assert!(m.live);
    m.receive(ServerMsg::Observed { conversation: "udp 127.0.0.1:5".into(), event: observed(1, Op::Recvfrom) });
    m.receive(ServerMsg::Observed { conversation: "udp 127.0.0.1:5".into(), event: observed(2, Op::Sendto) });
    m.receive(ServerMsg::Observed { conversation: "udp 127.0.0.1:6".into(), event: event(3) });
    assert_eq!(m.conversations.len(), 2);
    assert_eq!(m.conversations[0].events.len(), 2);
    assert_eq!(m.view, View::Live(0), "the first conversation opens by itself");
    assert_eq!(m.timelines()[0].len(), 4, "inferred datagrams are added");
}
