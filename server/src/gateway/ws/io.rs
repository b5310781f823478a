//! The WebSocket session's I/O: one task per socket that moves frames between the client and
//! the [`SessionCore`], runs the exchanges the core starts, and carries out its actions.
//!
//! The task only ever waits on the network, on its own exchanges and checks, on the core's
//! next deadline and on the shutdown token; it never waits on a queue that it drains itself.
//! Exchanges and checks run as futures polled by this task, and their ends come back as
//! [`Input::Finished`]; a check's items come back as [`Input::Progress`] on a channel, all of
//! them fed before its end. The task
//! watches the shutdown token itself, because axum's graceful shutdown does not reach upgraded
//! connections.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use socketlab_proto::check::{self, CheckRequest};
use socketlab_proto::wire::{ExchangeRequest, Reply, ServerMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, error::CapacityError};

use super::core::{Action, Gate, Input, SessionCore, Settings};
use super::handshake::Socket;
use crate::db::class::Student;
use crate::gateway::AppState;
use crate::gateway::checks::{self as gateway_checks, Admitted};
use crate::gateway::error::ApiError;
use crate::gateway::exchange::{self, reply_text};
use crate::gateway::hub::Observer;
use crate::gateway::isolation::Owner;
use crate::gateway::limits::{ConnectionGuard, SessionLimiter};
use crate::gateway::session::SessionId;

/// How long the closing handshake may take after our close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// On shutdown, frames already received are read until none comes for this long (more than a
/// delayed ACK, which can hold back a client's small frames)...
const DRAIN_QUIET: Duration = Duration::from_millis(50);
/// ...or for this long at most.
const DRAIN_MAX: Duration = Duration::from_millis(500);

/// Admission against the gateway's limits, for one peer.
struct Admission {
    state: Arc<AppState>,
    peer: SocketAddr,
    /// The class student this browser's cookie named, whose checks are recorded.
    student: Option<Arc<Student>>,
    /// This session's own bucket; the address's ceiling is shared.
    bucket: SessionLimiter,
    /// The browser's session, whose bucket its tabs and REST requests share.
    browser: Option<SessionId>,
}

impl Gate for Admission {
    type Prepared = exchange::Prepared;
    type Check = (Admitted, Option<Arc<Student>>);

    fn prepare(&self, req: &ExchangeRequest) -> Result<exchange::Prepared, ApiError> {
        let mut prepared = exchange::prepare(req, &self.state.config.limits)?;
        prepared.owner = Owner { browser: self.browser.clone(), student: self.student.as_ref().map(|s| s.id.clone()) };
        Ok(prepared)
    }

    fn prepare_check(&self, req: &CheckRequest) -> Result<Self::Check, ApiError> {
        Ok((gateway_checks::admit(&self.state, req, self.peer.ip())?, self.student.clone()))
    }

    fn rate_limit(&self, _now: std::time::Instant) -> Result<(), ApiError> {
        self.state.rate_limit_ws(&self.bucket, self.browser.as_ref(), self.peer.ip())
    }
}

type Running = FuturesUnordered<BoxFuture<'static, (String, Vec<ServerMsg>)>>;
/// A check's items on their way to the core, by check id.
type Progress = mpsc::UnboundedSender<(String, Vec<ServerMsg>)>;

