//! Tests of the instructor page's rules: the link it needs, the requests it makes with the
//! class secret, live events applied in place (or a re-fetch when one cannot be), and the
//! confirmations before closing a class or removing a student.

use super::*;
use crate::api::{Change, CheckResult, Steps, change};

pub(crate) const DASH: &str = r#"{"class":{"id":"c1","name":"Networks 101","closed":false,"join_code":"K7Q2XP"},
  "labs":[{"id":"one","title":"One step","steps":["only"]},{"id":"udp-datagrams","title":"UDP","steps":2}],
  "programs":["udp-server",{"program":"tcp-server"}],
  "students":[
    {"id":"s1","name":"Ada","joined_at":"2026-11-25T17:00:00Z","progress":{"udp-datagrams":["no-handshake"]},
     "checks":{"udp-server":{"passed":5,"total":5,"at":"x"}}},
    {"id":"s2","name":"Bob","joined_at":1,"progress":{},"checks":{}}],
  "unknown":"ignored"}"#;

fn started() -> Model {
    let mut m = Model::default();
    let effects = m.update(Msg::Start {
        path: "/instructor/c1".into(),
        hash: "#key=s3cr3t".into(),
        lang: "en-US".into(),
        stored: None,
    });
    let fetch = |method, url: &str, then| Effect::Fetch { method, url: url.into(), key: "s3cr3t".into(), then };
    let keep =
        Effect::Keep { item: "socketlab.instructor.c1".into(), key: "s3cr3t".into(), path: "/instructor/c1".into() };
    assert_eq!(
        effects,
        [
            keep,
            fetch("POST", "/api/v1/classes/c1/session", Req::Session),
            fetch("GET", "/api/v1/classes/c1", Req::Dashboard)
        ]
    );
    m
}

fn loaded() -> Model {
    let mut m = started();
    assert_eq!(
        m.update(Msg::Fetched(Req::Session, 200, String::new())),
        [Effect::Listen("/api/v1/classes/c1/events".into())]
    );
    assert!(m.update(Msg::Fetched(Req::Dashboard, 200, DASH.into())).is_empty());
    m
}

#[test]
fn the_link_must_name_the_class_and_carry_its_key() {
    assert_eq!(class_of("/instructor/c1"), Some("c1"));
    assert_eq!(class_of("/instructor/c1/"), Some("c1"));
    for bad in ["/instructor/", "/instructor", "/", "/instructor/a/b", "/instructor/a%2f"] {
        assert_eq!(class_of(bad), None, "{bad}");
    }
    assert_eq!(key_of("#key=abc"), Some("abc"));
    assert_eq!(key_of("#x=1&key=abc"), Some("abc"));
    assert_eq!(key_of("#key="), None);
    assert_eq!(key_of(""), None);
    for (path, hash, stored) in [
        ("/instructor/c1", "", None),
        ("/instructor/c1", "", Some("")),
        ("/instructor/", "#key=k", None),
        ("/instructor/", "", Some("k")),
    ] {
        let mut m = Model::default();
        let stored = stored.map(str::to_owned);
        assert!(m.update(Msg::Start { path: path.into(), hash: hash.into(), lang: "zh-CN".into(), stored }).is_empty());
        assert_eq!(m.error, Some(("err_link", String::new())), "{path}{hash}");
        assert_eq!(m.lang, Lang::Zh, "the browser's language");
    }
}

#[test]
fn the_secret_leaves_the_address_bar_and_a_reload_finds_it_in_the_tab() {
    let start = |path: &str, hash: &str, stored: Option<&str>| {
        let mut m = Model::default();
        let stored = stored.map(str::to_owned);
        let effects = m.update(Msg::Start { path: path.into(), hash: hash.into(), lang: "en".into(), stored });
        (m, effects)
    };
    let keeps =
        |effects: &[Effect]| effects.iter().filter(|e| matches!(e, Effect::Keep { .. })).cloned().collect::<Vec<_>>();
    let keys = |effects: &[Effect]| {
        effects
            .iter()
            .filter_map(|e| if let Effect::Fetch { key, .. } = e { Some(key.clone()) } else { None })
            .collect::<Vec<_>>()
    };
    // The link: kept, and the address loses its fragment (a trailing slash too).
    let (_, effects) = start("/instructor/c1/", "#key=new", Some("old"));
    let item = "socketlab.instructor.c1".to_owned();
    let path = "/instructor/c1".to_owned();
    assert_eq!(keeps(&effects), [Effect::Keep { item: item.clone(), key: "new".into(), path }], "the link wins");
    assert_eq!(keys(&effects), ["new", "new"]);
    // A reload: the address has no key, the tab has.
    let (m, effects) = start("/instructor/c1", "", Some("old"));
    assert!(keeps(&effects).is_empty(), "nothing to hide");
    assert_eq!(keys(&effects), ["old", "old"]);
    assert!(m.error.is_none());
    // Another class's page does not read this one's secret.
    assert_eq!(store_item("/instructor/c2"), Some("socketlab.instructor.c2".into()));
    assert_eq!(store_item("/instructor/"), None);
    // A refused secret is forgotten, so the next reload asks for the link; other refusals keep it.
    let (mut m, _) = start("/instructor/c1", "", Some("old"));
    assert_eq!(m.update(Msg::Fetched(Req::Dashboard, 401, String::new())), [Effect::Forget(item)]);
    assert!(m.update(Msg::Fetched(Req::Dashboard, 500, String::new())).is_empty());
    assert!(m.update(Msg::Fetched(Req::Dashboard, 0, String::new())).is_empty());
}

