//! The "Join a class" region: a student enters a class's join code and a display name, the
//! gateway answers with a session cookie and a personal resume link, and from then on the labs'
//! progress comes from `/api/v1/me` (the gateway records every passed step) instead of this
//! browser's storage. Without a class, nothing changes: progress stays in localStorage.
//! Pure, like `labs`: `update` returns the effects (fetch, copy) that `render` performs, and
//! `info` is the HTML of the region's one redrawn part (the form itself is static, so a redraw
//! never loses what is being typed).

use std::fmt::Write;

use crate::html::esc;
use crate::i18n::{fill, t};
use crate::json::{J, quote};
use crate::labs::Fetch;
use crate::model::Model;
use crate::update::Effect;

/// Which class request a fetched body answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassFetch {
    /// `GET /api/v1/me`.
    Me,
    /// `POST /api/v1/join`.
    Join,
    /// `DELETE /api/v1/me`: forgets a cookie the gateway no longer accepts.
    Leave,
}

/// The HTTP method of a request: DELETE to leave, POST with a body, GET without.
pub fn method(then: Fetch, body: bool) -> &'static str {
    match (then, body) {
        (Fetch::Class(ClassFetch::Leave), _) => "DELETE",
        (_, true) => "POST",
        (_, false) => "GET",
    }
}

/// What can happen in the class region.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassMsg {
    /// The page loaded at this origin (`https://host:port`), for the resume link.
    Start { origin: String },
    /// The join form was submitted.
    Join { code: String, name: String },
    /// A request ended with this HTTP status (0 when it never reached the gateway) and body.
    Fetched(ClassFetch, u16, String),
    /// "Show my resume link" (true), or "Hide" (false): the link is a credential, so it is not on
    /// screen unless asked for.
    ShowResume(bool),
    /// "Sign out": this browser stops being the student (the resume link brings them back).
    SignOut,
    /// "Copy" on the resume link.
    Copy,
    /// The clipboard took the link (true) or refused it (false: the field is selected instead).
    Copied(bool),
}

/// Whose page this is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Session {
    /// No class (yet): progress lives in this browser.
    #[default]
    Local,
    /// A student of a class.
    Student { name: String, class: String, resume_url: String },
    /// The class session ended (forged, expired or removed): join again.
    Expired,
}

/// The class region's state.
#[derive(Debug, Clone, Default)]
pub struct Class {
    pub session: Session,
    /// An i18n key saying why the last join failed, or the gateway's own message.
    pub error: Option<String>,
    /// A join request is under way.
    pub joining: bool,
    /// The page's origin, which makes the resume link absolute.
    pub origin: String,
    /// This browser's own progress, kept while a class's progress is shown, and back when the
    /// class session ends.
    pub local: Option<Vec<(String, Vec<String>)>>,
    /// What became of the last "Copy".
    pub copied: Option<bool>,
    /// Whether the resume link is on screen.
    pub resume_shown: bool,
}

impl Class {
    /// Whether the page belongs to a student of a class, so progress is the gateway's.
    pub fn joined(&self) -> bool {
        matches!(self.session, Session::Student { .. })
    }

    /// The resume link, absolute when the origin is known.
    pub fn resume_link(&self) -> Option<String> {
        let Session::Student { resume_url, .. } = &self.session else { return None };
        Some(if resume_url.starts_with('/') { format!("{}{resume_url}", self.origin) } else { resume_url.clone() })
    }
}

fn me() -> Effect {
    Effect::Fetch { url: "/api/v1/me".into(), body: None, then: Fetch::Class(ClassFetch::Me) }
}

/// The i18n key for a refused join: each refusal has its own status (`name_taken` 409,
/// `unknown_class` 404, `class_closed` 403, `invalid_field` 422, `rate_limited` 429).
fn join_error(status: u16, body: &J) -> String {
    let key = match status {
        409 => "class_err_name_taken",
        404 => "class_err_unknown",
        403 => "class_err_closed",
        429 => "class_err_rate",
        400 | 422 => "class_err_name",
        0 => "class_err_unreachable",
        _ => {
            let message = body["error"].text("message");
            return if message.is_empty() { "class_err_unreachable".into() } else { message.to_owned() };
        }
    };
    key.into()
}

/// Done steps by lab, from `/api/v1/me`'s `progress: [{lab, step, done_at}]`.
fn progress(me: &J) -> Vec<(String, Vec<String>)> {
    let mut done: Vec<(String, Vec<String>)> = Vec::new();
    for p in me["progress"].items() {
        let (lab, step) = (p.text("lab"), p.text("step"));
        if lab.is_empty() || step.is_empty() {
            continue;
        }
        match done.iter_mut().find(|(l, _)| l == lab) {
            Some((_, steps)) => steps.push(step.to_owned()),
            None => done.push((lab.to_owned(), vec![step.to_owned()])),
        }
    }
    done
}

