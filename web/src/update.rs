//! Everything that can happen to the page, as one `Msg` enum, and `Model::update`, which applies
//! one message and returns the `Effect`s the page must carry out. This is the page's one way to
//! change state: `render` maps DOM and WebSocket events to messages and performs the effects, so
//! every rule (when to send, when the play timer runs, how fast to reconnect) is pure and tested
//! natively. A new panel adds its messages here and its HTML in a view module.

use socketlab_proto::check::Program;
use socketlab_proto::impair::Impair;
use socketlab_proto::wire::{ClientMsg, Protocol, Scope, ServerMsg, Target};

use crate::code::CodeLang;
use crate::model::{Model, Status, View};

/// The first wait before reconnecting, in milliseconds.
pub const FIRST_RETRY_MS: u32 = 500;
/// The longest wait between reconnection attempts, in milliseconds.
pub const MAX_RETRY_MS: u32 = 5000;
/// A connection that lasted this long (ms) was healthy: the next retry starts from the first wait.
pub const STABLE_MS: u64 = 10_000;

/// One thing that happened: a control used, a frame received, the socket closed, a timer fired.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// The form was submitted.
    Send {
        protocol: Protocol,
        message: String,
    },
    /// "Compare UDP and TCP".
    Compare {
        message: String,
    },
    /// A closed-port scenario; an empty message becomes "hello".
    ClosedPort {
        protocol: Protocol,
        message: String,
    },
    /// "Run the check" on a listed target (empty when none is listed).
    RunCheck {
        program: Program,
        target: String,
    },
    /// An item of the latest check clicked: its timeline opens.
    OpenCheckItem(usize),
    /// The impairment chosen beside Send, as the control's value (see [`impair_choice`]).
    Impair(String),
    /// The Live view checkbox.
    Live(bool),
    /// Step back (-1) or forward (+1), by button or arrow key.
    Step(i64),
    /// The timeline row clicked.
    Select(usize),
    TogglePlay,
    /// The play timer fired.
    Tick,
    ToggleLang,
    Code(CodeLang),
    /// A History entry clicked.
    OpenExchange(usize),
    /// A Live traffic entry clicked.
    OpenLive(usize),
    /// A frame from the gateway (boxed: frames are much larger than clicks).
    Frame(Box<ServerMsg>),
    /// The WebSocket closed, or could not be opened.
    Closed,
}

/// The impairment a control value names: `drop:syn_ack`, `delay_ms:500`, `duplicate`, or
/// nothing for any other value.
pub fn impair_choice(value: &str) -> Option<Impair> {
    let (kind, arg) = value.split_once(':').unwrap_or((value, ""));
    match kind {
        "drop" => serde_json::from_value(serde_json::Value::from(arg))
            .ok()
            .map(|l| Impair { drop: Some(l), ..Impair::default() }),
        "delay_ms" => arg.parse().ok().map(|ms| Impair { delay_ms: Some(ms), ..Impair::default() }),
        "duplicate" => Some(Impair { duplicate: Some(true), ..Impair::default() }),
        _ => None,
    }
}

/// What the page must do after a message; `render` performs these and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a frame on the WebSocket.
    Send(ClientMsg),
    /// Start the one play timer (replacing any running one).
    StartTimer,
    /// Stop the play timer.
    StopTimer,
    /// Open a new WebSocket after this many milliseconds.
    Reconnect { after_ms: u32 },
}

