//! Tests of `Model::update`: when frames are sent, the one play timer, reconnecting, checks,
//! impairments and the Labs region's messages.

use super::*;
use socketlab_proto::wire::{CaptureStatus, Hello, Limits, Reply};

/// The limits every test `hello` announces.
pub(crate) fn limits() -> Limits {
    Limits {
        max_message_bytes: 4096,
        max_frame_bytes: 65536,
        max_in_flight: 8,
        max_connections_per_ip: 8,
        max_connections: 64,
        max_exchanges: 64,
        rate_per_sec: 10,
        rate_per_ip: 100,
        burst_per_ip: 300,
        burst: 20,
        exchange_timeout_ms: 2000,
        handshake_timeout_ms: 5000,
        idle_timeout_ms: 60_000,
        session_timeout_ms: 3_600_000,
    }
}

pub(crate) fn hello() -> Msg {
    Msg::Frame(Box::new(ServerMsg::Hello(Hello {
        api_version: 1,
        version: "test".into(),
        servers: Vec::new(),
        limits: limits(),
        observe_all: true,
        capture: CaptureStatus { enabled: false, interface: "lo".into(), reason: None },
        closed_port: 9,
        targets: Vec::new(),
        check_listen: None,
        impairments: Default::default(),
        pinger: None,
        instance: "one".into(),
    })))
}

/// `hello` from gateway process `instance`, which keeps its closed port at `closed_port`.
fn hello_from(instance: &str, closed_port: u16) -> Msg {
    let Msg::Frame(frame) = hello() else { unreachable!() };
    let ServerMsg::Hello(h) = *frame else { unreachable!() };
    Msg::Frame(Box::new(ServerMsg::Hello(Hello { instance: instance.into(), closed_port, ..h })))
}

fn sends(effects: &[Effect]) -> usize {
    effects.iter().filter(|e| matches!(e, Effect::Send(_))).count()
}

/// A connected model showing one finished exchange of `steps` events.
fn with_exchange(steps: u64) -> Model {
    use socketlab_proto::{Event, Op, Role, Side, SocketRef, Transport};
    let mut m = Model::default();
    assert!(m.update(hello(), 0).is_empty());
    let effects = m.update(Msg::Send { protocol: Protocol::Udp, message: "hi".into() }, 1);
    assert_eq!(sends(&effects), 1);
    for t in 0..steps {
        let sock = SocketRef { id: 1, role: Role::Client, transport: Transport::Udp };
        let event = Event::new(t, Side::Client, sock, Op::Sendto);
        m.update(Msg::Frame(Box::new(ServerMsg::Event { id: "e1".into(), event })), 2);
    }
    m.update(
        Msg::Frame(Box::new(ServerMsg::Reply(Reply {
            id: "e1".into(),
            reply: "HI".into(),
            reply_base64: None,
            elapsed_us: 1,
            exchange: None,
        }))),
        3,
    );
    m
}

#[test]
fn nothing_is_sent_before_hello() {
    let mut m = Model::default();
    assert_eq!(m.update(Msg::Send { protocol: Protocol::Tcp, message: "x".into() }, 0), []);
    assert_eq!(m.notice.as_deref(), Some("status_reconnecting"));
    assert_eq!(m.update(Msg::Live(true), 0), [], "subscribing waits for the socket");
    assert_eq!(m.update(hello(), 5), [Effect::Send(ClientMsg::Subscribe { scope: Scope::All })]);
    let effects = m.update(Msg::Compare { message: "both".into() }, 6);
    assert_eq!(sends(&effects), 2);
    let effects = m.update(Msg::ClosedPort { protocol: Protocol::Tcp, message: String::new() }, 7);
    let [Effect::Send(ClientMsg::Exchange(req))] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!((req.message.as_deref(), req.target), (Some("hello"), Some(Target::ClosedPort)));
}

