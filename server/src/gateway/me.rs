//! One student's work, as the student reads it (`GET /api/v1/me`, by cookie) and as their
//! instructor reads it (`GET /api/v1/classes/{id}/students/{student}`): the steps passed with
//! their answers, the best check per program, the saved exchanges. One builder serves both,
//! so a student's cookie can only ever read the student it names. The resume link, which
//! signs the student in on another browser, is here too.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use socketlab_proto::saved::permalink;
use socketlab_proto::wire::ErrorBody;

use super::AppState;
use super::classes::{ClassRef, STUDENT_COOKIE, StudentRef, now_ms, set_cookie, store_failed};
use super::error::ApiError;
use crate::class::token::Kind;
use crate::db::Class;
use crate::db::class::Student;

/// A step passed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StepDoneView {
    pub lab: String,
    pub step: String,
    /// When, Unix milliseconds.
    pub done_at: i64,
    /// The answers that passed it, by question id.
    pub answers: BTreeMap<String, String>,
}

/// The best check of a program.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckView {
    pub program: String,
    /// Points passed, of `total`.
    pub passed: i64,
    pub total: i64,
    /// When it ran, Unix milliseconds.
    pub at: i64,
}

/// A saved exchange.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SavedView {
    pub id: String,
    /// Its permalink page, `/x/<id>`.
    pub url: String,
    /// When it was saved, Unix milliseconds.
    pub at: i64,
}

/// A student's work.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Work {
    /// `null` without a class cookie (local use: progress stays in the browser).
    pub student: Option<StudentRef>,
    pub class: Option<ClassRef>,
    /// The student's personal resume link (only to the student themself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_url: Option<String>,
    /// When they joined, Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined_at: Option<i64>,
    pub progress: Vec<StepDoneView>,
    pub checks: Vec<CheckView>,
    pub saved: Vec<SavedView>,
}

/// What `student` did, read from the store.
pub async fn work(state: &AppState, student: &Student, class: &Class) -> Result<Work, ApiError> {
    let store = state.db()?;
    let steps = store.steps(&class.id, &student.id).await.map_err(store_failed)?;
    let checks = store.checks(&class.id, &student.id).await.map_err(store_failed)?;
    let saved = store.saved_by(&student.id).await.map_err(store_failed)?;
    Ok(Work {
        student: Some(StudentRef { id: student.id.clone(), name: student.name.clone() }),
        class: Some(ClassRef { id: class.id.clone(), name: class.name.clone() }),
        resume_url: None,
        joined_at: Some(student.joined_ms),
        progress: steps
            .into_iter()
            .map(|d| StepDoneView {
                lab: d.lab,
                step: d.step,
                done_at: d.done_ms,
                answers: serde_json::from_str(&d.answers).unwrap_or_default(),
            })
            .collect(),
        checks: checks
            .into_iter()
            .map(|c| CheckView { program: c.program, passed: c.passed, total: c.total, at: c.at_ms })
            .collect(),
        saved: saved.into_iter().map(|o| SavedView { url: permalink(&o.id), id: o.id, at: o.created_ms }).collect(),
    })
}

/// The student this browser's cookie names, and their work; `student: null` without one.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "me",
    responses(
        (status = 429, description = "Too many requests from this browser or address (`rate_limited`), with `Retry-After`", body = ErrorBody),
        (status = 200, description = "The student and their work, or `student: null` without a class cookie", body = Work),
        (status = 401, description = "The class cookie is forged or expired, or its student was removed (`unauthorized`)", body = ErrorBody),
        (status = 500, description = "The store failed (`internal`)", body = ErrorBody),
    ),
    tag = "classes"
)]
pub async fn me(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<Work>, ApiError> {
    let Some((student, class)) = super::classes::student(&state, &headers).await? else {
        let none = Work {
            student: None,
            class: None,
            resume_url: None,
            joined_at: None,
            progress: vec![],
            checks: vec![],
            saved: vec![],
        };
        return Ok(Json(none));
    };
    let mut work = work(&state, &student, &class).await?;
    let token = state.signer().await?.sign(Kind::Resume, &student.id, 0);
    work.resume_url = Some(format!("/resume/{token}"));
    Ok(Json(work))
}

/// Forgets this browser's class cookie (signing out, or after being removed from the class,
/// whose cookie every class route refuses with 401); the student's work stays in the class.
#[utoipa::path(
    delete,
    path = "/api/v1/me",
    operation_id = "leave",
    responses((status = 204, description = "`Set-Cookie: socketlab_student=; Max-Age=0`")),
    tag = "classes"
)]
pub async fn leave(super::proxy::Https(https): super::proxy::Https) -> Response {
    let set = set_cookie(STUDENT_COOKIE, "", "/", "Lax", 0, https);
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, set)]).into_response()
}

/// Opens a student's resume link: sets their cookie in this browser and goes to the page.
#[utoipa::path(
    get,
    path = "/resume/{token}",
    operation_id = "resume",
    params(("token" = String, Path, description = "The personal token of the resume link")),
    responses(
        (status = 429, description = "Too many requests from this browser or address (`rate_limited`), with `Retry-After`", body = ErrorBody),
        (status = 303, description = "Signed in; `Set-Cookie: socketlab_student`, `Location: /`"),
        (status = 404, description = "Not a valid resume link, or the student was removed", content_type = "text/plain", body = String),
    ),
    tag = "classes"
)]
pub async fn resume(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    super::proxy::Https(https): super::proxy::Https,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "This resume link is not valid (or its student was removed).\n");
    let Ok(signer) = state.signer().await else { return not_found().into_response() };
    let Ok(id) = signer.verify(Kind::Resume, &token, now_ms(), None) else { return not_found().into_response() };
    match state.db().map(|s| s.student(&id)) {
        Ok(found) => match found.await {
            Ok(Some(_)) => {}
            _ => return not_found().into_response(),
        },
        Err(e) => return e.into_response(),
    }
    let set =
        set_cookie(STUDENT_COOKIE, &signer.sign(Kind::Student, &id, now_ms()), "/", "Lax", state.session_ms(), https);
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, set), (header::LOCATION, HeaderValue::from_static("/"))])
        .into_response()
}
