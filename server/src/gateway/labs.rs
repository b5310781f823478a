//! The labs API: the labs (built-in and the operator's `--labs-dir`), and checking a step's
//! answers against exchanges this gateway ran itself.
//!
//! A check names exchanges by the names the gateway gave them; their timelines come from the
//! store, never from the request, so a student cannot submit a made-up timeline, and one whose
//! exchanges have expired must run them again. The evaluator is `socketlab-labs`, the same code
//! the browser runs; the answer it expects never leaves it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, RawQuery, State};
use serde::Deserialize;
use socketlab_labs::load::{LoadError, parse_all};
use socketlab_labs::view::{LabSummary, LabView};
use socketlab_labs::{Lab, Lang, StepResult, Timeline, check_step};
use socketlab_proto::wire::ErrorCode;

use super::AppState;
use super::error::ApiError;

/// The most exchanges one check may name.
pub const MAX_EXCHANGES: usize = 32;
/// The most answers one check may carry, and the longest answer, in bytes.
pub const MAX_ANSWERS: usize = 64;
pub const MAX_ANSWER_BYTES: usize = 256;

/// Why the labs could not be loaded; it stops startup.
#[derive(Debug, thiserror::Error)]
pub enum LabsError {
    #[error("cannot read the labs directory {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Invalid(#[from] LoadError),
}

/// Every lab this gateway offers, built-in ones first.
#[derive(Debug, Default)]
pub struct Labs {
    labs: Vec<Lab>,
}

impl Labs {
    /// The built-in labs, plus every `*.toml` file of `dir` in name order.
    pub fn load(dir: Option<&Path>) -> Result<Self, LabsError> {
        let mut files: Vec<(String, String)> = socketlab_labs::builtin::FILES
            .iter()
            .map(|(name, text)| (format!("labs/{name}"), (*text).to_owned()))
            .collect();
        if let Some(dir) = dir {
            let read = |source| LabsError::Read { path: dir.to_owned(), source };
            let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(read)?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(read)?;
            paths.retain(|p| p.extension().is_some_and(|x| x == "toml"));
            paths.sort();
            for path in paths {
                let text =
                    std::fs::read_to_string(&path).map_err(|source| LabsError::Read { path: path.clone(), source })?;
                files.push((path.display().to_string(), text));
            }
        }
        let labs = parse_all(files.iter().map(|(f, t)| (f.as_str(), t.as_str())))?;
        Ok(Self { labs })
    }

    /// Every lab, in the order the page lists them.
    pub fn all(&self) -> &[Lab] {
        &self.labs
    }

    fn get(&self, id: &str) -> Result<&Lab, ApiError> {
        self.labs
            .iter()
            .find(|l| l.id == id)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no lab is called {id:?}; see GET /api/v1/labs")))
    }
}

/// The labs routes; a check's body passes the same JSON rules as every other body.
pub fn routes(state: &Arc<AppState>) -> axum::Router<Arc<AppState>> {
    use axum::middleware::from_fn_with_state;
    use axum::routing::{get, post};
    let json = from_fn_with_state(Arc::clone(state), super::edge::json_body);
    let limited = from_fn_with_state(Arc::clone(state), super::session::student_store_limit);
    axum::Router::new()
        .route("/api/v1/labs", get(list))
        .route("/api/v1/labs/{lab}", get(lab))
        .route("/api/v1/labs/{lab}/steps/{step}/check", post(check).route_layer(json).route_layer(limited))
}

/// `?lang=zh` chooses Chinese; anything else, or nothing, English.
fn lang(query: Option<&str>) -> Lang {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .rfind(|(k, _)| *k == "lang")
        .map_or(Lang::En, |(_, v)| Lang::parse(v))
}

/// The labs, each with its title and number of steps.
#[utoipa::path(
    get,
    path = "/api/v1/labs",
    params(("lang" = Option<String>, Query, description = "`zh` for Chinese text; English otherwise")),
    responses((status = 200, description = "Every lab", body = Vec<LabSummary>)),
    tag = "labs"
)]
pub async fn list(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Json<Vec<LabSummary>> {
    let lang = lang(query.as_deref());
    Json(state.labs.labs.iter().map(|l| l.summary(lang)).collect())
}

/// One lab: its steps, their actions, and the id and prompt of every check.
#[utoipa::path(
    get,
    path = "/api/v1/labs/{lab}",
    params(
        ("lab" = String, Path, description = "The lab's id, such as `tcp-handshake`"),
        ("lang" = Option<String>, Query, description = "`zh` for Chinese text; English otherwise"),
    ),
    responses(
        (status = 200, description = "The lab", body = LabView),
        (status = 404, description = "No such lab (`not_found`)", body = socketlab_proto::wire::ErrorBody),
    ),
    tag = "labs"
)]
pub async fn lab(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<LabView>, ApiError> {
    Ok(Json(state.labs.get(&id)?.view(lang(query.as_deref()))))
}

/// The body of a step's check.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabCheckRequest {
    /// Names of exchanges this gateway ran (the `id` of `POST /api/v1/exchanges`, the
    /// `exchange` of a WebSocket reply) or of conversations it observed (the `conversation`
    /// of an `observed` frame, such as `udp 127.0.0.1:53211`), at most 32.
    #[schema(max_items = 32)]
    pub exchanges: Vec<String>,
    /// The student's answer to each question, by question id; at most 64, of 256 bytes each.
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
}

