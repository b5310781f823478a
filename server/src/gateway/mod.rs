//! `socketlab serve`: the hosted UDP and TCP servers plus the HTTP and WebSocket gateway, in
//! one process on one clock.
//!
//! [`Gateway::new`] takes sockets that are already bound, so tests run it on port 0. Shutdown is ordered: the
//! shutdown token stops HTTP accepting and tells every WebSocket to wind down; once their in-flight exchanges
//! are done the hosted servers stop too, so that no exchange loses its server halfway.

mod assets;
mod checks;
mod class_events;
pub mod classes;
mod collect;
mod edge;
pub mod error;
mod exchange;
mod health;
mod hello;
mod hosted;
mod hub;
pub mod instructor;
mod isolation;
mod labs;
mod limits;
mod listener;
mod me;
mod metrics;
mod openapi;
mod pool;
pub mod proxy;
mod rest;
mod resume;
mod saved;
mod session;
mod store;
pub(crate) mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use socketlab_proto::impair::Impairments;
use socketlab_proto::wire::{CaptureStatus, Protocol};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::hosted::{Bound, ClosedPort, Hosted, HostedServers};
use self::hub::Hub;
use self::limits::{ConnectionLimiter, RateLimiter};
use self::metrics::Metrics;
use self::store::Store;
use crate::capture::{self, CaptureError, Watched};
use crate::config::{Config, ConfigError, Settings};
use crate::error::NetError;
use crate::impair::nft::Nft;
use crate::impair::{Loss, UdpTable};
use crate::log::Log;
use crate::tcp_server::{TcpServer, TcpStatus};
use crate::trace::Tracer;
use crate::udp_server::UdpServer;

/// The share of requests the hosted pinger server loses, as the pinger assignment's does.
const PINGER_LOSS_PERCENT: u32 = 30;

/// How long shutdown waits for WebSockets and exchanges before it stops the servers anyway.
const SHUTDOWN_WAIT: Duration = Duration::from_millis(4000);

/// What can stop the gateway.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Store(#[from] crate::db::StoreError),
    #[error(transparent)]
    Labs(#[from] labs::LabsError),
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub servers: HostedServers,
    hosts: edge::Hosts,
    closed: ClosedPort,
    /// The capture as it started; `capture_live` says whether it still runs.
    capture: CaptureStatus,
    capture_live: Arc<capture::Liveness>,
    tcp_status: Arc<TcpStatus>,
    store: Store,
    db: std::sync::OnceLock<Arc<dyn crate::db::Store>>,
    labs: labs::Labs,
    classes: classes::Classes,
    udp_pool: pool::UdpPool,
    hello_kept: hello::KeptHello,
    /// What the hosted UDP server does to chosen clients' next datagram; which impairments work.
    udp_impair: Arc<UdpTable>,
    impairments: Impairments,
    /// The nftables table for TCP drops, when this process may have one.
    nft: Option<Arc<Nft>>,
    /// The hosted pinger server's address and the seed of its losses.
    pinger: SocketAddr,
    pinger_seed: u64,
    hub: Arc<Hub>,
    tracer: Tracer,
    metrics: Metrics,
    /// REST's buckets, per browser session or else per address.
    rate: RateLimiter<session::Key>,
    ceiling: RateLimiter,
    conns: Arc<ConnectionLimiter>,
    /// One permit per exchange running, WebSocket and REST.
    running: tokio::sync::Semaphore,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// The OpenAPI document, made on first request: it names this gateway's targets.
    openapi: std::sync::OnceLock<serde_json::Value>,
    /// What keeps checks from piling up on `check_listen` or on a listed target.
    checks: checks::Slots,
}

/// A gateway ready to run.
#[derive(Debug)]
pub struct Gateway {
    state: Arc<AppState>,
    http: TcpListener,
    udp: UdpSocket,
    tcp: TcpListener,
    tcp_iterative: TcpListener,
    pinger: UdpSocket,
    /// The hosted servers' and the capture's tasks.
    servers: TaskTracker,
    capture_stop: CancellationToken,
}

/// A handle for tests and embedders to look at and poke a running gateway.
#[derive(Debug, Clone)]
pub struct Handle {
    state: Arc<AppState>,
}

impl Handle {
    /// Stops one hosted server, as a crash would; the gateway keeps running and reports it.
    pub fn stop_server(&self, protocol: Protocol) {
        self.state.servers.get(protocol).stop.cancel();
    }

    /// Whether a hosted server is serving.
    pub fn server_up(&self, protocol: Protocol) -> bool {
        self.state.servers.get(protocol).is_up()
    }

    /// The nftables table for TCP drops, when there is one.
    pub fn nft_table(&self) -> Option<String> {
        self.state.nft.as_ref().map(|n| n.table().to_owned())
    }

    /// Closes the capture's packet socket, as a failure would.
    pub fn close_capture(&self) {
        self.state.capture_live.close_socket();
    }
}

