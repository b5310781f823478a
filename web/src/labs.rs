//! The Labs region: the gateway's guided labs, listed with this browser's progress; the open
//! lab's current step with its action buttons (each sends the exchange the step describes over
//! the page's own WebSocket), its answer boxes and `Check`, which asks the gateway to evaluate
//! the step against the exchanges this page made in the lab. The labs are not compiled in: they
//! come from `/api/v1/labs` as JSON and stay `json::J` values, which keeps the bundle small.
//! Pure, like `checks`: `update` returns effects (fetch, save progress) that `render` performs.

use std::fmt::Write;

use socketlab_proto::wire::{ClientMsg, Protocol, ServerMsg, Target};

use crate::html::esc;
use crate::i18n::{Lang, fill, t};
use crate::json::{J, quote};
use crate::model::{Model, View};
use crate::update::Effect;

/// The localStorage key that holds the progress: `{"<lab id>": ["<passed step id>", ...]}`.
pub const STORE_KEY: &str = "socketlab.labs";

/// Which request a fetched body answers: the Labs region's, or sharing's (`share` takes those).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    List,
    Lab,
    Check,
    /// `POST /api/v1/saved` (see `share`).
    Save,
    /// `GET /api/v1/saved/{id}` (see `share`).
    Saved,
    /// A request of the class region.
    Class(crate::class::ClassFetch),
}

/// What can happen in the Labs region.
#[derive(Debug, Clone, PartialEq)]
pub enum LabMsg {
    /// The page loaded; the stored progress (empty when none).
    Restore(String),
    /// A request ended with this HTTP status (0 when it never reached the gateway) and body.
    Fetched(Fetch, u16, String),
    /// A lab of the list opened.
    Open(usize),
    /// Back to the list.
    Close,
    /// A step of the open lab chosen.
    Step(usize),
    /// Action `.0` of the current step, with the page's message box for actions that take any.
    Action(usize, String),
    /// An answer box typed in: question id, text.
    Answer(String, String),
    Check,
    Reset,
    /// The failed check `.0` of the last result: select the step it names on the timeline.
    Look(usize),
}

/// The Labs region's state.
#[derive(Debug, Clone, Default)]
pub struct Labs {
    /// `GET /api/v1/labs`.
    pub list: Vec<J>,
    /// `GET /api/v1/labs/{id}` of the open lab.
    pub open: Option<J>,
    pub step: usize,
    pub answers: Vec<(String, String)>,
    /// This page's ids of the exchanges the open lab's actions sent, with the gateway's names.
    pub sent: Vec<(String, Option<String>)>,
    /// The last check's reply, or a sentence saying why there is none.
    pub result: Option<Result<J, String>>,
    /// Passed step ids by lab id.
    pub done: Vec<(String, Vec<String>)>,
}

impl Labs {
    fn lab_id(&self) -> &str {
        self.open.as_ref().map_or("", |l| l.text("id"))
    }

    fn steps(&self) -> &[J] {
        self.open.as_ref().map_or(&[], |l| l["steps"].items())
    }

    fn done_in(&self, lab: &str) -> &[String] {
        self.done.iter().find(|(id, _)| id == lab).map_or(&[], |(_, steps)| steps)
    }

    fn passed(&self, lab: &str, step: &str) -> bool {
        self.done_in(lab).iter().any(|s| s == step)
    }

    /// How much of `lab` is done, in percent of its `steps`.
    pub fn percent(&self, lab: &str, steps: usize) -> usize {
        let n = self.done_in(lab).len();
        (n * 100).checked_div(steps).unwrap_or(0).min(100)
    }

    /// Notes the gateway's name of an exchange a lab action sent, from its `reply` or `error`.
    pub fn saw(&mut self, frame: &ServerMsg) {
        let (id, name) = match frame {
            ServerMsg::Reply(r) => (&r.id, &r.exchange),
            ServerMsg::Error { id: Some(id), exchange, .. } => (id, exchange),
            _ => return,
        };
        if let Some(s) = self.sent.iter_mut().find(|(i, _)| i == id) {
            s.1.clone_from(name);
        }
    }

