//! The browser UI's files, embedded in the binary so that one file is the whole playground.
//! `build.rs` lists them; see there for how the wasm bundle gets in. The page's first load
//! also starts the browser's session (`session.rs`).

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Says how to build the UI when the binary was built without it.
const NOT_BUILT: &str = "<!doctype html><meta charset=\"utf-8\"><title>socketlab</title><p>This socketlab binary was built without its browser UI. Build and start everything with <code>cargo xtask run</code>. The API works as documented at <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>";

/// What a page may load: its own scripts, styles and connections (the WebSocket, the API, the
/// event stream), WebAssembly compiled from them, and no frame may hold it. Every script is a
/// file (`boot.js`, `instructor.js`), so no inline script runs, even one that slipped into a
/// redrawn region; `data:` images are the empty favicon.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' data:; \
                       object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Serves an embedded file, or the API's 404; the page comes with a session cookie when the
/// browser has none, and with the browser's defences (`CSP`, no framing, no sniffing).
pub async fn serve(super::proxy::Https(https): super::proxy::Https, uri: Uri, headers: HeaderMap) -> Response {
    let mut response = file(&uri).await;
    let html = response.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    let out = response.headers_mut();
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if html {
        out.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        out.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if html && response.status().is_success() {
        super::session::ensure(&headers, https, response.headers_mut());
    }
    response
}

async fn file(uri: &Uri) -> Response {
    let path = if uri.path() == "/index.html" { "/" } else { uri.path() };
    if path == "/" && !UI_BUILT {
        return ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], NOT_BUILT).into_response();
    }
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, kind, body)) => {
            ([(header::CONTENT_TYPE, *kind), (header::CACHE_CONTROL, "no-cache")], *body).into_response()
        }
        None if path.starts_with("/api/") => super::rest::not_found().await.into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// The page itself, for a permalink (`/x/{id}`): the page reads the id from its address.
pub async fn page(https: super::proxy::Https, headers: HeaderMap) -> Response {
    serve(https, Uri::from_static("/"), headers).await
}

/// The instructor page, `/instructor/{class}`: it reads the class from its address and the
/// class's secret from the fragment (`#key=`), which browsers never send, so the secret reaches
/// no log; the page then sends it as a Bearer header.
pub async fn instructor(https: super::proxy::Https, headers: HeaderMap) -> Response {
    if !UI_BUILT {
        return serve(https, Uri::from_static("/"), headers).await;
    }
    let mut response = serve(https, Uri::from_static("/instructor.html"), headers).await;
    // The page's links (a student's `/x/` view) must not carry the class's address elsewhere.
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
