//! Saved exchanges and their permalinks: `POST /api/v1/saved` copies an exchange this instance
//! still keeps (its timeline and capture, from `store.rs`) into the database (`crate::db`),
//! under a short id nobody can guess; `GET /api/v1/saved/{id}` and `.../pcapng` read it back
//! on any instance that shares the database, until the retention setting removes it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use socketlab_proto::saved::{SaveRequest, SavedExchange, SavedLink, permalink};
use socketlab_proto::wire::{ErrorBody, ErrorCode, Protocol};
use socketlab_proto::{Event, Transport};

use super::AppState;
use super::error::ApiError;
use crate::db::{self, Saved, Store, StoreError};

/// How often saved exchanges past the retention are removed (reads never serve them anyway).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Unix time in milliseconds.
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl AppState {
    /// The oldest save time still served.
    fn saved_since(&self) -> i64 {
        let age = i64::try_from(self.config.saved_age.as_millis()).unwrap_or(i64::MAX);
        now_ms().saturating_sub(age)
    }

    pub(super) fn db(&self) -> Result<&Arc<dyn Store>, ApiError> {
        self.db.get().ok_or_else(|| ApiError::new(ErrorCode::Internal, "this gateway was started without a store"))
    }
}

fn store_failed(e: StoreError) -> ApiError {
    // The detail can name hosts, tables and constraints: it goes to the log, not the client.
    tracing::warn!(error = %e, "the store failed");
    ApiError::new(ErrorCode::Internal, "the store failed")
}

impl super::Gateway {
    /// Keeps saved exchanges in `store` (without one, saving answers 500).
    pub fn with_store(self, store: Arc<dyn Store>) -> Self {
        if self.state.db.set(store).is_err() {
            tracing::warn!("the gateway already has a store; the second one is ignored");
        }
        self
    }
}

/// Starts removing what is past the retention, until shutdown.
pub fn start_pruning(state: &Arc<AppState>) {
    if let Some(store) = state.db.get() {
        state.tracker.spawn(prune(Arc::clone(state), Arc::clone(store)));
    }
}

/// Closes the store's connections, at the end of shutdown.
pub async fn close(state: &AppState) {
    if let Some(Err(e)) = match state.db.get() {
        Some(store) => Some(store.close().await),
        None => None,
    } {
        tracing::warn!(error = %e, "the store did not close cleanly");
    }
}

/// The saved exchanges' routes, and the page for a permalink.
pub fn routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    let json = from_fn_with_state(Arc::clone(state), super::edge::json_body);
    Router::new()
        .route("/api/v1/saved", post(save).route_layer(json))
        .route("/api/v1/saved/{id}", get(read))
        .route("/api/v1/saved/{id}/pcapng", get(pcapng))
        .route("/x/{id}", get(super::assets::page))
}

/// Removes what is past the retention now and then, until shutdown.
async fn prune(state: Arc<AppState>, store: Arc<dyn Store>) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            () = state.cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        match store.forget_saved_before(state.saved_since()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "saved exchanges past their retention removed"),
            Err(e) => tracing::warn!(error = %e, "cannot remove old saved exchanges"),
        }
    }
}

