//! Classes, the student's side: creating a class (the operator), joining with a code, the
//! signed `socketlab_student` cookie, and recording what a student with that cookie does
//! (steps passed, checks, saved exchanges); `me.rs` reads it back. Without a cookie nothing
//! changes: local use keeps its progress in the browser.
//!
//! The cookie, the resume link and the instructor secret are signed (`class::token`) with one
//! key the database keeps, so every instance sharing the database accepts them. What happens
//! here is told to the dashboards through `class_events.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use socketlab_proto::wire::{ErrorBody, ErrorCode};
use tokio::sync::{OnceCell, broadcast};

use super::AppState;
use super::error::ApiError;
use crate::class::token::{KEY_LEN, Kind, Signer};
use crate::class::{self, display_name};
use crate::db::class::{CheckDone, StepDone, Student};
use crate::db::{self, Class, Store, StoreError};

/// The student's cookie.
pub const STUDENT_COOKIE: &str = "socketlab_student";

/// The gateway's class state: the signing key, read once, the in-process event channel, and
/// the live event streams open per class.
#[derive(Debug)]
pub struct Classes {
    signer: OnceCell<Signer>,
    pub(super) events: broadcast::Sender<super::class_events::ClassEvent>,
    pub(super) streams: Arc<super::limits::PerKey>,
}

impl Default for Classes {
    fn default() -> Self {
        let events = broadcast::channel(super::class_events::BACKLOG).0;
        Self { signer: OnceCell::new(), events, streams: Arc::default() }
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

pub(super) fn store_failed(e: StoreError) -> ApiError {
    // The detail can name hosts, tables and constraints: it goes to the log, not the client.
    tracing::warn!(error = %e, "the store failed");
    ApiError::new(ErrorCode::Internal, "the store failed")
}

/// The signer with the key the store keeps (made, and stored, by the first instance to need it).
pub async fn signer_of(store: &dyn Store) -> Result<Signer, StoreError> {
    let mut candidate = [0u8; KEY_LEN];
    getrandom::fill(&mut candidate)?;
    Ok(Signer::new(store.signing_key("cookies", &candidate).await?))
}

impl AppState {
    pub(super) async fn signer(&self) -> Result<&Signer, ApiError> {
        let store = self.db()?;
        self.classes.signer.get_or_try_init(|| signer_of(store.as_ref())).await.map_err(store_failed)
    }

    pub(super) fn session_ms(&self) -> i64 {
        i64::try_from(self.config.student_session.as_millis()).unwrap_or(i64::MAX)
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// A `Set-Cookie` value: HttpOnly, on `path`, for `max_age_ms`, and `Secure` when the
/// browser came over HTTPS (as a listed proxy says).
pub fn set_cookie(name: &str, value: &str, path: &str, same_site: &str, max_age_ms: i64, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let age = max_age_ms / 1000;
    let text = format!("{name}={value}; Path={path}; Max-Age={age}; HttpOnly; SameSite={same_site}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn unauthorized(why: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, why)
}

/// The student a request's cookie names, with their class: `None` without a cookie (local
/// use), 401 when it is forged, expired or of a removed student.
pub async fn student(state: &AppState, headers: &HeaderMap) -> Result<Option<(Student, Class)>, ApiError> {
    let Some(token) = cookie(headers, STUDENT_COOKIE) else { return Ok(None) };
    let signer = state.signer().await?;
    let id = signer
        .verify(Kind::Student, token, now_ms(), Some(state.session_ms()))
        .map_err(|e| unauthorized(&format!("the class cookie is refused: {e}")))?;
    let store = state.db()?;
    let student = store.student(&id).await.map_err(store_failed)?;
    let student = student.ok_or_else(|| unauthorized("this student was removed from the class"))?;
    let class = store.class(&student.class_id).await.map_err(store_failed)?;
    Ok(Some((student, class.ok_or_else(|| unauthorized("this class no longer exists"))?)))
}

/// Records a passed step against the request's student, if there is one.
pub async fn record_step(
    state: &AppState,
    who: Option<&(Student, Class)>,
    lab: &str,
    step: &str,
    answers: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let Some((s, _)) = who else { return Ok(()) };
    let answers = serde_json::to_string(answers).unwrap_or_else(|_| "{}".to_owned());
    let done = StepDone { student_id: s.id.clone(), lab: lab.into(), step: step.into(), answers, done_ms: now_ms() };
    if state.db()?.record_step(&done).await.map_err(store_failed)? {
        state
            .publish(&s.class_id, "progress", json!({"student": s.id, "name": s.name, "lab": lab, "step": step}))
            .await;
    }
    Ok(())
}

/// Records a check's score against a student.
pub async fn record_check(state: &AppState, student: &Student, program: &str, passed: u32, total: u32) {
    let done = CheckDone {
        student_id: student.id.clone(),
        program: program.to_owned(),
        passed: i64::from(passed),
        total: i64::from(total),
        at_ms: now_ms(),
    };
    let Ok(store) = state.db() else { return };
    if let Err(e) = store.record_check(&done).await {
        return tracing::warn!(error = %e, "a student's check was not recorded");
    }
    let data =
        json!({"student": student.id, "name": student.name, "program": program, "passed": passed, "total": total});
    state.publish(&student.class_id, "check", data).await;
}

/// The class routes, the student's and the instructor's.
pub fn routes(state: &Arc<AppState>) -> axum::Router<Arc<AppState>> {
    use super::{instructor, me};
    use axum::middleware::from_fn_with_state;
    use axum::routing::{get, post};
    let json = || from_fn_with_state(Arc::clone(state), super::edge::json_body);
    // Every route below that reads the store spends the REST rate limit first.
    let limited = || from_fn_with_state(Arc::clone(state), super::session::store_limit);
    axum::Router::new()
        .route("/api/v1/classes", post(create).route_layer(json()))
        .route("/api/v1/join", post(join).route_layer(json()))
        .route("/api/v1/me", get(me::me).route_layer(limited()).delete(me::leave))
        .route("/resume/{token}", get(me::resume).route_layer(limited()))
        .route("/api/v1/classes/{id}", get(instructor::dashboard).route_layer(limited()))
        .route(
            "/api/v1/classes/{id}/students/{student}",
            get(instructor::student).delete(instructor::remove).route_layer(limited()),
        )
        .route("/api/v1/classes/{id}/grades.csv", get(instructor::grades_csv).route_layer(limited()))
        .route("/api/v1/classes/{id}/close", post(instructor::close).route_layer(limited()))
        .route("/api/v1/classes/{id}/session", post(instructor::session).route_layer(limited()))
        .route("/api/v1/classes/{id}/events", get(super::class_events::events).route_layer(limited()))
}

fn parse<T: serde::de::DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(ErrorCode::TooLarge, "the body is too large"),
        _ => ApiError::new(ErrorCode::MalformedJson, e.body_text()),
    })?;
    serde_json::from_slice(&body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::new(ErrorCode::InvalidField, format!("the body is not valid: {e}"))
        }
        _ => ApiError::new(ErrorCode::MalformedJson, format!("the body is not JSON: {e}")),
    })
}