/// The class session ended: back to this browser's progress, the form again, and the refused
/// cookie forgotten, so that the lab checks of a student on their own are not refused too.
pub fn expire(m: &mut Model) -> Vec<Effect> {
    leave(m, Session::Expired, Some("class_err_expired"))
}

/// No longer a student: this browser's progress back, and the cookie forgotten (`Leave`, whose
/// end reopens the WebSocket).
fn leave(m: &mut Model, session: Session, error: Option<&str>) -> Vec<Effect> {
    let c = &mut m.class;
    if let Some(local) = c.local.take() {
        m.labs.done = local;
    }
    (c.session, c.joining, c.copied, c.resume_shown) = (session, false, None, false);
    c.error = error.map(str::to_owned);
    vec![Effect::Fetch { url: "/api/v1/me".into(), body: None, then: Fetch::Class(ClassFetch::Leave) }]
}

/// Applies one class message.
pub fn update(m: &mut Model, msg: ClassMsg) -> Vec<Effect> {
    let c = &mut m.class;
    match msg {
        ClassMsg::Start { origin } => {
            c.origin = origin;
            return vec![me()];
        }
        ClassMsg::Join { code, name } => {
            let (code, name) = (code.trim(), name.trim());
            // The gateway checks the rest of a name (its length, no control characters).
            c.error = if code.is_empty() {
                Some("class_err_code".into())
            } else if name.is_empty() {
                Some("class_err_name".into())
            } else {
                None
            };
            if c.error.is_some() || c.joining {
                return Vec::new();
            }
            c.joining = true;
            let body = format!("{{\"code\":{},\"name\":{}}}", quote(code), quote(name));
            return vec![Effect::Fetch {
                url: "/api/v1/join".into(),
                body: Some(body),
                then: Fetch::Class(ClassFetch::Join),
            }];
        }
        ClassMsg::Fetched(ClassFetch::Join, status, body) => {
            c.joining = false;
            let reply = J::parse(&body).unwrap_or_default();
            if !(200..300).contains(&status) {
                c.error = Some(join_error(status, &reply));
                return Vec::new();
            }
            c.error = None;
            student(m, &reply);
            let mut effects = vec![me()];
            effects.extend(m.reopen());
            return effects;
        }
        ClassMsg::Fetched(ClassFetch::Me, 401, _) => return expire(m),
        // The cookie is gone: the WebSocket opened with it must not act for that student.
        ClassMsg::Fetched(ClassFetch::Leave, ..) => return m.reopen(),
        ClassMsg::Fetched(ClassFetch::Me, status, body) => {
            let reply = J::parse(&body).filter(|_| (200..300).contains(&status)).unwrap_or_default();
            // No student (local use), or no answer: the browser's progress stays.
            if reply["student"]["name"].as_str().is_some() {
                let changed = student(m, &reply);
                m.labs.done = progress(&reply);
                if changed {
                    return m.reopen();
                }
            }
        }
        ClassMsg::SignOut if c.joined() => return leave(m, Session::Local, None),
        ClassMsg::SignOut => {}
        ClassMsg::ShowResume(shown) => (c.resume_shown, c.copied) = (shown && c.joined(), None),
        ClassMsg::Copy => {
            c.copied = None;
            return c.resume_link().map(|link| Effect::Copy(link, crate::update::Copier::Class)).into_iter().collect();
        }
        ClassMsg::Copied(ok) => c.copied = Some(ok),
    }
    Vec::new()
}

/// Becomes the student a join or `/me` reply names, keeping this browser's progress aside;
/// true when that is someone else than the page was.
fn student(m: &mut Model, reply: &J) -> bool {
    let c = &mut m.class;
    if c.local.is_none() {
        c.local = Some(std::mem::take(&mut m.labs.done));
    }
    let (name, class) = (reply["student"].text("name"), reply["class"].text("name"));
    let same = matches!(&c.session, Session::Student { name: n, class: k, .. } if n == name && k == class);
    c.resume_shown &= same;
    c.session = Session::Student {
        name: name.to_owned(),
        class: class.to_owned(),
        resume_url: reply.text("resume_url").to_owned(),
    };
    !same
}

/// Whether the join form shows (no class yet, or the session ended).
pub fn form_shown(m: &Model) -> bool {
    !m.class.joined()
}

