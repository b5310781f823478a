//! The instructor page's state, everything that can happen to it as one `Msg` enum, and
//! `Model::update`, which applies one message and returns the `Effect`s the page must carry out
//! (HTTP requests with the class secret, opening the event stream). Pure and tested natively.

use serde_json::Value;

use crate::api::{self, Dashboard};
use crate::i18n::Lang;

/// Which request a fetched body answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Req {
    /// `POST /classes/{id}/session`: the cookie the event stream and the CSV link need.
    Session,
    Dashboard,
    /// One student's work.
    Student(String),
    Close,
    Remove(String),
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// The page loaded at this path (`/instructor/{class}`) and fragment (`#key=<secret>`), in
    /// a browser that prefers this language (`navigator.language`), with the secret this tab
    /// kept for the class (under [`store_item`]) when it was loaded before.
    Start {
        path: String,
        hash: String,
        lang: String,
        stored: Option<String>,
    },
    ToggleLang,
    /// A request ended with this HTTP status (0 when it never reached the gateway) and body.
    Fetched(Req, u16, String),
    /// The event stream opened (again); its `ready` event, once subscribed, fetches the roster.
    StreamOpen,
    /// The event stream broke; the browser reconnects by itself.
    StreamError,
    /// An event of the stream: its name and data.
    Event(String, String),
    /// The cell of roster row `.0` and lab column `.1` clicked.
    Cell(usize, usize),
    /// Close the student's panel.
    Back,
    /// "Close the class", asking first.
    AskClose,
    /// "Remove" on roster row `.0`, asking first.
    AskRemove(usize),
    Confirm,
    Cancel,
}

/// What the page must do; `render` performs these and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// An HTTP request with `Authorization: Bearer <key>`; its end comes back as `Msg::Fetched`.
    Fetch { method: &'static str, url: String, key: String, then: Req },
    /// Open the class's event stream (the session cookie authorizes it).
    Listen(String),
    /// Keep the secret in this tab's sessionStorage under `item`, and take it out of the address
    /// bar (and so out of history, synced tabs and a projected screen): the address becomes
    /// `path`.
    Keep { item: String, key: String, path: String },
    /// Forget the secret kept under `item`: the gateway refused it.
    Forget(String),
}

/// The sessionStorage item that keeps the secret of the class at `path`, so a reload works
/// after the secret left the address bar.
pub fn store_item(path: &str) -> Option<String> {
    class_of(path).map(|class| format!("socketlab.instructor.{class}"))
}

/// A destructive action waiting for its confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    Close,
    Remove { id: String, name: String },
}

/// Everything the instructor page shows.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub class: String,
    pub key: String,
    pub dash: Option<Dashboard>,
    pub lang: Lang,
    /// Why the page cannot show the class, or why the last action failed: an i18n key and the
    /// detail its `{detail}` takes.
    pub error: Option<(&'static str, String)>,
    /// Whether the event stream is open.
    pub live: bool,
    /// The open cell: student id and lab id, with the student's work once fetched.
    pub open: Option<(String, String, Option<Value>)>,
    pub ask: Option<Ask>,
    /// Dashboard requests under way, and the changes the stream brought meanwhile: an answer
    /// read before a change but arriving after it must not undo it, so they are applied again.
    loading: usize,
    since: Vec<api::Change>,
}

/// The class id in `/instructor/{id}`, if the path is one.
pub fn class_of(path: &str) -> Option<&str> {
    let id = path.strip_prefix("/instructor/")?.trim_end_matches('/');
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')).then_some(id)
}

/// The secret in a fragment `#key=<secret>` (also among other `&`-separated fields).
pub fn key_of(hash: &str) -> Option<&str> {
    let fields = hash.strip_prefix('#').unwrap_or(hash).split('&');
    fields.filter_map(|f| f.strip_prefix("key=")).find(|k| !k.is_empty())
}

/// Why a request was refused: an i18n key, and the gateway's words where no key says it.
fn refusal(status: u16, body: &str) -> (&'static str, String) {
    let (code, message) = api::error(body);
    let key = match status {
        0 => "err_unreachable",
        401 => "err_key",
        403 => "err_other_class",
        404 => "err_no_class",
        _ => "err_status",
    };
    let detail = if message.is_empty() { status.to_string() } else { format!("{status} {code}: {message}") };
    (key, detail)
}

impl Model {
    fn base(&self) -> String {
        format!("/api/v1/classes/{}", self.class)
    }

    fn fetch(&self, method: &'static str, path: &str, then: Req) -> Effect {
        Effect::Fetch { method, url: format!("{}{path}", self.base()), key: self.key.clone(), then }
    }

    fn reload(&mut self) -> Effect {
        self.loading += 1;
        self.fetch("GET", "", Req::Dashboard)
    }

