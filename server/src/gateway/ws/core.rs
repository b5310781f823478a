//! The WebSocket session's rules, without any I/O: which frame starts, refuses or ends what,
//! when the socket closes and with which code.
//!
//! It exists so that the promises of the WebSocket API (exactly one end per exchange, the
//! documented close codes, what shutdown does) live in one place that unit tests can drive
//! frame by frame with `now` passed in, in the sans-I/O style of quinn-proto. The I/O task in
//! `io.rs` feeds it [`Input`]s and carries out the [`Action`]s it queues, in order. Admission
//! (decoding a request, the rate limit) is injected through [`Gate`], so tests need no sockets.
//! Later features (labs, checks, impairment) extend this core, not the I/O loop.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use socketlab_proto::check::CheckRequest;
use socketlab_proto::wire::{ClientMsg, ErrorCode, ExchangeRequest, Scope, ServerMsg};

use crate::gateway::error::ApiError;

/// Longest exchange id accepted.
pub const MAX_ID: usize = 128;
/// WebSocket close codes (RFC 6455, section 7.4.1).
pub const NORMAL: u16 = 1000;
pub const AWAY: u16 = 1001;
pub const INVALID_DATA: u16 = 1007;
pub const TOO_BIG: u16 = 1009;

/// What the session needs to decide on its own.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_in_flight: usize,
    pub max_frame_bytes: usize,
    /// A socket whose client sends nothing for this long is closed.
    pub idle: Duration,
    /// A socket is closed this long after it opened, in any case.
    pub session: Duration,
    /// How long shutdown lets exchanges in flight finish before failing them.
    pub grace: Duration,
    /// Whether the operator lets sockets observe other clients' traffic.
    pub observe_all: bool,
}

/// Admission of a new exchange or check: decoding its request and the rate limit.
pub trait Gate {
    /// A request checked and decoded, ready to run.
    type Prepared;
    /// A check admitted: its program and the listed target it grades.
    type Check;
    fn prepare(&self, req: &ExchangeRequest) -> Result<Self::Prepared, ApiError>;
    /// Looks the check's target up among the listed ones; an unlisted one is refused.
    fn prepare_check(&self, req: &CheckRequest) -> Result<Self::Check, ApiError>;
    fn rate_limit(&self, now: Instant) -> Result<(), ApiError>;
}

/// Something that happened on the socket.
#[derive(Debug)]
pub enum Input<'a> {
    /// A text frame.
    Text(&'a str),
    /// A binary frame.
    Binary,
    /// A ping or pong: the client is there.
    Control,
    /// A text frame that is not UTF-8.
    InvalidUtf8,
    /// A frame or message over `max_frame_bytes`.
    TooLarge,
    /// An exchange finished: its events, then its one reply or error. A check finished: its
    /// one report or error.
    Finished { id: String, frames: Vec<ServerMsg> },
    /// A check in flight graded an item: frames that end nothing. Every progress of a check
    /// is fed before its `Finished`.
    Progress { id: String, frames: Vec<ServerMsg> },
    /// Time passed; deadlines at or before `now` take effect.
    Tick,
    /// The gateway is shutting down; frames already received have been fed first.
    Shutdown,
    /// The client closed the socket, or it can no longer be written.
    Gone,
}

/// What the I/O task must do, in the order queued. Actions live only from `handle` to
/// `poll_action`, so their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq, Eq)]
pub enum Action<P, C> {
    Send(ServerMsg),
    Start {
        id: String,
        prepared: P,
    },
    StartCheck {
        id: String,
        check: C,
    },
    Observe(Scope),
    /// Send a close frame with this code and reason; nothing follows it.
    Close {
        code: u16,
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// Shutting down: exchanges in flight may finish until this deadline.
    Draining(Instant),
    Closed,
}

/// One socket's session state.
#[derive(Debug)]
pub struct SessionCore<G: Gate> {
    gate: G,
    settings: Settings,
    phase: Phase,
    in_flight: HashSet<String>,
    idle_at: Instant,
    session_end: Instant,
    actions: VecDeque<Action<G::Prepared, G::Check>>,
}

impl<G: Gate> SessionCore<G> {
    pub fn new(gate: G, settings: Settings, now: Instant) -> Self {
        Self {
            idle_at: now + settings.idle,
            session_end: now + settings.session,
            gate,
            settings,
            phase: Phase::Open,
            in_flight: HashSet::new(),
            actions: VecDeque::new(),
        }
    }

