//! The server side of the WebSocket opening handshake (RFC 6455, section 4.2).
//!
//! axum's `WebSocketUpgrade` hides the connection under the WebSocket, and the session needs it
//! to drain a client that is still sending after the session closed (see `mod.rs`). So the
//! handshake is checked here, with tungstenite's accept-key function, and the upgraded
//! connection is wrapped in tokio-tungstenite's stream directly. The refusals keep the statuses
//! axum's extractor gave: 400 for a request that is not a WebSocket handshake, 426 when the
//! connection cannot be upgraded.

use std::future::Future;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::task::TaskTracker;

use crate::gateway::AppState;

/// The WebSocket over the upgraded HTTP connection.
pub type Socket = WebSocketStream<super::parked::Conn>;

/// A handshake that passed its checks; [`Accepted::finish`] answers 101 and starts the session.
#[derive(Debug)]
pub struct Accepted {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// Checks the request is a WebSocket handshake this server can take; the refusal is a status
/// and a plain-text reason.
pub fn accept(req: &mut Request) -> Result<Accepted, (StatusCode, &'static str)> {
    let bad = |why: &'static str| (StatusCode::BAD_REQUEST, why);
    let h = req.headers();
    if !has_token(h, header::CONNECTION, "upgrade") {
        return Err(bad("Connection header did not include 'upgrade'"));
    }
    if !has_token(h, header::UPGRADE, "websocket") {
        return Err(bad("`Upgrade` header did not include 'websocket'"));
    }
    if h.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v.as_bytes() != b"13") {
        return Err(bad("`Sec-WebSocket-Version` header did not include '13'"));
    }
    let Some(key) = h.get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return Err(bad("`Sec-WebSocket-Key` header missing"));
    };
    let Some(on_upgrade) = req.extensions_mut().remove::<OnUpgrade>() else {
        return Err((StatusCode::UPGRADE_REQUIRED, "this connection cannot be upgraded to a WebSocket"));
    };
    Ok(Accepted { key, on_upgrade })
}

impl Accepted {
    /// Answers 101 and runs `session` on the socket once the connection is upgraded, as a task
    /// of `tracker`.
    pub fn finish<F, Fut>(self, tracker: &TaskTracker, config: WebSocketConfig, session: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Self { key, on_upgrade } = self;
        tracker.spawn(async move {
            // A client that hangs up before the upgrade completes leaves nothing to serve.
            let Ok(upgraded) = on_upgrade.await else { return };
            let socket = WebSocketStream::from_raw_socket(
                super::parked::Conn::new(TokioIo::new(upgraded)),
                Role::Server,
                Some(config),
            )
            .await;
            // Boxed: the session's future is large, and unboxed it would be part of this task's
            // future, which spawning copies several times for every WebSocket.
            Box::pin(session(socket)).await;
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        response
    }
}

/// The most one read of the WebSocket takes (see [`config`]).
pub const READ_SIZE: usize = 1024;

/// The frame and buffer limits for one socket.
pub fn config(state: &AppState) -> WebSocketConfig {
    let limit = state.config.limits.max_frame_bytes;
    WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
        // tungstenite zeroes this much before every read, and a request frame is a few hundred
        // bytes: 1 KiB takes one in a read, and costs a large frame a read per KiB.
        .read_buffer_size(READ_SIZE)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(4 * limit)
}

/// Whether a comma-separated header holds `token`, ignoring case.
fn has_token(h: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}
