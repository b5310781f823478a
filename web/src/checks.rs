//! The "Check my program" view: the checks this tab ran against the operator's listed targets,
//! how `check_item`, `check_report` and `error` frames change them, and the view's HTML (the
//! target choices and the graded items, each of which opens its timeline). Pure, like `model`
//! and `view`: `render` only puts these strings in their regions.

use std::fmt::Write;

use socketlab_proto::check::{CheckRequest, ItemResult, Program, Verdict};
use socketlab_proto::wire::{ClientMsg, ErrorCode, ServerMsg};

use crate::html::esc;
use crate::i18n::{Lang, fill, t};
use crate::model::{Model, View};

/// How a check ended, if it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckEnd {
    Running,
    Report {
        score: u32,
        max_score: u32,
        passed: bool,
    },
    Failed {
        code: ErrorCode,
        message: String,
    },
    /// The WebSocket closed before the check ended.
    Lost,
}

/// One check this tab asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub id: String,
    pub program: Program,
    pub target: String,
    /// The graded items, in the order they came.
    pub items: Vec<ItemResult>,
    pub end: CheckEnd,
}

/// The checks of this tab, newest last.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    pub list: Vec<Check>,
    next_id: u64,
}

impl Checks {
    /// Records a new check and returns the frame that starts it.
    pub fn start(&mut self, program: Program, target: &str) -> ClientMsg {
        self.next_id += 1;
        let id = format!("c{}", self.next_id);
        let target = (!target.is_empty()).then(|| target.to_owned());
        self.list.push(Check {
            id: id.clone(),
            program,
            target: target.clone().unwrap_or_default(),
            items: Vec::new(),
            end: CheckEnd::Running,
        });
        ClientMsg::Check(CheckRequest { id: Some(id), program, target })
    }

    /// Applies a frame about one of these checks; false when it is about none of them.
    pub fn receive(&mut self, msg: &ServerMsg) -> bool {
        let id = match msg {
            ServerMsg::CheckItem { id, .. } | ServerMsg::CheckReport { id, .. } => id,
            ServerMsg::Error { id: Some(id), .. } => id,
            _ => return false,
        };
        let Some(check) = self.list.iter_mut().find(|c| &c.id == id) else { return false };
        if check.end != CheckEnd::Running {
            return true;
        }
        match msg {
            ServerMsg::CheckItem { item, .. } => check.items.push(item.clone()),
            ServerMsg::CheckReport { report, .. } => {
                check.items.clone_from(&report.items);
                check.end =
                    CheckEnd::Report { score: report.score, max_score: report.max_score, passed: report.passed };
            }
            ServerMsg::Error { code, message, .. } => {
                check.end = CheckEnd::Failed { code: *code, message: message.clone() };
            }
            _ => {}
        }
        true
    }

    /// The WebSocket closed: running checks can no longer end.
    pub fn lost(&mut self) {
        for c in self.list.iter_mut().filter(|c| c.end == CheckEnd::Running) {
            c.end = CheckEnd::Lost;
        }
    }

    /// Item `i` of check `c`.
    pub fn item(&self, c: usize, i: usize) -> Option<&ItemResult> {
        self.list.get(c)?.items.get(i)
    }
}

/// The target choices: one `<option>` per listed target, or none.
pub fn targets(m: &Model) -> String {
    let mut out = String::new();
    for target in m.hello.iter().flat_map(|h| &h.targets) {
        let _ = write!(out, "<option value=\"{0}\">{0} ({1})</option>", esc(&target.name), esc(&target.addr));
    }
    out
}

fn verdict(lang: Lang, v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => t(lang, "verdict_pass"),
        Verdict::Fail => t(lang, "verdict_fail"),
        Verdict::Skipped => t(lang, "verdict_skip"),
    }
}

