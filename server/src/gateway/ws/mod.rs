//! The WebSocket bridge at `/api/v1/ws`: JSON frames in, exchanges and timelines out.
//!
//! This file is the upgrade: it checks the origin and the caps (per address, and the gateway's
//! in all, answered 503 `gateway_full` at once), starts the browser's session when it has
//! none, answers the handshake and hands the socket to the session. The session is split in two: `core.rs`
//! decides (which frame starts, refuses or ends which exchange, when and how the socket
//! closes) and `io.rs` only moves frames and runs exchanges. The handshake is answered here
//! rather than by axum's extractor so that the session owns the raw connection under the
//! WebSocket: after a frame it cannot take (too large, not UTF-8) it must drain what the client
//! still sends, or the kernel resets the connection and destroys the close frame.

pub(crate) mod core;
mod handshake;
mod io;
mod parked;

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use socketlab_proto::wire::ErrorCode;

use super::AppState;
use super::error::ApiError;

/// How long an upgrade waits for the store to name its class cookie's student; past it the
/// WebSocket opens without one (its checks are not recorded), rather than hang on a slow store.
pub const STUDENT_LOOKUP: std::time::Duration = std::time::Duration::from_millis(500);

/// `GET /api/v1/ws`: checks the handshake, origin and limits, then upgrades.
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<super::listener::Peer>,
    mut req: Request,
) -> Response {
    let upgrade = match handshake::accept(&mut req) {
        Ok(u) => u,
        Err(refused) => return refused.into_response(),
    };
    let headers = req.headers();
    let refuse = |e: ApiError| {
        state.metrics.error(e.code);
        e.into_response()
    };
    if !state.hosts.origin_allowed(headers, &state.config.allowed_origins) {
        return refuse(ApiError::new(
            ErrorCode::ForbiddenOrigin,
            "this page's origin may not open WebSockets here; ask the operator to add it to allowed_origins",
        ));
    }
    if state.cancel.is_cancelled() {
        return refuse(ApiError::new(ErrorCode::ShuttingDown, "the gateway is shutting down"));
    }
    // Behind a listed proxy, the cap and the session's rate limit count the client's address.
    let client =
        super::proxy::client_ip(&state.config.trusted_proxies, state.config.forwarded_header, peer.addr.ip(), headers);
    let client = std::net::SocketAddr::new(client, peer.addr.port());
    let guard = match state.conns.admit(client.ip()) {
        Ok(guard) => guard,
        Err(super::limits::Refused::Address) => {
            let mut e = ApiError::new(
                ErrorCode::TooManyConnections,
                format!("this address already has {} WebSockets open", state.config.limits.max_connections_per_ip),
            );
            e.retry_after = Some(5);
            return refuse(e);
        }
        Err(super::limits::Refused::Full) => {
            let most = state.config.limits.max_connections;
            return refuse(super::limits::full(format!(
                "this gateway already holds the most WebSockets it may ({most})"
            )));
        }
    };
    // A class's student (a bad cookie counts as none: the playground still works) has their
    // checks recorded.
    // The lookup is bounded: a slow store must not stall the playground, which needs none.
    let lookup = tokio::time::timeout(STUDENT_LOOKUP, super::classes::student(&state, headers)).await;
    let student = match lookup {
        Ok(found) => found.ok().flatten().map(|(s, _)| s),
        Err(_) => {
            tracing::warn!(wait = ?STUDENT_LOOKUP, "the store did not name the WebSocket's student in time; none");
            None
        }
    };
    let tracker = state.tracker.clone();
    let config = handshake::config(&state);
    // A browser that reaches the WebSocket without a session (the page came from elsewhere)
    // gets one here.
    let mut cookie = axum::http::HeaderMap::new();
    let https = super::proxy::https(
        &state.config.trusted_proxies,
        state.config.forwarded_header,
        peer.addr.ip(),
        req.headers(),
    );
    let browser = super::session::ensure(req.headers(), https, &mut cookie);
    let mut response =
        upgrade.finish(&tracker, config, move |socket| io::session(state, socket, client, browser, guard, student));
    response.headers_mut().extend(cookie);
    response
}
