//! The browser UI's files, embedded in the binary so that one file is the whole playground.

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// Each embedded file: URL path, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../../../static/index.html"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../static/style.css"),
    ),
];

/// Serves an embedded file, or the API's 404.
pub async fn serve(uri: Uri) -> Response {
    let path = if uri.path() == "/index.html" {
        "/"
    } else {
        uri.path()
    };
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None if path.starts_with("/api/") => super::rest::not_found().await.into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
