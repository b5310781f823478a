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

/// What happened, the SSE event's name. A closed set: a payload naming anything else (a
/// stray `NOTIFY` on the channel) is dropped, never written into a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Joined,
    Progress,
    Check,
    Removed,
    Closed,
    /// Events may have been missed (this instance listened again): every dashboard re-reads
    /// its roster. Made by this instance only, never read from the database.
    #[serde(skip_deserializing)]
    Lagged,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Joined => "joined",
            Self::Progress => "progress",
            Self::Check => "check",
            Self::Removed => "removed",
            Self::Closed => "closed",
            Self::Lagged => "lagged",
        }
    }
}

/// A class event: what the dashboards of `class` are told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassEvent {
    /// The class; empty for a `lagged` that every class's dashboards are told.
    pub class: String,
    pub kind: Kind,
    /// `{student, ...}`.
    pub data: Value,
}

impl AppState {
    /// Tells every dashboard of `class`, on every instance.
    pub(super) async fn publish(&self, class: &str, kind: Kind, data: Value) {
        let event = ClassEvent { class: class.to_owned(), kind, data };
        let sent = match (self.db(), serde_json::to_string(&event)) {
            (Ok(store), Ok(payload)) => store.notify(&payload).await,
            _ => Ok(false),
        };
        match sent {
            Ok(true) => {}
            Ok(false) => {
                let _ = self.classes.events.send(event);
            }
            Err(e) => tracing::warn!(error = %e, class, kind = kind.name(), "a class event was not sent"),
        }
    }
}

/// How long the listener waits before listening again after losing the database.
const RELISTEN: Duration = Duration::from_secs(1);

/// Feeds the database's class events (PostgreSQL) into this instance's channel, until shutdown;
/// once. `listening` turns true each time LISTEN is active (at once without PostgreSQL), and
/// every listen after the first tells every open stream `lagged`, since the events of the gap
/// were missed.
pub fn start_listening(state: &Arc<AppState>) {
    if state.classes.listen_started.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let Some(store) = state.db.get().cloned() else {
        state.classes.listening.send_replace(true);
        return;
    };
    let state2 = Arc::clone(state);
    state.tracker.spawn(async move {
        use futures_util::StreamExt;
        let listening = &state2.classes.listening;
        let mut first = true;
        // Bounded by shutdown: every turn waits on the token.
        loop {
            match store.listen().await {
                Ok(Some(mut payloads)) => {
                    listening.send_replace(true);
                    if !std::mem::take(&mut first) {
                        let lagged = ClassEvent { class: String::new(), kind: Kind::Lagged, data: json!({}) };
                        drop(state2.classes.events.send(lagged));
                    }
                    loop {
                        let payload = tokio::select! {
                            () = state2.cancel.cancelled() => return,
                            p = payloads.next() => p,
                        };
                        let Some(payload) = payload else { break };
                        match serde_json::from_str::<ClassEvent>(&payload) {
                            Ok(event) => drop(state2.classes.events.send(event)),
                            Err(e) => tracing::warn!(error = %e, "a class event could not be read; dropped"),
                        }
                    }
                    listening.send_replace(false);
                }
                Ok(None) => {
                    listening.send_replace(true);
                    return;
                }
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

/// Starts listening and waits until LISTEN is active (or shutdown), so that the ready line
/// promises a dashboard misses nothing.
pub async fn listening(state: &Arc<AppState>) {
    start_listening(state);
    let mut rx = state.classes.listening.subscribe();
    tokio::select! {
        () = state.cancel.cancelled() => {}
        _ = rx.wait_for(|on| *on) => {}
    }
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
    let class = super::instructor::authorize(&state, &headers, &id, super::instructor::Takes::BearerOrCookie).await?;
    let Some(slot) = state.classes.streams.admit(&class.id, MAX_STREAMS) else {
        let e = format!("this class already has {MAX_STREAMS} live event streams open here; close a dashboard");
        let mut e = ApiError::new(socketlab_proto::wire::ErrorCode::TooManyConnections, e);
        e.retry_after = Some(5);
        return Err(e);
    };
    let rx = state.classes.events.subscribe();
    let until = tokio::time::Instant::now() + Duration::from_millis(state.config.limits.session_timeout_ms);
    let cancel = state.cancel.clone();
    // `ready` waits for LISTEN: a roster read after it misses nothing.
    let mut on = state.classes.listening.subscribe();
    let ready = Event::default().event("ready").data(json!({"class": class.id}).to_string());
    let first = futures_util::stream::once(async move {
        drop(on.wait_for(|on| *on).await);
        Ok::<_, Infallible>(ready)
    });
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
                    Ok(e) if e.class == id || e.kind == Kind::Lagged => {
                        let event = Event::default().event(e.kind.name()).data(e.data.to_string());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_kinds_are_read_from_the_database() {
        let read = |kind: &str| serde_json::from_value::<ClassEvent>(json!({"class": "C", "kind": kind, "data": {}}));
        assert_eq!(read("progress").map(|e| e.kind).ok(), Some(Kind::Progress));
        for bad in ["a\nb", "lagged", "ready", ""] {
            assert!(read(bad).is_err(), "{bad:?} is dropped");
        }
    }
}
