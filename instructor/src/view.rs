//! The instructor page's regions as HTML strings, built from the model: the class's header with
//! its actions, the roster × labs grid with the check results per program, the confirmation of
//! a destructive action, and the open student's work. Pure: `render` only puts them in place.

use std::fmt::Write;

use serde_json::Value;
use socketlab_proto::saved;
use socketlab_proto::text::esc;

use crate::api::{Dashboard, LabInfo, Steps, Student};
use crate::i18n::{Lang, fill, t};
use crate::update::{Ask, Model};

/// How much of a lab a student has done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    None,
    Partial,
    Complete,
}

impl Done {
    fn class(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Partial => "partial",
            Self::Complete => "complete",
        }
    }
}

/// Steps of `lab` the student passed (only those the lab still has, when its ids are known),
/// and how that compares with the whole lab.
pub fn done(s: &Student, lab: &LabInfo) -> (usize, Done) {
    let passed = s.progress.get(&lab.id).map_or(&[][..], Vec::as_slice);
    let n = match &lab.steps {
        Steps::Ids(ids) => ids.iter().filter(|id| passed.contains(id)).count(),
        Steps::Count(total) => passed.len().min(*total),
    };
    let state = match n {
        0 => Done::None,
        n if n >= lab.steps.len() => Done::Complete,
        _ => Done::Partial,
    };
    (n, state)
}

/// The class's name, join code, state, and its actions.
pub fn header(m: &Model) -> String {
    let Some(d) = &m.dash else { return String::new() };
    let c = &d.class;
    let tr = |key| esc(t(m.lang, key));
    let mut out = format!(
        "<h1>{}</h1><p class=\"meta\">{} <code id=\"join-code\">{}</code> · <span id=\"class-state\" data-closed=\"{}\">{}</span> · \
         <span id=\"live\" class=\"{}\">{}</span></p><div class=\"actions\"><a id=\"csv\" class=\"button\" href=\"{}\" download>{}</a>",
        esc(&c.name),
        tr("join_code"),
        esc(&c.join_code),
        c.closed,
        tr(if c.closed { "closed" } else { "open" }),
        if m.live { "live on" } else { "live off" },
        tr(if m.live { "live" } else { "reconnecting" }),
        esc(&m.csv_url()),
        tr("csv"),
    );
    if !c.closed {
        let _ = write!(out, "<button type=\"button\" data-ask-close=\"0\">{}</button>", tr("close"));
    }
    out.push_str("</div>");
    out
}

