//! Tests of the class region: joining, each refusal's sentence, progress from `/api/v1/me`
//! instead of this browser's storage, and an ended session giving the browser's progress back.

use super::*;
use crate::labs::LabMsg;
use crate::update::Msg;
use socketlab_proto::check::Program;

const JOINED: &str =
    r#"{"class":{"id":"c1","name":"Networks 101"},"student":{"id":"s1","name":"Ada"},"resume_url":"/resume/tok"}"#;
const ME: &str = r#"{"class":{"id":"c1","name":"Networks 101"},"student":{"id":"s1","name":"Ada"},"resume_url":"/resume/tok",
  "progress":[{"lab":"udp-datagrams","step":"no-handshake","done_at":"2026-11-25T17:00:00Z"},
              {"lab":"udp-datagrams","step":"boundaries","done_at":1},
              {"lab":"tcp-handshake","step":"syn","done_at":3},{"lab":"","step":"x"}],
  "checks":[],"saved":[]}"#;

fn class(m: &mut Model, msg: ClassMsg) -> Vec<Effect> {
    m.update(Msg::Class(msg), 0)
}

fn fetch_of(effects: &[Effect]) -> Vec<(&str, Option<&str>, Fetch)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Fetch { url, body, then } => Some((url.as_str(), body.as_deref(), *then)),
            _ => None,
        })
        .collect()
}

/// A page that restored `done` from the browser's storage.
fn local_page(done: &str) -> Model {
    let mut m = Model::default();
    m.update(Msg::Lab(LabMsg::Restore(done.into())), 0);
    let effects = class(&mut m, ClassMsg::Start { origin: "http://127.0.0.1:8080".into() });
    assert_eq!(fetch_of(&effects), [("/api/v1/me", None, Fetch::Class(ClassFetch::Me))]);
    m
}

