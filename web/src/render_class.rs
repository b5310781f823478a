//! The class region's part of the render layer (a child of `render`, which stays the only module
//! that touches the DOM): the join form's and the copy button's events, and the region's redraw
//! (the clipboard is `render_share`'s, for both), and closing the WebSocket when the page's
//! identity changes, so that `connect` opens one that carries the new cookie.

use wasm_bindgen::JsCast;
use web_sys::{Document, HtmlInputElement};

use super::{dispatch, input_value, listen, on_item, set_html};
use crate::class::{self, ClassMsg};
use crate::model::Model;
use crate::update::Msg;

/// Asks the gateway whose page this is.
pub(super) fn start() {
    let origin = web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default();
    dispatch(Msg::Class(ClassMsg::Start { origin }));
}

pub(super) fn wire(doc: &Document) {
    let d = doc.clone();
    listen(doc, "join-form", "submit", move |e| {
        e.prevent_default();
        dispatch(Msg::Class(ClassMsg::Join {
            code: input_value(&d, "class-code"),
            name: input_value(&d, "class-name"),
        }));
    });
    on_item(doc, "class-info", "data-class-copy", |_| Msg::Class(ClassMsg::Copy));
    on_item(doc, "class-info", "data-class-signout", |_| Msg::Class(ClassMsg::SignOut));
    on_item(doc, "class-info", "data-class-show", |show| Msg::Class(ClassMsg::ShowResume(show == 1)));
}

/// The region's redrawn part, the form shown only without a class, and the header's badge.
pub(super) fn render(doc: &Document, m: &Model) {
    let before = doc.get_element_by_id("class-info").map(|el| el.inner_html());
    let html = class::info(m);
    set_html(doc, "class-info", &html);
    // Selected once, when the clipboard refused, for copying by hand.
    if m.class.copied == Some(false) && before.as_deref() != Some(html.as_str()) {
        if let Some(input) = doc.get_element_by_id("resume-link").and_then(|e| e.dyn_into::<HtmlInputElement>().ok()) {
            let _ = input.focus();
            input.select();
        }
    }
    // The CSS hides the join form in a class.
    if let Some(root) = doc.document_element() {
        let state = if class::form_shown(m) { "out" } else { "in" };
        if root.get_attribute("data-class").as_deref() != Some(state) {
            let _ = root.set_attribute("data-class", state);
        }
    }
    if let Some(el) = doc.get_element_by_id("class-badge") {
        el.set_text_content(Some(&class::badge(m)));
    }
}

/// Closes a socket still open (the page's identity changed, or two reconnections were scheduled)
/// quietly: its handlers are detached first, so no `Closed` follows and nothing calls a handler
/// once `connect` drops it.
pub(super) fn retire(app: &mut super::App) {
    if let Some(old) = app.ws.take() {
        old.set_onmessage(None);
        old.set_onclose(None);
        old.set_onerror(None);
        let _ = old.close();
    }
}
