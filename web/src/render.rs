//! The only module that touches the DOM. It maps DOM and WebSocket events to `Msg`s, hands them
//! to `Model::update`, performs the `Effect`s that come back (send a frame, start or stop the one
//! play timer, reconnect later) and writes the view strings into their regions. It never changes
//! the model itself. Nothing here throws: every failure is handled or shown on the page.

use std::cell::RefCell;

use socketlab_proto::check::Program;
use socketlab_proto::wire::Protocol;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{
    Document, Element, Event, HtmlInputElement, HtmlSelectElement, KeyboardEvent, MessageEvent, WebSocket,
    XmlHttpRequest,
};

use crate::code::CodeLang;
use crate::i18n::t;
use crate::labs::{self, Fetch, LabMsg};
use crate::model::Model;
use crate::update::{Effect, Msg};
use crate::{checks, detail, view};

#[path = "render_class.rs"]
mod class_dom;
#[path = "render_share.rs"]
mod share;

/// Milliseconds between steps while playing.
const PLAY_MS: i32 = 700;

struct App {
    doc: Document,
    model: Model,
    ws: Option<WebSocket>,
    /// The current socket's handlers, dropped with it.
    ws_handlers: Vec<Closure<dyn FnMut(Event)>>,
    /// The play timer's one callback, made once and reused by every Play.
    tick: Closure<dyn FnMut()>,
    /// The running play interval, cleared before another starts.
    play_timer: Option<i32>,
}

thread_local! {
    static APP: RefCell<Option<App>> = const { RefCell::new(None) };
}

fn with_app<R>(f: impl FnOnce(&mut App) -> R) -> Option<R> {
    APP.with(|cell| cell.try_borrow_mut().ok().and_then(|mut slot| slot.as_mut().map(f)))
}

/// Milliseconds on the page's monotonic clock.
fn now() -> u64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0, |p| p.now() as u64)
}

/// The one way anything changes: update the model, perform its effects, redraw.
fn dispatch(msg: Msg) {
    with_app(|app| {
        for effect in app.model.update(msg, now()) {
            perform(app, effect);
        }
        render(app);
    });
}

fn perform(app: &mut App, effect: Effect) {
    let Some(w) = web_sys::window() else { return };
    match effect {
        Effect::Send(frame) => {
            if let (Some(ws), Ok(text)) = (&app.ws, serde_json::to_string(&frame)) {
                if ws.ready_state() == WebSocket::OPEN {
                    let _ = ws.send_with_str(&text);
                }
            }
        }
        Effect::StartTimer => {
            if let Some(id) = app.play_timer.take() {
                w.clear_interval_with_handle(id);
            }
            app.play_timer = w
                .set_interval_with_callback_and_timeout_and_arguments_0(app.tick.as_ref().unchecked_ref(), PLAY_MS)
                .ok();
        }
        Effect::StopTimer => {
            if let Some(id) = app.play_timer.take() {
                w.clear_interval_with_handle(id);
            }
        }
        Effect::Reconnect { after_ms } => {
            class_dom::retire(app);
            let again = Closure::once_into_js(connect);
            let delay = i32::try_from(after_ms).unwrap_or(i32::MAX);
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(again.unchecked_ref(), delay);
        }
        Effect::Fetch { url, body, then } => fetch(&url, body.as_deref(), then),
        Effect::Copy(text, copier) => share::copy(&text, copier),
        Effect::Save(text) => {
            if let Ok(Some(store)) = w.local_storage() {
                let _ = store.set_item(labs::STORE_KEY, &text);
            }
        }
    }
}

/// One request to the gateway; its end, whatever it is, comes back as one `Fetched` message.
fn fetch(url: &str, body: Option<&str>, then: Fetch) {
    let Ok(xhr) = XmlHttpRequest::new() else { return };
    let x = xhr.clone();
    let done = Closure::once_into_js(move || {
        let status = x.status().unwrap_or(0);
        let text = x.response_text().ok().flatten().unwrap_or_default();
        dispatch(Msg::fetched(then, status, text));
    });
    xhr.set_onloadend(Some(done.unchecked_ref()));
    if xhr.open(crate::class::method(then, body.is_some()), url).is_ok() {
        let _ = xhr.set_request_header("content-type", "application/json");
        let _ = xhr.send_with_opt_str(body);
    }
}

/// Starts the app when the module loads.
#[wasm_bindgen(start)]
pub fn start() {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    APP.with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = Some(App {
                doc: doc.clone(),
                model: Model::default(),
                ws: None,
                ws_handlers: Vec::new(),
                tick: Closure::new(|| dispatch(Msg::Tick)),
                play_timer: None,
            });
        }
    });
    wire(&doc);
    with_app(render);
    // A shared exchange's page is read-only: no WebSocket, no labs.
    if share::open_saved() {
        return;
    }
    connect();
    let stored = web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(labs::STORE_KEY).ok().flatten());
    dispatch(Msg::Lab(LabMsg::Restore(stored.unwrap_or_default())));
    class_dom::start();
}