    fn save(&self) -> Effect {
        let labs: Vec<String> = self
            .done
            .iter()
            .map(|(lab, steps)| {
                format!("{}:[{}]", quote(lab), steps.iter().map(|s| quote(s)).collect::<Vec<_>>().join(","))
            })
            .collect();
        Effect::Save(format!("{{{}}}", labs.join(",")))
    }
}

fn lang_query(lang: Lang) -> &'static str {
    if lang == Lang::Zh { "?lang=zh" } else { "" }
}

fn get(url: String, then: Fetch) -> Effect {
    Effect::Fetch { url, body: None, then }
}

/// After the language changed: the list and the open lab again, in that language.
pub fn relang(m: &Model) -> Vec<Effect> {
    let q = lang_query(m.lang);
    let mut out = vec![get(format!("/api/v1/labs{q}"), Fetch::List)];
    if m.labs.open.is_some() {
        out.push(get(format!("/api/v1/labs/{}{q}", m.labs.lab_id()), Fetch::Lab));
    }
    out
}

/// Applies one Labs message.
pub fn update(m: &mut Model, msg: LabMsg) -> Vec<Effect> {
    let labs = &mut m.labs;
    match msg {
        LabMsg::Restore(text) => {
            if let Some(J::Obj(done)) = J::parse(&text) {
                let steps = |v: &J| v.items().iter().filter_map(|s| s.as_str().map(str::to_owned)).collect();
                labs.done = done.iter().map(|(lab, v)| (lab.clone(), steps(v))).collect();
            }
            return relang(m);
        }
        LabMsg::Fetched(what, status, body) => {
            let value = J::parse(&body).filter(|_| (200..300).contains(&status));
            match (what, value) {
                (Fetch::List, Some(J::Arr(list))) => labs.list = list,
                (Fetch::Lab, Some(lab)) => {
                    let same = labs.open.as_ref().is_some_and(|o| o["id"] == lab["id"]);
                    labs.open = Some(lab);
                    if !same {
                        let id = labs.lab_id().to_owned();
                        let first = labs.steps().iter().position(|s| !labs.passed(&id, s.text("id")));
                        labs.step = first.unwrap_or(0);
                    }
                }
                (Fetch::Check, Some(reply)) => {
                    let lab = labs.lab_id().to_owned();
                    let step = labs.steps().get(labs.step).map(|s| s.text("id").to_owned()).unwrap_or_default();
                    let newly = reply["passed"].is_true() && !labs.passed(&lab, &step);
                    labs.result = Some(Ok(reply));
                    if newly {
                        match labs.done.iter_mut().find(|(id, _)| *id == lab) {
                            Some((_, steps)) => steps.push(step),
                            None => labs.done.push((lab, vec![step])),
                        }
                        return vec![labs.save()];
                    }
                }
                (Fetch::Check, None) => {
                    let why = J::parse(&body).and_then(|v| v["message"].as_str().map(str::to_owned));
                    labs.result = Some(Err(why.unwrap_or_else(|| t(m.lang, "lab_unreachable").to_owned())));
                }
                _ => m.notice = Some("lab_unreachable".into()),
            }
        }
        LabMsg::Open(i) => {
            let Some(id) = labs.list.get(i).map(|l| l.text("id").to_owned()) else { return Vec::new() };
            *labs =
                Labs { list: std::mem::take(&mut labs.list), done: std::mem::take(&mut labs.done), ..Labs::default() };
            return vec![get(format!("/api/v1/labs/{id}{}", lang_query(m.lang)), Fetch::Lab)];
        }
        LabMsg::Close => labs.open = None,
        LabMsg::Step(i) if i < labs.steps().len() => {
            labs.step = i;
            labs.result = None;
        }
        LabMsg::Step(_) => {}
        LabMsg::Answer(q, text) => match labs.answers.iter_mut().find(|(id, _)| *id == q) {
            Some(a) => a.1 = text,
            None => labs.answers.push((q, text)),
        },
        LabMsg::Action(i, typed) => return action(m, i, &typed),
        LabMsg::Check => {
            let Some(step) = labs.steps().get(labs.step).map(|s| s.text("id")) else { return Vec::new() };
            let url = format!("/api/v1/labs/{}/steps/{step}/check{}", labs.lab_id(), lang_query(m.lang));
            let mut exchanges: Vec<String> = labs.sent.iter().filter_map(|(_, n)| n.as_deref()).map(quote).collect();
            // A client outside the page (the lesson's own, in a terminal) counts once its Live
            // traffic conversation is on the timeline.
            if let View::Live(i) = m.view {
                exchanges.extend(m.conversations.get(i).map(|c| quote(&c.key)));
            }
            let answers: Vec<String> =
                labs.answers.iter().map(|(q, a)| format!("{}:{}", quote(q), quote(a.trim()))).collect();
            let body = format!("{{\"exchanges\":[{}],\"answers\":{{{}}}}}", exchanges.join(","), answers.join(","));
            labs.result = None;
            return vec![Effect::Fetch { url, body: Some(body), then: Fetch::Check }];
        }
        LabMsg::Reset => {
            let id = labs.lab_id().to_owned();
            labs.done.retain(|(lab, _)| *lab != id);
            (labs.step, labs.result) = (0, None);
            labs.answers.clear();
            labs.sent.clear();
            return vec![labs.save()];
        }
        LabMsg::Look(i) => look(m, i),
    }
    Vec::new()
}

