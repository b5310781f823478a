//! `POST /api/v1/checks`: grades a student's program through the gateway, and the admission
//! and running that the WebSocket's checks share.
//!
//! A server check names a target from the config's `[targets]` table, never an address, so no
//! request can make the gateway reach a host or port the operator did not list; one check runs
//! against a target at a time. A client check names no target: it listens on the one address
//! the operator set as `check_listen`, one client check at a time, a few per requester's IP,
//! and it grades only a client from the requester's own IP.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use socketlab_proto::check::{CheckRequest, ListedTarget, Program, Report};
use socketlab_proto::wire::{ErrorBody, ErrorCode};

use super::AppState;
use super::error::ApiError;
use super::limits::RateLimiter;
use crate::config::Config;

/// Client checks one IP may start at once...
const CLIENT_CHECKS_BURST: u32 = 3;
/// ...and then one per this many `check_wait`s, so that no one address holds the only
/// listening slot most of the time.
const CLIENT_CHECK_WAITS_PER_TAKE: u32 = 4;

/// What keeps checks from piling up: one client check listening at a time, a budget of client
/// checks per IP, and one check at a time per listed target.
#[derive(Debug)]
pub struct Slots {
    client: tokio::sync::Mutex<()>,
    client_quota: RateLimiter,
    targets: HashMap<SocketAddr, tokio::sync::Mutex<()>>,
}

impl Slots {
    pub fn new(config: &Config) -> Self {
        Self {
            client: tokio::sync::Mutex::new(()),
            client_quota: RateLimiter::per_period(config.check_wait * CLIENT_CHECK_WAITS_PER_TAKE, CLIENT_CHECKS_BURST),
            targets: config.targets.values().map(|a| (*a, tokio::sync::Mutex::new(()))).collect(),
        }
    }
}

/// A check admitted: the program, the listed address it grades, and the IP that asked (a
/// client check grades only a client from there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub program: Program,
    pub addr: SocketAddr,
    pub from: IpAddr,
}

/// Looks the request's target up among the listed ones. The name is looked up before
/// anything else happens, so an unlisted one sends nothing anywhere.
pub fn admit(state: &AppState, req: &CheckRequest, from: IpAddr) -> Result<Admitted, ApiError> {
    if !req.program.is_server() {
        let Some(addr) = state.config.check_listen else {
            let e = "this gateway takes no client checks (its operator set no check_listen); program must be udp-server or tcp-server";
            return Err(ApiError::new(ErrorCode::InvalidField, e));
        };
        if req.target.is_some() {
            let e = "a client check takes no target: it listens where the operator said (check_listen in hello)";
            return Err(ApiError::new(ErrorCode::InvalidField, e));
        }
        return Ok(Admitted { program: req.program, addr, from });
    }
    let Some(name) = req.target.as_deref() else {
        return Err(ApiError::new(ErrorCode::InvalidField, "target must name one of the listed targets"));
    };
    let addr = *state.config.targets.get(name).ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidField, format!("target {name:?} is not one the operator listed"))
    })?;
    Ok(Admitted { program: req.program, addr, from })
}

/// Runs an admitted check, handing each item to `on_item` as it is graded. A check runs only
/// if no other check of its target (or, for a client check, on `check_listen`) is running;
/// otherwise it is refused with `too_many_in_flight`. A client check also spends one of its
/// IP's client checks, or is refused with `rate_limited`.
pub async fn run(state: &AppState, c: Admitted, on_item: &mut crate::check::OnItem<'_>) -> Result<Report, ApiError> {
    let timeout = state.config.exchange_timeout();
    let slots = &state.checks;
    let graded = async {
        if c.program.is_server() {
            let Some(Ok(_running)) = slots.targets.get(&c.addr).map(tokio::sync::Mutex::try_lock) else {
                let e = format!("a check of {} is already running; retry when it has ended", c.addr);
                return Err(ApiError::new(ErrorCode::TooManyInFlight, e));
            };
            return crate::check::grade_server(c.program, c.addr, timeout, on_item)
                .await
                .map_err(|e| ApiError::new(ErrorCode::ConnectionRefused, e));
        }
        let Ok(_listening) = slots.client.try_lock() else {
            let e = format!("a client check is already listening on {}; retry when it has ended", c.addr);
            return Err(ApiError::new(ErrorCode::TooManyInFlight, e));
        };
        slots.client_quota.try_take(c.from).map_err(|wait| client_quota_spent(c.from, wait))?;
        crate::check::grade_client(c.program, c.addr, Some(c.from), state.config.check_wait, timeout, on_item)
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the check cannot listen on {}: {e}", c.addr)))
    };
    // A client check may wait a minute: shutdown does not wait for it.
    tokio::select! {
        graded = graded => graded,
        () = state.cancel.cancelled() => Err(ApiError::new(ErrorCode::ShuttingDown, "the gateway is shutting down")),
    }
}