fn listen(doc: &Document, id: &str, kind: &str, f: impl FnMut(Event) + 'static) {
    if let Some(el) = doc.get_element_by_id(id) {
        let closure = Closure::<dyn FnMut(Event)>::new(f);
        let _ = el.add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
        // The page's own controls live as long as the page.
        closure.forget();
    }
}

/// Sends `msg` whenever `id` fires `kind`.
fn on(doc: &Document, id: &str, kind: &str, msg: impl Fn() -> Msg + 'static) {
    listen(doc, id, kind, move |_| dispatch(msg()));
}

fn input_value(doc: &Document, id: &str) -> String {
    doc.get_element_by_id(id).and_then(|e| e.dyn_into::<HtmlInputElement>().ok()).map(|i| i.value()).unwrap_or_default()
}

fn select_value(doc: &Document, id: &str) -> String {
    doc.get_element_by_id(id)
        .and_then(|e| e.dyn_into::<HtmlSelectElement>().ok())
        .map(|s| s.value())
        .unwrap_or_default()
}

fn checked(doc: &Document, id: &str) -> bool {
    doc.get_element_by_id(id).and_then(|e| e.dyn_into::<HtmlInputElement>().ok()).is_some_and(|i| i.checked())
}

/// The `data-*` value of the clicked element or its nearest ancestor that has one.
fn clicked(e: &Event, attr: &str) -> Option<usize> {
    let target = e.target()?.dyn_into::<Element>().ok()?;
    let holder = target.closest(&format!("[{attr}]")).ok()??;
    holder.get_attribute(attr)?.parse().ok()
}

/// Maps a click inside `id` on an element carrying `attr` to a message.
fn on_item(doc: &Document, id: &str, attr: &'static str, msg: fn(usize) -> Msg) {
    listen(doc, id, "click", move |e| {
        if let Some(n) = clicked(&e, attr) {
            dispatch(msg(n));
        }
    });
}

fn wire(doc: &Document) {
    let d = doc.clone();
    listen(doc, "controls", "submit", move |e| {
        e.prevent_default();
        let protocol = if checked(&d, "proto-tcp") { Protocol::Tcp } else { Protocol::Udp };
        // Read when sending, so a choice the browser restored after a reload counts too.
        dispatch(Msg::Impair(select_value(&d, "impair")));
        dispatch(Msg::Send { protocol, message: input_value(&d, "message") });
    });
    let d = doc.clone();
    listen(doc, "compare", "click", move |_| {
        dispatch(Msg::Impair(select_value(&d, "impair")));
        dispatch(Msg::Compare { message: input_value(&d, "message") });
    });
    for (id, protocol) in [("closed-udp", Protocol::Udp), ("closed-tcp", Protocol::Tcp)] {
        let d = doc.clone();
        on(doc, id, "click", move || Msg::ClosedPort { protocol, message: input_value(&d, "message") });
    }
    let d = doc.clone();
    listen(doc, "check-form", "submit", move |e| {
        e.prevent_default();
        let program = Program::parse(&select_value(&d, "check-program")).unwrap_or(Program::UdpServer);
        dispatch(Msg::RunCheck { program, target: select_value(&d, "check-target") });
    });
    on_item(doc, "check-items", "data-check-item", Msg::OpenCheckItem);
    let d = doc.clone();
    on(doc, "live", "change", move || Msg::Live(checked(&d, "live")));
    on(doc, "step-back", "click", || Msg::Step(-1));
    on(doc, "step-fwd", "click", || Msg::Step(1));
    on(doc, "play", "click", || Msg::TogglePlay);
    on(doc, "lang", "click", || Msg::ToggleLang);
    on(doc, "code-python", "click", || Msg::Code(CodeLang::Python));
    on(doc, "code-rust", "click", || Msg::Code(CodeLang::Rust));
    on_item(doc, "timeline", "data-step", Msg::Select);
    on_item(doc, "history", "data-open", Msg::OpenExchange);
    on_item(doc, "live-list", "data-live", Msg::OpenLive);
    wire_labs(doc);
    share::wire(doc);
    class_dom::wire(doc);
    let keys = Closure::<dyn FnMut(Event)>::new(|e: Event| {
        let Some(key) = e.dyn_ref::<KeyboardEvent>() else {
            return;
        };
        let typing = e
            .target()
            .and_then(|t| t.dyn_into::<Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        let delta = match key.key().as_str() {
            "ArrowRight" => 1,
            "ArrowLeft" => -1,
            _ => return,
        };
        if !typing {
            e.prevent_default();
            dispatch(Msg::Step(delta));
        }
    });
    let _ = doc.add_event_listener_with_callback("keydown", keys.as_ref().unchecked_ref());
    keys.forget();
}

fn wire_labs(doc: &Document) {
    let d = doc.clone();
    listen(doc, "labs", "click", move |e| {
        let msg = if let Some(i) = clicked(&e, "data-lab") {
            LabMsg::Open(i)
        } else if let Some(i) = clicked(&e, "data-lab-step") {
            LabMsg::Step(i)
        } else if let Some(i) = clicked(&e, "data-lab-action") {
            LabMsg::Action(i, input_value(&d, "message"))
        } else if let Some(i) = clicked(&e, "data-lab-look") {
            LabMsg::Look(i)
        } else if clicked(&e, "data-lab-reset").is_some() {
            LabMsg::Reset
        } else if clicked(&e, "data-lab-close").is_some() {
            LabMsg::Close
        } else {
            return;
        };
        dispatch(Msg::Lab(msg));
    });
    listen(doc, "labs", "input", |e| {
        let input = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok());
        if let Some((q, input)) = input.and_then(|i| Some((i.get_attribute("data-q")?, i))) {
            dispatch(Msg::Lab(LabMsg::Answer(q, input.value())));
        }
    });
    listen(doc, "labs", "submit", |e| {
        e.prevent_default();
        dispatch(Msg::Lab(LabMsg::Check));
    });
}

