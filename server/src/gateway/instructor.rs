//! The instructor API of one class: the dashboard's data, one student's work, the live events,
//! the grades CSV, closing the class and removing a student (the live events are
//! `class_events.rs`'s).
//!
//! Every route needs the class's own secret, as `Authorization: Bearer <secret>` or as the
//! `socketlab_instructor` cookie that `POST .../session` sets for the event stream (an
//! `EventSource` cannot send headers). No credentials, or ones this gateway did not sign: 401.
//! Another class's secret: 403. Instructors are per class, never global.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use socketlab_labs::Lang;
use socketlab_labs::view::LabSummary;
use socketlab_proto::check::Program;
use socketlab_proto::wire::{ErrorBody, ErrorCode};

use super::AppState;
use super::classes::{now_ms, set_cookie, store_failed};
use super::error::ApiError;
use crate::class::grades::{self, LabColumn, Row};
use crate::class::token::Kind;
use crate::db::Class;

/// The instructor's cookie, for the event stream.
pub const INSTRUCTOR_COOKIE: &str = "socketlab_instructor";

/// The token of `Authorization: Bearer <token>`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The class `id`, when the request carries its secret (or its instructor cookie).
pub(super) async fn authorize(state: &AppState, headers: &HeaderMap, id: &str) -> Result<Class, ApiError> {
    let signer = state.signer().await?;
    let named = match (bearer(headers), super::classes::cookie(headers, INSTRUCTOR_COOKIE)) {
        (Some(secret), _) => signer.verify(Kind::Secret, secret, now_ms(), None),
        (None, Some(cookie)) => signer.verify(Kind::Instructor, cookie, now_ms(), Some(state.session_ms())),
        (None, None) => {
            let e = "the instructor API needs `Authorization: Bearer <class secret>`";
            return Err(ApiError::new(ErrorCode::Unauthorized, e));
        }
    };
    let named =
        named.map_err(|e| ApiError::new(ErrorCode::Unauthorized, format!("the class secret is refused: {e}")))?;
    if named != id {
        return Err(ApiError::new(ErrorCode::Forbidden, "this secret is another class's"));
    }
    let class = state.db()?.class(id).await.map_err(store_failed)?;
    class.ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such class"))
}

/// The class as its dashboard shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClassInfo {
    pub id: String,
    pub name: String,
    pub closed: bool,
    pub join_code: String,
}

/// The dashboard's data: the roster with each student's steps done and best checks.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    pub class: ClassInfo,
    /// The labs, in the page's order, each with its number of steps.
    pub labs: Vec<LabSummary>,
    /// The check programs, one column each.
    pub programs: Vec<String>,
    pub students: Vec<Row>,
}

async fn rows(state: &AppState, class: &Class) -> Result<Vec<Row>, ApiError> {
    let store = state.db()?;
    let students = store.students(&class.id).await.map_err(store_failed)?;
    let steps = store.steps(&class.id, "").await.map_err(store_failed)?;
    let checks = store.checks(&class.id, "").await.map_err(store_failed)?;
    Ok(grades::roster(&students, &steps, &checks))
}

fn programs() -> Vec<&'static str> {
    Program::ALL.into_iter().map(Program::name).collect()
}

const SECRET: &str = "The class's secret: `Authorization: Bearer <secret>`";

/// The dashboard's data.
#[utoipa::path(
    get,
    path = "/api/v1/classes/{id}",
    operation_id = "class_dashboard",
    params(("id" = String, Path, description = "The class's id")),
    security(("bearer" = [])),
    responses(
        (status = 429, description = "Too many requests from this browser or address (`rate_limited`), with `Retry-After`", body = ErrorBody),
        (status = 200, description = "The roster, labs and programs", body = Dashboard),
        (status = 401, description = "No class secret, or not one of this gateway (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Another class's secret (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such class (`not_found`)", body = ErrorBody),
        (status = 500, description = "The store failed (`internal`)", body = ErrorBody),
    ),
    tag = "instructor"
)]
pub async fn dashboard(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Dashboard>, ApiError> {
    let class = authorize(&state, &headers, &id).await?;
    let students = rows(&state, &class).await?;
    let labs = state.labs.all().iter().map(|l| l.summary(Lang::En)).collect();
    Ok(Json(Dashboard {
        class: ClassInfo {
            closed: class.closed_ms.is_some(),
            id: class.id,
            name: class.name,
            join_code: class.join_code,
        },
        labs,
        programs: programs().into_iter().map(str::to_owned).collect(),
        students,
    }))
}

/// One student's answers, checks and saved exchanges.
#[utoipa::path(
    get,
    path = "/api/v1/classes/{id}/students/{student}",
    operation_id = "class_student",
    params(("id" = String, Path, description = "The class's id"), ("student" = String, Path, description = "The student's id")),
    security(("bearer" = [])),
    responses(
        (status = 429, description = "Too many requests from this browser or address (`rate_limited`), with `Retry-After`", body = ErrorBody),
        (status = 200, description = "The student's work", body = super::me::Work),
        (status = 401, description = "No class secret, or not one of this gateway (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Another class's secret (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such class, or no such student in it (`not_found`)", body = ErrorBody),
        (status = 500, description = "The store failed (`internal`)", body = ErrorBody),
    ),
    tag = "instructor"
)]
pub async fn student(
    State(state): State<Arc<AppState>>,
    Path((id, student)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<super::me::Work>, ApiError> {
    let class = authorize(&state, &headers, &id).await?;
    let found = state.db()?.student(&student).await.map_err(store_failed)?.filter(|s| s.class_id == class.id);
    let found = found.ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such student in this class"))?;
    Ok(Json(super::me::work(&state, &found, &class).await?))
}

/// The grades: one row per student, one column per lab (steps done/steps) and per program
/// (points passed/total).
#[utoipa::path(
    get,
    path = "/api/v1/classes/{id}/grades.csv",
    operation_id = "class_grades",
    params(("id" = String, Path, description = "The class's id")),
    security(("bearer" = [])),
    responses(
        (status = 429, description = "Too many requests from this browser or address (`rate_limited`), with `Retry-After`", body = ErrorBody),
        (status = 200, description = "CSV (RFC 4180)", content_type = "text/csv", body = String),
        (status = 401, description = "No class secret, or not one of this gateway (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Another class's secret (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such class (`not_found`)", body = ErrorBody),
        (status = 500, description = "The store failed (`internal`)", body = ErrorBody),
    ),
    tag = "instructor"
)]
pub async fn grades_csv(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let class = authorize(&state, &headers, &id).await?;
    let rows = rows(&state, &class).await?;
    let labs: Vec<LabColumn> = state
        .labs
        .all()
        .iter()
        .map(|l| LabColumn { id: l.id.clone(), steps: l.steps.iter().map(|s| s.id.clone()).collect() })
        .collect();
    let text = grades::csv(&labs, &programs(), &rows);
    let disposition = format!("attachment; filename=\"grades-{}.csv\"", class.id);
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        text,
    )
        .into_response())
}