/// Checks a step's questions and observations against the named exchanges' timelines, as this
/// gateway recorded them. Never returns an expected answer.
#[utoipa::path(
    post,
    path = "/api/v1/labs/{lab}/steps/{step}/check",
    params(
        ("lab" = String, Path, description = "The lab's id"),
        ("step" = String, Path, description = "The step's id"),
        ("lang" = Option<String>, Query, description = "`zh` for the reasons in Chinese"),
    ),
    request_body = LabCheckRequest,
    responses(
        (status = 429, description = "With a class cookie: too many requests from this browser or address (`rate_limited`), with `Retry-After`", body = socketlab_proto::wire::ErrorBody),
        (status = 200, description = "Each check, passed or not, with one sentence why; with a class cookie, a passed step is recorded against the student", body = StepResult),
        (status = 401, description = "The class cookie is forged or expired, or its student was removed (`unauthorized`)", body = socketlab_proto::wire::ErrorBody),
        (status = 400, description = "The body is not JSON (`malformed_json`)", body = socketlab_proto::wire::ErrorBody),
        (status = 403, description = "A browser post from another site (`forbidden_origin`)", body = socketlab_proto::wire::ErrorBody),
        (status = 404, description = "No such lab or step (`not_found`)", body = socketlab_proto::wire::ErrorBody),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = socketlab_proto::wire::ErrorBody),
        (status = 422, description = "A field is invalid, or an exchange is not one this gateway ran and still keeps (`invalid_field`)", body = socketlab_proto::wire::ErrorBody),
        (status = 500, description = "The store failed while recording a student's step (`internal`)", body = socketlab_proto::wire::ErrorBody),
    ),
    tag = "labs"
)]
pub async fn check(
    State(state): State<Arc<AppState>>,
    UrlPath((id, step_id)): UrlPath<(String, String)>,
    RawQuery(query): RawQuery,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<StepResult>, ApiError> {
    let invalid = |m: String| ApiError::new(ErrorCode::InvalidField, m);
    let body = body.map_err(|e| ApiError::new(ErrorCode::MalformedJson, e.body_text()))?;
    let req: LabCheckRequest = serde_json::from_slice(&body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => invalid(format!("the body is not a valid check: {e}")),
        _ => ApiError::new(ErrorCode::MalformedJson, format!("the body is not JSON: {e}")),
    })?;
    let lab = state.labs.get(&id)?;
    let step = lab.steps.iter().find(|s| s.id == step_id).ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound, format!("lab {id:?} has no step {step_id:?}; see GET /api/v1/labs/{id}"))
    })?;
    if req.exchanges.len() > MAX_EXCHANGES {
        return Err(invalid(format!("a check may name at most {MAX_EXCHANGES} exchanges")));
    }
    if req.answers.len() > MAX_ANSWERS || req.answers.values().any(|a| a.len() > MAX_ANSWER_BYTES) {
        return Err(invalid(format!("a check carries at most {MAX_ANSWERS} answers of {MAX_ANSWER_BYTES} bytes")));
    }
    let now = std::time::Instant::now();
    let mut kept = Vec::with_capacity(req.exchanges.len());
    for name in &req.exchanges {
        let events = state.store.timeline(name, now).or_else(|| state.hub.conversation(name)).ok_or_else(|| {
            invalid(format!(
                "{name:?} is neither an exchange this gateway ran and still keeps nor a conversation it observed; run it again"
            ))
        })?;
        kept.push((name.as_str(), events));
    }
    // A student's cookie (a bad one is refused before anything is evaluated) records the pass.
    let who = super::classes::student(&state, &headers).await?;
    let timelines: Vec<Timeline<'_>> = kept.iter().map(|(n, e)| Timeline { exchange: n, events: e }).collect();
    let result = check_step(step, &timelines, &req.answers, lang(query.as_deref()));
    if result.passed {
        super::classes::record_step(&state, who.as_ref(), &lab.id, &step.id, &req.answers).await?;
    }
    Ok(Json(result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_comes_from_the_query() {
        assert_eq!(lang(None), Lang::En);
        assert_eq!(lang(Some("lang=zh")), Lang::Zh);
        assert_eq!(lang(Some("x=1&lang=zh-CN")), Lang::Zh);
        assert_eq!(lang(Some("lang=fr")), Lang::En);
        assert_eq!(lang(Some("lang")), Lang::En);
    }

    #[test]
    fn an_instructors_bad_lab_stops_loading_with_its_file_and_line() {
        let dir = std::env::temp_dir().join(format!("socketlab-labs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("bad.toml"), "id = \"mine\"\ntitle = { en = \"A\" }\n").expect("write");
        std::fs::write(dir.join("notes.txt"), "not a lab").expect("write");
        let e = Labs::load(Some(&dir)).expect_err("zh is missing");
        let text = e.to_string();
        assert!(text.contains("bad.toml, line 2: ") && text.contains("zh"), "{text}");
        std::fs::remove_file(dir.join("bad.toml")).expect("remove");
        let labs = Labs::load(Some(&dir)).expect("only the built-in labs remain");
        assert!(labs.labs.len() >= 10);
        assert!(Labs::load(Some(&dir.join("missing"))).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