/// Sends the exchange action `i` of the current step describes.
fn action(m: &mut Model, i: usize, typed: &str) -> Vec<Effect> {
    let Some(a) = m.labs.steps().get(m.labs.step).and_then(|s| s["actions"].items().get(i)).cloned() else {
        return Vec::new();
    };
    if m.status != crate::model::Status::Connected {
        m.notice = Some("status_reconnecting".into());
        return Vec::new();
    }
    let protocol = if a.text("protocol") == "tcp" { Protocol::Tcp } else { Protocol::Udp };
    let target = match a.text("target") {
        "closed_port" => Target::ClosedPort,
        "iterative" => Target::Iterative,
        _ => Target::Hosted,
    };
    let base64 = a["message_base64"].as_str().map(str::to_owned);
    let message = a["message"].as_str().or(base64.as_deref()).unwrap_or(typed).to_owned();
    let Ok(ClientMsg::Exchange(mut req)) = m.start(protocol, &message, target) else { return Vec::new() };
    req.target = (target != Target::Hosted).then_some(target);
    req.hold_ms = a["hold_ms"].as_u64();
    if base64.is_some() {
        (req.message, req.message_base64) = (None, base64);
    }
    m.labs.sent.push((req.id.clone().unwrap_or_default(), None));
    m.playing = false;
    vec![Effect::StopTimer, Effect::Send(ClientMsg::Exchange(req))]
}

/// Opens the exchange a failed check names and selects its step.
fn look(m: &mut Model, i: usize) {
    let Some(Ok(reply)) = &m.labs.result else { return };
    let at = &reply["checks"][i]["at"];
    let (Some(name), Some(step)) = (at["exchange"].as_str(), at["step"].as_u64()) else { return };
    let local = m.labs.sent.iter().find(|(_, n)| n.as_deref() == Some(name)).map(|(id, _)| id.clone());
    let Some(x) = m.exchanges.iter().position(|x| Some(&x.id) == local.as_ref()) else { return };
    m.playing = false;
    m.show(View::Exchange(x));
    m.step = usize::try_from(step).unwrap_or(1).saturating_sub(1).min(m.steps().saturating_sub(1));
}