fn client_quota_spent(ip: IpAddr, wait: Duration) -> ApiError {
    let secs = wait.as_secs_f64().ceil() as u64;
    let e = format!("{ip} has run its share of client checks; retry in {secs} s");
    let mut e = ApiError::new(ErrorCode::RateLimited, e);
    e.retry_after = Some(secs);
    e
}

/// The targets as `hello` and `/api/v1/servers` list them.
pub fn listed(state: &AppState) -> Vec<ListedTarget> {
    let programs = Program::ALL.into_iter().filter(|p| p.is_server()).collect::<Vec<_>>();
    let targets = &state.config.targets;
    targets
        .iter()
        .map(|(name, addr)| ListedTarget { name: name.clone(), addr: addr.to_string(), programs: programs.clone() })
        .collect()
}

/// Runs the rubric against a listed target, or waits on `check_listen` for a student's client,
/// and returns the graded report with each item's timeline (the schema of `socketlab check
/// --format json`).
#[utoipa::path(
    post,
    path = "/api/v1/checks",
    request_body = CheckRequest,
    responses(
        (status = 200, description = "The check ran; `passed` says whether every required item passed. With a class cookie, the score is recorded against the student", body = Report),
        (status = 401, description = "The class cookie is forged or expired, or its student was removed (`unauthorized`)", body = ErrorBody),
        (status = 400, description = "The body is not JSON (`malformed_json`)", body = ErrorBody),
        (status = 403, description = "A browser post from another site (`forbidden_origin`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid, or the target is not one the operator listed (`invalid_field`); nothing was sent", body = ErrorBody),
        (status = 429, description = "Rate-limited, or this IP has run its share of client checks (`rate_limited`; see Retry-After), or a check of that target or a client check is already running (`too_many_in_flight`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry can pass"))),
        (status = 500, description = "A client check cannot listen on `check_listen` (`internal`)", body = ErrorBody),
        (status = 502, description = "Nothing listens at the listed target (`connection_refused`)", body = ErrorBody),
        (status = 503, description = "The gateway is shutting down (`shutting_down`)", body = ErrorBody),
    ),
    tag = "checks"
)]
pub async fn create_check(
    State(state): State<Arc<AppState>>,
    super::proxy::Client(client): super::proxy::Client,
    browser: super::session::Browser,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Report>, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let limit = state.config.limits.max_frame_bytes;
            ApiError::new(ErrorCode::TooLarge, format!("the body is larger than {limit} bytes"))
        } else {
            ApiError::new(ErrorCode::MalformedJson, e.body_text())
        }
    })?;
    let req: CheckRequest = serde_json::from_slice(&body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::new(ErrorCode::InvalidField, format!("not a valid check: {e}")),
        _ => ApiError::new(ErrorCode::MalformedJson, format!("the body is not JSON: {e}")),
    })?;
    // Behind a listed proxy, the requester is the client it names.
    let check = admit(&state, &req, client)?;
    state.rate_limit(client, &browser)?;
    let who = super::classes::student(&state, &headers).await?;
    let report = run(&state, check, &mut |_| {}).await?;
    if let Some((student, _)) = &who {
        record(&state, student, &report).await;
    }
    Ok(Json(report))
}

/// Records a check's score against a student of a class (REST and WebSocket alike).
pub async fn record(state: &AppState, student: &crate::db::class::Student, report: &Report) {
    super::classes::record_check(state, student, report.program.name(), report.score, report.max_score).await;
}
