//! Table tests of sharing: the Share button's states and errors, and the read-only view of a
//! saved exchange, from the page's path to the timeline it steps through.

use super::*;
use crate::update::Msg;
use socketlab_proto::saved::SavedExchange;
use socketlab_proto::wire::{ErrorCode, Protocol, Reply};
use socketlab_proto::{Role, SocketRef, Transport};

fn share(m: &mut Model, msg: ShareMsg) -> Vec<Effect> {
    m.update(Msg::Share(msg), 0)
}

fn fetched(m: &mut Model, then: Fetch, status: u16, body: &str) -> Vec<Effect> {
    m.update(Msg::Lab(crate::labs::LabMsg::Fetched(then, status, body.into())), 0)
}

fn press(m: &mut Model) -> Vec<Effect> {
    share(m, ShareMsg::Share { origin: "http://127.0.0.1:8080".into() })
}

/// A model showing one finished UDP exchange, which the gateway named `name`.
fn finished(name: Option<&str>) -> Model {
    let mut m = Model::default();
    let _ = m.start(Protocol::Udp, "hi", Target::Hosted);
    let reply = Reply { id: "e1".into(), reply: "HI".into(), reply_base64: None, elapsed_us: 5, exchange: None };
    m.update(Msg::Frame(Box::new(ServerMsg::Reply(Reply { exchange: name.map(str::to_owned), ..reply }))), 0);
    m
}

fn sock(role: Role) -> SocketRef {
    SocketRef { id: 1, role, transport: Transport::Udp }
}

/// A saved UDP exchange: the client sends "hi", the server reads and answers, and the client
/// reads "HI" when `answered`.
fn saved(answered: bool, capture: bool) -> String {
    let mut events = vec![
        Event::new(100, Side::Client, sock(Role::Client), Op::Socket),
        Event::new(110, Side::Client, sock(Role::Client), Op::Sendto).payload(b"hi"),
        Event::new(120, Side::Server, sock(Role::Udp), Op::Recvfrom).payload(b"hi"),
        Event::new(130, Side::Server, sock(Role::Udp), Op::Sendto).payload(b"HI"),
    ];
    if answered {
        events.push(Event::new(1600, Side::Client, sock(Role::Client), Op::Recvfrom).payload(b"HI"));
    }
    let s = SavedExchange {
        id: "AbCdEfGh12345678".into(),
        exchange: "x1-ab".into(),
        protocol: Protocol::Udp,
        saved_at_ms: 1,
        capture,
        events,
    };
    serde_json::to_string(&s).expect("json")
}