impl Gateway {
    /// Prepares the gateway on bound sockets; `cancel` is the one shutdown signal.
    pub fn new(config: Config, bound: Bound, cancel: CancellationToken) -> Result<Self, ServeError> {
        let addr = |r: std::io::Result<SocketAddr>| r.map_err(|source| NetError::Io { op: "getsockname", source });
        let servers = HostedServers {
            udp: Hosted::new(Protocol::Udp, addr(bound.udp.local_addr())?, config.udp_buffer),
            tcp: Hosted::new(Protocol::Tcp, addr(bound.tcp.local_addr())?, config.tcp_buffer),
            tcp_iterative: Hosted::new(Protocol::Tcp, addr(bound.tcp_iterative.local_addr())?, config.tcp_buffer)
                .iterative(),
        };
        let hosts = edge::Hosts::new(addr(bound.http.local_addr())?, config.public_name.as_deref());
        let hub = Arc::new(Hub::default());
        let tracer = Tracer::new(hub.clone());
        let watched = Watched {
            udp: vec![servers.udp.addr.port(), bound.closed.addr.port()],
            tcp: vec![servers.tcp.addr.port(), servers.tcp_iterative.addr.port(), bound.closed.addr.port()],
        };
        let labs = labs::Labs::load(config.labs_dir.as_deref())?;
        let tasks = TaskTracker::new();
        let capture_stop = CancellationToken::new();
        let capture_live = Arc::new(capture::Liveness::new(capture_stop.clone()));
        let capture = capture::start(
            config.capture,
            &config.interface,
            watched,
            tracer.clone(),
            hub.clone(),
            Arc::clone(&capture_live),
            &tasks,
        )?;
        let nft = Nft::open();
        let state = Arc::new(AppState {
            closed: bound.closed,
            capture,
            capture_live,
            tcp_status: Arc::new(TcpStatus::default()),
            store: Store::new(config.store_exchanges, config.store_age),
            db: std::sync::OnceLock::new(),
            labs,
            classes: classes::Classes::default(),
            udp_pool: pool::UdpPool::default(),
            hello_kept: hello::KeptHello::default(),
            udp_impair: Arc::new(UdpTable::default()),
            impairments: Impairments { udp: true, tcp: nft.is_ok(), tcp_reason: nft.as_ref().err().cloned() },
            nft: nft.ok().map(Arc::new),
            pinger: addr(bound.pinger.local_addr())?,
            pinger_seed: {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                now.as_nanos() as u64 ^ u64::from(std::process::id())
            },
            rate: RateLimiter::over(config.limits.rate_per_sec, config.limits.burst, config.rate_period),
            ceiling: RateLimiter::over(config.limits.rate_per_ip, config.limits.burst_per_ip, config.rate_period),
            conns: ConnectionLimiter::new(config.limits.max_connections_per_ip, config.limits.max_connections),
            running: tokio::sync::Semaphore::new(config.limits.max_exchanges),
            tracer,
            hub,
            metrics: Metrics::default(),
            servers,
            hosts,
            checks: checks::Slots::new(&config),
            config,
            cancel,
            tracker: TaskTracker::new(),
            openapi: std::sync::OnceLock::new(),
        });
        Ok(Self {
            state,
            http: bound.http,
            udp: bound.udp,
            tcp: bound.tcp,
            tcp_iterative: bound.tcp_iterative,
            pinger: bound.pinger,
            servers: tasks,
            capture_stop,
        })
    }

    /// The HTTP address, for the ready line and tests.
    pub fn http_addr(&self) -> Result<SocketAddr, NetError> {
        self.http.local_addr().map_err(|source| NetError::Io { op: "getsockname", source })
    }

    pub fn handle(&self) -> Handle {
        Handle { state: Arc::clone(&self.state) }
    }

