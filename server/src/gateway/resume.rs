//! The resume link, `/resume/<token>`: it signs a student in on another browser. A link is
//! easy to send to someone else (login CSRF: "open this", and the victim's work is recorded as
//! the sender's), so opening it only asks: a small page says "Continue as Ada (Networks 101)?"
//! and its button POSTs back (the Origin check refuses other sites' forms). A browser already
//! signed in as another student is told so, and is switched only when the form says so.

use std::sync::Arc;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::classes::{STUDENT_COOKIE, now_ms, set_cookie};
use crate::class::token::Kind;
use crate::db::Class;
use crate::db::class::Student;

/// The confirmation form.
#[derive(Debug, Default, Deserialize)]
pub struct Confirm {
    /// `1` when the page warned that this browser was another student's.
    #[serde(default)]
    replace: Option<String>,
}

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>socketlab: resume</title></head><body>{body}</body></html>"
    );
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        // Not `no-referrer`: under it a browser sends its form's POST with `Origin: null`,
        // which the Origin check refuses. `same-origin` still keeps the token from other sites.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CONTENT_SECURITY_POLICY, "default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (status, headers, html).into_response()
}

fn esc(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn not_found() -> Response {
    page(StatusCode::NOT_FOUND, "<p>This resume link is not valid (or its student was removed).</p>")
}

/// The student and class a resume token names, if it is valid and the student is still there.
async fn named(state: &AppState, token: &str) -> Option<(Student, Class)> {
    let signer = state.signer().await.ok()?;
    let id = signer.verify(Kind::Resume, token, now_ms(), None).ok()?;
    let store = state.db().ok()?;
    let student = store.student(&id).await.ok()??;
    let class = store.class(&student.class_id).await.ok()??;
    Some((student, class))
}

/// The student this browser is signed in as now, if any other than `id`.
async fn someone_else(state: &AppState, headers: &HeaderMap, id: &str) -> Option<Student> {
    let (current, _) = super::classes::student(state, headers).await.ok()??;
    (current.id != id).then_some(current)
}

/// Asks whether to continue as the link's student; changes nothing.
#[utoipa::path(
    get,
    path = "/resume/{token}",
    operation_id = "resume",
    params(("token" = String, Path, description = "The personal token of the resume link")),
    responses(
        (status = 200, description = "A page asking \"Continue as <name> (<class>)?\", whose button POSTs", content_type = "text/html", body = String),
        (status = 404, description = "Not a valid resume link, or the student was removed", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests from this browser or address (`rate_limited`), with `Retry-After`", body = socketlab_proto::wire::ErrorBody),
    ),
    tag = "classes"
)]
pub async fn ask(State(state): State<Arc<AppState>>, Path(token): Path<String>, headers: HeaderMap) -> Response {
    let Some((student, class)) = named(&state, &token).await else { return not_found() };
    let (warning, replace) = match someone_else(&state, &headers, &student.id).await {
        Some(current) => (
            format!(
                "<p><strong>This browser is signed in as {}.</strong> Continuing signs it out.</p>",
                esc(&current.name)
            ),
            "<input type=\"hidden\" name=\"replace\" value=\"1\">",
        ),
        None => (String::new(), ""),
    };
    let body = format!(
        "<h1>Continue as {} ({})?</h1>{warning}<p>Only continue if this is you: everything done in \
         this browser will be recorded as this student's work.</p><form method=\"post\">{replace}\
         <button type=\"submit\">Continue as {}</button> <a href=\"/\">No, go to the playground</a></form>",
        esc(&student.name),
        esc(&class.name),
        esc(&student.name),
    );
    page(StatusCode::OK, &body)
}

/// Signs the link's student in on this browser, as its page's form confirmed.
#[utoipa::path(
    post,
    path = "/resume/{token}",
    operation_id = "resume_confirm",
    params(("token" = String, Path, description = "The personal token of the resume link")),
    responses(
        (status = 303, description = "Signed in; `Set-Cookie: socketlab_student`, `Location: /`"),
        (status = 403, description = "A post from another site (`forbidden_origin`)", body = socketlab_proto::wire::ErrorBody),
        (status = 404, description = "Not a valid resume link, or the student was removed", content_type = "text/html", body = String),
        (status = 409, description = "This browser is another student's, and the form did not say to replace it", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests from this browser or address (`rate_limited`), with `Retry-After`", body = socketlab_proto::wire::ErrorBody),
    ),
    tag = "classes"
)]
pub async fn confirm(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    super::proxy::Https(https): super::proxy::Https,
    headers: HeaderMap,
    form: Result<Form<Confirm>, FormRejection>,
) -> Response {
    let Some((student, _)) = named(&state, &token).await else { return not_found() };
    let replace = form.is_ok_and(|Form(f)| f.replace.as_deref() == Some("1"));
    if !replace && let Some(current) = someone_else(&state, &headers, &student.id).await {
        let body =
            format!("<p>This browser is signed in as {}; open the link again to choose.</p>", esc(&current.name));
        return page(StatusCode::CONFLICT, &body);
    }
    let Ok(signer) = state.signer().await else { return not_found() };
    let cookie = signer.sign(Kind::Student, &student.id, now_ms());
    let set = set_cookie(STUDENT_COOKIE, &cookie, "/", "Lax", state.session_ms(), https);
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, set), (header::LOCATION, HeaderValue::from_static("/"))])
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_escaped() {
        assert_eq!(super::esc("<b>\"Ada\" & 'Bob'</b>"), "&lt;b&gt;&quot;Ada&quot; &amp; &#39;Bob&#39;&lt;/b&gt;");
    }
}
