//! Permalinks on the page. The Share button saves the exchange on screen with
//! `POST /api/v1/saved` and copies its absolute link; where the clipboard is refused, the link
//! waits selected in a read-only field. A page opened at `/x/<id>` is the read-only view: it
//! fetches the saved exchange and shows it the way a live one is shown (timeline, stepping,
//! inspector, code panel), with no WebSocket and no live controls. Pure, like `labs`: `update`
//! returns effects (fetch, copy) that `render` performs and feeds back as messages.

use std::fmt::Write;

use socketlab_proto::saved::SavedExchange;
use socketlab_proto::wire::{ServerMsg, Target};
use socketlab_proto::{Event, Op, Side};

use crate::html::esc;
use crate::i18n::{fill, t};
use crate::json::{J, quote};
use crate::labs::Fetch;
use crate::model::{Exchange, Model, Outcome, View};
use crate::update::Effect;

/// What can happen to sharing.
#[derive(Debug, Clone, PartialEq)]
pub enum ShareMsg {
    /// The Share button, with the page's `location.origin` to make the link absolute.
    Share { origin: String },
    /// The clipboard took the link (`true`) or refused it.
    Copied(bool),
    /// The page was opened at `/x/<id>`: the read-only view of saved exchange `id`.
    Open(String),
}

/// The Share button's state, for the exchange `of` (the page's id for it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Link {
    #[default]
    Idle,
    /// `POST /api/v1/saved` is on its way; the link will start with `origin`.
    Saving {
        of: String,
        origin: String,
    },
    /// Saved; the clipboard was asked to take `url`.
    Copying {
        of: String,
        url: String,
    },
    Copied {
        of: String,
        url: String,
    },
    /// The clipboard refused: `url` is shown selected, to copy by hand.
    Manual {
        of: String,
        url: String,
    },
    /// Saving failed: an i18n key, and the gateway's words for an unexpected failure.
    Failed {
        of: String,
        key: &'static str,
        detail: String,
    },
}

/// The read-only view of a saved exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    Loading(String),
    /// Shown as the model's only exchange; `capture` says a pcapng can be downloaded.
    Shown {
        id: String,
        capture: bool,
    },
    /// No such id, or past the retention.
    Missing,
    /// The gateway could not be asked, or failed: its words.
    Failed(String),
}

/// Sharing's state.
#[derive(Debug, Clone, Default)]
pub struct Share {
    /// The gateway's names of this page's exchanges, by the page's id, from `reply`/`error`.
    names: Vec<(String, String)>,
    pub link: Link,
    /// Set on a `/x/<id>` page: the page is read-only.
    pub saved: Option<Saved>,
}

impl Share {
    /// Notes the gateway's name of an exchange from its `reply` or `error`.
    pub fn saw(&mut self, frame: &ServerMsg) {
        let (id, name) = match frame {
            ServerMsg::Reply(r) => (&r.id, &r.exchange),
            ServerMsg::Error { id: Some(id), exchange, .. } => (id, exchange),
            _ => return,
        };
        // A page id ends once, so it is named once.
        if let Some(name) = name {
            self.names.push((id.clone(), name.clone()));
        }
    }

    /// The gateway's name of this page's exchange `id`, if it has one.
    pub fn name(&self, id: &str) -> Option<&str> {
        self.names.iter().find(|(i, _)| i == id).map(|(_, n)| n.as_str())
    }

    /// Forgets every name: they belonged to a gateway instance this page is no longer on.
    pub fn forget_names(&mut self) {
        self.names.clear();
    }
}

/// Whether the page is the read-only view of a saved exchange.
pub fn read_only(m: &Model) -> bool {
    m.share.saved.is_some()
}

/// The saved id a page path names: `Some` for any `/x/...` path (shaped like an id or not).
pub fn saved_path(path: &str) -> Option<&str> {
    path.strip_prefix("/x/").map(|id| id.strip_suffix('/').unwrap_or(id))
}

/// Whether `id` can be a saved id (letters and digits); anything else is not asked for.
fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The exchange the Share button acts on: the first one on screen, once it has ended.
fn current(m: &Model) -> Option<&Exchange> {
    m.shown().into_iter().next().filter(|x| x.outcome != Outcome::Pending)
}

