//! The only module that touches the DOM: wires the page's controls to the model, keeps the
//! WebSocket (reconnecting after a gateway restart) and writes the view strings into their
//! regions. Nothing here throws: every failure is handled or shown on the page.

use std::cell::RefCell;

use socketlab_proto::wire::{ClientMsg, Protocol, Scope, ServerMsg, Target};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, Document, Element, Event, HtmlInputElement, KeyboardEvent, MessageEvent, WebSocket};

use crate::code::CodeLang;
use crate::i18n::t;
use crate::model::{Model, Status, View};
use crate::{detail, view};

/// Milliseconds between steps while playing.
const PLAY_MS: i32 = 700;
/// Longest wait between reconnection attempts.
const MAX_RETRY_MS: i32 = 5000;

struct App {
    doc: Document,
    model: Model,
    ws: Option<WebSocket>,
    /// The current socket's handlers, dropped with it.
    ws_handlers: Vec<Closure<dyn FnMut(Event)>>,
    retry_ms: i32,
    play_timer: Option<i32>,
}

thread_local! {
    static APP: RefCell<Option<App>> = const { RefCell::new(None) };
}

fn with_app<R>(f: impl FnOnce(&mut App) -> R) -> Option<R> {
    APP.with(|cell| cell.try_borrow_mut().ok().and_then(|mut slot| slot.as_mut().map(f)))
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
                retry_ms: 500,
                play_timer: None,
            });
        }
    });
    wire(&doc);
    connect();
    with_app(render);
}

fn listen(doc: &Document, id: &str, kind: &str, f: impl FnMut(Event) + 'static) {
    if let Some(el) = doc.get_element_by_id(id) {
        let closure = Closure::<dyn FnMut(Event)>::new(f);
        let _ = el.add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
        // The page's own controls live as long as the page.
        closure.forget();
    }
}

fn input_value(doc: &Document, id: &str) -> String {
    doc.get_element_by_id(id).and_then(|e| e.dyn_into::<HtmlInputElement>().ok()).map(|i| i.value()).unwrap_or_default()
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

/// Sends the frames `make` builds when connected; otherwise says the page is reconnecting.
fn begin(make: impl FnOnce(&mut Model) -> Vec<ClientMsg>) {
    with_app(|app| {
        if app.model.status != Status::Connected {
            app.model.notice = Some("status_reconnecting".into());
        } else {
            for frame in make(&mut app.model) {
                send(app, &frame);
            }
        }
        render(app);
    });
}

fn wire(doc: &Document) {
    let d = doc.clone();
    listen(doc, "controls", "submit", move |e| {
        e.prevent_default();
        let message = input_value(&d, "message");
        let protocol = if checked(&d, "proto-tcp") { Protocol::Tcp } else { Protocol::Udp };
        begin(|m| m.start(protocol, &message, Target::Hosted).into_iter().collect());
    });
    let d = doc.clone();
    listen(doc, "compare", "click", move |_| {
        let message = input_value(&d, "message");
        begin(|m| m.compare(&message).map(Vec::from).unwrap_or_default());
    });
    for (id, protocol) in [("closed-udp", Protocol::Udp), ("closed-tcp", Protocol::Tcp)] {
        let d = doc.clone();
        listen(doc, id, "click", move |_| {
            let typed = input_value(&d, "message");
            let message = if typed.is_empty() { "hello".to_owned() } else { typed };
            begin(|m| m.start(protocol, &message, Target::ClosedPort).into_iter().collect());
        });
    }
    let d = doc.clone();
    listen(doc, "live", "change", move |_| {
        let scope = if checked(&d, "live") { Scope::All } else { Scope::Own };
        with_app(|app| send(app, &ClientMsg::Subscribe { scope }));
    });
    listen(doc, "step-back", "click", |_| step(-1));
    listen(doc, "step-fwd", "click", |_| step(1));
    listen(doc, "play", "click", |_| toggle_play());
    listen(doc, "lang", "click", |_| {
        with_app(|app| {
            app.model.lang = app.model.lang.other();
            render(app);
        });
    });
    listen(doc, "code-python", "click", |_| set_code(CodeLang::Python));
    listen(doc, "code-rust", "click", |_| set_code(CodeLang::Rust));
    listen(doc, "timeline", "click", |e| {
        if let Some(n) = clicked(&e, "data-step") {
            with_app(|app| {
                app.model.step = n;
                render(app);
            });
        }
    });
    listen(doc, "history", "click", |e| {
        if let Some(n) = clicked(&e, "data-open") {
            with_app(|app| {
                app.model.show(View::Exchange(n));
                render(app);
            });
        }
    });
    listen(doc, "live-list", "click", |e| {
        if let Some(n) = clicked(&e, "data-live") {
            with_app(|app| {
                app.model.show(View::Live(n));
                render(app);
            });
        }
    });
    let keys = Closure::<dyn FnMut(Event)>::new(|e: Event| {
        let Some(key) = e.dyn_ref::<KeyboardEvent>() else {
            return;
        };
        let typing = e
            .target()
            .and_then(|t| t.dyn_into::<Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        if typing {
            return;
        }
        match key.key().as_str() {
            "ArrowRight" => {
                e.prevent_default();
                step(1);
            }
            "ArrowLeft" => {
                e.prevent_default();
                step(-1);
            }
            _ => {}
        }
    });
    let _ = doc.add_event_listener_with_callback("keydown", keys.as_ref().unchecked_ref());
    keys.forget();
}

fn set_code(lang: CodeLang) {
    with_app(|app| {
        app.model.code_lang = lang;
        render(app);
    });
}

fn step(delta: i64) {
    with_app(|app| {
        app.model.playing = false;
        stop_timer(app);
        app.model.step_by(delta);
        render(app);
    });
}

fn stop_timer(app: &mut App) {
    if let (Some(id), Some(w)) = (app.play_timer.take(), web_sys::window()) {
        w.clear_interval_with_handle(id);
    }
}

fn toggle_play() {
    with_app(|app| {
        stop_timer(app);
        app.model.playing = !app.model.playing;
        if app.model.playing {
            if app.model.step + 1 >= app.model.steps() {
                app.model.step = 0;
            }
            let tick = Closure::<dyn FnMut()>::new(|| {
                with_app(|app| {
                    app.model.tick();
                    if !app.model.playing {
                        stop_timer(app);
                    }
                    render(app);
                });
            });
            if let Some(w) = web_sys::window() {
                app.play_timer = w
                    .set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), PLAY_MS)
                    .ok();
            }
            tick.forget();
        }
        render(app);
    });
}

