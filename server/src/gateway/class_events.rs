//! Class events: what the dashboards of a class are told (`joined`, `progress`, `check`,
//! `removed`, `closed`), and the event stream that tells them.
//!
//! [`AppState::publish`] sends an event through the store's `NOTIFY` when the store is
//! PostgreSQL, and [`start_listening`] feeds every payload back into this instance's tokio
//! broadcast channel, so a dashboard on any instance sees the students of every instance (and
//! each event arrives once, by one path). On SQLite, one process, events go straight into the
//! channel.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socketlab_proto::wire::ErrorBody;

use super::AppState;
use super::error::ApiError;

/// Event streams one class may hold open on one instance (a dashboard or two per instructor).
pub const MAX_STREAMS: usize = 8;

/// Events kept for a slow dashboard before it misses some (it is told, and reloads the roster).
pub const BACKLOG: usize = 1024;

/// A class event: what the dashboards of `class` are told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassEvent {
    pub class: String,
    /// `joined`, `progress`, `check`, `removed` or `closed`.
    pub kind: String,
    /// `{student, ...}`.
    pub data: Value,
}

impl AppState {
    /// Tells every dashboard of `class`, on every instance.
    pub(super) async fn publish(&self, class: &str, kind: &str, data: Value) {
        let event = ClassEvent { class: class.to_owned(), kind: kind.to_owned(), data };
        let sent = match (self.db(), serde_json::to_string(&event)) {
            (Ok(store), Ok(payload)) => store.notify(&payload).await,
            _ => Ok(false),
        };
        match sent {
            Ok(true) => {}
            Ok(false) => {
                let _ = self.classes.events.send(event);
            }
            Err(e) => tracing::warn!(error = %e, class, kind, "a class event was not sent"),
        }
    }
}

/// How long the listener waits before listening again after losing the database.
const RELISTEN: Duration = Duration::from_secs(1);

/// Feeds the database's class events (PostgreSQL) into this instance's channel, until shutdown.
/// A lost connection is listened to again (the events sent meanwhile are missed; a dashboard
/// reloads its roster on reconnecting).
pub fn start_listening(state: &Arc<AppState>) {
    let Some(store) = state.db.get().cloned() else { return };
    let state2 = Arc::clone(state);
    state.tracker.spawn(async move {
        use futures_util::StreamExt;
        // Bounded by shutdown: every turn waits on the token.
        loop {
            match store.listen().await {
                Ok(Some(mut payloads)) => loop {
                    let payload = tokio::select! {
                        () = state2.cancel.cancelled() => return,
                        p = payloads.next() => p,
                    };
                    let Some(payload) = payload else { break };
                    match serde_json::from_str::<ClassEvent>(&payload) {
                        Ok(event) => drop(state2.classes.events.send(event)),
                        Err(e) => tracing::warn!(error = %e, "a class event could not be read"),
                    }
                },
                Ok(None) => return,
                Err(e) => tracing::warn!(error = %e, "cannot listen for other instances' class events"),
            }
            tracing::warn!(again_in = ?RELISTEN, "class events: listening to the database again");
            tokio::select! {
                () = state2.cancel.cancelled() => return,
                () = tokio::time::sleep(RELISTEN) => {}
            }
        }
    });
}

/// The class's live events, from every instance: `ready` once subscribed, then `joined`,
/// `progress`, `check`, `removed` and `closed`, each with JSON data `{student, ...}`. The
/// stream ends at shutdown or after the WebSocket session time; `EventSource` reconnects.
#[utoipa::path(
    get,
    path = "/api/v1/classes/{id}/events",
    operation_id = "class_events",
    params(("id" = String, Path, description = "The class's id")),
    security(("bearer" = [])),
    responses(
        (status = 429, description = "Too many requests (`rate_limited`), or the class holds its most live streams here (`too_many_connections`), with `Retry-After`", body = ErrorBody),
        (status = 200, description = "Server-sent events", content_type = "text/event-stream", body = String),
        (status = 401, description = "No class secret or instructor cookie, or not one of this gateway (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "Another class's secret (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such class (`not_found`)", body = ErrorBody),
        (status = 500, description = "The store failed (`internal`)", body = ErrorBody),
    ),
    tag = "instructor"
)]
pub async fn events(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let class = super::instructor::authorize(&state, &headers, &id).await?;
    let Some(slot) = state.classes.streams.admit(&class.id, MAX_STREAMS) else {
        let e = format!("this class already has {MAX_STREAMS} live event streams open here; close a dashboard");
        let mut e = ApiError::new(socketlab_proto::wire::ErrorCode::TooManyConnections, e);
        e.retry_after = Some(5);
        return Err(e);
    };
    let rx = state.classes.events.subscribe();
    let until = tokio::time::Instant::now() + Duration::from_millis(state.config.limits.session_timeout_ms);
    let cancel = state.cancel.clone();
    let ready = Event::default().event("ready").data(json!({"class": class.id}).to_string());
    let first = futures_util::stream::iter([Ok::<_, Infallible>(ready)]);
    // The stream holds its slot until it ends or the dashboard goes.
    let rest =
        futures_util::stream::unfold((rx, cancel, class.id, slot), move |(mut rx, cancel, id, slot)| async move {
            loop {
                let got = tokio::select! {
                    () = cancel.cancelled() => return None,
                    () = tokio::time::sleep_until(until) => return None,
                    got = rx.recv() => got,
                };
                match got {
                    Ok(e) if e.class == id => {
                        let event = Event::default().event(e.kind).data(e.data.to_string());
                        return Some((Ok(event), (rx, cancel, id, slot)));
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        let event = Event::default().event("lagged").data(json!({"missed": n}).to_string());
                        return Some((Ok(event), (rx, cancel, id, slot)));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
    use futures_util::StreamExt;
    let mut response = Sse::new(first.chain(rest)).keep_alive(KeepAlive::default()).into_response();
    // nginx buffers what it proxies; this response passes as it is written. The keep-alive
    // comment every 15 s stays under a proxy's read timeout (60 s in deploy/socketlab.conf).
    response.headers_mut().insert("x-accel-buffering", axum::http::HeaderValue::from_static("no"));
    Ok(response)
}