#[test]
fn share_saves_then_copies_the_absolute_link_or_leaves_it_selected() {
    for (copied, state, selected) in [(true, "Link copied", false), (false, "Copy this link:", true)] {
        let mut m = finished(Some("x1-ab"));
        assert!(panel(&m).contains("data-share"), "the button is there once the exchange ended");
        let effects = press(&mut m);
        let save = Effect::Fetch {
            url: "/api/v1/saved".into(),
            body: Some(r#"{"exchange":"x1-ab"}"#.into()),
            then: Fetch::Save,
        };
        assert_eq!(effects, [save]);
        assert!(panel(&m).contains("Saving…") && panel(&m).contains(" disabled>"), "{}", panel(&m));
        let effects = fetched(&mut m, Fetch::Save, 201, r#"{"id":"Ab12","url":"/x/Ab12"}"#);
        assert_eq!(effects, [Effect::Copy("http://127.0.0.1:8080/x/Ab12".into(), crate::update::Copier::Share)]);
        assert!(share(&mut m, ShareMsg::Copied(copied)).is_empty());
        let html = panel(&m);
        assert!(html.contains(state), "{html}");
        assert!(html.contains("readonly value=\"http://127.0.0.1:8080/x/Ab12\""), "{html}");
        assert_eq!(select_link(&m), selected);
        assert!(!html.contains(" disabled>"), "the button can be pressed again");
    }
}

#[test]
fn each_refusal_of_the_gateway_has_its_own_words() {
    let body = |code: &str, message: &str| format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#);
    let cases = [
        (404, body("not_found", "gone"), "share_expired", "no longer keeps this exchange"),
        (413, body("too_large", "big"), "share_too_large", "too large to save"),
        (429, body("rate_limited", "slow down"), "share_rate_limited", "Wait a moment"),
        (0, String::new(), "share_unreachable", "did not answer"),
        (500, body("internal", "the store failed: disk"), "share_failed", "could not be made: the store failed: disk"),
        (502, "<html>bad gateway</html>".to_owned(), "share_failed", "could not be made: HTTP 502"),
        (201, "not json".to_owned(), "share_failed", "could not be made: HTTP 201"),
    ];
    for (status, reply, key, words) in cases {
        let mut m = finished(Some("x1-ab"));
        press(&mut m);
        assert!(fetched(&mut m, Fetch::Save, status, &reply).is_empty(), "{key}");
        let html = panel(&m);
        assert!(html.contains(&format!("data-code=\"{key}\"")) && html.contains(words), "{status}: {html}");
    }
}

#[test]
fn nothing_to_share_before_the_end_without_a_name_or_on_another_exchange() {
    let mut m = Model::default();
    let _ = m.start(Protocol::Udp, "hi", Target::Hosted);
    assert_eq!(panel(&m), "", "pending: no button");
    assert!(press(&mut m).is_empty());
    let mut m = finished(None);
    assert!(press(&mut m).is_empty());
    assert!(panel(&m).contains("data-code=\"share_unnamed\""), "{}", panel(&m));
    // A state belongs to its exchange: another one on screen shows a fresh button.
    let mut m = finished(Some("x1-ab"));
    press(&mut m);
    let _ = m.start(Protocol::Udp, "other", Target::Hosted);
    m.update(
        Msg::Frame(Box::new(ServerMsg::Error {
            id: Some("e2".into()),
            code: ErrorCode::Timeout,
            message: "slow".into(),
            exchange: Some("x2-cd".into()),
            refused_id: None,
        })),
        0,
    );
    assert!(!panel(&m).contains("Saving…"), "{}", panel(&m));
    assert!(press(&mut m).is_empty(), "the first save is still on its way");
    fetched(&mut m, Fetch::Save, 429, r#"{"error":{"code":"rate_limited","message":"slow"}}"#);
    assert!(matches!(&m.share.link, Link::Failed { of, .. } if of == "e1"), "the answer goes to its own exchange");
    assert_eq!(
        press(&mut m)[0],
        Effect::Fetch { url: "/api/v1/saved".into(), body: Some(r#"{"exchange":"x2-cd"}"#.into()), then: Fetch::Save }
    );
    // A late clipboard answer without a copy in progress changes nothing.
    assert!(share(&mut m, ShareMsg::Copied(true)).is_empty());
    assert!(matches!(&m.share.link, Link::Saving { of, .. } if of == "e2"));
}

#[test]
fn the_path_names_a_saved_id_and_only_id_shapes_are_asked_for() {
    let cases = [
        ("/", None),
        ("/index.html", None),
        ("/x/AbCdEfGh12345678", Some("AbCdEfGh12345678")),
        ("/x/AbCdEfGh12345678/", Some("AbCdEfGh12345678")),
        ("/x/", Some("")),
        ("/x/..%2F", Some("..%2F")),
    ];
    for (path, id) in cases {
        assert_eq!(saved_path(path), id, "{path}");
    }
    for (id, asked) in [("AbCdEfGh12345678", true), ("", false), ("..%2F", false), ("a/b", false), ("a b", false)] {
        let mut m = Model::default();
        let effects = share(&mut m, ShareMsg::Open(id.into()));
        assert_eq!(!effects.is_empty(), asked, "{id:?}");
        assert!(read_only(&m));
        if !asked {
            assert_eq!(m.share.saved, Some(Saved::Missing));
        }
    }
}

#[test]
fn a_saved_exchange_is_shown_read_only_and_steps_like_a_live_one() {
    let mut m = Model::default();
    let effects = share(&mut m, ShareMsg::Open("AbCdEfGh12345678".into()));
    assert_eq!(
        effects,
        [Effect::Fetch { url: "/api/v1/saved/AbCdEfGh12345678".into(), body: None, then: Fetch::Saved }]
    );
    assert!(banner(&m).contains("Loading the saved exchange"));
    assert_eq!(reply(&m).as_deref(), Some(""), "no hint to send anything");
    assert_eq!(status(&m), Some(("Read-only", "saved")));
    assert!(fetched(&mut m, Fetch::Saved, 200, &saved(true, true)).is_empty());
    assert_eq!(m.share.saved, Some(Saved::Shown { id: "AbCdEfGh12345678".into(), capture: true }));
    assert_eq!((m.view, m.steps()), (View::Exchange(0), 5));
    let x = &m.exchanges[0];
    assert_eq!((x.message.as_str(), x.protocol), ("hi", Protocol::Udp));
    assert_eq!(x.outcome, Outcome::Reply { text: "HI".into(), elapsed_us: 0 });
    let answer = reply(&m).expect("the read-only Reply region");
    assert!(answer.contains(">UDP</span> <output class=\"reply-text\">HI</output></p>"), "{answer}");
    assert!(!answer.contains(" ms"), "the gateway's time is not saved, so none is made up: {answer}");
    m.update(Msg::Step(1), 0);
    m.update(Msg::Step(1), 0);
    assert_eq!(m.step, 2);
    assert!(crate::detail::inspector(&m).contains("68 69"), "the inspector follows the step");
    let html = banner(&m);
    assert!(html.contains("Saved exchange, read-only"), "{html}");
    assert!(html.contains("href=\"/api/v1/saved/AbCdEfGh12345678/pcapng\""), "{html}");
    assert!(html.contains("<a class=\"live-link\" href=\"/\">Open the live playground</a>"), "{html}");
    assert_eq!(panel(&m), "", "no Share button on a shared exchange");
    assert!(m.update(Msg::ToggleLang, 0).is_empty(), "no labs to fetch in the other language");
    assert!(banner(&m).contains("已保存的交换，只读"));
    m.update(Msg::ToggleLang, 0);
    assert!(press(&mut m).is_empty());
    let effects = m.update(Msg::Send { protocol: Protocol::Udp, message: "x".into() }, 0);
    assert!(effects.is_empty() && m.exchanges.len() == 1, "nothing is sent from the read-only view");

    let mut m = Model::default();
    share(&mut m, ShareMsg::Open("AbCdEfGh12345678".into()));
    fetched(&mut m, Fetch::Saved, 200, &saved(false, false));
    assert!(reply(&m).is_some_and(|r| r.contains("No reply reached the client")));
    assert!(!banner(&m).contains("pcapng"), "nothing captured, nothing to download");
}

#[test]
fn an_unknown_or_unreadable_saved_exchange_says_so() {
    let cases = [
        (
            404,
            r#"{"error":{"code":"not_found","message":"no saved exchange"}}"#,
            "missing",
            "mistyped, or it has expired",
        ),
        (
            500,
            r#"{"error":{"code":"internal","message":"the store failed"}}"#,
            "failed",
            "could not be loaded: the store failed",
        ),
        (0, "", "failed", "could not be loaded: The gateway did not answer."),
        (200, "{}", "failed", "could not be loaded: HTTP 200"),
    ];
    for (status, body, class, words) in cases {
        let mut m = Model::default();
        share(&mut m, ShareMsg::Open("AbCdEfGh12345678".into()));
        fetched(&mut m, Fetch::Saved, status, body);
        let html = banner(&m);
        assert!(html.contains(&format!("data-saved=\"{class}\"")) && html.contains(words), "{status}: {html}");
        assert!(html.contains("Open the live playground"));
        assert!(m.exchanges.is_empty() && m.steps() == 0);
    }
}
