//! The instructor page's only contact with the DOM: it maps clicks, finished requests and the
//! event stream's events to messages, hands them to `Model::update`, performs the effects that
//! come back and writes the view strings into their regions. It never changes the model itself,
//! and nothing here throws.

use std::cell::RefCell;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element, Event, EventSource, MessageEvent, XmlHttpRequest};

use crate::i18n::{fill, t};
use crate::update::{Effect, Model, Msg};
use crate::view;

/// The events of the class's stream.
const EVENTS: [&str; 7] = ["ready", "lagged", "joined", "progress", "check", "removed", "closed"];

/// A DOM event handler kept alive by its owner.
type Handler = Closure<dyn FnMut(Event)>;

struct App {
    doc: Document,
    model: Model,
    /// The event stream and its handlers, kept as long as the page.
    stream: Option<(EventSource, Vec<Handler>)>,
}

thread_local! {
    static APP: RefCell<Option<App>> = const { RefCell::new(None) };
}

fn with_app<R>(f: impl FnOnce(&mut App) -> R) -> Option<R> {
    APP.with(|cell| cell.try_borrow_mut().ok().and_then(|mut slot| slot.as_mut().map(f)))
}

/// The one way anything changes: update the model, perform its effects, redraw.
fn dispatch(msg: Msg) {
    with_app(|app| {
        for effect in app.model.update(msg) {
            perform(app, effect);
        }
        render(app);
    });
}

fn perform(app: &mut App, effect: Effect) {
    let Some(w) = web_sys::window() else { return };
    match effect {
        Effect::Keep { item, key, path } => {
            if let Ok(Some(s)) = w.session_storage() {
                let _ = s.set_item(&item, &key);
            }
            if let Ok(history) = w.history() {
                let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&path));
            }
        }
        Effect::Forget(item) => {
            if let Ok(Some(s)) = w.session_storage() {
                let _ = s.remove_item(&item);
            }
        }
        Effect::Fetch { method, url, key, then } => fetch(method, &url, &key, then),
        Effect::Listen(url) => {
            if app.stream.is_some() {
                return;
            }
            let Ok(source) = EventSource::new(&url) else { return };
            let mut handlers = Vec::new();
            for kind in EVENTS {
                let on = Handler::new(move |e: Event| {
                    let data = e.dyn_ref::<MessageEvent>().and_then(|m| m.data().as_string()).unwrap_or_default();
                    dispatch(Msg::Event(kind.to_owned(), data));
                });
                let _ = source.add_event_listener_with_callback(kind, on.as_ref().unchecked_ref());
                handlers.push(on);
            }
            let open = Handler::new(|_e: Event| dispatch(Msg::StreamOpen));
            let error = Handler::new(|_e: Event| dispatch(Msg::StreamError));
            source.set_onopen(Some(open.as_ref().unchecked_ref()));
            source.set_onerror(Some(error.as_ref().unchecked_ref()));
            handlers.extend([open, error]);
            app.stream = Some((source, handlers));
        }
    }
}

/// One request with the class secret; its end, whatever it is, comes back as one message.
fn fetch(method: &str, url: &str, key: &str, then: crate::update::Req) {
    let Ok(xhr) = XmlHttpRequest::new() else { return };
    let x = xhr.clone();
    let done = Closure::once_into_js(move || {
        let status = x.status().unwrap_or(0);
        let text = x.response_text().ok().flatten().unwrap_or_default();
        dispatch(Msg::Fetched(then, status, text));
    });
    xhr.set_onloadend(Some(done.unchecked_ref()));
    if xhr.open(method, url).is_ok() {
        let _ = xhr.set_request_header("authorization", &format!("Bearer {key}"));
        if method == "POST" {
            let _ = xhr.set_request_header("content-type", "application/json");
            let _ = xhr.send_with_opt_str(Some("{}"));
        } else {
            let _ = xhr.send();
        }
    }
}

/// The `data-*` value of the clicked element or its nearest ancestor that has one.
fn clicked(e: &Event, attr: &str) -> Option<usize> {
    let target = e.target()?.dyn_into::<Element>().ok()?;
    let holder = target.closest(&format!("[{attr}]")).ok()??;
    holder.get_attribute(attr)?.parse().ok()
}

/// Starts the page when the module loads.
#[wasm_bindgen(start)]
pub fn start() {
    let Some(w) = web_sys::window() else { return };
    let Some(doc) = w.document() else { return };
    APP.with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = Some(App { doc: doc.clone(), model: Model::default(), stream: None });
        }
    });
    let on_click = Closure::<dyn FnMut(Event)>::new(|e: Event| {
        let msg = if let (Some(r), Some(c)) = (clicked(&e, "data-row"), clicked(&e, "data-col")) {
            Msg::Cell(r, c)
        } else if let Some(r) = clicked(&e, "data-ask-remove") {
            Msg::AskRemove(r)
        } else if clicked(&e, "data-ask-close").is_some() {
            Msg::AskClose
        } else if clicked(&e, "data-confirm").is_some() {
            Msg::Confirm
        } else if clicked(&e, "data-cancel").is_some() {
            Msg::Cancel
        } else if clicked(&e, "data-back").is_some() {
            Msg::Back
        } else if clicked(&e, "data-lang").is_some() {
            Msg::ToggleLang
        } else {
            return;
        };
        dispatch(msg);
    });
    let _ = doc.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref());
    // The page's one click handler lives as long as the page.
    on_click.forget();
    let location = w.location();
    let (path, hash) = (location.pathname().unwrap_or_default(), location.hash().unwrap_or_default());
    let lang = w.navigator().language().unwrap_or_default();
    let session = w.session_storage().ok().flatten();
    let stored = crate::update::store_item(&path).zip(session).and_then(|(item, s)| s.get_item(&item).ok().flatten());
    dispatch(Msg::Start { path, hash, lang, stored });
}

fn set_html(doc: &Document, id: &str, html: &str) {
    if let Some(el) = doc.get_element_by_id(id) {
        if el.inner_html() != html {
            el.set_inner_html(html);
        }
    }
}

fn render(app: &mut App) {
    let (doc, m) = (&app.doc, &app.model);
    if let Some(root) = doc.document_element() {
        let _ = root.set_attribute("lang", m.lang.code());
    }
    if let Some(d) = &m.dash {
        doc.set_title(&fill(t(m.lang, "title"), &[("class", &d.class.name)]));
    }
    if let Some(el) = doc.get_element_by_id("lang") {
        el.set_text_content(Some(t(m.lang, "lang_toggle")));
    }
    set_html(doc, "error", &view::error(m));
    set_html(doc, "header", &view::header(m));
    set_html(doc, "confirm", &view::confirm(m));
    set_html(doc, "grid", &m.dash.as_ref().map(|d| view::grid(m.lang, d)).unwrap_or_default());
    set_html(doc, "student", &view::student(m));
}
