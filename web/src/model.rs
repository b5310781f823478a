//! The page's state and how each server frame and each click changes it. Pure: the render
//! module feeds it frames and clicks and draws whatever it holds.

use socketlab_proto::Event;
use socketlab_proto::impair::Impair;
use socketlab_proto::infer::with_inferred;
use socketlab_proto::wire::{ClientMsg, ErrorCode, ExchangeRequest, Hello, Protocol, Scope, ServerMsg, Target};

use crate::code::CodeLang;
use crate::i18n::Lang;

/// Conversations kept in the live view, oldest dropped first.
const MAX_CONVERSATIONS: usize = 50;
/// Events kept per live conversation.
const MAX_LIVE_EVENTS: usize = 400;

/// The WebSocket's state, as the status badge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Connecting,
    Connected,
    Reconnecting,
}

/// How an exchange ended, if it has.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pending,
    Reply {
        text: String,
        elapsed_us: u64,
    },
    Failed {
        code: ErrorCode,
        message: String,
    },
    /// The WebSocket closed before the exchange ended.
    Lost,
}

/// One exchange this tab sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub id: String,
    pub protocol: Protocol,
    pub message: String,
    pub events: Vec<Event>,
    pub outcome: Outcome,
    pub target: Target,
    /// The gateway's name for the exchange, when its packets were captured.
    pub capture: Option<String>,
}

impl Exchange {
    /// Whether the timeline has packets from the wire, so there is a capture to export.
    fn captured(&self) -> bool {
        self.events.iter().any(|e| e.op == socketlab_proto::Op::Segment && !e.has(socketlab_proto::Flag::Inferred))
    }
}

/// Traffic from another client, seen in the live view.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub key: String,
    pub events: Vec<Event>,
}

/// What the timeline shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Empty,
    Exchange(usize),
    Compare(usize, usize),
    Live(usize),
    /// Item `.1` of check `.0`.
    CheckItem(usize, usize),
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct Model {
    pub lang: Lang,
    pub labs: crate::labs::Labs,
    pub class: crate::class::Class,
    pub code_lang: CodeLang,
    pub status: Status,
    pub hello: Option<Hello>,
    pub exchanges: Vec<Exchange>,
    pub conversations: Vec<Conversation>,
    /// The checks this tab ran.
    pub checks: crate::checks::Checks,
    pub view: View,
    pub step: usize,
    pub live: bool,
    pub playing: bool,
    /// An i18n key or a server message about something that is not an exchange.
    pub notice: Option<String>,
    /// Whether the user asked for the live view (kept across reconnections).
    pub want_live: bool,
    /// When the current socket said hello, for the reconnection backoff.
    pub(crate) connected_at: Option<u64>,
    /// The wait before the next reconnection attempt, in milliseconds.
    pub(crate) retry_ms: u32,
    /// The impairment chosen beside Send, applied to the exchanges it fits.
    pub impair: Option<Impair>,
    next_id: u64,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            lang: Lang::En,
            code_lang: CodeLang::Python,
            status: Status::Connecting,
            hello: None,
            exchanges: Vec::new(),
            conversations: Vec::new(),
            checks: crate::checks::Checks::default(),
            view: View::Empty,
            step: 0,
            live: false,
            playing: false,
            notice: None,
            want_live: false,
            connected_at: None,
            retry_ms: crate::update::FIRST_RETRY_MS,
            impair: None,
            labs: Default::default(),
            class: Default::default(),
            next_id: 1,
        }
    }
}

impl Model {
    fn frame(&mut self, protocol: Protocol, message: &str, target: Target) -> (usize, ClientMsg) {
        let id = format!("e{}", self.next_id);
        self.next_id += 1;
        self.exchanges.push(Exchange {
            id: id.clone(),
            protocol,
            message: message.to_owned(),
            events: Vec::new(),
            outcome: Outcome::Pending,
            target,
            capture: None,
        });
        let req = ExchangeRequest {
            id: Some(id),
            protocol,
            message: Some(message.to_owned()),
            message_base64: None,
            trace: None,
            target: (target == Target::ClosedPort).then_some(target),
            hold_ms: None,
            impair: self.impair.filter(|i| target == Target::Hosted && i.plan(protocol).is_ok()),
        };
        (self.exchanges.len() - 1, ClientMsg::Exchange(req))
    }