#[test]
fn the_dashboard_reads_the_contract_leniently() {
    let m = loaded();
    let d = m.dash.as_ref().expect("dashboard");
    assert_eq!((d.class.name.as_str(), d.class.join_code.as_str(), d.class.closed), ("Networks 101", "K7Q2XP", false));
    assert_eq!(d.labs[0].steps, Steps::Ids(vec!["only".into()]));
    assert_eq!(d.labs[1].steps, Steps::Count(2));
    assert_eq!(d.programs, ["udp-server", "tcp-server"]);
    assert_eq!(d.students[0].progress["udp-datagrams"], ["no-handshake"]);
    assert_eq!(d.students[0].checks["udp-server"], CheckResult { passed: 5, total: 5 });
    assert!(m.error.is_none());
}

#[test]
fn refusals_are_said_in_words() {
    for (status, key) in
        [(401, "err_key"), (403, "err_other_class"), (404, "err_no_class"), (0, "err_unreachable"), (500, "err_status")]
    {
        let mut m = started();
        m.update(Msg::Fetched(Req::Dashboard, status, r#"{"error":{"code":"internal","message":"y"}}"#.into()));
        assert_eq!(m.error.as_ref().map(|e| e.0), Some(key), "{status}");
        assert!(m.dash.is_none());
    }
    let mut m = started();
    m.update(Msg::Fetched(Req::Dashboard, 500, r#"{"error":{"code":"internal","message":"disk full"}}"#.into()));
    assert_eq!(m.error, Some(("err_status", "500 internal: disk full".into())));
    m.update(Msg::Fetched(Req::Dashboard, 200, "{not json".into()));
    assert_eq!(m.error.as_ref().map(|e| e.0), Some("err_unreadable"));
}

#[test]
fn events_change_the_grid_in_place_or_fetch_it_again() {
    assert_eq!(
        change("progress", r#"{"student":"s2","lab":"one","step":"only","done_at":"t"}"#),
        Change::Step { student: "s2".into(), lab: "one".into(), step: "only".into() }
    );
    assert_eq!(
        change("progress", r#"{"student":{"id":"s2","name":"Bob"},"lab":"one","step":"only"}"#),
        change("progress", r#"{"student":"s2","lab":"one","step":"only"}"#)
    );
    assert_eq!(change("joined", r#"{"student":"s3","name":"Cy"}"#), Change::Refetch);
    assert_eq!(change("progress", "not json"), Change::Refetch);
    assert_eq!(change("progress", r#"{"student":"s2"}"#), Change::Refetch);
    assert_eq!(
        change("check", r#"{"student":"s2","program":"tcp-server","passed":3,"total":7}"#),
        Change::Check {
            student: "s2".into(),
            program: "tcp-server".into(),
            result: CheckResult { passed: 3, total: 7 }
        }
    );

    let mut m = loaded();
    m.update(Msg::StreamError);
    assert!(!m.live);
    assert!(m.update(Msg::StreamOpen).is_empty());
    assert!(m.live);
    for kind in ["ready", "lagged"] {
        let again = m.update(Msg::Event(kind.into(), r#"{"class":"c1","missed":3}"#.into()));
        assert!(
            matches!(&again[..], [Effect::Fetch { then: Req::Dashboard, .. }]),
            "{kind}: the roster again: {again:?}"
        );
        m.update(Msg::Fetched(Req::Dashboard, 200, DASH.into()));
    }
    let step = Msg::Event("progress".into(), r#"{"student":"s2","lab":"one","step":"only"}"#.into());
    assert!(m.update(step.clone()).is_empty(), "applied in place");
    assert!(m.update(step).is_empty(), "twice is once");
    let dash = m.dash.as_ref().expect("dashboard");
    assert_eq!(dash.students[1].progress["one"], ["only"]);
    let check = Msg::Event("check".into(), r#"{"student":"s2","program":"udp-client","passed":1,"total":4}"#.into());
    assert!(m.update(check).is_empty());
    let dash = m.dash.as_ref().expect("dashboard");
    assert_eq!(dash.programs.last().map(String::as_str), Some("udp-client"), "a new program gets its column");
    assert!(
        m.update(Msg::Event("progress".into(), r#"{"student":"s9","lab":"one","step":"only"}"#.into())).len() == 1,
        "an unknown student: fetch"
    );
    assert_eq!(m.update(Msg::Event("joined".into(), r#"{"student":"s3"}"#.into())).len(), 1);
    m.update(Msg::Cell(0, 0));
    assert!(m.update(Msg::Event("removed".into(), r#"{"student":"s1"}"#.into())).is_empty());
    let dash = m.dash.as_ref().expect("dashboard");
    assert_eq!(dash.students.len(), 1);
    assert_eq!(m.open, None, "the removed student's panel closes");
    assert!(m.update(Msg::Event("closed".into(), r#"{"student":null}"#.into())).is_empty());
    assert!(m.dash.as_ref().is_some_and(|d| d.class.closed));
}

#[test]
fn a_cell_fetches_that_students_work() {
    let mut m = loaded();
    assert!(m.update(Msg::Cell(5, 0)).is_empty());
    assert!(m.update(Msg::Cell(0, 9)).is_empty());
    let effects = m.update(Msg::Cell(1, 0));
    assert_eq!(
        effects,
        [Effect::Fetch {
            method: "GET",
            url: "/api/v1/classes/c1/students/s2".into(),
            key: "s3cr3t".into(),
            then: Req::Student("s2".into())
        }]
    );
    assert_eq!(m.open, Some(("s2".into(), "one".into(), None)));
    m.update(Msg::Fetched(Req::Student("s1".into()), 200, "{}".into()));
    assert_eq!(m.open.as_ref().and_then(|o| o.2.clone()), None, "a late answer for another student is dropped");
    m.update(Msg::Fetched(Req::Student("s2".into()), 200, r#"{"saved":[]}"#.into()));
    assert!(m.open.as_ref().is_some_and(|o| o.2.is_some()));
    m.update(Msg::Back);
    assert_eq!(m.open, None);
}

#[test]
fn closing_and_removing_ask_first() {
    let mut m = loaded();
    assert!(m.update(Msg::AskClose).is_empty());
    assert_eq!(m.ask, Some(Ask::Close));
    assert!(m.update(Msg::Cancel).is_empty());
    assert_eq!(m.ask, None);
    assert!(m.update(Msg::Confirm).is_empty(), "nothing to confirm");
    m.update(Msg::AskClose);
    let close = m.update(Msg::Confirm);
    assert!(
        matches!(&close[..], [Effect::Fetch { method: "POST", url, then: Req::Close, .. }] if url == "/api/v1/classes/c1/close")
    );
    m.update(Msg::Fetched(Req::Close, 200, r#"{"closed":true}"#.into()));
    assert!(m.dash.as_ref().is_some_and(|d| d.class.closed));

    m.update(Msg::AskRemove(7));
    assert_eq!(m.ask, None, "no such row");
    m.update(Msg::AskRemove(0));
    assert_eq!(m.ask, Some(Ask::Remove { id: "s1".into(), name: "Ada".into() }));
    let remove = m.update(Msg::Confirm);
    assert!(
        matches!(&remove[..], [Effect::Fetch { method: "DELETE", url, then: Req::Remove(id), .. }] if url == "/api/v1/classes/c1/students/s1" && id == "s1")
    );
    m.update(Msg::Fetched(Req::Remove("s1".into()), 204, String::new()));
    assert_eq!(m.dash.as_ref().map(|d| d.students.len()), Some(1));
}

#[test]
fn a_dashboard_read_before_an_event_does_not_undo_it() {
    let mut m = loaded();
    // The stream is ready: a new read is under way when a step is passed.
    assert_eq!(m.update(Msg::Event("ready".into(), r#"{"class":"c1"}"#.into())).len(), 1);
    m.update(Msg::Event("progress".into(), r#"{"student":"s2","lab":"one","step":"only"}"#.into()));
    m.update(Msg::Event("removed".into(), r#"{"student":"s1"}"#.into()));
    // The answer was read before both.
    m.update(Msg::Fetched(Req::Dashboard, 200, DASH.into()));
    let d = m.dash.as_ref().expect("dashboard");
    assert_eq!(d.students.len(), 1, "still removed");
    assert_eq!(d.students[0].progress["one"], ["only"], "still passed");
    // With no read under way, an answer is taken as it is.
    m.update(Msg::Fetched(Req::Dashboard, 200, DASH.into()));
    assert_eq!(m.dash.as_ref().map(|d| d.students.len()), Some(2));
}

#[test]
fn a_live_check_keeps_the_best_score_as_the_grades_do() {
    let mut m = loaded();
    let check = |passed: u32| {
        let data = format!(r#"{{"student":"s1","program":"udp-server","passed":{passed},"total":10}}"#);
        Msg::Event("check".into(), data)
    };
    // (score announced, what the cell shows after it); Ada starts at 5/5 from the roster.
    for (passed, shown) in [(4, 5), (10, 10), (4, 10), (10, 10), (0, 10)] {
        assert!(m.update(check(passed)).is_empty());
        let cell = m.dash.as_ref().expect("dashboard").students[0].checks["udp-server"];
        assert_eq!(cell.passed, shown, "after {passed}/10");
    }
    // A program seen first live starts from whatever was announced.
    m.update(Msg::Event("check".into(), r#"{"student":"s2","program":"tcp-server","passed":3,"total":7}"#.into()));
    let dash = m.dash.as_ref().expect("dashboard");
    assert_eq!(dash.students[1].checks["tcp-server"], CheckResult { passed: 3, total: 7 });
}