/// The list of labs, or the open lab's current step.
pub fn body(m: &Model) -> String {
    let (lang, labs) = (m.lang, &m.labs);
    let Some(lab) = &labs.open else {
        let mut out = String::from("<ul class=\"lab-list\">");
        for (i, l) in labs.list.iter().enumerate() {
            let pct = labs.percent(l.text("id"), l["steps"].as_u64().unwrap_or(0) as usize);
            let _ = write!(
                out,
                "<li><button type=\"button\" data-lab=\"{i}\"><span class=\"name\">{}</span> <span class=\"pct\">{}</span></button></li>",
                esc(l.text("title")),
                esc(&fill(t(lang, "lab_done"), &[("pct", &pct.to_string())])),
            );
        }
        out.push_str("</ul>");
        return out;
    };
    let id = labs.lab_id();
    let steps = labs.steps();
    let mut out = format!(
        "<button type=\"button\" data-lab-close=\"0\">{}</button><h3>{}</h3><p class=\"lab-pct\">{}</p><ol class=\"lab-steps\">",
        esc(t(lang, "lab_all")),
        esc(lab.text("title")),
        esc(&fill(t(lang, "lab_done"), &[("pct", &labs.percent(id, steps.len()).to_string())])),
    );
    for (i, s) in steps.iter().enumerate() {
        let mark = if labs.passed(id, s.text("id")) { " ✓" } else { "" };
        let cur = if i == labs.step { " aria-current=\"step\"" } else { "" };
        let _ = write!(
            out,
            "<li><button type=\"button\" data-lab-step=\"{i}\"{cur}>{}{mark}</button></li>",
            esc(s.text("title"))
        );
    }
    out.push_str("</ol>");
    let Some(step) = steps.get(labs.step) else { return out };
    let _ = write!(out, "<p class=\"lab-text\">{}</p><div class=\"actions\">", esc(step.text("instructions")));
    for (i, a) in step["actions"].items().iter().enumerate() {
        let _ = write!(out, "<button type=\"button\" data-lab-action=\"{i}\">{}</button>", esc(a.text("label")));
    }
    out.push_str("</div><form class=\"lab-form\" autocomplete=\"off\">");
    for q in step["questions"].items() {
        let qid = esc(q.text("id"));
        let _ = write!(
            out,
            "<label for=\"lab-q-{qid}\">{}</label><input id=\"lab-q-{qid}\" data-q=\"{qid}\" class=\"mono\">",
            esc(q.text("prompt"))
        );
    }
    let observations = step["observations"].items().iter();
    let items: String = observations.map(|o| format!("<li>{}</li>", esc(o.text("prompt")))).collect();
    if !items.is_empty() {
        let _ = write!(out, "<ul class=\"lab-obs\">{items}</ul>");
    }
    let _ = write!(
        out,
        "<div class=\"actions\"><button type=\"submit\">{}</button><button type=\"button\" data-lab-reset=\"0\">{}</button></div></form>",
        esc(t(lang, "lab_check")),
        esc(t(lang, "lab_reset"))
    );
    out
}

/// The last check's verdict, each failed check's reason and a button to the step it names.
pub fn result(m: &Model) -> String {
    let lang = m.lang;
    let reply = match &m.labs.result {
        None => return String::new(),
        Some(Err(why)) => return format!("<p class=\"lab-verdict failed\">{}</p>", esc(why)),
        Some(Ok(reply)) => reply,
    };
    let passed = reply["passed"].is_true();
    let mut out = format!(
        "<p class=\"lab-verdict {}\">{}</p><ul class=\"lab-checks\">",
        if passed { "passed" } else { "failed" },
        esc(t(lang, if passed { "lab_passed" } else { "lab_failed" }))
    );
    for (i, c) in reply["checks"].items().iter().enumerate() {
        let ok = c["passed"].is_true();
        let _ = write!(
            out,
            "<li class=\"{}\" data-id=\"{}\">{} {}",
            if ok { "passed" } else { "failed" },
            esc(c.text("id")),
            if ok { "✓" } else { "✗" },
            esc(c.text("why"))
        );
        if !ok && c["at"]["step"].as_u64().is_some() {
            let _ = write!(out, " <button type=\"button\" data-lab-look=\"{i}\">{}</button>", esc(t(lang, "lab_look")));
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
    out
}

#[cfg(test)]
#[path = "labs_tests.rs"]
mod tests;