    /// Serves until the shutdown token fires, then shuts down in order.
    pub async fn run(self) -> Result<(), ServeError> {
        let Self { state, http, udp, tcp, tcp_iterative, pinger, servers, capture_stop } = self;
        let udp = UdpServer::new(udp, state.config.udp_buffer, state.tracer.clone(), Log::Quiet)
            .impaired(Arc::clone(&state.udp_impair));
        let bounds = state.config.tcp_bounds(crate::fds::hosted_room());
        let tcp = TcpServer::new(tcp, state.config.tcp_buffer, state.config.tcp_mode, state.tracer.clone(), Log::Quiet)
            .bounded(bounds, Arc::clone(&state.tcp_status));
        let watch = |hosted: &Hosted| (Arc::clone(&state), hosted.protocol, hosted.stop.clone());
        let (s, p, stop) = watch(&state.servers.udp);
        servers.spawn(async move { s.servers.get(p).ended(udp.run(stop).await) });
        let (s, p, stop) = watch(&state.servers.tcp);
        servers.spawn(async move { s.servers.get(p).ended(tcp.run(stop).await) });
        hosted::spawn_iterative(&state, tcp_iterative, bounds, &servers);
        let loss = Loss::new(f64::from(PINGER_LOSS_PERCENT) / 100.0, state.pinger_seed);
        let pinger = UdpServer::new(pinger, state.config.udp_buffer, state.tracer.clone(), Log::Quiet).lossy(loss);
        let stop = state.servers.udp.stop.clone();
        servers.spawn(async move {
            if let Err(e) = pinger.run(stop).await {
                tracing::error!(error = %e, "the hosted pinger server failed");
            }
        });
        if state.capture.enabled {
            state.metrics.capture_running(true);
            let (s, stop) = (Arc::clone(&state), capture_stop.clone());
            servers.spawn(async move {
                tokio::select! {
                    () = s.capture_live.died() => s.metrics.capture_running(false),
                    () = stop.cancelled() => {}
                }
            });
        }
        saved::start_pruning(&state);
        class_events::start_listening(&state);
        servers.close();

        let app = router(Arc::clone(&state));
        let shutdown = state.cancel.clone();
        let handshake = Duration::from_millis(state.config.limits.handshake_timeout_ms);
        let timeouts = state.metrics.error_counter(socketlab_proto::wire::ErrorCode::RequestTimeout);
        let listener = listener::GuardedListener::new(http, handshake, timeouts);
        let served = axum::serve(listener, app.into_make_service_with_connect_info::<listener::Peer>())
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;

        tracing::info!("HTTP stopped accepting; finishing WebSockets and exchanges");
        state.tracker.close();
        if tokio::time::timeout(SHUTDOWN_WAIT, state.tracker.wait()).await.is_err() {
            tracing::warn!(wait = ?SHUTDOWN_WAIT, "WebSockets still open after the shutdown wait; stopping anyway");
        }
        state.servers.udp.stop.cancel();
        state.servers.tcp.stop.cancel();
        state.servers.tcp_iterative.stop.cancel();
        capture_stop.cancel();
        servers.wait().await;
        if let Some(nft) = &state.nft {
            nft.remove();
        }
        saved::close(&state).await;
        tracing::info!("gateway stopped");
        served.map_err(ServeError::Http)
    }
}

fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.limits.max_frame_bytes;
    Router::new()
        .route("/api/v1/ws", get(ws::upgrade))
        .route(
            "/api/v1/exchanges",
            post(rest::create_exchange).route_layer(from_fn_with_state(Arc::clone(&state), edge::json_body)),
        )
        .route(
            "/api/v1/checks",
            post(checks::create_check).route_layer(from_fn_with_state(Arc::clone(&state), edge::json_body)),
        )
        .merge(saved::routes(&state))
        .merge(labs::routes(&state))
        .merge(classes::routes(&state))
        .route("/api/v1/servers", get(rest::servers))
        .route("/api/v1/exchanges/{exchange}/pcapng", get(rest::pcapng))
        .route("/api/v1/openapi.json", get(openapi::openapi))
        .route("/instructor/{class}", get(assets::instructor))
        .route("/healthz", get(rest::healthz))
        .route("/metrics", get(rest::metrics))
        .fallback(assets::serve)
        .layer(from_fn_with_state(Arc::clone(&state), edge::guard))
        .layer(axum::middleware::from_fn(listener::track))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// `socketlab serve`: resolve settings, bind, print the ready line, run.
pub async fn serve(args: Settings, cancel: CancellationToken) -> Result<(), ServeError> {
    let config = Config::resolve(&args)?;
    // A failure leaves the limit as it was; the connection cap still fits under it.
    match crate::fds::raise_limit() {
        Ok(soft) => crate::fds::check_caps(soft, &config),
        Err(e) => tracing::debug!(error = %e, "the descriptor limit stays as it was"),
    }
    let bound = Bound::bind(&config).await?;
    let store = crate::db::open(&config.data_dir, config.database.as_deref()).await?;
    let gateway = Gateway::new(config, bound, cancel)?.with_store(store);
    class_events::listening(&gateway.state).await;
    let http = gateway.http_addr()?;
    let s = &gateway.state.servers;
    Log::Stdout.line(format_args!(
        "socketlab gateway ready at http://{http}/ (UDP server on {}, TCP server on {})",
        s.udp.addr, s.tcp.addr
    ));
    let (capture, st) = (&gateway.state.capture, &gateway.state);
    tracing::info!(%http, udp = %s.udp.addr, tcp = %s.tcp.addr, capture = capture.enabled, pinger = %st.pinger,
        pinger_seed = st.pinger_seed, tcp_drops = st.impairments.tcp, tcp_drops_off = st.impairments.tcp_reason.as_deref(),
        removed_leftover_tables = ?st.nft.as_ref().map(|n| &n.cleared), store = st.db.get().map_or("none", |d| d.backend()),
        "gateway ready");
    match &capture.reason {
        None => Log::Stdout.line(format_args!("packet capture: on ({})", capture.interface)),
        Some(reason) => Log::Stdout.line(format_args!("packet capture: off: {reason}")),
    }
    gateway.run().await
}
