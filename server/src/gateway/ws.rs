//! The WebSocket bridge at `/api/v1/ws`: JSON frames in, exchanges and timelines out.
//!
//! Each socket is one task that owns both halves of the connection. Exchanges run as their own
//! tracked tasks and hand their frames back through a bounded channel, so one socket can have
//! several in flight (up to the cap) and a slow reader slows only itself. Every exchange ends
//! in exactly one `reply` or one `error`. The task watches the shutdown token itself, because
//! axum's graceful shutdown does not reach upgraded connections: on shutdown it lets in-flight
//! exchanges finish for a moment, fails the rest with `shutting_down`, and closes with 1001.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use socketlab_proto::wire::{ClientMsg, ErrorCode, Reply, Scope, ServerMsg};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, sleep_until};

use super::error::ApiError;
use super::exchange::{self, reply_text};
use super::hub::Observer;
use super::limits::ConnectionGuard;
use super::{AppState, origin_allowed};

/// Frames waiting for a socket's writer; exchanges wait when it is full.
const OUTBOX: usize = 256;
/// A client that does not take a frame within this long is cut off.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the closing handshake may take after our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Longest exchange id accepted.
const MAX_ID: usize = 128;

/// `GET /api/v1/ws`: checks origin and limits, then upgrades.
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<super::listener::Peer>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let refuse = |e: ApiError| {
        state.metrics.error(e.code);
        e.into_response()
    };
    if !origin_allowed(&headers, &state.config.allowed_origins) {
        return refuse(ApiError::new(
            ErrorCode::ForbiddenOrigin,
            "this page's origin may not open WebSockets here; ask the operator to add it to allowed_origins",
        ));
    }
    if state.cancel.is_cancelled() {
        return refuse(ApiError::new(ErrorCode::ShuttingDown, "the gateway is shutting down"));
    }
    let Some(guard) = state.conns.admit(peer.addr.ip()) else {
        let mut e = ApiError::new(
            ErrorCode::TooManyConnections,
            format!("this address already has {} WebSockets open", state.config.limits.max_connections_per_ip),
        );
        e.retry_after = Some(5);
        return refuse(e);
    };
    let limit = state.config.limits.max_frame_bytes;
    let tracker = state.tracker.clone();
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(4096)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(4 * limit)
        .on_upgrade(move |socket| tracker.track_future(session(state, socket, peer.addr, guard)))
}

/// A frame on its way to the client; `ends` names the in-flight exchange it finishes.
///
/// Only an exchange's own last frame ends it: an error that refuses a frame (a duplicate id,
/// say) carries the same id but must not end the exchange already running under it.
struct Outgoing {
    msg: ServerMsg,
    ends: Option<String>,
}

/// Per-socket state owned by the session task.
struct Session {
    state: Arc<AppState>,
    peer: SocketAddr,
    in_flight: HashSet<String>,
    /// The exchanges in flight, polled by the session task itself: no task to spawn and no
    /// channel to cross for each exchange.
    running: FuturesUnordered<BoxFuture<'static, Vec<Outgoing>>>,
    out: mpsc::Sender<Outgoing>,
    observer: Option<Observer>,
}

/// Runs one exchange and returns its frames: the events, then its one reply or error.
async fn run_exchange(state: Arc<AppState>, prepared: exchange::Prepared, id: String) -> Vec<Outgoing> {
    let (events, last) = match exchange::run(&state, &prepared).await {
        Ok(o) => {
            let (reply, reply_base64) = reply_text(&o.reply);
            let reply = Reply { id: id.clone(), reply, reply_base64, elapsed_us: o.elapsed_us, exchange: o.exchange };
            (o.events, ServerMsg::Reply(reply))
        }
        Err(f) => {
            state.metrics.error(f.error.code);
            let error = ServerMsg::Error {
                id: Some(id.clone()),
                code: f.error.code,
                message: f.error.message,
                exchange: f.exchange,
            };
            (f.events, error)
        }
    };
    let mut frames: Vec<Outgoing> = events
        .into_iter()
        .map(|event| Outgoing { msg: ServerMsg::Event { id: id.clone(), event }, ends: None })
        .collect();
    frames.push(Outgoing { msg: last, ends: Some(id) });
    frames
}