/// A new class.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClass {
    /// 1 to 40 characters after trimming, no control characters.
    pub name: String,
}

/// A class just created: the only time its secret is shown.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Created {
    pub id: String,
    pub name: String,
    /// What students type to join.
    pub join_code: String,
    /// The instructor's secret: `Authorization: Bearer <secret>` on the instructor API.
    pub secret: String,
    /// The dashboard's link, secret in the fragment (never sent to a server).
    pub instructor_url: String,
}

/// Creates a class in `store` (the CLI's `class create` and `POST /api/v1/classes`).
pub async fn create_class(store: &dyn Store, signer: &Signer, name: &str) -> Result<Created, ApiError> {
    let name = display_name(name).map_err(|e| ApiError::new(ErrorCode::InvalidField, format!("name: {e}")))?;
    let random = |e: getrandom::Error| ApiError::new(ErrorCode::Internal, format!("no random bytes: {e}"));
    // A code is 40 random bits: a clash is rare, and a few draws settle it.
    for _ in 0..5 {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(random)?;
        let Some(join_code) = class::join_code(&bytes) else { continue };
        let class = Class {
            id: db::new_id().map_err(random)?,
            name: name.clone(),
            join_code,
            created_ms: now_ms(),
            closed_ms: None,
        };
        match store.create_class(&class).await {
            Ok(()) => {
                let secret = signer.sign(Kind::Secret, &class.id, 0);
                let instructor_url = format!("/instructor/{}#key={secret}", class.id);
                return Ok(Created {
                    id: class.id,
                    name: class.name,
                    join_code: class.join_code,
                    secret,
                    instructor_url,
                });
            }
            Err(StoreError::Taken(_)) => continue,
            Err(e) => return Err(store_failed(e)),
        }
    }
    Err(ApiError::new(ErrorCode::Internal, "no free join code was drawn"))
}