/// Saves an exchange this instance ran and still keeps, and returns its permalink.
#[utoipa::path(
    post,
    path = "/api/v1/saved",
    operation_id = "save_exchange",
    request_body = SaveRequest,
    responses(
        (status = 201, description = "Saved; `url` is the page that shows it", body = SavedLink),
        (status = 400, description = "The body is not JSON (`malformed_json`)", body = ErrorBody),
        (status = 403, description = "A browser post from another site (`forbidden_origin`)", body = ErrorBody),
        (status = 401, description = "The class cookie is forged or expired, or its student was removed (`unauthorized`)", body = ErrorBody),
        (status = 404, description = "No such exchange is kept on this instance (`not_found`)", body = ErrorBody),
        (status = 413, description = "The body, or the exchange with its capture, is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not `application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid (`invalid_field`)", body = ErrorBody),
        (status = 429, description = "Rate-limited (`rate_limited`); see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry can pass"))),
        (status = 500, description = "The store failed (`internal`)", body = ErrorBody),
    ),
    tag = "saved"
)]
pub async fn save(
    State(state): State<Arc<AppState>>,
    super::proxy::Client(client): super::proxy::Client,
    browser: super::session::Browser,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SavedLink>), ApiError> {
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(ErrorCode::TooLarge, "the body is too large"),
        _ => ApiError::new(ErrorCode::MalformedJson, e.body_text()),
    })?;
    let req: SaveRequest = serde_json::from_slice(&body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::new(ErrorCode::InvalidField, format!("the body is not valid: {e}"))
        }
        _ => ApiError::new(ErrorCode::MalformedJson, format!("the body is not JSON: {e}")),
    })?;
    state.rate_limit(client, &browser)?;
    let store = state.db()?;
    let who = super::classes::student(&state, &headers).await?;
    let now = std::time::Instant::now();
    let missing = || {
        ApiError::new(
            ErrorCode::NotFound,
            format!("no traced exchange {:?} is kept on this instance; save it soon after it runs", req.exchange),
        )
    };
    let events = state.store.timeline(&req.exchange, now).ok_or_else(missing)?;
    let protocol = match events.first().map(|e| e.socket.transport) {
        Some(Transport::Tcp) => Protocol::Tcp,
        Some(Transport::Udp) => Protocol::Udp,
        None => return Err(missing()),
    };
    let pcapng = match state.store.pcapng(&req.exchange, &state.capture.interface, now) {
        Some(Ok(file)) => Some(file),
        Some(Err(e)) => return Err(ApiError::new(ErrorCode::Internal, format!("cannot write the capture: {e}"))),
        None => None,
    };
    let events = serde_json::to_string(&events)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("cannot encode the timeline: {e}")))?;
    let mut saved = Saved {
        id: String::new(),
        exchange: req.exchange.clone(),
        protocol: protocol.as_str().to_owned(),
        created_ms: now_ms(),
        events,
        pcapng,
        owner: who.map(|(student, _)| student.id),
    };
    let cap = state.config.saved_max_bytes;
    if saved.bytes() > cap {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("the exchange and its capture take {} bytes; at most {cap} can be saved", saved.bytes()),
        ));
    }
    // An id is 95 random bits; a clash is all but impossible, and a second draw settles it.
    for _ in 0..3 {
        saved.id = db::new_id().map_err(|e| ApiError::new(ErrorCode::Internal, format!("no random bytes: {e}")))?;
        match store.save(&saved).await {
            Ok(()) => {
                let url = permalink(&saved.id);
                return Ok((StatusCode::CREATED, Json(SavedLink { id: saved.id, url })));
            }
            Err(StoreError::Taken(_)) => continue,
            Err(e) => return Err(store_failed(e)),
        }
    }
    Err(ApiError::new(ErrorCode::Internal, "no free id was drawn"))
}

/// The saved exchange `id`, if it exists and is within the retention.
async fn find(state: &AppState, id: &str) -> Result<Saved, ApiError> {
    let missing = || ApiError::new(ErrorCode::NotFound, format!("no saved exchange {id:?}"));
    if !db::is_id(id) {
        return Err(missing());
    }
    state.db()?.saved(id, state.saved_since()).await.map_err(store_failed)?.ok_or_else(missing)
}

/// A saved exchange with its timeline.
#[utoipa::path(
    get,
    path = "/api/v1/saved/{id}",
    operation_id = "get_saved",
    params(("id" = String, Path, description = "The short id from the permalink")),
    responses(
        (status = 200, description = "The saved exchange", body = SavedExchange),
        (status = 404, description = "No such saved exchange, or it is past the retention (`not_found`)", body = ErrorBody),
        (status = 500, description = "The store failed (`internal`)", body = ErrorBody),
    ),
    tag = "saved"
)]
pub async fn read(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<SavedExchange>, ApiError> {
    let saved = find(&state, &id).await?;
    let events: Vec<Event> = serde_json::from_str(&saved.events)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the saved timeline cannot be read: {e}")))?;
    let protocol = if saved.protocol == "tcp" { Protocol::Tcp } else { Protocol::Udp };
    Ok(Json(SavedExchange {
        id: saved.id,
        exchange: saved.exchange,
        protocol,
        saved_at_ms: saved.created_ms,
        capture: saved.pcapng.is_some(),
        events,
    }))
}

/// A saved exchange's captured packets as a pcapng file.
#[utoipa::path(
    get,
    path = "/api/v1/saved/{id}/pcapng",
    operation_id = "get_saved_pcapng",
    params(("id" = String, Path, description = "The short id from the permalink")),
    responses(
        (status = 200, description = "pcapng file", content_type = "application/x-pcapng"),
        (status = 404, description = "No such saved exchange, or it is past the retention (`not_found`)", body = ErrorBody),
        (status = 409, description = "It was saved without captured packets (`capture_unavailable`)", body = ErrorBody),
        (status = 500, description = "The store failed (`internal`)", body = ErrorBody),
    ),
    tag = "saved"
)]
pub async fn pcapng(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let saved = find(&state, &id).await?;
    let file = saved.pcapng.ok_or_else(|| {
        let why = format!("saved exchange {id:?} was saved without captured packets");
        ApiError::new(ErrorCode::CaptureUnavailable, why)
    })?;
    let disposition = format!("attachment; filename=\"socketlab-{id}.pcapng\"");
    Ok(([(header::CONTENT_TYPE, "application/x-pcapng".to_owned()), (header::CONTENT_DISPOSITION, disposition)], file)
        .into_response())
}