/// The region's redrawn part: who the student is and their resume link, or why a join failed.
pub fn info(m: &Model) -> String {
    let (lang, c) = (m.lang, &m.class);
    let mut out = String::new();
    if let Some(e) = &c.error {
        let _ = write!(out, "<p class=\"failure\" role=\"alert\">{}</p>", esc(t(lang, e)));
    }
    if c.joining {
        let _ = write!(out, "<p class=\"hint\">{}</p>", esc(t(lang, "class_joining")));
    }
    let Session::Student { name, class, .. } = &c.session else {
        if c.session == Session::Local && c.error.is_none() && !c.joining {
            let _ = write!(out, "<p class=\"hint\">{}</p>", esc(t(lang, "class_local")));
        }
        return out;
    };
    let _ = write!(
        out,
        "<p class=\"class-who\">{} · {} <button type=\"button\" id=\"sign-out\" data-class-signout=\"0\">{}</button></p>",
        esc(name),
        esc(class),
        esc(t(lang, "class_sign_out"))
    );
    if !c.resume_shown {
        let _ = write!(
            out,
            "<button type=\"button\" id=\"resume-show\" data-class-show=\"1\">{}</button>",
            esc(t(lang, "class_show_resume"))
        );
        return out;
    }
    let link = c.resume_link().unwrap_or_default();
    let _ = write!(
        out,
        "<label for=\"resume-link\">{}</label>\
         <div class=\"resume\"><input id=\"resume-link\" class=\"mono\" readonly value=\"{}\">\
         <button type=\"button\" id=\"resume-copy\" data-class-copy=\"0\">{}</button>\
         <button type=\"button\" id=\"resume-hide\" data-class-show=\"0\">{}</button></div>",
        esc(t(lang, "class_resume")),
        esc(&link),
        esc(t(lang, "class_copy")),
        esc(t(lang, "class_hide_resume")),
    );
    let note = match c.copied {
        Some(true) => t(lang, "class_copied"),
        Some(false) => t(lang, "class_copy_by_hand"),
        None => t(lang, "class_resume_hint"),
    };
    let _ = write!(out, "<p class=\"hint\" aria-live=\"polite\">{}</p>", esc(note));
    out
}

/// A short "Name · Class" for the header, empty without a class.
pub fn badge(m: &Model) -> String {
    match &m.class.session {
        Session::Student { name, class, .. } => fill("{name} · {class}", &[("name", name), ("class", class)]),
        _ => String::new(),
    }
}

/// The region's sentences, in English and Chinese (looked up by `i18n::t` after its own table).
pub const TEXT: &[(&str, &str, &str)] = &[
    ("class_title", "Class", "班级"),
    ("class_code", "Join code", "加入码"),
    ("class_name", "Your name", "你的名字"),
    ("class_join", "Join a class", "加入班级"),
    ("class_joining", "Joining…", "正在加入…"),
    (
        "class_local",
        "Not in a class: your lab progress stays in this browser.",
        "未加入班级：实验进度只保存在这个浏览器里。",
    ),
    ("class_resume", "Your personal resume link", "你的个人恢复链接"),
    ("class_copy", "Copy", "复制"),
    ("class_sign_out", "Sign out", "退出登录"),
    ("class_show_resume", "Show my resume link", "显示我的恢复链接"),
    ("class_hide_resume", "Hide", "隐藏"),
    ("class_copied", "Link copied.", "链接已复制。"),
    ("class_copy_by_hand", "Copy the selected link by hand.", "请手动复制已选中的链接。"),
    (
        "class_resume_hint",
        "Open it in another browser to continue there. Keep it to yourself: it is your session.",
        "在另一个浏览器中打开它即可继续。请勿分享：它就是你的会话。",
    ),
    ("class_err_code", "Type the class's join code.", "请输入班级的加入码。"),
    (
        "class_err_name",
        "Type a name of 1 to 40 characters, without control characters.",
        "请输入 1 到 40 个字符的名字，不要包含控制字符。",
    ),
    (
        "class_err_name_taken",
        "Someone in this class already has that name. Pick another.",
        "班里已经有人用了这个名字，请换一个。",
    ),
    (
        "class_err_unknown",
        "No class has that join code. Check it with your instructor.",
        "没有班级使用这个加入码，请向老师确认。",
    ),
    ("class_err_closed", "This class is closed: it takes no new students.", "这个班级已关闭，不再接受新学生。"),
    ("class_err_rate", "Too many tries. Wait a moment and join again.", "尝试次数太多，请稍等片刻再加入。"),
    ("class_err_unreachable", "The gateway did not answer. Try again.", "网关没有回应，请重试。"),
    (
        "class_err_expired",
        "Your class session has ended. Join again with the code, or open your resume link.",
        "你的班级会话已结束。请用加入码重新加入，或打开你的恢复链接。",
    ),
];

#[cfg(test)]
#[path = "class_tests.rs"]
mod tests;
