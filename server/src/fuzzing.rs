//! The properties the fuzz targets in `fuzz/` check, one function per target, so that
//! `cargo fuzz` explores them and the ordinary test suite replays the committed corpus on the
//! stable toolchain (`tests/fuzz_corpus.rs`).
//!
//! Each function takes arbitrary bytes and panics only when a promise breaks:
//! - [`ws_session`]: the WebSocket session core gives every started exchange and check exactly
//!   one end, sends no check item after its end, and sends nothing after its close frame,
//!   whatever frames and clock ticks arrive.
//! - [`packet`]: the capture's frame parser never panics and keeps only watched ports.
//! - [`uppercase`]: the upper-casing rule never panics, keeps ASCII-only input's length, and
//!   turns valid UTF-8 into valid UTF-8.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use socketlab_proto::check::CheckRequest;
use socketlab_proto::wire::{ErrorCode, ExchangeRequest, ServerMsg};

use crate::capture::parse::{Parser, Watched};
use crate::gateway::error::ApiError;
use crate::gateway::ws::core::{Action, Gate, Input, SessionCore, Settings, error};

struct FuzzGate {
    limited: Cell<bool>,
}

impl Gate for FuzzGate {
    type Prepared = ();
    type Check = ();
    fn prepare(&self, _req: &ExchangeRequest) -> Result<(), ApiError> {
        Ok(())
    }
    fn prepare_check(&self, req: &CheckRequest) -> Result<(), ApiError> {
        match req.target.as_deref() {
            Some("listed") => Ok(()),
            _ => Err(ApiError::new(ErrorCode::InvalidField, "not listed")),
        }
    }
    fn rate_limit(&self, _now: Instant) -> Result<(), ApiError> {
        if self.limited.get() { Err(ApiError::new(ErrorCode::RateLimited, "slow down")) } else { Ok(()) }
    }
}

