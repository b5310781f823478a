//! Table tests of the session core: scripts of inputs at given times, and the actions they
//! must produce, with no socket anywhere.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::time::{Duration, Instant};

use socketlab_proto::check::{CheckRequest, ItemResult, Program, Report, Verdict};
use socketlab_proto::wire::{ErrorCode, ExchangeRequest, Reply, ServerMsg};

use super::{Action, Gate, Input, SessionCore, Settings};
use crate::gateway::error::ApiError;

/// Prepares a request into its message; refuses "bad", and rate-limits once `budget` is spent.
struct FakeGate {
    budget: Cell<u32>,
}

impl Gate for FakeGate {
    type Prepared = String;
    type Check = String;

    fn prepare(&self, req: &ExchangeRequest) -> Result<String, ApiError> {
        match req.message.as_deref() {
            Some("bad") => Err(ApiError::new(ErrorCode::InvalidField, "bad message")),
            m => Ok(m.unwrap_or_default().to_owned()),
        }
    }

    fn prepare_check(&self, req: &CheckRequest) -> Result<String, ApiError> {
        match req.target.as_deref() {
            Some("listed") => Ok(format!("{} listed", req.program.name())),
            _ => Err(ApiError::new(ErrorCode::InvalidField, "not a listed target")),
        }
    }

    fn rate_limit(&self, _now: Instant) -> Result<(), ApiError> {
        let left = self.budget.get();
        if left == 0 {
            return Err(ApiError::new(ErrorCode::RateLimited, "slow down"));
        }
        self.budget.set(left - 1);
        Ok(())
    }
}

/// Inputs at milliseconds after the socket opened.
type Script<'a> = Vec<(u64, Input<'a>)>;

fn settings() -> Settings {
    Settings {
        max_in_flight: 2,
        max_frame_bytes: 100,
        idle: Duration::from_secs(10),
        session: Duration::from_secs(60),
        grace: Duration::from_secs(2),
        observe_all: false,
    }
}

fn ex(id: &str) -> String {
    format!(r#"{{"type":"exchange","id":"{id}","protocol":"udp","message":"m-{id}"}}"#)
}

fn finished(id: &str) -> Input<'static> {
    let event_free_reply =
        Reply { id: id.into(), reply: "M".into(), reply_base64: None, elapsed_us: 1, exchange: None };
    Input::Finished { id: id.into(), frames: vec![ServerMsg::Reply(event_free_reply)] }
}

fn check(id: &str, target: &str) -> String {
    format!(r#"{{"type":"check","id":"{id}","program":"udp-server","target":"{target}"}}"#)
}

fn item(id: &str) -> Input<'static> {
    let item = ItemResult {
        id: "answers".into(),
        name: "it answers".into(),
        required: true,
        verdict: Verdict::Pass,
        points: 2,
        max_points: 2,
        reason: "it answered".into(),
        events: Vec::new(),
    };
    Input::Progress { id: id.into(), frames: vec![ServerMsg::CheckItem { id: id.into(), item }] }
}

fn reported(id: &str) -> Input<'static> {
    let report = socketlab_proto::check::grade(Program::UdpServer, "127.0.0.1:9", Vec::new());
    let report: Report = report;
    Input::Finished { id: id.into(), frames: vec![ServerMsg::CheckReport { id: id.into(), report }] }
}

/// One action in a few words, for readable tables.
fn words(a: Action<String, String>) -> String {
    match a {
        Action::Send(ServerMsg::Error { id, code, refused_id, .. }) => {
            let refused = refused_id.map(|r| format!(" refused={r}")).unwrap_or_default();
            format!("error {} id={}{refused}", code.as_str(), id.as_deref().unwrap_or("-"))
        }
        Action::Send(ServerMsg::Reply(r)) => format!("reply {}", r.id),
        Action::Send(ServerMsg::Subscribed { .. }) => "subscribed".into(),
        Action::Send(ServerMsg::CheckItem { id, item }) => format!("item {id} {}", item.id),
        Action::Send(ServerMsg::CheckReport { id, .. }) => format!("report {id}"),
        Action::StartCheck { id, check } => format!("check {id} {check}"),
        Action::Send(other) => format!("send {other:?}"),
        Action::Start { id, prepared } => format!("start {id} {prepared}"),
        Action::Observe(scope) => format!("observe {scope:?}"),
        Action::Close { code, .. } => format!("close {code}"),
    }
}

/// Runs a script of (milliseconds after opening, input) and returns the actions in order.
fn run(script: Script<'_>, budget: u32) -> Vec<String> {
    let t0 = Instant::now();
    let mut core = SessionCore::new(FakeGate { budget: Cell::new(budget) }, settings(), t0);
    let mut out = Vec::new();
    for (ms, input) in script {
        core.handle(input, t0 + Duration::from_millis(ms));
        while let Some(a) = core.poll_action() {
            out.push(words(a));
        }
    }
    out
}