impl Model {
    /// Applies `msg` at `now` (milliseconds on any monotonic clock) and returns what to do.
    pub fn update(&mut self, msg: Msg, now: u64) -> Vec<Effect> {
        match msg {
            Msg::Impair(value) => {
                self.impair = impair_choice(&value);
                Vec::new()
            }
            Msg::Send { protocol, message } => {
                self.begin(|m| m.start(protocol, &message, Target::Hosted).into_iter().collect())
            }
            Msg::Compare { message } => self.begin(|m| m.compare(&message).map(Vec::from).unwrap_or_default()),
            Msg::ClosedPort { protocol, message } => {
                let message = if message.is_empty() { "hello".to_owned() } else { message };
                self.begin(|m| m.start(protocol, &message, Target::ClosedPort).into_iter().collect())
            }
            Msg::RunCheck { target, .. } if target.is_empty() => {
                self.notice = Some("check_no_targets".into());
                Vec::new()
            }
            Msg::RunCheck { program, target } => self.begin(|m| vec![m.checks.start(program, &target)]),
            Msg::OpenCheckItem(i) => match self.checks.list.len().checked_sub(1) {
                Some(c) if self.checks.item(c, i).is_some() => self.open(View::CheckItem(c, i)),
                _ => Vec::new(),
            },
            Msg::Live(on) => {
                self.want_live = on;
                let scope = if on { Scope::All } else { Scope::Own };
                if self.status == Status::Connected {
                    vec![Effect::Send(ClientMsg::Subscribe { scope })]
                } else {
                    Vec::new()
                }
            }
            Msg::Step(delta) => {
                self.step_by(delta);
                self.pause()
            }
            Msg::Select(step) => {
                self.step = step.min(self.steps().saturating_sub(1));
                self.pause()
            }
            Msg::TogglePlay if self.playing => self.pause(),
            Msg::TogglePlay => {
                if self.steps() == 0 {
                    return Vec::new();
                }
                if self.step + 1 >= self.steps() {
                    self.step = 0;
                }
                self.playing = true;
                vec![Effect::StartTimer]
            }
            // A tick that outlived its play (the view changed under it) only stops the timer.
            Msg::Tick if !self.playing => vec![Effect::StopTimer],
            Msg::Tick => {
                self.tick();
                if self.playing { Vec::new() } else { vec![Effect::StopTimer] }
            }
            Msg::ToggleLang => {
                self.lang = self.lang.other();
                Vec::new()
            }
            Msg::Code(lang) => {
                self.code_lang = lang;
                Vec::new()
            }
            Msg::OpenExchange(i) if i < self.exchanges.len() => self.open(View::Exchange(i)),
            Msg::OpenLive(i) if i < self.conversations.len() => self.open(View::Live(i)),
            Msg::OpenExchange(_) | Msg::OpenLive(_) => Vec::new(),
            Msg::Frame(frame) => {
                let hello = matches!(*frame, ServerMsg::Hello(_));
                self.receive(*frame);
                if !hello {
                    return Vec::new();
                }
                self.connected_at = Some(now);
                // A new socket starts unsubscribed; restore the live view the user asked for.
                if self.want_live { vec![Effect::Send(ClientMsg::Subscribe { scope: Scope::All })] } else { Vec::new() }
            }
            Msg::Closed => {
                let stable = self.connected_at.take().is_some_and(|at| now.saturating_sub(at) >= STABLE_MS);
                if stable {
                    self.retry_ms = FIRST_RETRY_MS;
                }
                let after_ms = self.retry_ms;
                self.retry_ms = (self.retry_ms * 2).min(MAX_RETRY_MS);
                let mut effects = self.pause();
                self.disconnected();
                effects.push(Effect::Reconnect { after_ms });
                effects
            }
        }
    }

    /// Sends the frames `make` builds when connected; otherwise says the page is reconnecting.
    fn begin(&mut self, make: impl FnOnce(&mut Self) -> Vec<ClientMsg>) -> Vec<Effect> {
        if self.status != Status::Connected {
            self.notice = Some("status_reconnecting".into());
            return Vec::new();
        }
        let mut effects = self.pause();
        effects.extend(make(self).into_iter().map(Effect::Send));
        effects
    }

    fn open(&mut self, view: View) -> Vec<Effect> {
        let effects = self.pause();
        self.show(view);
        effects
    }

    /// Stops playing; the timer only needs stopping when it was running.
    fn pause(&mut self) -> Vec<Effect> {
        if std::mem::replace(&mut self.playing, false) { vec![Effect::StopTimer] } else { Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketlab_proto::wire::{CaptureStatus, Hello, Limits, Reply};

    fn hello() -> Msg {
        Msg::Frame(Box::new(ServerMsg::Hello(Hello {
            api_version: 1,
            version: "test".into(),
            servers: Vec::new(),
            limits: Limits {
                max_message_bytes: 4096,
                max_frame_bytes: 65536,
                max_in_flight: 8,
                max_connections_per_ip: 8,
                rate_per_sec: 10,
                rate_per_ip: 100,
                burst_per_ip: 300,
                burst: 20,
                exchange_timeout_ms: 2000,
                handshake_timeout_ms: 5000,
                idle_timeout_ms: 60_000,
                session_timeout_ms: 3_600_000,
            },
            observe_all: true,
            capture: CaptureStatus { enabled: false, interface: "lo".into(), reason: None },
            closed_port: 9,
            targets: Vec::new(),
            check_listen: None,
            impairments: Default::default(),
            pinger: None,
        })))
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
        assert_eq!(
            m.update(Msg::Closed, 200),
            [Effect::Reconnect { after_ms: 5000 }],
            "a flapping gateway keeps the wait"
        );
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
}