/// Closes the class to new joins; its students keep working.
#[utoipa::path(
    post,
    path = "/api/v1/classes/{id}/close",
    operation_id = "close_class",
    params(("id" = String, Path, description = "The class's id")),
    security(("bearer" = [])),
    responses(
        (status = 429, description = "Too many requests from this browser or address (`rate_limited`), with `Retry-After`", body = ErrorBody),
        (status = 200, description = "Closed", body = Object, example = json!({"closed": true})),
        (status = 401, description = "No class secret, or not one of this gateway (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Another class's secret (`forbidden`), or a post from another site (`forbidden_origin`)", body = ErrorBody),
        (status = 404, description = "No such class (`not_found`)", body = ErrorBody),
        (status = 500, description = "The store failed (`internal`)", body = ErrorBody),
    ),
    tag = "instructor"
)]
pub async fn close(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let class = authorize(&state, &headers, &id).await?;
    if state.db()?.close_class(&class.id, now_ms()).await.map_err(store_failed)? {
        state.publish(&class.id, "closed", json!({"student": null})).await;
    }
    Ok(Json(json!({"closed": true})))
}

/// Removes a student and their progress and checks; their cookie stops working.
#[utoipa::path(
    delete,
    path = "/api/v1/classes/{id}/students/{student}",
    operation_id = "remove_student",
    params(("id" = String, Path, description = "The class's id"), ("student" = String, Path, description = "The student's id")),
    security(("bearer" = [])),
    responses(
        (status = 429, description = "Too many requests from this browser or address (`rate_limited`), with `Retry-After`", body = ErrorBody),
        (status = 204, description = "Removed"),
        (status = 401, description = "No class secret, or not one of this gateway (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Another class's secret (`forbidden`), or a request from another site (`forbidden_origin`)", body = ErrorBody),
        (status = 404, description = "No such class, or no such student in it (`not_found`)", body = ErrorBody),
        (status = 500, description = "The store failed (`internal`)", body = ErrorBody),
    ),
    tag = "instructor"
)]
pub async fn remove(
    State(state): State<Arc<AppState>>,
    Path((id, student)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let class = authorize(&state, &headers, &id).await?;
    if !state.db()?.remove_student(&class.id, &student).await.map_err(store_failed)? {
        return Err(ApiError::new(ErrorCode::NotFound, "no such student in this class"));
    }
    state.publish(&class.id, "removed", json!({"student": student})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the instructor cookie (HttpOnly, SameSite=Strict, this class's paths only) so the
/// page's `EventSource` can open the event stream.
#[utoipa::path(
    post,
    path = "/api/v1/classes/{id}/session",
    operation_id = "instructor_session",
    params(("id" = String, Path, description = "The class's id")),
    security(("bearer" = [])),
    responses(
        (status = 429, description = "Too many requests from this browser or address (`rate_limited`), with `Retry-After`", body = ErrorBody),
        (status = 204, description = "`Set-Cookie: socketlab_instructor`"),
        (status = 401, description = "No class secret, or not one of this gateway (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Another class's secret (`forbidden`), or a post from another site (`forbidden_origin`)", body = ErrorBody),
        (status = 404, description = "No such class (`not_found`)", body = ErrorBody),
        (status = 500, description = "The store failed (`internal`)", body = ErrorBody),
    ),
    tag = "instructor"
)]
pub async fn session(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    super::proxy::Https(https): super::proxy::Https,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if bearer(&headers).is_none() {
        return Err(ApiError::new(ErrorCode::Unauthorized, SECRET));
    }
    let class = authorize(&state, &headers, &id).await?;
    let token = state.signer().await?.sign(Kind::Instructor, &class.id, now_ms());
    let path = format!("/api/v1/classes/{}", class.id);
    let set = set_cookie(INSTRUCTOR_COOKIE, &token, &path, "Strict", state.session_ms(), https);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, set)]).into_response())
}