#[test]
fn one_timer_starts_on_play_and_stops_on_every_way_out() {
    let mut m = with_exchange(3);
    assert_eq!(m.update(Msg::TogglePlay, 10), [Effect::StartTimer]);
    assert!(m.playing);
    assert_eq!(m.update(Msg::Tick, 11), []);
    assert_eq!(m.update(Msg::Tick, 12), []);
    assert_eq!(m.step, 2);
    assert_eq!(m.update(Msg::Tick, 13), [Effect::StopTimer], "the end stops the timer");
    assert!(!m.playing);
    assert_eq!(m.update(Msg::TogglePlay, 14), [Effect::StartTimer], "play again starts over");
    assert_eq!(m.step, 0);
    assert_eq!(m.update(Msg::TogglePlay, 15), [Effect::StopTimer], "pause");
    for stop in [Msg::Step(1), Msg::Select(0), Msg::OpenExchange(0), Msg::Closed] {
        assert_eq!(m.update(Msg::TogglePlay, 16), [Effect::StartTimer]);
        let effects = m.update(stop.clone(), 17);
        assert_eq!(effects.first(), Some(&Effect::StopTimer), "{stop:?} stops the timer");
        assert_eq!(effects.iter().filter(|e| **e == Effect::StartTimer).count(), 0);
        m.update(hello(), 18);
    }
    assert_eq!(m.update(Msg::Step(1), 19), [], "no timer to stop when paused");
    assert_eq!(Model::default().update(Msg::TogglePlay, 0), [], "nothing to play");
}

