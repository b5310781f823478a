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
    pub share: crate::share::Share,
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
            share: Default::default(),
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
#[path = "model_tests.rs"]
mod tests;
