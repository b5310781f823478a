//! The DOM side of sharing, part of `render` (the only layer that touches `web-sys`): the
//! Share button's click, the Clipboard API with its refusal turned into a message, the
//! `/x/<id>` path that makes the page read-only, and the banner and Share regions.

use std::cell::RefCell;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Document, HtmlInputElement};

use super::{dispatch, on_item, set_html};
use crate::model::Model;
use crate::share::{self, ShareMsg};
use crate::update::{Copier, Msg};

/// A promise's callback.
type Settled = Closure<dyn FnMut(JsValue)>;

thread_local! {
    /// The last copy's two promise callbacks, kept until the next copy replaces them.
    static COPY: RefCell<Vec<Settled>> = const { RefCell::new(Vec::new()) };
}

/// Opens the read-only view when the page's path is `/x/<id>`; returns whether it did, in
/// which case the page opens no WebSocket.
pub(super) fn open_saved() -> bool {
    let path = web_sys::window().and_then(|w| w.location().pathname().ok()).unwrap_or_default();
    let Some(id) = share::saved_path(&path) else { return false };
    dispatch(Msg::Share(ShareMsg::Open(id.to_owned())));
    true
}

pub(super) fn wire(doc: &Document) {
    on_item(doc, "share", "data-share", |_| {
        let origin = web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default();
        Msg::Share(ShareMsg::Share { origin })
    });
}

/// Asks the clipboard to take `text`; a page without the Clipboard API (an insecure context)
/// or a refusal both end in `copier`'s `Copied(false)`, which leaves the link selected instead.
pub(super) fn copy(text: &str, copier: Copier) {
    let Some(navigator) = web_sys::window().map(|w| w.navigator()) else { return };
    let api = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard")).unwrap_or(JsValue::UNDEFINED);
    if api.is_undefined() || api.is_null() {
        dispatch_later(copier.copied(false));
        return;
    }
    let done = Settled::new(move |_| dispatch(copier.copied(true)));
    let refused = Settled::new(move |_| dispatch(copier.copied(false)));
    let _ = navigator.clipboard().write_text(text).then2(&done, &refused);
    COPY.with(|c| *c.borrow_mut() = vec![done, refused]);
}

/// Reports a copy's end after the current message is done, as the clipboard itself would.
fn dispatch_later(msg: Msg) {
    let Some(w) = web_sys::window() else { return };
    let later = Closure::once_into_js(move || dispatch(msg));
    let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(later.unchecked_ref(), 0);
}

/// The banner and Share regions, and the page's mode (the CSS hides live controls when saved).
pub(super) fn draw(doc: &Document, m: &Model) {
    if let Some(root) = doc.document_element() {
        let mode = if share::read_only(m) { "saved" } else { "live" };
        if root.get_attribute("data-mode").as_deref() != Some(mode) {
            let _ = root.set_attribute("data-mode", mode);
        }
    }
    set_html(doc, "banner", &share::banner(m));
    let before = doc.get_element_by_id("share").map(|el| el.inner_html());
    let html = share::panel(m);
    set_html(doc, "share", &html);
    // Selected once, when the field appears for copying by hand, not on every redraw.
    if share::select_link(m) && before.as_deref() != Some(html.as_str()) {
        if let Some(input) = doc.get_element_by_id("share-link").and_then(|e| e.dyn_into::<HtmlInputElement>().ok()) {
            let _ = input.focus();
            input.select();
        }
    }
}