#[test]
fn reconnects_back_off_and_reset_after_a_healthy_connection() {
    let mut m = Model::default();
    let waits: Vec<_> = (0..6)
        .map(|i| match m.update(Msg::Closed, i).as_slice() {
            [Effect::Reconnect { after_ms }] => *after_ms,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(waits, [500, 1000, 2000, 4000, 5000, 5000]);
    m.update(hello(), 100);
    assert_eq!(m.update(Msg::Closed, 200), [Effect::Reconnect { after_ms: 5000 }], "a flapping gateway keeps the wait");
    m.update(hello(), 1_000);
    assert_eq!(m.update(Msg::Closed, 1_000 + STABLE_MS), [Effect::Reconnect { after_ms: FIRST_RETRY_MS }]);
}

#[test]
fn clicks_out_of_range_change_nothing() {
    let mut m = with_exchange(2);
    m.update(Msg::Select(99), 0);
    assert_eq!(m.step, 1, "clamped to the last step");
    m.update(Msg::OpenLive(3), 0);
    m.update(Msg::OpenExchange(7), 0);
    assert_eq!(m.view, View::Exchange(0));
    m.update(Msg::ToggleLang, 0);
    m.update(Msg::Code(CodeLang::Rust), 0);
    assert_eq!((m.lang, m.code_lang), (crate::i18n::Lang::Zh, CodeLang::Rust));
}

#[test]
fn a_check_runs_on_a_listed_target_and_each_item_opens_its_timeline() {
    use socketlab_proto::check::{ItemOutcome, grade_item};
    use socketlab_proto::{Event, Op, Role, Side, SocketRef, Transport};
    let mut m = Model::default();
    let none = Msg::RunCheck { program: Program::UdpServer, target: String::new() };
    assert!(m.update(none, 0).is_empty());
    assert_eq!(m.notice.as_deref(), Some("check_no_targets"));
    let run = || Msg::RunCheck { program: Program::UdpServer, target: "my-server".into() };
    assert!(m.update(run(), 0).is_empty(), "nothing is sent before hello");
    m.update(hello(), 1);
    let effects = m.update(run(), 2);
    let [Effect::Send(ClientMsg::Check(req))] = effects.as_slice() else { panic!("one check frame: {effects:?}") };
    assert_eq!(req.target.as_deref(), Some("my-server"));
    let id = req.id.clone().expect("id");
    let sock = SocketRef { id: 1, role: Role::Client, transport: Transport::Udp };
    let events = vec![Event::new(1, Side::Client, sock, Op::Sendto)];
    let item = grade_item(Program::UdpServer, ItemOutcome::fail("ascii", "lower-cased").with_events(events))
        .expect("a rubric item");
    m.update(Msg::Frame(Box::new(ServerMsg::CheckItem { id, item })), 3);
    assert!(m.update(Msg::OpenCheckItem(5), 4).is_empty());
    assert_eq!(m.view, View::Empty, "no such item");
    m.update(Msg::OpenCheckItem(0), 5);
    assert_eq!(m.view, View::CheckItem(0, 0));
    assert!(!m.timelines()[0].is_empty(), "the item's timeline is on screen");
    assert!(crate::view::timeline(&m).contains("ascii"), "the caption names the item");
}

#[test]
fn the_chosen_impairment_goes_with_the_exchanges_it_fits() {
    use socketlab_proto::impair::Lose;
    let mut m = Model::default();
    m.update(hello(), 0);
    m.update(Msg::Impair("drop:syn_ack".into()), 1);
    assert_eq!(m.impair.and_then(|i| i.drop), Some(Lose::SynAck));
    let sent = |effects: Vec<Effect>| match effects.as_slice() {
        [Effect::Send(ClientMsg::Exchange(req))] => req.impair,
        other => panic!("{other:?}"),
    };
    let tcp = sent(m.update(Msg::Send { protocol: Protocol::Tcp, message: "x".into() }, 2));
    assert_eq!(tcp.and_then(|i| i.drop), Some(Lose::SynAck));
    assert_eq!(sent(m.update(Msg::Send { protocol: Protocol::Udp, message: "x".into() }, 3)), None, "not for UDP");
    m.update(Msg::Impair("delay_ms:500".into()), 4);
    assert_eq!(m.impair.and_then(|i| i.delay_ms), Some(500));
    m.update(Msg::Impair(String::new()), 5);
    assert_eq!(m.impair, None);
    assert_eq!(impair_choice("drop:nonsense"), None);
}

#[test]
fn a_reconnection_to_another_instance_forgets_the_names_the_old_one_gave() {
    use crate::share::ShareMsg;
    use socketlab_proto::{Event, Op, Role, Side, SocketRef, Transport};
    // (the instance met after reconnecting, whether the names still hold there)
    for (again, kept) in [("one", true), ("two", false), ("", false)] {
        let mut m = Model::default();
        m.update(hello_from("one", 9), 0);
        m.update(Msg::Send { protocol: Protocol::Tcp, message: "hi".into() }, 1);
        let sock = SocketRef { id: 1, role: Role::Client, transport: Transport::Tcp };
        let wire = Event::new(2, Side::Client, sock, Op::Segment);
        m.update(Msg::Frame(Box::new(ServerMsg::Event { id: "e1".into(), event: wire })), 2);
        let reply = Reply { id: "e1".into(), reply: "HI".into(), reply_base64: None, elapsed_us: 1, exchange: None };
        m.update(Msg::Frame(Box::new(ServerMsg::Reply(Reply { exchange: Some("x1-ab".into()), ..reply }))), 3);
        m.labs.sent.push(("e1".into(), Some("x1-ab".into())));
        assert_eq!((m.share.name("e1"), m.exchanges[0].capture.as_deref()), (Some("x1-ab"), Some("x1-ab")));

        m.update(Msg::Closed, 4);
        m.update(Msg::Send { protocol: Protocol::Udp, message: "x".into() }, 5);
        assert_eq!(m.notice.as_deref(), Some("status_reconnecting"));
        m.update(hello_from(again, 4242), 600);
        assert_eq!(m.hello.as_ref().map(|h| h.closed_port), Some(4242), "the new hello's ports hold");
        assert_eq!(m.notice, None, "connected again: nothing to wait for");
        assert_eq!(m.share.name("e1").is_some(), kept, "{again:?}");
        assert_eq!(m.exchanges[0].capture.is_some(), kept, "{again:?}: no pcap link the instance cannot serve");
        assert_eq!(m.labs.sent[0].1.is_some(), kept, "{again:?}");
        let effects = m.update(Msg::Share(ShareMsg::Share { origin: "http://h".into() }), 601);
        assert_eq!(effects.is_empty(), !kept, "{again:?}: {effects:?}");
        assert_eq!(m.exchanges.len(), 1, "the exchange itself stays on screen");
    }
}