/// Applies one sharing message.
pub fn update(m: &mut Model, msg: ShareMsg) -> Vec<Effect> {
    match msg {
        ShareMsg::Share { origin } => {
            // One save at a time: its answer is matched to the exchange it was asked for.
            let saving = matches!(m.share.link, Link::Saving { .. });
            let Some(x) = current(m).filter(|_| !read_only(m) && !saving) else { return Vec::new() };
            let of = x.id.clone();
            let Some(name) = m.share.name(&of) else {
                m.share.link = Link::Failed { of, key: "share_unnamed", detail: String::new() };
                return Vec::new();
            };
            let body = format!("{{\"exchange\":{}}}", quote(name));
            m.share.link = Link::Saving { of, origin };
            vec![Effect::Fetch { url: "/api/v1/saved".into(), body: Some(body), then: Fetch::Save }]
        }
        ShareMsg::Copied(ok) => {
            if let Link::Copying { of, url } = &m.share.link {
                let (of, url) = (of.clone(), url.clone());
                m.share.link = if ok { Link::Copied { of, url } } else { Link::Manual { of, url } };
            }
            Vec::new()
        }
        ShareMsg::Open(id) => {
            if !is_id(&id) {
                m.share.saved = Some(Saved::Missing);
                return Vec::new();
            }
            let url = format!("/api/v1/saved/{id}");
            m.share.saved = Some(Saved::Loading(id));
            vec![Effect::Fetch { url, body: None, then: Fetch::Saved }]
        }
    }
}

/// A request of sharing ended with `status` (0 when it never reached the gateway) and `body`.
pub fn fetched(m: &mut Model, then: Fetch, status: u16, body: &str) -> Vec<Effect> {
    let ok = (200..300).contains(&status);
    // Read only when needed: a saved exchange's body can be large, and serde reads it.
    let error = || {
        let reply = J::parse(body);
        let e = reply.as_ref().map(|r| &r["error"]);
        let code = e.and_then(|e| e["code"].as_str()).unwrap_or_default().to_owned();
        let words = e.and_then(|e| e["message"].as_str()).map_or_else(|| format!("HTTP {status}"), str::to_owned);
        (code, words)
    };
    match then {
        Fetch::Save => {
            let Link::Saving { of, origin } = &m.share.link else { return Vec::new() };
            let (of, origin) = (of.clone(), origin.clone());
            if let Some(path) = J::parse(body).filter(|_| ok).and_then(|r| r["url"].as_str().map(str::to_owned)) {
                let url = format!("{origin}{path}");
                m.share.link = Link::Copying { of, url: url.clone() };
                return vec![Effect::Copy(url, crate::update::Copier::Share)];
            }
            let (code, detail) = error();
            let key = match (status, code.as_str()) {
                (0, _) => "share_unreachable",
                (_, "not_found") => "share_expired",
                (_, "too_large") => "share_too_large",
                (_, "rate_limited") => "share_rate_limited",
                _ => "share_failed",
            };
            m.share.link = Link::Failed { of, key, detail };
        }
        Fetch::Saved => {
            let Some(Saved::Loading(id)) = &m.share.saved else { return Vec::new() };
            let id = id.clone();
            let saved = match crate::frame::saved(body) {
                Some(s) if ok => {
                    let capture = s.capture;
                    m.exchanges = vec![exchange_of(s)];
                    m.show(View::Exchange(0));
                    Saved::Shown { id, capture }
                }
                _ if status == 404 => Saved::Missing,
                _ if status == 0 => Saved::Failed(t(m.lang, "share_unreachable").to_owned()),
                _ => Saved::Failed(error().1),
            };
            m.share.saved = Some(saved);
        }
        Fetch::List | Fetch::Lab | Fetch::Check | Fetch::Class(_) => {}
    }
    Vec::new()
}

/// A saved exchange as the page's own: the message and the reply are read off the client's
/// calls (their previews). The time the gateway measured is not saved, so none is shown.
fn exchange_of(s: SavedExchange) -> Exchange {
    let client = |e: &&Event, ops: &[Op]| e.side == Side::Client && ops.contains(&e.op) && e.bytes.unwrap_or(0) > 0;
    let message = s.events.iter().find(|e| client(e, &[Op::Send, Op::Sendto])).and_then(|e| e.preview.clone());
    let reads: Vec<&Event> = s.events.iter().filter(|e| client(e, &[Op::Recv, Op::Recvfrom])).collect();
    // With no reply read, the Reply region of the read-only view says none reached the client.
    let outcome = if reads.is_empty() {
        Outcome::Lost
    } else {
        Outcome::Reply { text: reads.iter().filter_map(|e| e.preview.as_deref()).collect(), elapsed_us: 0 }
    };
    Exchange {
        id: s.id,
        protocol: s.protocol,
        message: message.unwrap_or_default(),
        events: s.events,
        outcome,
        target: Target::Hosted,
        capture: None,
    }
}