    /// The next action to carry out, oldest first.
    pub fn poll_action(&mut self) -> Option<Action<G::Prepared, G::Check>> {
        self.actions.pop_front()
    }

    /// When [`Input::Tick`] is next due; `None` once closed.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Open => Some(self.idle_at.min(self.session_end)),
            Phase::Draining(until) => Some(until),
            Phase::Closed => None,
        }
    }

    /// The admission gate, for tests that change its answers mid-session.
    pub fn gate_mut(&mut self) -> &mut G {
        &mut self.gate
    }

    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    pub fn handle(&mut self, input: Input<'_>, now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        match input {
            Input::Text(text) => {
                self.idle_at = now + self.settings.idle;
                self.on_text(text, now);
            }
            Input::Binary => {
                self.idle_at = now + self.settings.idle;
                let e = ApiError::new(ErrorCode::MalformedJson, "send JSON in text frames, not binary frames");
                self.refuse(None, e);
            }
            Input::Control => self.idle_at = now + self.settings.idle,
            Input::InvalidUtf8 => {
                let why = "a text frame was not valid UTF-8";
                self.refuse(None, ApiError::new(ErrorCode::MalformedJson, format!("{why}; the socket closes")));
                self.close(INVALID_DATA, ErrorCode::SessionClosed, why);
            }
            Input::TooLarge => {
                let why = format!("frames are limited to {} bytes", self.settings.max_frame_bytes);
                self.refuse(None, ApiError::new(ErrorCode::TooLarge, why.clone()));
                self.close(TOO_BIG, ErrorCode::SessionClosed, &format!("too_large: {why}"));
            }
            Input::Progress { id, frames } => {
                if self.in_flight.contains(&id) {
                    self.actions.extend(frames.into_iter().map(Action::Send));
                }
            }
            Input::Finished { id, frames } => {
                if self.in_flight.remove(&id) {
                    self.actions.extend(frames.into_iter().map(Action::Send));
                }
                if matches!(self.phase, Phase::Draining(_)) && self.in_flight.is_empty() {
                    self.close(AWAY, ErrorCode::ShuttingDown, "the gateway is shutting down");
                }
            }
            Input::Tick => match self.phase {
                Phase::Draining(until) if now >= until => {
                    self.close(AWAY, ErrorCode::ShuttingDown, "the gateway is shutting down");
                }
                Phase::Open if now >= self.session_end => {
                    self.close(NORMAL, ErrorCode::SessionClosed, "session time limit reached; reconnect to continue");
                }
                Phase::Open if now >= self.idle_at => {
                    self.close(NORMAL, ErrorCode::SessionClosed, "idle for too long; reconnect to continue");
                }
                _ => {}
            },
            Input::Shutdown => {
                if self.in_flight.is_empty() {
                    self.close(AWAY, ErrorCode::ShuttingDown, "the gateway is shutting down");
                } else if self.phase == Phase::Open {
                    self.phase = Phase::Draining(now + self.settings.grace);
                }
            }
            Input::Gone => {
                self.in_flight.clear();
                self.phase = Phase::Closed;
            }
        }
    }

    /// Ends every exchange in flight with `code`, then queues the close frame.
    fn close(&mut self, close_code: u16, code: ErrorCode, reason: &str) {
        let mut ids: Vec<String> = self.in_flight.drain().collect();
        ids.sort();
        for id in ids {
            let message = format!("the socket closed before this exchange finished: {reason}");
            self.actions.push_back(Action::Send(error(Some(id), code, message)));
        }
        self.actions.push_back(Action::Close { code: close_code, reason: reason.to_owned() });
        self.phase = Phase::Closed;
    }

    fn refuse(&mut self, id: Option<String>, e: ApiError) {
        self.actions.push_back(Action::Send(error(id, e.code, e.message)));
    }

    fn on_text(&mut self, text: &str, now: Instant) {
        // The common case parses once; only a bad frame is parsed again to tell malformed JSON
        // from an invalid field, and to find its id.
        let msg: ClientMsg = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                return match serde_json::from_str::<serde_json::Value>(text) {
                    Err(e) => self
                        .refuse(None, ApiError::new(ErrorCode::MalformedJson, format!("the frame is not JSON: {e}"))),
                    Ok(v) => {
                        let id = v.get("id").and_then(|v| v.as_str()).map(str::to_owned);
                        let id = id.filter(|id| !self.in_flight.contains(id));
                        self.refuse(
                            id,
                            ApiError::new(ErrorCode::InvalidField, format!("the frame is not a valid request: {e}")),
                        );
                    }
                };
            }
        };
        match msg {
            ClientMsg::Exchange(req) => {
                if let Some(id) = self.admit_id(req.id.clone()) {
                    match self.gate.rate_limit(now).and_then(|()| self.gate.prepare(&req)) {
                        Ok(prepared) => self.start(id, |id| Action::Start { id, prepared }),
                        Err(e) => self.refuse(Some(id), e),
                    }
                }
            }
            ClientMsg::Check(req) => {
                // The target is looked up first: an unlisted name spends no rate and sends nothing.
                if let Some(id) = self.admit_id(req.id.clone()) {
                    match self.gate.prepare_check(&req).and_then(|c| self.gate.rate_limit(now).map(|()| c)) {
                        Ok(check) => self.start(id, |id| Action::StartCheck { id, check }),
                        Err(e) => self.refuse(Some(id), e),
                    }
                }
            }
            ClientMsg::Subscribe { scope } => {
                if scope == Scope::All && !self.settings.observe_all {
                    let e = ApiError::new(
                        ErrorCode::ObserveDisabled,
                        "the operator turned off observing other clients on this gateway",
                    );
                    return self.refuse(None, e);
                }
                self.actions.push_back(Action::Observe(scope));
                self.actions.push_back(Action::Send(ServerMsg::Subscribed { scope }));
            }
        }
    }

    /// Checks what every exchange and check must pass before the gate: a valid id not in
    /// flight, not draining, room in flight. Returns the id, or queues the refusal.
    fn admit_id(&mut self, id: Option<String>) -> Option<String> {
        let id = match id {
            Some(id) if !id.is_empty() && id.len() <= MAX_ID => id,
            other => {
                let e = ApiError::new(ErrorCode::InvalidField, format!("id must be a string of 1 to {MAX_ID} bytes"));
                self.refuse(other.filter(|id| !self.in_flight.contains(id)), e);
                return None;
            }
        };
        if self.in_flight.contains(&id) {
            // Not an end of the running exchange: the refused id goes in its own field.
            let message = format!("exchange {id:?} is still in flight on this socket; this frame was not started");
            let mut msg = error(None, ErrorCode::DuplicateId, message);
            if let ServerMsg::Error { refused_id, .. } = &mut msg {
                *refused_id = Some(id);
            }
            self.actions.push_back(Action::Send(msg));
            return None;
        }
        if let Phase::Draining(_) = self.phase {
            self.refuse(Some(id), ApiError::new(ErrorCode::ShuttingDown, "the gateway is shutting down"));
            return None;
        }
        let max = self.settings.max_in_flight;
        if self.in_flight.len() >= max {
            let e = ApiError::new(
                ErrorCode::TooManyInFlight,
                format!("at most {max} exchanges may be in flight on one socket; wait for a reply"),
            );
            self.refuse(Some(id), e);
            return None;
        }
        Some(id)
    }

    /// Puts `id` in flight and queues the action that starts it.
    fn start(&mut self, id: String, action: impl FnOnce(String) -> Action<G::Prepared, G::Check>) {
        self.in_flight.insert(id.clone());
        self.actions.push_back(action(id));
    }
}

/// An `error` frame.
pub fn error(id: Option<String>, code: ErrorCode, message: String) -> ServerMsg {
    ServerMsg::Error { id, code, message, exchange: None, refused_id: None }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