fn ws_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" { "wss" } else { "ws" };
    Some(format!("{scheme}://{}/api/v1/ws", location.host().ok()?))
}

fn connect() {
    let Some(ws) = ws_url().and_then(|url| WebSocket::new(&url).ok()) else {
        dispatch(Msg::Closed);
        return;
    };
    let on_message = Closure::<dyn FnMut(Event)>::new(|e: Event| {
        let text = e.dyn_ref::<MessageEvent>().and_then(|m| m.data().as_string());
        if let Some(frame) = text.and_then(|t| crate::frame::parse(&t)) {
            dispatch(Msg::Frame(Box::new(frame)));
        }
    });
    let on_close = Closure::<dyn FnMut(Event)>::new(|_e: Event| dispatch(Msg::Closed));
    // Errors are followed by `close`, which does the work; nothing to log.
    let on_error = Closure::<dyn FnMut(Event)>::new(|_e: Event| {});
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    with_app(|app| {
        class_dom::retire(app); // two reconnections may have been scheduled
        app.ws = Some(ws);
        app.ws_handlers = vec![on_message, on_close, on_error];
    });
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
    let lang = m.lang;
    if let Some(root) = doc.document_element() {
        let _ = root.set_attribute("lang", lang.code());
    }
    doc.set_title(t(lang, "title"));
    if let Ok(nodes) = doc.query_selector_all("[data-i18n]") {
        for i in 0..nodes.length() {
            if let Some(el) = nodes.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                if let Some(key) = el.get_attribute("data-i18n") {
                    el.set_text_content(Some(t(lang, &key)));
                }
            }
        }
    }
    if let Some(input) = doc.get_element_by_id("message") {
        let _ = input.set_attribute("placeholder", t(lang, "message_placeholder"));
    }
    let (status_text, status_class) = crate::share::status(m).unwrap_or_else(|| view::status(m));
    if let Some(el) = doc.get_element_by_id("status") {
        el.set_text_content(Some(status_text));
        let _ = el.set_attribute("class", &format!("status {status_class}"));
    }
    if let Some(el) = doc.get_element_by_id("play") {
        el.set_text_content(Some(t(lang, if m.playing { "pause" } else { "play" })));
    }
    for (id, on) in [("code-python", m.code_lang == CodeLang::Python), ("code-rust", m.code_lang == CodeLang::Rust)] {
        if let Some(el) = doc.get_element_by_id(id) {
            let _ = el.set_attribute("aria-pressed", if on { "true" } else { "false" });
        }
    }
    if let Some(el) = doc.get_element_by_id("live").and_then(|e| e.dyn_into::<HtmlInputElement>().ok()) {
        el.set_checked(m.want_live);
    }
    if let Some(el) = doc.get_element_by_id("capture") {
        el.set_text_content(Some(&view::capture(m)));
    }
    set_html(doc, "reply", &crate::share::reply(m).unwrap_or_else(|| view::reply(m)));
    share::draw(doc, m);
    set_html(doc, "timeline", &view::timeline(m));
    set_html(doc, "step-label", &crate::html::esc(&view::step_label(m)));
    set_html(doc, "inspector", &detail::inspector(m));
    set_html(doc, "code", &detail::code(m));
    set_html(doc, "states", &detail::states(m));
    set_html(doc, "history", &view::history(m));
    set_html(doc, "live-list", &view::live(m));
    set_html(doc, "check-target", &checks::targets(m));
    set_html(doc, "check-items", &checks::panel(m));
    class_dom::render(doc, m);
    set_html(doc, "lab-body", &labs::body(m));
    set_html(doc, "lab-result", &labs::result(m));
    // The answer boxes show what the model holds, so a redraw never loses what was typed.
    if let Ok(nodes) = doc.query_selector_all("#labs input[data-q]") {
        for input in (0..nodes.length()).filter_map(|i| nodes.item(i)?.dyn_into::<HtmlInputElement>().ok()) {
            let q = input.get_attribute("data-q").unwrap_or_default();
            let text = m.labs.answers.iter().find(|(id, _)| *id == q).map_or("", |(_, a)| a.as_str());
            if input.value() != text {
                input.set_value(text);
            }
        }
    }
}
