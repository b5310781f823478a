//! The REST side of the gateway, for autograders and scripts, plus health and metrics.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use socketlab_proto::wire::{ErrorBody, ErrorCode, ExchangeRequest, ExchangeResult, Servers};

use super::AppState;
use super::error::ApiError;
use super::exchange::{self, reply_text};

/// Runs one exchange and returns its reply with the whole timeline.
#[utoipa::path(
    post,
    path = "/api/v1/exchanges",
    request_body = ExchangeRequest,
    responses(
        (status = 200, description = "The exchange finished", body = ExchangeResult),
        (status = 400, description = "The body is not JSON (`malformed_json`)", body = ErrorBody),
        (status = 403, description = "A browser post from another site (`forbidden_origin`)", body = ErrorBody),
        (status = 413, description = "The body or message is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 409, description = "The `impair` asked for cannot be applied here (`impairment_unavailable`)", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid (`invalid_field`)", body = ErrorBody),
        (status = 429, description = "Rate-limited (`rate_limited`); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry can pass"))),
        (status = 500, description = "Something failed inside the gateway (`internal`)", body = ErrorBody),
        (status = 502, description = "Nobody listens at the target: the `closed_port` target, by design (`connection_refused`); carries the timeline", body = ErrorBody),
        (status = 503, description = "The hosted server is down (`server_down`), the gateway is stopping (`shutting_down`), or it runs the most exchanges it may at once (`gateway_full`; see Retry-After)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may pass, when full"))),
        (status = 504, description = "The hosted server did not answer in time (`timeout`); carries the timeline", body = ErrorBody),
    ),
    tag = "exchanges"
)]
pub async fn create_exchange(
    State(state): State<Arc<AppState>>,
    super::proxy::Client(client): super::proxy::Client,
    browser: super::session::Browser,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ExchangeResult>, ApiError> {
    let result = async {
        let body = body.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::TooLarge,
                    format!("the body is larger than {} bytes", state.config.limits.max_frame_bytes),
                )
            } else {
                ApiError::new(ErrorCode::MalformedJson, e.body_text())
            }
        })?;
        let req: ExchangeRequest = serde_json::from_slice(&body).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => {
                    ApiError::new(ErrorCode::InvalidField, format!("the body is not a valid exchange: {e}"))
                }
                Category::Syntax | Category::Eof | Category::Io => {
                    ApiError::new(ErrorCode::MalformedJson, format!("the body is not JSON: {e}"))
                }
            }
        })?;
        let prepared = exchange::prepare(&req, &state.config.limits)?;
        state.rate_limit(client, &browser)?;
        let outcome = exchange::run(&state, &prepared).await.map_err(|f| {
            let mut error = f.error;
            error.events = prepared.trace.then_some(f.events);
            error.exchange = f.stored.or(f.exchange);
            error
        })?;
        let (reply, reply_base64) = reply_text(&outcome.reply);
        Ok(Json(ExchangeResult {
            id: outcome.stored.or(outcome.exchange).unwrap_or_else(|| state.store.next_id()),
            protocol: prepared.protocol,
            reply,
            reply_base64,
            elapsed_us: outcome.elapsed_us,
            events: outcome.events,
        }))
    }
    .await;
    let result: Result<Json<ExchangeResult>, ApiError> = result;
    if let Err(e) = &result {
        state.metrics.error(e.code);
    }
    result
}

/// The servers this gateway hosts, and the targets its operator listed for checks.
#[utoipa::path(get, path = "/api/v1/servers", responses((status = 200, body = Servers)), tag = "servers")]
pub async fn servers(State(state): State<Arc<AppState>>) -> Json<Servers> {
    Json(Servers {
        servers: state.servers.describe(),
        capture: state.capture_now(),
        targets: super::checks::listed(&state),
        check_listen: state.config.check_listen.map(|a| a.to_string()),
        impairments: state.impairments.clone(),
    })
}

/// `GET /healthz`'s body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` when exchanges can be served, `degraded` otherwise.
    pub status: &'static str,
    /// What is wrong, one sentence each: a hosted server that stopped or failed, an iterative
    /// TCP server held by a silent client, a TCP server at its connection cap, a capture that
    /// died. Empty when `ok`.
    pub detail: Vec<String>,
}

/// Readiness: 200 while both hosted servers run and can take an exchange, 503 otherwise, with
/// the reasons in `detail`.
#[utoipa::path(
    get,
    path = "/healthz",
    responses((status = 200, body = Health), (status = 503, body = Health)),
    tag = "operations"
)]
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let detail = state.problems();
    if detail.is_empty() {
        (StatusCode::OK, Json(Health { status: "ok", detail })).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "degraded", detail })).into_response()
    }
}

/// Prometheus metrics: exchanges, errors, sessions and a latency histogram.
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "OpenMetrics text exposition", content_type = "application/openmetrics-text")),
    tag = "operations"
)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)], state.metrics.render()).into_response()
}

/// An exchange's captured frames as a pcapng file for Wireshark.
#[utoipa::path(
    get,
    path = "/api/v1/exchanges/{exchange}/pcapng",
    params(("exchange" = String, Path, description = "The exchange's name from its reply")),
    responses(
        (status = 200, description = "pcapng file", content_type = "application/x-pcapng"),
        (status = 404, description = "No such exchange, or it is no longer kept (`not_found`)", body = ErrorBody),
        (status = 409, description = "Packet capture is off (`capture_unavailable`)", body = ErrorBody),
    ),
    tag = "exchanges"
)]
pub async fn pcapng(State(state): State<Arc<AppState>>, Path(exchange): Path<String>) -> Result<Response, ApiError> {
    if !state.capture.enabled {
        let reason = state.capture.reason.clone().unwrap_or_default();
        return Err(ApiError::new(
            ErrorCode::CaptureUnavailable,
            format!("this gateway captures no packets: {reason}"),
        ));
    }
    let file = state
        .store
        .pcapng(&exchange, &state.capture.interface, std::time::Instant::now())
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no capture is kept for exchange {exchange:?}")))?
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("cannot write the pcapng file: {e}")))?;
    let disposition = format!("attachment; filename=\"socketlab-{exchange}.pcapng\"");
    Ok(([(header::CONTENT_TYPE, "application/x-pcapng".to_owned()), (header::CONTENT_DISPOSITION, disposition)], file)
        .into_response())
}

/// Unknown paths under the API answer in the API's error shape.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such API route; see /api/v1/openapi.json")
}