    /// The grades CSV's address (the session cookie authorizes a plain download).
    pub fn csv_url(&self) -> String {
        format!("{}/grades.csv", self.base())
    }

    /// A dashboard request ended; with none left, the changes kept for them are done with.
    fn loaded(&mut self) {
        self.loading = self.loading.saturating_sub(1);
        if self.loading == 0 {
            self.since.clear();
        }
    }

    /// Applies `msg` and returns what to do.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Start { path, hash, lang, stored } => {
                self.lang = Lang::of(&lang);
                let (Some(class), Some(item)) = (class_of(&path), store_item(&path)) else {
                    self.error = Some(("err_link", String::new()));
                    return Vec::new();
                };
                let mut effects = Vec::new();
                let key = match (key_of(&hash), stored.filter(|k| !k.is_empty())) {
                    (Some(key), _) => {
                        let path = format!("/instructor/{class}");
                        effects.push(Effect::Keep { item, key: key.to_owned(), path });
                        key.to_owned()
                    }
                    (None, Some(kept)) => kept,
                    (None, None) => {
                        self.error = Some(("err_link", String::new()));
                        return Vec::new();
                    }
                };
                (self.class, self.key) = (class.to_owned(), key);
                effects.extend([self.fetch("POST", "/session", Req::Session), self.reload()]);
                return effects;
            }
            Msg::Fetched(req, status, body) if !(200..300).contains(&status) => {
                self.error = Some(refusal(status, &body));
                let forget = (status == 401).then(|| store_item(&format!("/instructor/{}", self.class)));
                match req {
                    Req::Student(_) => self.open = None,
                    Req::Dashboard => self.loaded(),
                    _ => {}
                }
                // A refused secret is not kept for the next reload.
                return forget.flatten().map(Effect::Forget).into_iter().collect();
            }
            Msg::Fetched(Req::Session, ..) => return vec![Effect::Listen(format!("{}/events", self.base()))],
            Msg::Fetched(Req::Dashboard, _, body) => {
                match serde_json::from_str::<Dashboard>(&body) {
                    Ok(mut dash) => {
                        // Changes the answer may predate; each applies once however often.
                        for change in &self.since {
                            dash.apply(change.clone());
                        }
                        self.dash = Some(dash);
                        self.error = None;
                    }
                    Err(e) => self.error = Some(("err_unreadable", e.to_string())),
                }
                self.loaded();
            }
            Msg::Fetched(Req::Student(id), _, body) => match &mut self.open {
                Some((open, _, work)) if *open == id => *work = serde_json::from_str(&body).ok(),
                _ => {}
            },
            Msg::Fetched(Req::Close, ..) => {
                if let Some(d) = &mut self.dash {
                    d.class.closed = true;
                }
            }
            Msg::Fetched(Req::Remove(id), ..) => {
                if let Some(d) = &mut self.dash {
                    d.students.retain(|s| s.id != id);
                }
                self.open = self.open.take().filter(|(s, ..)| *s != id);
            }
            Msg::StreamOpen => self.live = true,
            Msg::StreamError => self.live = false,
            Msg::Event(kind, data) => {
                let change = api::change(&kind, &data);
                if self.loading > 0 {
                    self.since.push(change.clone());
                }
                let removed = match &change {
                    api::Change::Removed { student } => Some(student.clone()),
                    _ => None,
                };
                self.open = self.open.take().filter(|(s, ..)| Some(s) != removed.as_ref());
                let applied = self.dash.as_mut().is_some_and(|d| d.apply(change));
                if !applied {
                    return vec![self.reload()];
                }
            }
            Msg::Cell(row, col) => {
                let Some(d) = &self.dash else { return Vec::new() };
                let (Some(s), Some(lab)) = (d.students.get(row), d.labs.get(col)) else { return Vec::new() };
                self.open = Some((s.id.clone(), lab.id.clone(), None));
                let path = format!("/students/{}", s.id);
                return vec![self.fetch("GET", &path, Req::Student(s.id.clone()))];
            }
            Msg::Back => self.open = None,
            Msg::ToggleLang => self.lang = self.lang.other(),
            Msg::AskClose => self.ask = Some(Ask::Close),
            Msg::AskRemove(row) => {
                let s = self.dash.as_ref().and_then(|d| d.students.get(row));
                self.ask = s.map(|s| Ask::Remove { id: s.id.clone(), name: s.name.clone() });
            }
            Msg::Cancel => self.ask = None,
            Msg::Confirm => {
                return match self.ask.take() {
                    Some(Ask::Close) => vec![self.fetch("POST", "/close", Req::Close)],
                    Some(Ask::Remove { id, .. }) => {
                        vec![self.fetch("DELETE", &format!("/students/{id}"), Req::Remove(id))]
                    }
                    None => Vec::new(),
                };
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
#[path = "update_tests.rs"]
pub(crate) mod tests;