/// Runs one socket until it closes.
pub async fn session(
    state: Arc<AppState>,
    mut ws: Socket,
    peer: SocketAddr,
    browser: Option<SessionId>,
    _guard: ConnectionGuard,
    student: Option<Student>,
) {
    state.metrics.session_opened();
    tracing::debug!(%peer, "WebSocket opened");
    let limits = &state.config.limits;
    let settings = Settings {
        max_in_flight: limits.max_in_flight,
        max_frame_bytes: limits.max_frame_bytes,
        idle: Duration::from_millis(limits.idle_timeout_ms),
        session: Duration::from_millis(limits.session_timeout_ms),
        grace: Duration::from_millis(limits.exchange_timeout_ms.min(3000) + 200),
        // In class mode everyone observes without payloads (`isolation.rs`): others' payloads
        // are their work.
        observe_all: state.config.observe_all,
    };
    let limits = &state.config.limits;
    let bucket = SessionLimiter::over(limits.rate_per_sec, limits.burst, state.config.rate_period);
    let gate = Admission { state: Arc::clone(&state), peer, bucket, browser, student: student.map(Arc::new) };
    let mut core = SessionCore::new(gate, settings, std::time::Instant::now());
    let mut running = Running::new();
    let (progress, mut items) = mpsc::unbounded_channel();
    let mut observer: Option<Observer> = None;
    // Whether the stream can still be read; it ends for good after a frame error.
    let mut readable = true;
    // The `hello` is the same text for every socket until what it says changes.
    let hello = ws.send(Message::Text(state.hello_text()));
    let mut open = matches!(tokio::time::timeout(state.config.send_timeout, hello).await, Ok(Ok(())));
    let mut shutdown = pin!(state.cancel.cancelled());
    let mut shutting_down = false;
    // One timer for the session, moved to the core's next deadline: a later deadline only
    // extends it, where a new timer per turn of the loop is registered and removed each time.
    // With no deadline the timer rests at one far instant, so it is not reset on every turn.
    let far = far_future();
    let mut tick = pin!(tokio::time::sleep_until(far));
    let close = loop {
        if !open {
            core.handle(Input::Gone, std::time::Instant::now());
        }
        let (close, sent) = carry_out(&state, &mut ws, &mut core, &mut running, &progress, &mut observer).await;
        open = sent;
        if close.is_some() || core.is_closed() {
            break close.filter(|_| open);
        }
        let deadline = core.next_deadline().map_or(far, Instant::from_std);
        if tick.deadline() != deadline || tick.is_elapsed() {
            tick.as_mut().reset(deadline);
        }
        tokio::select! {
            () = &mut shutdown, if !shutting_down => {
                shutting_down = true;
                // Frames that had arrived before the shutdown are still taken, one by one:
                // read until the stream has been quiet for a moment, for a bounded time.
                let until = Instant::now() + DRAIN_MAX;
                while readable && Instant::now() < until {
                    let Ok(frame) = tokio::time::timeout(DRAIN_QUIET, ws.next()).await else { break };
                    readable = feed(&mut core, frame);
                    let (_, sent) = carry_out(&state, &mut ws, &mut core, &mut running, &progress, &mut observer).await;
                    open = open && sent;
                }
                core.handle(Input::Shutdown, std::time::Instant::now());
            }
            () = &mut tick => core.handle(Input::Tick, std::time::Instant::now()),
            frame = next_frame(&mut ws), if readable => readable = feed(&mut core, frame),
            Some((id, frames)) = items.recv() => core.handle(Input::Progress { id, frames }, std::time::Instant::now()),
            Some((id, frames)) = running.next(), if !running.is_empty() => {
                // A check sent its items before it ended: they go first.
                while let Ok((id, frames)) = items.try_recv() {
                    core.handle(Input::Progress { id, frames }, std::time::Instant::now());
                }
                core.handle(Input::Finished { id, frames }, std::time::Instant::now());
            }
            seen = observed(&mut observer) => match seen {
                Ok(o) => {
                    let class_mode = state.class_mode().await;
                    let event = if class_mode { crate::gateway::isolation::without_payload(o.event) } else { o.event };
                    let msg = ServerMsg::Observed { conversation: o.conversation, event };
                    open = write(&state, &mut ws, std::iter::once(msg)).await;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => observer = None,
            },
        }
    };
    drop(running);
    tracing::debug!(%peer, close = ?close.as_ref().map(|(code, reason)| (code, reason)), "WebSocket closing");
    match close {
        Some((code, reason)) => say_goodbye(&mut ws, code, reason, readable, state.config.send_timeout).await,
        // The client closed: send the reply to its close frame that tungstenite queued.
        None => drop(tokio::time::timeout(CLOSE_WAIT, SinkExt::close(&mut ws)).await),
    }
    state.metrics.session_closed();
}

/// The next frame; a socket whose last read found nothing is not read again until it wakes
/// (see `parked.rs`).
async fn next_frame(ws: &mut Socket) -> Option<Result<Message, WsError>> {
    std::future::poll_fn(|cx| if ws.get_ref().poll_parked(cx) { Poll::Pending } else { ws.poll_next_unpin(cx) }).await
}

/// Hands one read result to the core; false once the stream has ended.
fn feed<G: Gate>(core: &mut SessionCore<G>, frame: Option<Result<Message, WsError>>) -> bool {
    let now = std::time::Instant::now();
    let input = match &frame {
        Some(Ok(Message::Text(text))) => Input::Text(text.as_str()),
        Some(Ok(Message::Binary(_))) => Input::Binary,
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Input::Control,
        Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => Input::TooLarge,
        Some(Err(WsError::Utf8(_))) => Input::InvalidUtf8,
        None | Some(Ok(Message::Close(_)) | Err(_)) => Input::Gone,
    };
    let ended = matches!(frame, None | Some(Err(_)));
    core.handle(input, now);
    !ended
}

/// Carries out the core's queued actions: frames are written and flushed once, exchanges
/// started. Returns the close to send, if any, and whether the socket could be written.
async fn carry_out<G: Gate<Prepared = exchange::Prepared, Check = (Admitted, Option<Arc<Student>>)>>(
    state: &Arc<AppState>,
    ws: &mut Socket,
    core: &mut SessionCore<G>,
    running: &mut Running,
    progress: &Progress,
    observer: &mut Option<Observer>,
) -> (Option<(u16, String)>, bool) {
    let mut frames = Vec::new();
    let mut close = None;
    while let Some(action) = core.poll_action() {
        match action {
            Action::Send(msg) => {
                if frames.capacity() == 0 {
                    // A traced exchange's nine frames arrive together: grown one by one they
                    // would be moved twice more.
                    frames.reserve(16);
                }
                frames.push(msg);
            }
            Action::Start { id, prepared } => {
                running.push(Box::pin(run_exchange(Arc::clone(state), prepared, id)));
            }
            Action::StartCheck { id, check } => {
                running.push(Box::pin(run_check(Arc::clone(state), check, id, progress.clone())));
            }
            Action::Observe(scope) => {
                *observer = (scope == socketlab_proto::wire::Scope::All).then(|| state.hub.observe());
            }
            Action::Close { code, reason } => close = Some((code, reason)),
        }
    }
    let sent = frames.is_empty() || write(state, ws, frames).await;
    (close, sent)
}

/// Runs one exchange and returns its frames: the events, then its one reply or error.
async fn run_exchange(state: Arc<AppState>, prepared: exchange::Prepared, id: String) -> (String, Vec<ServerMsg>) {
    let (events, last) = match exchange::run(&state, &prepared).await {
        Ok(o) => {
            let (reply, reply_base64) = reply_text(&o.reply);
            let exchange = o.stored.or(o.exchange);
            let reply = Reply { id: id.clone(), reply, reply_base64, elapsed_us: o.elapsed_us, exchange };
            (o.events, ServerMsg::Reply(reply))
        }
        Err(f) => {
            let mut error = super::core::error(Some(id.clone()), f.error.code, f.error.message);
            if let ServerMsg::Error { exchange, .. } = &mut error {
                *exchange = f.stored.or(f.exchange);
            }
            (f.events, error)
        }
    };
    // Sized for the last frame too: growing would move every frame.
    let mut frames = Vec::with_capacity(events.len() + 1);
    frames.extend(events.into_iter().map(|event| ServerMsg::Event { id: id.clone(), event }));
    frames.push(last);
    (id, frames)
}

/// Runs one check, sending each item on `progress` as it is graded, and returns its end: the
/// report, or the error saying why there is none.
async fn run_check(
    state: Arc<AppState>,
    (c, student): (Admitted, Option<Arc<Student>>),
    id: String,
    progress: Progress,
) -> (String, Vec<ServerMsg>) {
    let mut on_item = |outcome: &check::ItemOutcome| {
        if let Some(item) = check::grade_item(c.program, outcome.clone()) {
            // The receiver lives as long as the session; a closed one has nobody to tell.
            let _ = progress.send((id.clone(), vec![ServerMsg::CheckItem { id: id.clone(), item }]));
        }
    };
    let end = match gateway_checks::run(&state, c, &mut on_item).await {
        Ok(report) => {
            if let Some(student) = &student {
                gateway_checks::record(&state, student, &report).await;
            }
            ServerMsg::CheckReport { id: id.clone(), report }
        }
        Err(e) => super::core::error(Some(id.clone()), e.code, e.message),
    };
    (id, vec![end])
}

/// Writes frames and flushes once: a traced exchange is a dozen frames, and one write each
/// would cost a syscall each. Counts every error frame sent. False when the client is gone or
/// too slow to take them.
async fn write(state: &AppState, ws: &mut Socket, frames: impl IntoIterator<Item = ServerMsg>) -> bool {
    let all = async {
        for msg in frames {
            if let ServerMsg::Error { code, .. } = &msg {
                state.metrics.error(*code);
            }
            let text = frame_text(&msg).map_err(|_| WsError::AlreadyClosed)?;
            ws.feed(Message::text(text)).await?;
        }
        ws.flush().await
    };
    // A client that does not take the frames in time is cut off.
    matches!(tokio::time::timeout(state.config.send_timeout, all).await, Ok(Ok(())))
}

/// A frame's text. Events, a dozen to a traced exchange, are written by hand (the same bytes
/// serde writes, `event_json.rs`); everything else goes through serde.
fn frame_text(msg: &ServerMsg) -> serde_json::Result<String> {
    match msg {
        ServerMsg::Event { id, event } => Ok(socketlab_proto::event_json::event_frame(id, event)),
        ServerMsg::Observed { conversation, event } => {
            Ok(socketlab_proto::event_json::observed_frame(conversation, event))
        }
        other => serde_json::to_string(other),
    }
}

/// Sends the close frame and finishes the closing handshake, so that the kernel never closes
/// a socket with unread data: that resets the connection and can destroy the close frame
/// before the client reads it. While the stream is readable, frames are read until the
/// client's close; after a frame error it is not, so the raw connection is drained until the
/// client hangs up.
async fn say_goodbye(ws: &mut Socket, code: u16, reason: String, readable: bool, send_timeout: Duration) {
    let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
    let _ = tokio::time::timeout(send_timeout, ws.send(Message::Close(Some(frame)))).await;
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        if readable {
            while let Some(Ok(frame)) = ws.next().await {
                if matches!(frame, Message::Close(_)) {
                    return;
                }
            }
        }
        let raw = ws.get_mut();
        let _ = raw.shutdown().await;
        // On the heap, and only now: an array here would sit in every session's future, idle
        // or not, and be copied with it.
        let mut sink = vec![0u8; 16 * 1024];
        while matches!(raw.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

async fn observed(
    observer: &mut Option<Observer>,
) -> Result<crate::gateway::hub::Observed, broadcast::error::RecvError> {
    match observer {
        Some(o) => o.rx.recv().await,
        None => std::future::pending().await,
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}