fn field(m: &Model, url: &str) -> String {
    format!(
        "<input id=\"share-link\" class=\"share-link\" type=\"text\" readonly value=\"{}\" aria-label=\"{}\">",
        esc(url),
        esc(t(m.lang, "share_link"))
    )
}

/// The Share region under the Reply: the button and what became of the last press.
pub fn panel(m: &Model) -> String {
    let Some(x) = current(m).filter(|_| !read_only(m)) else { return String::new() };
    let lang = m.lang;
    let busy = matches!(&m.share.link, Link::Saving { of, .. } | Link::Copying { of, .. } if *of == x.id);
    let mut out = format!(
        "<button type=\"button\" id=\"share-btn\" data-share=\"1\"{}>{}</button>",
        if busy { " disabled" } else { "" },
        esc(t(lang, "share"))
    );
    let state = |key: &str| format!(" <span class=\"share-state\">{}</span>", esc(t(lang, key)));
    match &m.share.link {
        Link::Saving { of, .. } if *of == x.id => out.push_str(&state("share_saving")),
        Link::Copying { of, url } if *of == x.id => out.push_str(&field(m, url)),
        Link::Copied { of, url } if *of == x.id => {
            out.push_str(&state("share_copied"));
            out.push_str(&field(m, url));
        }
        Link::Manual { of, url } if *of == x.id => {
            out.push_str(&state("share_manual"));
            out.push_str(&field(m, url));
        }
        Link::Failed { of, key, detail } if *of == x.id => {
            let words = fill(t(lang, key), &[("detail", detail)]);
            let _ = write!(out, "<p class=\"failure\" data-code=\"{key}\">{}</p>", esc(&words));
        }
        _ => {}
    }
    out
}

/// Whether the link field should be selected for copying by hand.
pub fn select_link(m: &Model) -> bool {
    matches!(m.share.link, Link::Manual { .. })
}

/// The banner of the read-only view; empty on the live page.
pub fn banner(m: &Model) -> String {
    let lang = m.lang;
    let (class, text) = match &m.share.saved {
        None => return String::new(),
        Some(Saved::Loading(_)) => ("loading", t(lang, "saved_loading").to_owned()),
        Some(Saved::Shown { .. }) => ("shown", t(lang, "saved_banner").to_owned()),
        Some(Saved::Missing) => ("missing", t(lang, "saved_missing").to_owned()),
        Some(Saved::Failed(why)) => ("failed", fill(t(lang, "saved_failed"), &[("detail", why)])),
    };
    let mut out = format!("<p class=\"banner-text\" data-saved=\"{class}\">{}</p>", esc(&text));
    if let Some(Saved::Shown { id, capture: true }) = &m.share.saved {
        let _ = write!(
            out,
            " <a class=\"pcap\" href=\"/api/v1/saved/{}/pcapng\" download>{}</a>",
            esc(id),
            esc(t(lang, "download_pcap"))
        );
    }
    let _ = write!(out, " <a class=\"live-link\" href=\"/\">{}</a>", esc(t(lang, "saved_live")));
    out
}

/// The Reply region of the read-only view (`None` on the live page): the reply the client read,
/// or that none reached it.
pub fn reply(m: &Model) -> Option<String> {
    if !read_only(m) {
        return None;
    }
    Some(match m.shown().first().map(|x| (x, &x.outcome)) {
        Some((x, Outcome::Reply { text, .. })) => format!(
            "<p class=\"answer\"><span class=\"proto\">{}</span> <output class=\"reply-text\">{}</output></p>",
            x.protocol.as_str().to_ascii_uppercase(),
            esc(text)
        ),
        Some(_) => format!("<p class=\"hint\">{}</p>", esc(t(m.lang, "saved_no_reply"))),
        None => String::new(),
    })
}

/// The status badge of the read-only view, which has no connection to show.
pub fn status(m: &Model) -> Option<(&str, &'static str)> {
    read_only(m).then(|| (t(m.lang, "status_saved"), "saved"))
}

#[cfg(test)]
#[path = "share_tests.rs"]
mod tests;