/// The latest check: a summary line, then its items; each item opens its timeline.
pub fn panel(m: &Model) -> String {
    let lang = m.lang;
    if m.hello.as_ref().is_some_and(|h| h.targets.is_empty()) {
        return format!("<p class=\"hint\">{}</p>", esc(t(lang, "check_no_targets")));
    }
    let Some((c, check)) = m.checks.list.iter().enumerate().next_back() else {
        return String::new();
    };
    let summary = match &check.end {
        CheckEnd::Running => fill(t(lang, "check_running"), &[("target", &check.target)]),
        CheckEnd::Report { score, max_score, passed } => fill(
            t(lang, if *passed { "check_passed" } else { "check_failed" }),
            &[("score", &score.to_string()), ("max", &max_score.to_string())],
        ),
        CheckEnd::Failed { code, message } => crate::view::error_words(lang, *code, message),
        CheckEnd::Lost => t(lang, "err_disconnected").to_owned(),
    };
    let state = match &check.end {
        CheckEnd::Running => "running",
        CheckEnd::Report { passed: true, .. } => "passed",
        _ => "failed",
    };
    let mut out = format!("<p class=\"check-summary {state}\">{}</p><ol class=\"check-list\">", esc(&summary));
    for (i, item) in check.items.iter().enumerate() {
        let current = m.view == View::CheckItem(c, i);
        let bonus = if item.required { "" } else { t(lang, "check_bonus") };
        let _ = write!(
            out,
            "<li class=\"check-item {v}\" data-check-item=\"{i}\" data-id=\"{id}\"><button type=\"button\"{cur}>\
             <span class=\"verdict\">{verdict}</span> <span class=\"points\">{p}/{max}{bonus}</span> \
             <span class=\"name\">{name}</span> <span class=\"reason\">{reason}</span></button></li>",
            v = item.verdict.label().to_lowercase(),
            id = esc(&item.id),
            cur = if current { " aria-current=\"true\"" } else { "" },
            verdict = esc(verdict(lang, item.verdict)),
            p = item.points,
            max = item.max_points,
            bonus = esc(bonus),
            name = esc(&item.name),
            reason = esc(&item.reason),
        );
    }
    out.push_str("</ol>");
    out
}

#[cfg(test)]
mod tests {
    use socketlab_proto::check::{ItemOutcome, grade, grade_item};

    use super::*;

    fn item(id: &'static str, verdict: Verdict) -> ItemResult {
        let outcome = match verdict {
            Verdict::Pass => ItemOutcome::pass(id, "fine"),
            Verdict::Fail => ItemOutcome::fail(id, "lower-cased"),
            Verdict::Skipped => ItemOutcome::skipped(id, "not run"),
        };
        grade_item(Program::UdpServer, outcome).expect("a rubric item")
    }

    #[test]
    fn items_arrive_one_by_one_then_the_report_ends_the_check_once() {
        let mut m = Model::default();
        let ClientMsg::Check(req) = m.checks.start(Program::UdpServer, "my-server") else { panic!("a check frame") };
        assert_eq!((req.id.as_deref(), req.target.as_deref()), (Some("c1"), Some("my-server")));
        let id = "c1".to_owned();
        assert!(m.checks.receive(&ServerMsg::CheckItem { id: id.clone(), item: item("answers", Verdict::Pass) }));
        assert!(m.checks.receive(&ServerMsg::CheckItem { id: id.clone(), item: item("ascii", Verdict::Fail) }));
        let html = panel(&m);
        assert!(html.contains("Checking my-server"), "{html}");
        assert_eq!(html.matches("data-check-item=").count(), 2, "{html}");
        assert!(html.contains("class=\"check-item fail\" data-check-item=\"1\""), "{html}");

        let report = grade(Program::UdpServer, "127.0.0.1:9", vec![ItemOutcome::pass("answers", "fine")]);
        assert!(m.checks.receive(&ServerMsg::CheckReport { id: id.clone(), report }));
        assert_eq!(m.checks.list[0].end, CheckEnd::Report { score: 2, max_score: 10, passed: true });
        assert_eq!(m.checks.list[0].items.len(), 7, "the report's items replace the streamed ones");
        // An end after the end changes nothing.
        let late = ServerMsg::Error {
            id: Some(id),
            code: ErrorCode::Timeout,
            message: String::new(),
            exchange: None,
            refused_id: None,
        };
        assert!(m.checks.receive(&late));
        assert!(matches!(m.checks.list[0].end, CheckEnd::Report { .. }));
        m.lang = Lang::Zh;
        assert!(panel(&m).contains("通过"), "{}", panel(&m));
        assert!(!m.checks.receive(&ServerMsg::Subscribed { scope: socketlab_proto::wire::Scope::Own }));
    }

    #[test]
    fn an_unreachable_target_and_a_lost_socket_end_the_check() {
        let mut m = Model::default();
        m.checks.start(Program::TcpServer, "my-server");
        let refused = ServerMsg::Error {
            id: Some("c1".into()),
            code: ErrorCode::ConnectionRefused,
            message: "nothing listens on TCP 127.0.0.1:9: the connection was refused (RST)".into(),
            exchange: None,
            refused_id: None,
        };
        assert!(m.checks.receive(&refused));
        assert!(panel(&m).contains("RST"), "{}", panel(&m));
        m.checks.start(Program::TcpServer, "my-server");
        m.checks.lost();
        assert_eq!(m.checks.list[1].end, CheckEnd::Lost);
    }
}
