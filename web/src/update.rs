//! Everything that can happen to the page, as one `Msg` enum, and `Model::update`, which applies
//! one message and returns the `Effect`s the page must carry out. This is the page's one way to
//! change state: `render` maps DOM and WebSocket events to messages and performs the effects, so
//! every rule (when to send, when the play timer runs, how fast to reconnect) is pure and tested
//! natively. A new panel adds its messages here and its HTML in a view module.

use socketlab_proto::check::Program;
use socketlab_proto::impair::Impair;
use socketlab_proto::wire::{ClientMsg, Protocol, Scope, ServerMsg, Target};

use crate::class::ClassMsg;
use crate::code::CodeLang;
use crate::labs::{Fetch, LabMsg};
use crate::model::{Model, Status, View};
use crate::share::ShareMsg;

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
    /// Something in the Labs region.
    Lab(LabMsg),
    /// Sharing an exchange, or the read-only view of a shared one.
    Share(ShareMsg),
    /// Something in the class region.
    Class(ClassMsg),
}

impl Msg {
    /// The message that carries a finished request's status and body to the region that asked.
    pub fn fetched(then: Fetch, status: u16, body: String) -> Self {
        match then {
            Fetch::Class(what) => Self::Class(ClassMsg::Fetched(what, status, body)),
            then => Self::Lab(LabMsg::Fetched(then, status, body)),
        }
    }
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
    /// Close the WebSocket, if one is open, without a `Closed`, and open a new one after this
    /// many milliseconds.
    Reconnect { after_ms: u32 },
    /// An HTTP request to the gateway: GET, or POST of a JSON `body`; its end comes back as
    /// `Msg::fetched(then, ..)`.
    Fetch { url: String, body: Option<String>, then: Fetch },
    /// Keep the labs' progress in localStorage (under `labs::STORE_KEY`).
    Save(String),
    /// Put this text on the clipboard; the end comes back to whoever asked.
    Copy(String, Copier),
}

/// Who asked for a copy, and so hears how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copier {
    Share,
    Class,
}

impl Copier {
    /// The message that says whether the clipboard took the text.
    pub fn copied(self, ok: bool) -> Msg {
        match self {
            Self::Share => Msg::Share(ShareMsg::Copied(ok)),
            Self::Class => Msg::Class(ClassMsg::Copied(ok)),
        }
    }
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
                // The read-only view has no Labs region to fetch again.
                if crate::share::read_only(self) { Vec::new() } else { crate::labs::relang(self) }
            }
            // In a class the gateway keeps the progress, and a refused session means it ended.
            Msg::Lab(LabMsg::Fetched(Fetch::Check, 401, _)) if self.class.joined() => crate::class::expire(self),
            Msg::Lab(LabMsg::Fetched(then @ (Fetch::Save | Fetch::Saved), status, body)) => {
                crate::share::fetched(self, then, status, &body)
            }
            Msg::Lab(msg) => {
                let mut effects = crate::labs::update(self, msg);
                effects.retain(|e| !(self.class.joined() && matches!(e, Effect::Save(_))));
                effects
            }
            Msg::Share(msg) => crate::share::update(self, msg),
            Msg::Class(msg) => crate::class::update(self, msg),
            Msg::Code(lang) => {
                self.code_lang = lang;
                Vec::new()
            }
            Msg::OpenExchange(i) if i < self.exchanges.len() => self.open(View::Exchange(i)),
            Msg::OpenLive(i) if i < self.conversations.len() => self.open(View::Live(i)),
            Msg::OpenExchange(_) | Msg::OpenLive(_) => Vec::new(),
            Msg::Frame(frame) => {
                let hello = matches!(*frame, ServerMsg::Hello(_));
                if let ServerMsg::Hello(h) = &*frame {
                    self.met(&h.instance);
                }
                self.labs.saw(&frame);
                self.share.saw(&frame);
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

    /// A `hello` from gateway process `instance`. The page reconnects by itself, and behind a
    /// proxy it may land on another instance (or the gateway restarted): the names of the
    /// exchanges it ran before (to share them, download their capture, check them in a lab)
    /// mean nothing there, so they are forgotten; the exchanges stay on screen.
    fn met(&mut self, instance: &str) {
        if self.notice.as_deref() == Some("status_reconnecting") {
            self.notice = None;
        }
        if self.hello.as_ref().is_none_or(|h| h.instance == instance) {
            return;
        }
        self.share.forget_names();
        self.share.link = crate::share::Link::Idle;
        for x in &mut self.exchanges {
            x.capture = None;
        }
        for sent in &mut self.labs.sent {
            sent.1 = None;
        }
    }

    /// The page's identity changed (a join, a student read from `/me`, a session that ended): the
    /// gateway reads the student once, when the WebSocket opens, so the socket is opened again
    /// at once, or its checks would count for whoever the page was before.
    pub fn reopen(&mut self) -> Vec<Effect> {
        let mut effects = self.pause();
        self.disconnected();
        effects.push(Effect::Reconnect { after_ms: 0 });
        effects
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
#[path = "update_tests.rs"]
pub(crate) mod tests;