/// The roster × labs grid, then one column per check program.
pub fn grid(lang: Lang, d: &Dashboard) -> String {
    let tr = |key| esc(t(lang, key));
    if d.students.is_empty() {
        return format!("<p class=\"hint\">{}</p>", tr("no_students"));
    }
    let mut out = format!("<table class=\"grid\"><thead><tr><th scope=\"col\">{}</th>", tr("student"));
    for lab in &d.labs {
        let _ = write!(out, "<th scope=\"col\" data-lab=\"{}\">{}</th>", esc(&lab.id), esc(&lab.title));
    }
    for p in &d.programs {
        let _ =
            write!(out, "<th scope=\"col\" class=\"check\">{}</th>", esc(&fill(t(lang, "check"), &[("program", p)])));
    }
    let _ = write!(
        out,
        "<th scope=\"col\"><span class=\"visually-hidden\">{}</span></th></tr></thead><tbody>",
        tr("actions")
    );
    for (r, s) in d.students.iter().enumerate() {
        let _ = write!(out, "<tr data-student=\"{}\"><th scope=\"row\">{}</th>", esc(&s.id), esc(&s.name));
        for (c, lab) in d.labs.iter().enumerate() {
            let (n, state) = done(s, lab);
            let total = lab.steps.len().to_string();
            let label = fill(
                t(lang, "cell"),
                &[("name", &s.name), ("lab", &lab.title), ("n", &n.to_string()), ("total", &total)],
            );
            let _ = write!(
                out,
                "<td><button type=\"button\" class=\"cell {st}\" data-row=\"{r}\" data-col=\"{c}\" data-lab=\"{}\" data-state=\"{st}\" \
                 aria-label=\"{}\">{n}/{total}</button></td>",
                esc(&lab.id),
                esc(&label),
                st = state.class(),
            );
        }
        for p in &d.programs {
            match s.checks.get(p) {
                Some(r) => {
                    let ok = if r.total > 0 && r.passed == r.total { "passed" } else { "failed" };
                    let _ = write!(
                        out,
                        "<td class=\"check {ok}\" data-program=\"{}\">{}/{}</td>",
                        esc(p),
                        r.passed,
                        r.total
                    );
                }
                None => {
                    let _ = write!(out, "<td class=\"check none\" data-program=\"{}\">–</td>", esc(p));
                }
            }
        }
        let _ = write!(
            out,
            "<td><button type=\"button\" class=\"remove\" data-ask-remove=\"{r}\">{}</button></td></tr>",
            tr("remove")
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// The confirmation of a waiting destructive action.
pub fn confirm(m: &Model) -> String {
    let tr = |key| esc(t(m.lang, key));
    let question = match &m.ask {
        None => return String::new(),
        Some(Ask::Close) => tr("ask_close"),
        Some(Ask::Remove { name, .. }) => esc(&fill(t(m.lang, "ask_remove"), &[("name", name)])),
    };
    format!(
        "<div class=\"confirm\" role=\"alertdialog\" aria-label=\"{}\"><p>{question}</p><div class=\"actions\">\
         <button type=\"button\" class=\"danger\" data-confirm=\"0\">{}</button><button type=\"button\" data-cancel=\"0\">{}</button></div></div>",
        tr("confirm"),
        tr("yes"),
        tr("cancel"),
    )
}

/// A saved exchange's `/x/` link, from its url or its id.
fn saved_link(v: &Value) -> Option<String> {
    let url = v.get("url").and_then(Value::as_str).filter(|u| saved::is_permalink(u));
    url.map(str::to_owned).or_else(|| {
        let id = v.get("id").and_then(Value::as_str).or(v.as_str())?;
        saved::is_id(id).then(|| saved::permalink(id))
    })
}

/// Any JSON value as nested lists, links kept as links, so a field the page does not know is
/// still shown.
fn value(lang: Lang, out: &mut String, v: &Value, depth: usize) {
    match v {
        _ if depth > 6 => out.push('…'),
        Value::Null => out.push('–'),
        // Only the exact shape of a saved exchange's page: a student's answer is any text.
        Value::String(s) if saved::is_permalink(s) => {
            let _ = write!(out, "<a href=\"{0}\" target=\"_blank\" rel=\"noopener\">{0}</a>", esc(s));
        }
        Value::String(s) => out.push_str(&esc(s)),
        Value::Bool(b) => out.push_str(t(lang, if *b { "yes_value" } else { "no_value" })),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Array(items) if items.is_empty() => out.push_str(t(lang, "none")),
        Value::Array(items) => {
            out.push_str("<ul>");
            for item in items {
                out.push_str("<li>");
                value(lang, out, item, depth + 1);
                out.push_str("</li>");
            }
            out.push_str("</ul>");
        }
        Value::Object(fields) => {
            out.push_str("<dl>");
            for (k, v) in fields {
                let _ = write!(out, "<dt>{}</dt><dd>", esc(k));
                value(lang, out, v, depth + 1);
                out.push_str("</dd>");
            }
            out.push_str("</dl>");
        }
    }
}

/// The open student's work: answers of the clicked lab first, saved exchanges as `/x/` links,
/// check results, then whatever else the API sent.
pub fn student(m: &Model) -> String {
    let Some((id, lab, work)) = &m.open else { return String::new() };
    let d = m.dash.as_ref();
    let name = d.and_then(|d| d.students.iter().find(|s| s.id == *id)).map_or(id.as_str(), |s| s.name.as_str());
    let title = d.and_then(|d| d.labs.iter().find(|l| l.id == *lab)).map_or(lab.as_str(), |l| l.title.as_str());
    let lang = m.lang;
    let tr = |key| esc(t(lang, key));
    let mut out = format!(
        "<div class=\"student\" data-student=\"{}\"><button type=\"button\" data-back=\"0\">{}</button><h2>{} · {}</h2>",
        esc(id),
        tr("roster"),
        esc(name),
        esc(title)
    );
    let Some(work) = work else {
        let _ = write!(out, "<p class=\"hint\">{}</p></div>", tr("loading"));
        return out;
    };
    // Answers as a list of {lab, step, ...}, or as an object by lab.
    let in_lab = match work.get("answers").or_else(|| work.get("progress")) {
        Some(Value::Array(list)) => {
            let mine = list.iter().filter(|a| a.get("lab").and_then(Value::as_str) == Some(lab.as_str()));
            Value::Array(mine.cloned().collect())
        }
        Some(Value::Object(by_lab)) => by_lab.get(lab).cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    };
    let _ = write!(out, "<h3>{}</h3>", tr("answers"));
    match &in_lab {
        Value::Null => {
            let _ = write!(out, "<p class=\"hint\">{}</p>", tr("no_answers"));
        }
        Value::Array(a) if a.is_empty() => {
            let _ = write!(out, "<p class=\"hint\">{}</p>", tr("no_answers"));
        }
        v => value(lang, &mut out, v, 0),
    }
    let _ = write!(out, "<h3>{}</h3>", tr("saved"));
    let saved: Vec<String> =
        work.get("saved").and_then(Value::as_array).map_or(Vec::new(), |l| l.iter().filter_map(saved_link).collect());
    if saved.is_empty() {
        let _ = write!(out, "<p class=\"hint\">{}</p>", tr("none_saved"));
    } else {
        out.push_str("<ul class=\"saved\">");
        for url in saved {
            let _ = write!(
                out,
                "<li><a href=\"{0}\" target=\"_blank\" rel=\"noopener\">{0}</a> {1}</li>",
                esc(&url),
                tr("read_only")
            );
        }
        out.push_str("</ul>");
    }
    let _ = write!(out, "<h3>{}</h3>", tr("checks"));
    value(lang, &mut out, work.get("checks").unwrap_or(&Value::Array(Vec::new())), 0);
    let rest: serde_json::Map<String, Value> = work
        .as_object()
        .map(|o| {
            let shown = ["answers", "progress", "saved", "checks", "student", "class"];
            o.iter().filter(|(k, _)| !shown.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
        })
        .unwrap_or_default();
    if !rest.is_empty() {
        let _ = write!(out, "<h3>{}</h3>", tr("more"));
        value(lang, &mut out, &Value::Object(rest), 0);
    }
    out.push_str("</div>");
    out
}

/// The error line, if any.
pub fn error(m: &Model) -> String {
    let Some((key, detail)) = &m.error else { return String::new() };
    let words = fill(t(m.lang, key), &[("detail", detail)]);
    format!("<p class=\"failure\" role=\"alert\">{}</p>", esc(&words))
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