    fn check(&mut self, message: &str) -> Result<(), &'static str> {
        self.notice = None;
        if message.is_empty() {
            self.notice = Some("err_empty".into());
            return Err("err_empty");
        }
        Ok(())
    }

    /// Starts an exchange; returns the frame to send.
    pub fn start(&mut self, protocol: Protocol, message: &str, target: Target) -> Result<ClientMsg, &'static str> {
        self.check(message)?;
        let (i, frame) = self.frame(protocol, message, target);
        self.show(View::Exchange(i));
        Ok(frame)
    }

    /// Sends one sentence over both protocols, to be shown side by side.
    pub fn compare(&mut self, message: &str) -> Result<[ClientMsg; 2], &'static str> {
        self.check(message)?;
        let (u, a) = self.frame(Protocol::Udp, message, Target::Hosted);
        let (t, b) = self.frame(Protocol::Tcp, message, Target::Hosted);
        self.show(View::Compare(u, t));
        Ok([a, b])
    }

    /// Switches the timeline to `view`, at its first step.
    pub fn show(&mut self, view: View) {
        self.view = view;
        self.step = 0;
        self.playing = false;
    }

    /// Applies one frame from the gateway.
    pub fn receive(&mut self, msg: ServerMsg) {
        if self.checks.receive(&msg) {
            return;
        }
        match msg {
            ServerMsg::Hello(h) => {
                self.hello = Some(h);
                self.status = Status::Connected;
            }
            ServerMsg::Event { id, event } => {
                if let Some(x) = self.exchanges.iter_mut().find(|x| x.id == id) {
                    x.events.push(event);
                }
            }
            ServerMsg::Reply(r) => {
                if let Some(x) = self.exchanges.iter_mut().find(|x| x.id == r.id) {
                    x.outcome = Outcome::Reply { text: r.reply, elapsed_us: r.elapsed_us };
                    x.capture = r.exchange.filter(|_| x.captured());
                }
            }
            ServerMsg::Error { id: Some(id), code, message, exchange, .. } => {
                if let Some(x) = self.exchanges.iter_mut().find(|x| x.id == id) {
                    x.outcome = Outcome::Failed { code, message };
                    x.capture = exchange.filter(|_| x.captured());
                }
            }
            ServerMsg::Error { id: None, message, .. } => self.notice = Some(message),
            ServerMsg::Observed { conversation, event } => {
                let c = match self.conversations.iter().position(|c| c.key == conversation) {
                    Some(i) => &mut self.conversations[i],
                    None => {
                        if self.conversations.len() >= MAX_CONVERSATIONS {
                            self.conversations.remove(0);
                            if let View::Live(i) = self.view {
                                self.view = if i == 0 { View::Empty } else { View::Live(i - 1) };
                            }
                        }
                        self.conversations.push(Conversation { key: conversation, events: Vec::new() });
                        let last = self.conversations.len() - 1;
                        if matches!(self.view, View::Empty) && self.live {
                            self.view = View::Live(last);
                        }
                        &mut self.conversations[last]
                    }
                };
                if c.events.len() < MAX_LIVE_EVENTS {
                    c.events.push(event);
                }
            }
            ServerMsg::Subscribed { scope } => self.live = scope == Scope::All,
            // Frames of checks this tab does not know.
            ServerMsg::CheckItem { .. } | ServerMsg::CheckReport { .. } => {}
        }
    }

    /// The WebSocket closed: exchanges still pending can no longer end.
    pub fn disconnected(&mut self) {
        self.status = Status::Reconnecting;
        self.live = false;
        self.checks.lost();
        for x in &mut self.exchanges {
            if x.outcome == Outcome::Pending {
                x.outcome = Outcome::Lost;
            }
        }
    }

    /// The exchanges the view shows (one, or two when comparing).
    pub fn shown(&self) -> Vec<&Exchange> {
        match self.view {
            View::Exchange(i) => self.exchanges.get(i).into_iter().collect(),
            View::Compare(a, b) => self.exchanges.get(a).into_iter().chain(self.exchanges.get(b)).collect(),
            View::Empty | View::Live(_) | View::CheckItem(..) => Vec::new(),
        }
    }

    /// The timelines on screen, each with its packets inferred where the gateway did not.
    pub fn timelines(&self) -> Vec<Vec<Event>> {
        match self.view {
            View::Live(i) => self.conversations.get(i).map(|c| with_inferred(&c.events)).into_iter().collect(),
            View::CheckItem(c, i) => self.checks.item(c, i).map(|it| with_inferred(&it.events)).into_iter().collect(),
            _ => self.shown().iter().map(|x| x.events.clone()).collect(),
        }
    }

    /// The number of steps of the longest timeline on screen.
    pub fn steps(&self) -> usize {
        self.timelines().iter().map(Vec::len).max().unwrap_or(0)
    }

    /// Moves the highlight by `delta` steps, within the timeline.
    pub fn step_by(&mut self, delta: i64) {
        let last = self.steps().saturating_sub(1) as i64;
        self.step = (self.step as i64 + delta).clamp(0, last.max(0)) as usize;
    }

    /// Advances one step while playing; stops at the end.
    pub fn tick(&mut self) {
        if self.step + 1 >= self.steps() {
            self.playing = false;
        } else {
            self.step += 1;
        }
    }
}

#[cfg(test)]
mod tests {
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
}
