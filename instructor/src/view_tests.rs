//! Tests of the instructor page's HTML: the grid's cells and their completion, check columns,
//! the header's actions, the confirmation, and a student's work with links to `/x/`.

use super::*;
use crate::update::tests::DASH;
use crate::update::{Msg, Req};

fn loaded() -> Model {
    let mut m = Model::default();
    m.update(Msg::Start { path: "/instructor/c1".into(), hash: "#key=k".into(), lang: "en".into(), stored: None });
    m.update(Msg::Fetched(Req::Dashboard, 200, DASH.into()));
    m
}

#[test]
fn cells_say_how_much_of_each_lab_is_done() {
    let mut m = loaded();
    let html = grid(m.lang, m.dash.as_ref().expect("dashboard"));
    assert!(html.contains(r#"data-row="0" data-col="1" data-lab="udp-datagrams" data-state="partial""#), "{html}");
    assert!(html.contains(r#"aria-label="Ada, UDP: 1 of 2 steps">1/2<"#), "{html}");
    assert!(html.contains(r#"data-row="1" data-col="0" data-lab="one" data-state="none""#), "{html}");
    assert!(html.contains(r#"<td class="check passed" data-program="udp-server">5/5</td>"#), "{html}");
    assert!(html.contains(r#"<td class="check none" data-program="tcp-server">–</td>"#), "{html}");
    m.update(Msg::Event("progress".into(), r#"{"student":"s2","lab":"one","step":"only"}"#.into()));
    // Three steps passed of a lab of two: the cell says two.
    m.update(Msg::Event("progress".into(), r#"{"student":"s2","lab":"udp-datagrams","step":"a"}"#.into()));
    m.update(Msg::Event("progress".into(), r#"{"student":"s2","lab":"udp-datagrams","step":"b"}"#.into()));
    m.update(Msg::Event("progress".into(), r#"{"student":"s2","lab":"udp-datagrams","step":"c"}"#.into()));
    let html = grid(m.lang, m.dash.as_ref().expect("dashboard"));
    assert!(html.contains(r#"data-row="1" data-col="0" data-lab="one" data-state="complete""#), "{html}");
    assert!(html.contains(r#"aria-label="Bob, UDP: 2 of 2 steps">2/2<"#), "counted steps stop at the lab's: {html}");
}

#[test]
fn an_empty_roster_says_so_and_names_are_escaped() {
    let mut m = loaded();
    let d = m.dash.as_mut().expect("dashboard");
    d.students[0].name = "<img src=x>".into();
    assert!(grid(Lang::En, d).contains("&lt;img src=x&gt;"));
    assert!(!grid(Lang::En, d).contains("<img"));
    d.students.clear();
    assert!(grid(Lang::En, d).contains("No student has joined yet"));
}

#[test]
fn the_header_has_the_code_the_csv_and_close_until_closed() {
    let mut m = loaded();
    let html = header(&m);
    assert!(html.contains(r#"<code id="join-code">K7Q2XP</code>"#), "{html}");
    assert!(html.contains(r#"href="/api/v1/classes/c1/grades.csv" download"#), "{html}");
    assert!(html.contains("data-ask-close") && html.contains("reconnecting"), "{html}");
    m.update(Msg::StreamOpen);
    m.update(Msg::Event("closed".into(), "{}".into()));
    let html = header(&m);
    assert!(!html.contains("data-ask-close") && html.contains(r#"data-closed="true""#), "{html}");
    assert!(html.contains(r#"class="live on""#), "{html}");
}

#[test]
fn confirmations_name_what_happens() {
    let mut m = loaded();
    assert_eq!(confirm(&m), "");
    m.update(Msg::AskRemove(0));
    assert!(confirm(&m).contains("Remove Ada from the class?"));
    m.update(Msg::AskClose);
    assert!(confirm(&m).contains("Close the class?") && confirm(&m).contains("data-confirm"));
}

#[test]
fn a_students_work_links_their_saved_exchanges() {
    let mut m = loaded();
    m.update(Msg::Cell(0, 1));
    assert!(student(&m).contains("Ada · UDP") && student(&m).contains("Loading"));
    let work = r#"{"student":{"id":"s1","name":"Ada"},
      "answers":[{"lab":"udp-datagrams","step":"boundaries","answers":{"sent":"20"},"done_at":"t"},
                 {"lab":"udp-datagrams","step":"links","answers":{"trap":"/x/../resume/tok","own":"/x/ZZ9zz9ZZ9zz9ZZ9z"}},
                 {"lab":"other","step":"x","answers":{"q":"hidden"}}],
      "saved":[{"id":"abcDEF1234567890","url":"/x/abcDEF1234567890","at":"t"},{"id":"ZZ9zz9ZZ9zz9ZZ9z"},{"id":"../bad"},{"id":"short1"}],
      "checks":[{"program":"udp-server","passed":5,"total":5}],
      "extra":{"note":"<b>"}}"#;
    m.update(Msg::Fetched(Req::Student("s1".into()), 200, work.into()));
    let html = student(&m);
    assert!(html.contains("<dt>sent</dt><dd>20</dd>"), "{html}");
    assert!(!html.contains("hidden"), "another lab's answers stay out: {html}");
    assert!(
        html.contains(r#"<a href="/x/abcDEF1234567890""#) && html.contains(r#"<a href="/x/ZZ9zz9ZZ9zz9ZZ9z""#),
        "{html}"
    );
    assert!(!html.contains("../bad") && !html.contains("/x/short1"), "{html}");
    assert!(!html.contains(r#"href="/x/../"#) && html.contains("/x/../resume/tok"), "shown, not linked: {html}");
    assert!(html.contains(r#"<dt>own</dt><dd><a href="/x/ZZ9zz9ZZ9zz9ZZ9z""#), "{html}");
    assert!(html.contains("udp-server") && html.contains("&lt;b&gt;"), "{html}");
    // The shape of `/api/v1/me`: progress items carry their answers.
    let me = r#"{"student":{"id":"s1","name":"Ada"},"class":{"id":"c1","name":"N"},"joined_at":"t",
      "progress":[{"lab":"udp-datagrams","step":"boundaries","done_at":"t","answers":{"sent":"19"}}],
      "checks":[{"program":"udp-server","passed":5,"total":5,"at":"t"}],"saved":[{"id":"Qq1Qq1Qq1Qq1Qq1Q","url":"/x/Qq1Qq1Qq1Qq1Qq1Q","at":"t"}]}"#;
    m.update(Msg::Fetched(Req::Student("s1".into()), 200, me.into()));
    let html = student(&m);
    assert!(html.contains("<dt>sent</dt><dd>19</dd>") && html.contains(r#"<a href="/x/Qq1Qq1Qq1Qq1Qq1Q""#), "{html}");
    assert!(!html.contains("<h3>More</h3>") || !html.contains("<dt>student</dt>"), "who it is shows once: {html}");
    // Answers grouped by lab work too.
    m.update(Msg::Fetched(
        Req::Student("s1".into()),
        200,
        r#"{"answers":{"udp-datagrams":{"boundaries":{"sent":"21"}}}}"#.into(),
    ));
    assert!(student(&m).contains("<dt>sent</dt><dd>21</dd>"), "{}", student(&m));
}

#[test]
fn the_page_speaks_chinese_and_errors_follow_the_toggle() {
    let mut m = loaded();
    m.update(Msg::ToggleLang);
    assert!(header(&m).contains("加入码") && header(&m).contains("下载成绩（CSV）"), "{}", header(&m));
    let html = grid(m.lang, m.dash.as_ref().expect("dashboard"));
    assert!(html.contains("检查：udp-server") && html.contains("Ada，UDP：完成 1 / 2 步"), "{html}");
    m.update(Msg::AskRemove(0));
    assert!(confirm(&m).contains("把 Ada 移出班级？"));
    m.update(Msg::Fetched(Req::Close, 403, String::new()));
    assert!(error(&m).contains("另一个班级"), "{}", error(&m));
    m.update(Msg::ToggleLang);
    assert!(error(&m).contains("another class"), "the same error, in the other language: {}", error(&m));
    m.update(Msg::Fetched(Req::Close, 502, r#"{"error":{"code":"x","message":"<b>"}}"#.into()));
    assert!(error(&m).contains("The gateway answered 502 x: &lt;b&gt;."), "{}", error(&m));
}