/// Creates a class; needs the operator's `--instructor-token`.
#[utoipa::path(
    post,
    path = "/api/v1/classes",
    operation_id = "create_class",
    request_body = CreateClass,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; the secret is shown only now", body = Created),
        (status = 400, description = "The body is not JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "No or a wrong operator token (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Creating classes over HTTP is off: no --instructor-token (`forbidden`), or a post from another site (`forbidden_origin`)", body = ErrorBody),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "The name is empty, too long or has control characters (`invalid_field`)", body = ErrorBody),
        (status = 429, description = "Rate-limited (`rate_limited`)", body = ErrorBody),
        (status = 500, description = "The store failed (`internal`)", body = ErrorBody),
    ),
    tag = "classes"
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    super::proxy::Client(client): super::proxy::Client,
    browser: super::session::Browser,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let needed = || unauthorized("creating a class needs `Authorization: Bearer <instructor token>`");
    let given = super::instructor::bearer(&headers).ok_or_else(needed)?;
    let Some(token) = state.config.instructor_token.as_deref() else {
        let e = "this gateway creates classes only with `socketlab class create`";
        return Err(ApiError::new(ErrorCode::Forbidden, e));
    };
    state.rate_limit(client, &browser)?;
    if !constant_eq(given.as_bytes(), token.as_bytes()) {
        return Err(needed());
    }
    let req: CreateClass = parse(body)?;
    let signer = state.signer().await?;
    Ok((StatusCode::CREATED, Json(create_class(state.db()?.as_ref(), signer, &req.name).await?)))
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Joining a class.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The class's join code (case, spaces and dashes do not matter).
    pub code: String,
    /// The display name: 1 to 40 characters after trimming, unique in the class ignoring case.
    pub name: String,
}

/// A class as a student sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClassRef {
    pub id: String,
    pub name: String,
}

/// A student.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StudentRef {
    pub id: String,
    pub name: String,
}

/// Joined: the student's class, and the personal link that brings them back elsewhere.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Joined {
    pub class: ClassRef,
    pub student: StudentRef,
    /// Opening it in another browser signs the student in there; keep it private.
    pub resume_url: String,
}

/// Joins a class with its code and a display name; sets the `socketlab_student` cookie.
#[utoipa::path(
    post,
    path = "/api/v1/join",
    operation_id = "join_class",
    request_body = JoinRequest,
    responses(
        (status = 200, description = "Joined; `Set-Cookie: socketlab_student` (HttpOnly, SameSite=Lax)", body = Joined),
        (status = 400, description = "The body is not JSON (`malformed_json`)", body = ErrorBody),
        (status = 403, description = "The class is closed (`class_closed`), or a post from another site (`forbidden_origin`)", body = ErrorBody),
        (status = 404, description = "No class has this code (`unknown_class`)", body = ErrorBody),
        (status = 409, description = "Another student of the class has this name (`name_taken`)", body = ErrorBody),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "The name is empty, too long or has control characters (`invalid_field`)", body = ErrorBody),
        (status = 429, description = "Rate-limited (`rate_limited`)", body = ErrorBody),
        (status = 500, description = "The store failed (`internal`)", body = ErrorBody),
    ),
    tag = "classes"
)]
pub async fn join(
    State(state): State<Arc<AppState>>,
    super::proxy::Client(client): super::proxy::Client,
    browser: super::session::Browser,
    super::proxy::Https(https): super::proxy::Https,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: JoinRequest = parse(body)?;
    // Every try spends the address's rate limit, so join codes cannot be guessed quickly.
    state.rate_limit(client, &browser)?;
    let unknown = || ApiError::new(ErrorCode::UnknownClass, "no class has this join code");
    let code = class::normalize_code(&req.code).ok_or_else(unknown)?;
    let store = state.db()?;
    let class = store.class_by_code(&code).await.map_err(store_failed)?.ok_or_else(unknown)?;
    if class.closed_ms.is_some() {
        return Err(ApiError::new(ErrorCode::ClassClosed, "this class takes no new students"));
    }
    let name = display_name(&req.name).map_err(|e| ApiError::new(ErrorCode::InvalidField, format!("name: {e}")))?;
    let random = |e: getrandom::Error| ApiError::new(ErrorCode::Internal, format!("no random bytes: {e}"));
    let student = Student { id: db::new_id().map_err(random)?, class_id: class.id.clone(), name, joined_ms: now_ms() };
    match store.join(&student).await {
        Ok(()) => {}
        Err(StoreError::Taken(_)) => {
            return Err(ApiError::new(ErrorCode::NameTaken, "another student of this class has this name"));
        }
        Err(e) => return Err(store_failed(e)),
    }
    state.publish(&class.id, "joined", json!({"student": student.id, "name": student.name})).await;
    let signer = state.signer().await?;
    let cookie = signer.sign(Kind::Student, &student.id, now_ms());
    let joined = Joined {
        resume_url: format!("/resume/{}", signer.sign(Kind::Resume, &student.id, 0)),
        class: ClassRef { id: class.id, name: class.name },
        student: StudentRef { id: student.id, name: student.name },
    };
    let set = set_cookie(STUDENT_COOKIE, &cookie, "/", "Lax", state.session_ms(), https);
    Ok(([(header::SET_COOKIE, set)], Json(joined)).into_response())
}
