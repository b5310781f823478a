//! `POST /api/v1/checks`: grades a server an operator listed, by name, through the gateway.
//!
//! A request names a target from the config's `[targets]` table, never an address, so no
//! request can make the gateway reach a host or port the operator did not list. Only server
//! checks run here; the check plays the client as `socketlab check` does.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use serde::Deserialize;
use socketlab_proto::check::{Program, Report};
use socketlab_proto::wire::ErrorCode;

use super::AppState;
use super::error::ApiError;

/// The body of `POST /api/v1/checks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckRequest {
    /// `udp-server` or `tcp-server`.
    program: String,
    /// A name from the operator's `[targets]` table.
    target: String,
}

/// Runs the rubric against a listed target and returns the graded report with each item's
/// timeline (the schema of `socketlab check --format json`).
pub async fn create_check(
    State(state): State<Arc<AppState>>,
    super::proxy::Client(client): super::proxy::Client,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Report>, ApiError> {
    let body = body.map_err(|e| ApiError::new(ErrorCode::MalformedJson, e.body_text()))?;
    let req: CheckRequest = serde_json::from_slice(&body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::new(ErrorCode::InvalidField, format!("not a valid check: {e}")),
        _ => ApiError::new(ErrorCode::MalformedJson, format!("the body is not JSON: {e}")),
    })?;
    let program = Program::parse(&req.program)
        .filter(|p| p.is_server())
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidField, "program must be udp-server or tcp-server"))?;
    // The name is looked up before anything else happens: an unlisted one sends nothing.
    let addr = *state.config.targets.get(&req.target).ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidField, format!("target {:?} is not one the operator listed", req.target))
    })?;
    state.rate_limit(client)?;
    let report = crate::check::grade_server(program, addr, state.config.exchange_timeout())
        .await
        .map_err(|e| ApiError::new(ErrorCode::ConnectionRefused, e))?;
    Ok(Json(report))
}