#[test]
fn frames_start_or_refuse_exchanges() {
    let (a, b, c) = (ex("a"), ex("b"), ex("c"));
    let bad_field_on_a = r#"{"type":"exchange","id":"a","protocol":"sctp","message":"x"}"#;
    let cases: Vec<(&str, Script<'_>, u32, Vec<&str>)> = vec![
        ("one exchange", vec![(0, Input::Text(&a))], 9, vec!["start a m-a"]),
        ("not JSON", vec![(0, Input::Text("{nope"))], 9, vec!["error malformed_json id=-"]),
        ("binary", vec![(0, Input::Binary)], 9, vec!["error malformed_json id=-"]),
        (
            "no id",
            vec![(0, Input::Text(r#"{"type":"exchange","protocol":"udp","message":"x"}"#))],
            9,
            vec!["error invalid_field id=-"],
        ),
        (
            "a duplicate is refused without its id, so it ends nothing",
            vec![(0, Input::Text(&a)), (1, Input::Text(&a)), (2, finished("a"))],
            9,
            vec!["start a m-a", "error duplicate_id id=- refused=a", "reply a"],
        ),
        (
            "an invalid frame under a running id does not shadow it",
            vec![(0, Input::Text(&a)), (1, Input::Text(bad_field_on_a))],
            9,
            vec!["start a m-a", "error invalid_field id=-"],
        ),
        (
            "the in-flight cap",
            vec![(0, Input::Text(&a)), (0, Input::Text(&b)), (0, Input::Text(&c))],
            9,
            vec!["start a m-a", "start b m-b", "error too_many_in_flight id=c"],
        ),
        (
            "the rate limit",
            vec![(0, Input::Text(&a)), (0, Input::Text(&b))],
            1,
            vec!["start a m-a", "error rate_limited id=b"],
        ),
        (
            "a request the gate refuses",
            vec![(0, Input::Text(r#"{"type":"exchange","id":"x","protocol":"udp","message":"bad"}"#))],
            9,
            vec!["error invalid_field id=x"],
        ),
        (
            "an id can be used again once its exchange ended",
            vec![(0, Input::Text(&a)), (1, finished("a")), (2, finished("a")), (3, Input::Text(&a))],
            9,
            vec!["start a m-a", "reply a", "start a m-a"],
        ),
        (
            "observing all is off",
            vec![(0, Input::Text(r#"{"type":"subscribe","scope":"all"}"#))],
            9,
            vec!["error observe_disabled id=-"],
        ),
        (
            "observing one's own",
            vec![(0, Input::Text(r#"{"type":"subscribe","scope":"own"}"#))],
            9,
            vec!["observe Own", "subscribed"],
        ),
    ];
    for (name, script, budget, want) in cases {
        assert_eq!(run(script, budget), want, "{name}");
    }
}

#[test]
fn every_close_path_ends_the_exchanges_in_flight_before_the_close_frame() {
    let (a, b) = (ex("a"), ex("b"));
    let two = || vec![(0, Input::Text(&a)), (0, Input::Text(&b))];
    fn with<'a>(mut s: Script<'a>, more: Script<'a>) -> Script<'a> {
        s.extend(more);
        s
    }
    let started = ["start a m-a", "start b m-b"];
    let cases: Vec<(&str, Script<'_>, Vec<&str>)> = vec![
        (
            "too large",
            with(two(), vec![(5, Input::TooLarge)]),
            vec!["error too_large id=-", "error session_closed id=a", "error session_closed id=b", "close 1009"],
        ),
        (
            "invalid UTF-8",
            with(two(), vec![(5, Input::InvalidUtf8)]),
            vec!["error malformed_json id=-", "error session_closed id=a", "error session_closed id=b", "close 1007"],
        ),
        ("not idle yet", with(two(), vec![(9_999, Input::Tick)]), vec![]),
        (
            "idle",
            with(two(), vec![(10_000, Input::Tick)]),
            vec!["error session_closed id=a", "error session_closed id=b", "close 1000"],
        ),
        (
            "session limit, although never idle",
            with(
                two(),
                vec![(9_000, Input::Control), (18_000, Input::Binary), (27_000, Input::Control), (60_000, Input::Tick)],
            ),
            vec!["error malformed_json id=-", "error session_closed id=a", "error session_closed id=b", "close 1000"],
        ),
        (
            "shutdown lets exchanges finish, then says 1001",
            with(two(), vec![(5, Input::Shutdown), (6, finished("b")), (7, finished("a"))]),
            vec!["reply b", "reply a", "close 1001"],
        ),
        (
            "shutdown fails what is left after the grace period",
            with(two(), vec![(5, Input::Shutdown), (6, finished("b")), (1_000, Input::Tick), (2_005, Input::Tick)]),
            vec!["reply b", "error shutting_down id=a", "close 1001"],
        ),
        (
            "a frame read during shutdown is refused under its own id",
            with(
                two(),
                vec![
                    (5, Input::Shutdown),
                    (6, Input::Text(r#"{"type":"exchange","id":"c","protocol":"udp","message":"x"}"#)),
                    (2_005, Input::Tick),
                ],
            ),
            vec!["error shutting_down id=c", "error shutting_down id=a", "error shutting_down id=b", "close 1001"],
        ),
        (
            "the client left: nothing more is sent",
            with(two(), vec![(5, Input::Gone), (6, finished("a")), (7, Input::Shutdown)]),
            vec![],
        ),
        (
            "nothing follows the close",
            with(two(), vec![(5, Input::TooLarge), (6, finished("a")), (7, Input::Text(r#"{"#))]),
            vec!["error too_large id=-", "error session_closed id=a", "error session_closed id=b", "close 1009"],
        ),
    ];
    for (name, script, want) in cases {
        let want: Vec<&str> = started.iter().copied().chain(want).collect();
        assert_eq!(run(script, 9), want, "{name}");
    }
}

#[test]
fn checks_stream_items_then_end_once_like_exchanges() {
    let (k, a) = (check("k", "listed"), ex("a"));
    let (unlisted, no_id, ex_k, b) = (check("k", "127.0.0.1:9"), check("", "listed"), ex("k"), ex("b"));
    let cases: Vec<(&str, Script<'_>, u32, Vec<&str>)> = vec![
        (
            "items, then one report",
            vec![(0, Input::Text(&k)), (1, item("k")), (2, item("k")), (3, reported("k"))],
            9,
            vec!["check k udp-server listed", "item k answers", "item k answers", "report k"],
        ),
        (
            "an unlisted target is refused under its id, before the rate limit",
            vec![(0, Input::Text(&unlisted)), (1, Input::Text(&a))],
            1,
            vec!["error invalid_field id=k", "start a m-a"],
        ),
        (
            "a client program is not a field the check takes",
            vec![(0, Input::Text(r#"{"type":"check","id":"k","program":"web-server","target":"listed"}"#))],
            9,
            vec!["error invalid_field id=k"],
        ),
        ("an empty id", vec![(0, Input::Text(&no_id))], 9, vec!["error invalid_field id="]),
        (
            "checks and exchanges share ids and the in-flight cap",
            vec![(0, Input::Text(&k)), (1, Input::Text(&ex_k)), (2, Input::Text(&a)), (3, Input::Text(&b))],
            9,
            vec![
                "check k udp-server listed",
                "error duplicate_id id=- refused=k",
                "start a m-a",
                "error too_many_in_flight id=b",
            ],
        ),
        (
            "the rate limit",
            vec![(0, Input::Text(&a)), (1, Input::Text(&k))],
            1,
            vec!["start a m-a", "error rate_limited id=k"],
        ),
        (
            "nothing of a check after its end",
            vec![(0, Input::Text(&k)), (1, reported("k")), (2, item("k")), (3, reported("k"))],
            9,
            vec!["check k udp-server listed", "report k"],
        ),
        (
            "a close ends the check in flight once, and its late items go nowhere",
            vec![(0, Input::Text(&k)), (1, item("k")), (2, Input::TooLarge), (3, item("k")), (4, reported("k"))],
            9,
            vec![
                "check k udp-server listed",
                "item k answers",
                "error too_large id=-",
                "error session_closed id=k",
                "close 1009",
            ],
        ),
        (
            "shutdown lets a check finish",
            vec![(0, Input::Text(&k)), (1, Input::Shutdown), (2, item("k")), (3, reported("k"))],
            9,
            vec!["check k udp-server listed", "item k answers", "report k", "close 1001"],
        ),
    ];
    for (name, script, budget, want) in cases {
        assert_eq!(run(script, budget), want, "{name}");
    }
}

#[test]
fn shutdown_with_nothing_in_flight_closes_at_once() {
    assert_eq!(run(vec![(0, Input::Shutdown)], 9), ["close 1001"]);
}

#[test]
fn the_next_deadline_follows_activity_and_phase() {
    let t0 = Instant::now();
    let mut core = SessionCore::new(FakeGate { budget: Cell::new(9) }, settings(), t0);
    assert_eq!(core.next_deadline(), Some(t0 + Duration::from_secs(10)), "idle first");
    core.handle(Input::Control, t0 + Duration::from_secs(55));
    assert_eq!(core.next_deadline(), Some(t0 + Duration::from_secs(60)), "then the session limit");
    core.handle(Input::Text(&ex("a")), t0 + Duration::from_secs(56));
    core.handle(Input::Shutdown, t0 + Duration::from_secs(57));
    assert_eq!(core.next_deadline(), Some(t0 + Duration::from_secs(59)), "the grace period");
    core.handle(Input::Tick, t0 + Duration::from_secs(59));
    assert!(core.is_closed());
    assert_eq!(core.next_deadline(), None);
}
