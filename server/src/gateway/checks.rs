//! `POST /api/v1/checks`: grades a student's program through the gateway, and the admission
//! and running that the WebSocket's checks share.
//!
//! A server check names a target from the config's `[targets]` table, never an address, so no
//! request can make the gateway reach a host or port the operator did not list. A client check
//! names no target: it listens on the one address the operator set as `check_listen`, one
//! client check at a time.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use socketlab_proto::check::{CheckRequest, ListedTarget, Program, Report};
use socketlab_proto::wire::{ErrorBody, ErrorCode};

use super::AppState;
use super::error::ApiError;

/// A check admitted: the program and the listed address it grades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub program: Program,
    pub addr: SocketAddr,
}

/// Looks the request's target up among the listed ones. The name is looked up before
/// anything else happens, so an unlisted one sends nothing anywhere.
pub fn admit(state: &AppState, req: &CheckRequest) -> Result<Admitted, ApiError> {
    if !req.program.is_server() {
        let Some(addr) = state.config.check_listen else {
            let e = "this gateway takes no client checks (its operator set no check_listen); program must be udp-server or tcp-server";
            return Err(ApiError::new(ErrorCode::InvalidField, e));
        };
        if req.target.is_some() {
            let e = "a client check takes no target: it listens where the operator said (check_listen in hello)";
            return Err(ApiError::new(ErrorCode::InvalidField, e));
        }
        return Ok(Admitted { program: req.program, addr });
    }
    let Some(name) = req.target.as_deref() else {
        return Err(ApiError::new(ErrorCode::InvalidField, "target must name one of the listed targets"));
    };
    let addr = *state.config.targets.get(name).ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidField, format!("target {name:?} is not one the operator listed"))
    })?;
    Ok(Admitted { program: req.program, addr })
}

/// Runs an admitted check, handing each item to `on_item` as it is graded. A client check
/// waits for the one listening address to be free only if none is running; otherwise it is
/// refused with `too_many_in_flight`.
pub async fn run(state: &AppState, c: Admitted, on_item: &mut crate::check::OnItem<'_>) -> Result<Report, ApiError> {
    let timeout = state.config.exchange_timeout();
    let graded = async {
        if c.program.is_server() {
            return crate::check::grade_server(c.program, c.addr, timeout, on_item)
                .await
                .map_err(|e| ApiError::new(ErrorCode::ConnectionRefused, e));
        }
        let Ok(_listening) = state.client_check.try_lock() else {
            let e = format!("a client check is already listening on {}; retry when it has ended", c.addr);
            return Err(ApiError::new(ErrorCode::TooManyInFlight, e));
        };
        crate::check::grade_client(c.program, c.addr, state.config.check_wait, timeout, on_item)
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the check cannot listen on {}: {e}", c.addr)))
    };
    // A client check may wait a minute: shutdown does not wait for it.
    tokio::select! {
        graded = graded => graded,
        () = state.cancel.cancelled() => Err(ApiError::new(ErrorCode::ShuttingDown, "the gateway is shutting down")),
    }
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
        (status = 200, description = "The check ran; `passed` says whether every required item passed", body = Report),
        (status = 400, description = "The body is not JSON (`malformed_json`)", body = ErrorBody),
        (status = 403, description = "A browser post from another site (`forbidden_origin`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid, or the target is not one the operator listed (`invalid_field`); nothing was sent", body = ErrorBody),
        (status = 429, description = "Rate-limited (`rate_limited`; see Retry-After), or a client check is already listening (`too_many_in_flight`)", body = ErrorBody,
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
    let check = admit(&state, &req)?;
    state.rate_limit(client)?;
    Ok(Json(run(&state, check, &mut |_| {}).await?))
}