async fn session(state: Arc<AppState>, socket: WebSocket, peer: SocketAddr, _guard: ConnectionGuard) {
    state.metrics.session_opened();
    let (mut sink, mut stream) = socket.split();
    let (out, mut outbox) = mpsc::channel(OUTBOX);
    let limits = state.config.limits.clone();
    let mut s = Session {
        state: Arc::clone(&state),
        peer,
        in_flight: HashSet::new(),
        running: FuturesUnordered::new(),
        out,
        observer: None,
    };
    let hello = ServerMsg::Hello(state.hello());
    let mut open = send(&mut sink, &hello).await;
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    let mut idle_at = Instant::now() + idle;
    let session_end = Instant::now() + Duration::from_millis(limits.session_timeout_ms);
    let mut close: Option<(u16, String)> = None;
    while open {
        tokio::select! {
            () = state.cancel.cancelled() => {
                drain_on_shutdown(&mut s, &mut sink, &mut outbox).await;
                close = Some((close_code::AWAY, "the gateway is shutting down".into()));
                break;
            }
            () = sleep_until(session_end) => {
                close = Some((close_code::NORMAL, "session time limit reached; reconnect to continue".into()));
                break;
            }
            () = sleep_until(idle_at) => {
                close = Some((close_code::NORMAL, "idle for too long; reconnect to continue".into()));
                break;
            }
            frame = stream.next() => match frame {
                None | Some(Ok(Message::Close(_))) => break,
                Some(Ok(Message::Text(text))) => {
                    idle_at = Instant::now() + idle;
                    s.on_text(text.as_str()).await;
                }
                Some(Ok(Message::Binary(_))) => {
                    idle_at = Instant::now() + idle;
                    s.error(None, ApiError::new(ErrorCode::MalformedJson, "send JSON in text frames, not binary frames")).await;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => idle_at = Instant::now() + idle,
                Some(Err(e)) => {
                    let text = e.to_string();
                    if text.contains("limit exceeded") || text.contains("too long") {
                        state.metrics.error(ErrorCode::TooLarge);
                        let error = ServerMsg::Error {
                            exchange: None,
                            id: None,
                            code: ErrorCode::TooLarge,
                            message: format!("frames are limited to {} bytes", limits.max_frame_bytes),
                        };
                        let _ = send(&mut sink, &error).await;
                        close = Some((close_code::SIZE, format!("too_large: frames are limited to {} bytes", limits.max_frame_bytes)));
                    }
                    break;
                }
            },
            Some(frames) = s.running.next(), if !s.running.is_empty() => {
                for out in &frames {
                    s.finished(out);
                    open = open && feed(&mut sink, &out.msg).await;
                }
                open = open && matches!(tokio::time::timeout(SEND_TIMEOUT, sink.flush()).await, Ok(Ok(())));
            }
            Some(out) = outbox.recv() => {
                // Write every frame already waiting, then flush once: a traced exchange is a
                // dozen frames, and one write per frame would cost a syscall each.
                s.finished(&out);
                open = feed(&mut sink, &out.msg).await;
                let mut batched = 1;
                while open && batched < 64 {
                    let Ok(more) = outbox.try_recv() else { break };
                    s.finished(&more);
                    open = feed(&mut sink, &more.msg).await;
                    batched += 1;
                }
                open = open && matches!(tokio::time::timeout(SEND_TIMEOUT, sink.flush()).await, Ok(Ok(())));
            }
            seen = observed(&mut s.observer) => match seen {
                Ok(o) => open = send(&mut sink, &ServerMsg::Observed { conversation: o.conversation, event: o.event }).await,
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => s.observer = None,
            },
        }
    }
    if let Some((code, reason)) = close {
        let frame = CloseFrame { code, reason: reason.into() };
        let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
        // Finish the closing handshake: read until the client's close frame, so the kernel
        // never closes a socket with unread data, which would reset the connection and could
        // destroy our close frame before the client reads it.
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(frame)) = stream.next().await {
                if matches!(frame, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
    state.metrics.session_closed();
}

/// Sends one frame; false when the client is gone or too slow to take it.
/// Queues one frame without flushing; false when the client is gone or too slow.
async fn feed<S>(sink: &mut S, msg: &ServerMsg) -> bool
where
    S: futures_util::Sink<Message> + Unpin,
{
    let Ok(text) = serde_json::to_string(msg) else {
        return false;
    };
    matches!(tokio::time::timeout(SEND_TIMEOUT, sink.feed(Message::text(text))).await, Ok(Ok(())))
}

async fn send<S>(sink: &mut S, msg: &ServerMsg) -> bool
where
    S: futures_util::Sink<Message> + Unpin,
{
    let Ok(text) = serde_json::to_string(msg) else {
        return false;
    };
    matches!(tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::text(text))).await, Ok(Ok(())))
}

async fn observed(observer: &mut Option<Observer>) -> Result<super::hub::Observed, broadcast::error::RecvError> {
    match observer {
        Some(o) => o.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// On shutdown: forward what in-flight exchanges still produce for a short while, then fail
/// whatever is left so that every exchange still ends in exactly one reply or error.
async fn drain_on_shutdown<S>(s: &mut Session, sink: &mut S, outbox: &mut mpsc::Receiver<Outgoing>)
where
    S: futures_util::Sink<Message> + Unpin,
{
    let grace = Duration::from_millis(s.state.config.limits.exchange_timeout_ms.min(3000) + 200);
    let deadline = Instant::now() + grace;
    while let Ok(Some(out)) = tokio::time::timeout(Duration::ZERO, outbox.recv()).await {
        if !send(sink, &out.msg).await {
            return;
        }
    }
    while !s.running.is_empty() {
        let Ok(Some(frames)) = tokio::time::timeout_at(deadline, s.running.next()).await else {
            break;
        };
        for out in &frames {
            s.finished(out);
            if !feed(sink, &out.msg).await {
                return;
            }
        }
        if !matches!(tokio::time::timeout(SEND_TIMEOUT, sink.flush()).await, Ok(Ok(()))) {
            return;
        }
    }
    for id in std::mem::take(&mut s.in_flight) {
        let msg = ServerMsg::Error {
            exchange: None,
            id: Some(id),
            code: ErrorCode::ShuttingDown,
            message: "the gateway shut down before this exchange finished".into(),
        };
        if !send(sink, &msg).await {
            return;
        }
    }
}

impl Session {
    /// Notes that an exchange ended when its final frame goes out.
    fn finished(&mut self, out: &Outgoing) {
        if let Some(id) = &out.ends {
            self.in_flight.remove(id);
        }
    }

    async fn reply(&mut self, msg: ServerMsg) {
        let _ = self.out.send(Outgoing { msg, ends: None }).await;
    }

    async fn error(&mut self, id: Option<String>, e: ApiError) {
        self.state.metrics.error(e.code);
        self.reply(ServerMsg::Error { id, code: e.code, message: e.message, exchange: None }).await;
    }

    async fn on_text(&mut self, text: &str) {
        // The common case parses once; only a bad frame is parsed again to tell malformed JSON
        // from an invalid field, and to find its id.
        let msg: ClientMsg = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                let error = match serde_json::from_str::<serde_json::Value>(text) {
                    Err(e) => (None, ApiError::new(ErrorCode::MalformedJson, format!("the frame is not JSON: {e}"))),
                    Ok(v) => (
                        v.get("id").and_then(|v| v.as_str()).map(str::to_owned),
                        ApiError::new(ErrorCode::InvalidField, format!("the frame is not a valid request: {e}")),
                    ),
                };
                return self.error(error.0, error.1).await;
            }
        };
        match msg {
            ClientMsg::Exchange(req) => {
                let id = match req.id.clone() {
                    Some(id) if !id.is_empty() && id.len() <= MAX_ID => id,
                    _ => {
                        let e = ApiError::new(
                            ErrorCode::InvalidField,
                            format!("id must be a string of 1 to {MAX_ID} bytes"),
                        );
                        return self.error(req.id.clone(), e).await;
                    }
                };
                if let Err(e) = self.admit(&id) {
                    return self.error(Some(id), e).await;
                }
                let prepared = match exchange::prepare(&req, &self.state.config.limits) {
                    Ok(p) => p,
                    Err(e) => return self.error(Some(id), e).await,
                };
                self.in_flight.insert(id.clone());
                self.running.push(Box::pin(run_exchange(Arc::clone(&self.state), prepared, id)));
            }
            ClientMsg::Subscribe { scope } => {
                if scope == Scope::All && !self.state.config.observe_all {
                    let e = ApiError::new(
                        ErrorCode::ObserveDisabled,
                        "the operator turned off observing other clients on this gateway",
                    );
                    return self.error(None, e).await;
                }
                self.observer = (scope == Scope::All).then(|| self.state.hub.observe());
                self.reply(ServerMsg::Subscribed { scope }).await;
            }
        }
    }

    /// Checks the in-flight cap, duplicates and the rate limit before an exchange starts.
    fn admit(&self, id: &str) -> Result<(), ApiError> {
        if self.in_flight.contains(id) {
            return Err(ApiError::new(
                ErrorCode::DuplicateId,
                format!("exchange {id:?} is still in flight on this socket"),
            ));
        }
        let max = self.state.config.limits.max_in_flight;
        if self.in_flight.len() >= max {
            return Err(ApiError::new(
                ErrorCode::TooManyInFlight,
                format!("at most {max} exchanges may be in flight on one socket; wait for a reply"),
            ));
        }
        self.state.rate_limit(self.peer.ip())
    }
}