#[test]
fn without_a_class_the_browser_keeps_its_progress() {
    let mut m = local_page(r#"{"udp-datagrams":["no-handshake"]}"#);
    class(&mut m, ClassMsg::Fetched(ClassFetch::Me, 200, r#"{"student":null}"#.into()));
    assert_eq!(m.class.session, Session::Local);
    assert_eq!(m.labs.done, [("udp-datagrams".to_owned(), vec!["no-handshake".to_owned()])]);
    assert!(form_shown(&m));
    assert!(info(&m).contains("stays in this browser"));
    assert_eq!(badge(&m), "");
    // A gateway that does not answer about classes changes nothing either.
    for (status, body) in [(0, ""), (404, "not found"), (200, "{broken")] {
        class(&mut m, ClassMsg::Fetched(ClassFetch::Me, status, body.into()));
        assert_eq!((m.class.session.clone(), m.labs.done.len()), (Session::Local, 1), "{status} {body}");
    }
}

#[test]
fn a_join_posts_the_trimmed_code_and_name_then_reads_me() {
    let mut m = local_page("");
    let effects = class(&mut m, ClassMsg::Join { code: " K7Q-2XP ".into(), name: " Ada \"A\" ".into() });
    assert_eq!(
        fetch_of(&effects),
        [("/api/v1/join", Some(r#"{"code":"K7Q-2XP","name":"Ada \"A\""}"#), Fetch::Class(ClassFetch::Join))]
    );
    assert!(m.class.joining && info(&m).contains("Joining"));
    assert!(class(&mut m, ClassMsg::Join { code: "K".into(), name: "Ada".into() }).is_empty(), "one join at a time");
    let effects = class(&mut m, ClassMsg::Fetched(ClassFetch::Join, 200, JOINED.into()));
    assert_eq!(fetch_of(&effects), [("/api/v1/me", None, Fetch::Class(ClassFetch::Me))]);
    assert!(m.class.joined() && !m.class.joining && !form_shown(&m));
    assert_eq!(badge(&m), "Ada · Networks 101");
    let html = info(&m);
    assert!(html.contains("Ada · Networks 101"), "{html}");
    assert!(!html.contains("/resume/") && html.contains("Show my resume link"), "not on screen unasked: {html}");
    assert!(class(&mut m, ClassMsg::ShowResume(true)).is_empty());
    let html = info(&m);
    assert!(html.contains(r#"value="http://127.0.0.1:8080/resume/tok""#), "an absolute, copyable link: {html}");
    class(&mut m, ClassMsg::ShowResume(false));
    assert!(!info(&m).contains("/resume/"), "hidden again: {}", info(&m));
}

#[test]
fn the_resume_link_is_shown_only_when_asked_and_only_to_its_student() {
    let mut m = local_page("");
    class(&mut m, ClassMsg::ShowResume(true));
    assert!(!m.class.resume_shown, "no link before joining");
    class(&mut m, ClassMsg::Fetched(ClassFetch::Me, 200, ME.into()));
    class(&mut m, ClassMsg::ShowResume(true));
    class(&mut m, ClassMsg::Fetched(ClassFetch::Me, 200, ME.into()));
    assert!(m.class.resume_shown, "the same student keeps it shown");
    class(&mut m, ClassMsg::Fetched(ClassFetch::Me, 200, ME.replace("\"Ada\"", "\"Bo\"")));
    assert!(!m.class.resume_shown, "another student's page starts hidden");
    class(&mut m, ClassMsg::ShowResume(true));
    class(&mut m, ClassMsg::Fetched(ClassFetch::Me, 401, String::new()));
    assert!(!m.class.resume_shown && !info(&m).contains("/resume/"));
}

#[test]
fn an_empty_code_or_name_is_not_sent() {
    for (code, name, key) in
        [("", "Ada", "class_err_code"), ("  ", "Ada", "class_err_code"), ("K", "   ", "class_err_name")]
    {
        let mut m = local_page("");
        let effects = class(&mut m, ClassMsg::Join { code: code.into(), name: name.into() });
        assert!(effects.is_empty(), "{code:?} {name:?}");
        assert_eq!(m.class.error.as_deref(), Some(key));
    }
    // The gateway judges the rest of a name; its 422 says what a name must be (below).
    let mut m = local_page("");
    let long = "名".repeat(41);
    assert_eq!(fetch_of(&class(&mut m, ClassMsg::Join { code: "K".into(), name: long })).len(), 1);
}

#[test]
fn each_refusal_says_what_to_do_in_both_languages() {
    let err = |code: &str| format!(r#"{{"error":{{"code":"{code}","message":"server words"}}}}"#);
    for (status, body, en, zh) in [
        (409, err("name_taken"), "already has that name", "换一个"),
        (404, err("unknown_class"), "No class has that join code", "加入码"),
        (403, err("class_closed"), "This class is closed", "已关闭"),
        (422, err("invalid_field"), "1 to 40 characters", "40 个字符"),
        (429, err("rate_limited"), "Too many tries", "稍等"),
        (0, String::new(), "did not answer", "没有回应"),
        (500, err("internal"), "server words", "server words"),
    ] {
        let mut m = local_page("");
        class(&mut m, ClassMsg::Join { code: "K".into(), name: "Ada".into() });
        assert!(class(&mut m, ClassMsg::Fetched(ClassFetch::Join, status, body.clone())).is_empty());
        assert!(!m.class.joined() && !m.class.joining && form_shown(&m));
        assert!(info(&m).contains(en), "{status}: {}", info(&m));
        m.lang = crate::i18n::Lang::Zh;
        assert!(info(&m).contains(zh), "{status}: {}", info(&m));
    }
}

#[test]
fn in_a_class_progress_comes_from_me_and_is_not_saved_in_the_browser() {
    let mut m = local_page(r#"{"udp-datagrams":["no-handshake"],"byte-stream":["a"]}"#);
    class(&mut m, ClassMsg::Fetched(ClassFetch::Me, 200, ME.into()));
    assert!(m.class.joined());
    assert_eq!(
        m.labs.done,
        [
            ("udp-datagrams".to_owned(), vec!["no-handshake".to_owned(), "boundaries".to_owned()]),
            ("tcp-handshake".to_owned(), vec!["syn".to_owned()]),
        ],
        "grouped by lab, the browser's own progress set aside"
    );
    assert_eq!(m.labs.percent("udp-datagrams", 2), 100);
    // A passed check is shown at once, and stays the gateway's to keep.
    let effects = m.update(Msg::Lab(LabMsg::Reset), 0);
    assert!(!effects.iter().any(|e| matches!(e, Effect::Save(_))), "{effects:?}");
    let effects = m.update(Msg::Lab(LabMsg::Fetched(Fetch::Check, 200, r#"{"passed":true,"checks":[]}"#.into())), 0);
    assert!(!effects.iter().any(|e| matches!(e, Effect::Save(_))), "{effects:?}");
}

#[test]
fn an_ended_session_gives_the_browsers_progress_back_and_offers_to_join_again() {
    let local = r#"{"byte-stream":["a"]}"#;
    // Refused by /me at load, or by a lab check later.
    for refused in [
        Msg::Class(ClassMsg::Fetched(ClassFetch::Me, 401, String::new())),
        Msg::Lab(LabMsg::Fetched(Fetch::Check, 401, String::new())),
    ] {
        let mut m = local_page(local);
        class(&mut m, ClassMsg::Fetched(ClassFetch::Me, 200, ME.into()));
        assert_eq!(m.labs.done.len(), 2);
        let effects = m.update(refused.clone(), 0);
        assert_eq!(m.class.session, Session::Expired, "{refused:?}");
        let leave = fetch_of(&effects);
        assert_eq!(leave, [("/api/v1/me", None, Fetch::Class(ClassFetch::Leave))], "the refused cookie is forgotten");
        assert_eq!(method(leave[0].2, false), "DELETE");
        let effects = class(&mut m, ClassMsg::Fetched(ClassFetch::Leave, 204, String::new()));
        assert_eq!(effects, [Effect::Reconnect { after_ms: 0 }], "the socket no longer speaks for the student");
        assert_eq!(m.class.session, Session::Expired, "still offering to join again");
        assert_eq!(m.labs.done, [("byte-stream".to_owned(), vec!["a".to_owned()])]);
        assert!(form_shown(&m));
        assert!(info(&m).contains("Join again"), "{}", info(&m));
        let effects =
            m.update(Msg::Lab(LabMsg::Fetched(Fetch::Check, 200, r#"{"passed":true,"checks":[]}"#.into())), 0);
        assert!(effects.iter().any(|e| matches!(e, Effect::Save(_))), "local again: {effects:?}");
    }
    // Without a class, a 401 from a lab check is only a failed check.
    let mut m = local_page(local);
    m.update(Msg::Lab(LabMsg::Fetched(Fetch::Check, 401, String::new())), 0);
    assert_eq!(m.class.session, Session::Local);
}

/// Whether `effects` reopen the WebSocket at once.
fn reopens(effects: &[Effect]) -> bool {
    effects.contains(&Effect::Reconnect { after_ms: 0 })
}

#[test]
fn the_websocket_reopens_whenever_the_page_becomes_someone_else() {
    let other = ME.replace("\"Ada\"", "\"Bo\"");
    let me = |body: &str| Msg::Class(ClassMsg::Fetched(ClassFetch::Me, 200, body.into()));
    // (page joined before?, what happened, whether the socket reopens)
    let table: Vec<(bool, Vec<Msg>, bool)> = vec![
        (false, vec![Msg::Class(ClassMsg::Fetched(ClassFetch::Join, 200, JOINED.into()))], true),
        (false, vec![Msg::Class(ClassMsg::Fetched(ClassFetch::Join, 409, String::new()))], false),
        (false, vec![me(ME)], true),
        (false, vec![me(r#"{"student":null}"#)], false),
        (false, vec![Msg::Class(ClassMsg::Fetched(ClassFetch::Me, 0, String::new()))], false),
        (true, vec![me(ME)], false),
        (true, vec![me(&other)], true),
        // A session that ended reopens once its cookie is gone, not before.
        (true, vec![Msg::Class(ClassMsg::Fetched(ClassFetch::Me, 401, String::new()))], false),
        (true, vec![Msg::Lab(LabMsg::Fetched(Fetch::Check, 401, String::new()))], false),
        (true, vec![Msg::Class(ClassMsg::Fetched(ClassFetch::Leave, 204, String::new()))], true),
        (true, vec![Msg::Class(ClassMsg::Fetched(ClassFetch::Leave, 0, String::new()))], true),
        (true, vec![Msg::Class(ClassMsg::SignOut)], false),
        (
            true,
            vec![Msg::Class(ClassMsg::SignOut), Msg::Class(ClassMsg::Fetched(ClassFetch::Leave, 204, String::new()))],
            true,
        ),
    ];
    for (joined, msgs, reopen) in table {
        let mut m = local_page("");
        m.update(crate::update::tests::hello(), 0);
        if joined {
            m.update(me(ME), 0);
            m.update(crate::update::tests::hello(), 0);
        }
        assert_eq!(m.status, crate::model::Status::Connected);
        let mut effects = Vec::new();
        for msg in &msgs {
            effects.extend(m.update(msg.clone(), 0));
        }
        assert_eq!(reopens(&effects), reopen, "joined {joined}, {msgs:?}: {effects:?}");
        if reopen {
            assert_eq!(m.status, crate::model::Status::Reconnecting, "nothing is sent on the old socket");
            assert!(m.update(Msg::RunCheck { program: Program::UdpServer, target: "t".into() }, 0).is_empty());
        }
    }
}

#[test]
fn sign_out_forgets_the_cookie_and_gives_the_browsers_progress_back() {
    let mut m = local_page(r#"{"byte-stream":["a"]}"#);
    assert!(class(&mut m, ClassMsg::SignOut).is_empty(), "nothing to sign out of");
    class(&mut m, ClassMsg::Fetched(ClassFetch::Me, 200, ME.into()));
    assert!(info(&m).contains("data-class-signout"), "{}", info(&m));
    class(&mut m, ClassMsg::ShowResume(true));
    let effects = class(&mut m, ClassMsg::SignOut);
    assert_eq!(fetch_of(&effects), [("/api/v1/me", None, Fetch::Class(ClassFetch::Leave))]);
    assert_eq!((m.class.session.clone(), m.class.error.clone()), (Session::Local, None));
    assert_eq!(m.labs.done, [("byte-stream".to_owned(), vec!["a".to_owned()])]);
    assert!(form_shown(&m) && info(&m).contains("stays in this browser") && !info(&m).contains("/resume/"));
}

#[test]
fn copy_puts_the_absolute_link_on_the_clipboard_or_asks_to_copy_by_hand() {
    let mut m = local_page("");
    assert!(class(&mut m, ClassMsg::Copy).is_empty(), "nothing to copy before joining");
    class(&mut m, ClassMsg::Fetched(ClassFetch::Me, 200, ME.into()));
    assert_eq!(
        class(&mut m, ClassMsg::Copy),
        [Effect::Copy("http://127.0.0.1:8080/resume/tok".into(), crate::update::Copier::Class)]
    );
    class(&mut m, ClassMsg::ShowResume(true));
    class(&mut m, ClassMsg::Copied(true));
    assert!(info(&m).contains("Link copied."));
    class(&mut m, ClassMsg::Copied(false));
    assert!(info(&m).contains("by hand"));
}

#[test]
fn each_request_has_its_method() {
    assert_eq!(method(Fetch::Class(ClassFetch::Join), true), "POST");
    assert_eq!(method(Fetch::Class(ClassFetch::Me), false), "GET");
    assert_eq!(method(Fetch::Check, true), "POST");
    assert_eq!(method(Fetch::List, false), "GET");
}

#[test]
fn names_are_escaped() {
    let mut m = local_page("");
    let me = r#"{"class":{"name":"<b>C</b>"},"student":{"name":"a&b"},"resume_url":"https://h/r?\"x"}"#;
    class(&mut m, ClassMsg::Fetched(ClassFetch::Me, 200, me.into()));
    class(&mut m, ClassMsg::ShowResume(true));
    let html = info(&m);
    assert!(html.contains("a&amp;b · &lt;b&gt;C&lt;/b&gt;"), "{html}");
    assert!(html.contains(r#"value="https://h/r?&quot;x""#), "an absolute link stays as it is: {html}");
}