/// Bytes as a script of session inputs; panics if an exchange ends twice or never.
pub fn ws_session(data: &[u8]) {
    let settings = Settings {
        max_in_flight: 4,
        max_frame_bytes: 1024,
        idle: Duration::from_secs(30),
        session: Duration::from_secs(300),
        grace: Duration::from_secs(2),
        observe_all: data.first().is_some_and(|b| b & 1 == 1),
    };
    let start = Instant::now();
    let mut now = start;
    let gate = FuzzGate { limited: Cell::new(false) };
    let mut core = SessionCore::new(gate, settings, now);
    // Exchanges started and not yet ended, and whether the close frame went out.
    let mut ledger = Ledger::default();
    let mut rest = data.get(1..).unwrap_or_default();
    for _ in 0..256 {
        let Some((&op, tail)) = rest.split_first() else { break };
        rest = tail;
        let arg = rest.first().copied().unwrap_or(0);
        let input_text;
        let input = match op % 9 {
            0 | 1 => {
                let len = usize::from(arg).min(rest.len().saturating_sub(1));
                let bytes = &rest[1.min(rest.len())..1.min(rest.len()) + len];
                rest = &rest[(1 + len).min(rest.len())..];
                match std::str::from_utf8(bytes) {
                    Ok(text) if op % 9 == 0 => {
                        input_text = text.to_owned();
                        Input::Text(&input_text)
                    }
                    Ok(_) if arg & 0x80 == 0 => {
                        input_text =
                            format!(r#"{{"type":"exchange","id":"e{}","protocol":"udp","message":"hi"}}"#, arg % 6);
                        Input::Text(&input_text)
                    }
                    Ok(_) => {
                        let target = if arg & 0x40 == 0 { "listed" } else { "elsewhere" };
                        input_text = format!(
                            r#"{{"type":"check","id":"e{}","program":"udp-server","target":"{target}"}}"#,
                            arg % 6
                        );
                        Input::Text(&input_text)
                    }
                    Err(_) => Input::InvalidUtf8,
                }
            }
            2 => Input::Binary,
            3 => Input::Control,
            4 => Input::TooLarge,
            5 => {
                let ids: Vec<&String> = ledger.running.iter().collect();
                match ids.get(usize::from(arg) % ids.len().max(1)) {
                    Some(id) if arg & 0x80 == 0 => {
                        let id = (*id).clone();
                        let frames = vec![error(Some(id.clone()), ErrorCode::Timeout, "done".to_owned())];
                        Input::Finished { id, frames }
                    }
                    Some(id) => {
                        // A check's item: no end.
                        let id = (*id).clone();
                        Input::Progress { frames: vec![item(&id)], id }
                    }
                    None => Input::Control,
                }
            }
            6 => {
                now += Duration::from_millis(u64::from(arg) * 500);
                Input::Tick
            }
            7 => Input::Shutdown,
            _ => {
                core.gate_mut().limited.set(arg & 1 == 1);
                Input::Control
            }
        };
        core.handle(input, now);
        ledger.take_all(&mut core);
    }
    if !ledger.closed {
        core.handle(Input::Shutdown, now);
        core.handle(Input::Tick, now + Duration::from_secs(10));
        ledger.take_all(&mut core);
    }
    assert!(ledger.running.is_empty(), "exchanges without an end: {:?}", ledger.running);
}

/// What the session's actions have started and ended so far, checked as they come.
#[derive(Default)]
struct Ledger {
    running: BTreeSet<String>,
    closed: bool,
}

impl Ledger {
    /// Takes every queued action, panicking on a second start, an item of a check that is not
    /// running, or anything after the close frame.
    fn take_all(&mut self, core: &mut SessionCore<FuzzGate>) {
        while let Some(action) = core.poll_action() {
            assert!(!self.closed, "an action after the close frame: {action:?}");
            match action {
                Action::Start { id, .. } | Action::StartCheck { id, .. } => {
                    assert!(self.running.insert(id.clone()), "{id} started twice");
                }
                Action::Send(
                    ServerMsg::Error { id: Some(id), .. } | ServerMsg::Reply(socketlab_proto::wire::Reply { id, .. }),
                ) => {
                    self.running.remove(&id);
                }
                Action::Send(ServerMsg::CheckItem { id, .. }) => {
                    assert!(self.running.contains(&id), "an item of {id}, which is not running");
                }
                Action::Close { .. } => self.closed = true,
                _ => {}
            }
        }
    }
}

/// A check item frame of check `id`.
fn item(id: &str) -> ServerMsg {
    let item = socketlab_proto::check::ItemResult {
        id: "answers".into(),
        name: "it answers".into(),
        required: true,
        verdict: socketlab_proto::check::Verdict::Pass,
        points: 1,
        max_points: 1,
        reason: String::new(),
        events: Vec::new(),
    };
    ServerMsg::CheckItem { id: id.to_owned(), item }
}

/// Bytes as an Ethernet frame; panics if the parser keeps a packet of an unwatched port.
pub fn packet(data: &[u8]) {
    let watched = Watched { udp: vec![12000], tcp: vec![12000] };
    let mut parser = Parser::new(watched);
    for _ in 0..2 {
        if let Some(p) = parser.parse(data) {
            let server = if p.from_server { p.src } else { p.dst };
            assert_eq!(server.port(), 12000, "kept a packet of an unwatched port: {p:?}");
            assert!(p.client == p.src || p.client == p.dst, "client is neither end: {p:?}");
        }
    }
}

/// Bytes as a received payload; panics if upper-casing breaks its promises.
pub fn uppercase(data: &[u8]) {
    let out = socketlab_proto::upper::uppercase(data);
    if data.is_ascii() {
        assert_eq!(out.bytes, data.to_ascii_uppercase());
    }
    match std::str::from_utf8(data) {
        Ok(_) => {
            assert!(!out.invalid_utf8);
            assert!(std::str::from_utf8(&out.bytes).is_ok(), "valid UTF-8 became invalid");
            assert!(socketlab_proto::upper::utf8_problem(data).is_none());
        }
        Err(_) => {
            assert!(out.invalid_utf8);
            assert_eq!(out.bytes.len(), data.len());
            assert!(socketlab_proto::upper::utf8_problem(data).is_some());
        }
    }
}