fn send(app: &App, frame: &ClientMsg) {
    if let (Some(ws), Ok(text)) = (&app.ws, serde_json::to_string(frame)) {
        if ws.ready_state() == WebSocket::OPEN {
            let _ = ws.send_with_str(&text);
        }
    }
}

fn ws_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" { "wss" } else { "ws" };
    Some(format!("{scheme}://{}/api/v1/ws", location.host().ok()?))
}

fn connect() {
    let Some(url) = ws_url() else { return };
    let Ok(ws) = WebSocket::new(&url) else {
        schedule_reconnect();
        return;
    };
    let on_message = Closure::<dyn FnMut(Event)>::new(|e: Event| {
        let Some(text) = e.dyn_ref::<MessageEvent>().and_then(|m| m.data().as_string()) else {
            return;
        };
        if let Ok(msg) = serde_json::from_str::<ServerMsg>(&text) {
            with_app(|app| {
                let hello = matches!(msg, ServerMsg::Hello(_));
                app.model.receive(msg);
                if hello {
                    app.retry_ms = 500;
                    // A reconnected socket starts unsubscribed; restore the live view.
                    if checked(&app.doc, "live") {
                        send(app, &ClientMsg::Subscribe { scope: Scope::All });
                    }
                }
                render(app);
            });
        }
    });
    let on_close = Closure::<dyn FnMut(Event)>::new(|e: Event| {
        let _ = e.dyn_ref::<CloseEvent>();
        with_app(|app| {
            app.ws = None;
            app.model.disconnected();
            render(app);
        });
        schedule_reconnect();
    });
    // Errors are followed by `close`, which does the work; nothing to log.
    let on_error = Closure::<dyn FnMut(Event)>::new(|_e: Event| {});
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    with_app(|app| {
        app.ws = Some(ws);
        app.ws_handlers = vec![on_message, on_close, on_error];
    });
}

fn schedule_reconnect() {
    let delay = with_app(|app| {
        let d = app.retry_ms;
        app.retry_ms = (app.retry_ms * 2).min(MAX_RETRY_MS);
        d
    })
    .unwrap_or(1000);
    let again = Closure::once_into_js(connect);
    if let Some(w) = web_sys::window() {
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(again.unchecked_ref(), delay);
    }
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
    let (status_text, status_class) = view::status(m);
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
        if m.status == Status::Connected {
            el.set_checked(m.live || el.checked());
        }
    }
    if let Some(el) = doc.get_element_by_id("capture") {
        el.set_text_content(Some(&view::capture(m)));
    }
    set_html(doc, "reply", &view::reply(m));
    set_html(doc, "timeline", &view::timeline(m));
    set_html(doc, "step-label", &crate::html::esc(&view::step_label(m)));
    set_html(doc, "inspector", &detail::inspector(m));
    set_html(doc, "code", &detail::code(m));
    set_html(doc, "states", &detail::states(m));
    set_html(doc, "history", &view::history(m));
    set_html(doc, "live-list", &view::live(m));
}
