//! The class region's part of the render layer (a child of `render`, which stays the only module
//! that touches the DOM): the join form's and the copy button's events, the clipboard, and the
//! region's redraw.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Document, HtmlInputElement};

use super::{clicked, dispatch, input_value, listen, set_html};
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
    listen(doc, "class-info", "click", |e| {
        if clicked(&e, "data-class-copy").is_some() {
            dispatch(Msg::Class(ClassMsg::Copy));
        }
    });
}

/// Puts `text` on the clipboard; where the browser refuses (no permission, or no Clipboard API
/// outside a secure context), selects the link for copying by hand.
pub(super) fn copy(w: &web_sys::Window, text: &str) {
    let done = |ok: bool| {
        Closure::once_into_js(move |_: JsValue| {
            dispatch(Msg::Class(ClassMsg::Copied(ok)));
            let field = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("resume-link"));
            if let Some(input) = field.and_then(|e| e.dyn_into::<HtmlInputElement>().ok()).filter(|_| !ok) {
                input.select();
            }
        })
    };
    let nav = w.navigator();
    let api = js_sys::Reflect::get(&nav, &JsValue::from_str("clipboard")).ok().filter(|c| c.is_object());
    let Some(clipboard) = api.and_then(|c| c.dyn_into::<web_sys::Clipboard>().ok()) else {
        // Later, not now: this runs inside a dispatch, which cannot take another.
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(done(false).unchecked_ref(), 0);
        return;
    };
    let promise = clipboard.write_text(text);
    let then = js_sys::Reflect::get(&promise, &JsValue::from_str("then")).ok();
    if let Some(then) = then.and_then(|f| f.dyn_into::<js_sys::Function>().ok()) {
        let _ = then.call2(&promise, &done(true), &done(false));
    }
}

/// The region's redrawn part, the form shown only without a class, and the header's badge.
pub(super) fn render(doc: &Document, m: &Model) {
    set_html(doc, "class-info", &class::info(m));
    if let Some(form) = doc.get_element_by_id("join-form") {
        let _ = form.toggle_attribute_with_force("hidden", !class::form_shown(m));
    }
    if let Some(el) = doc.get_element_by_id("class-badge") {
        el.set_text_content(Some(&class::badge(m)));
    }
}
