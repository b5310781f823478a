//! An in-process gateway on port 0 and a WebSocket client for it, for the gateway tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use socketlab::capture::CaptureMode;
use socketlab::config::Config;
use socketlab::gateway::{Bound, Gateway, Handle};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Running {
    pub http: SocketAddr,
    pub handle: Handle,
    pub cancel: CancellationToken,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(WAIT, self.task).await.expect("gateway stops").unwrap();
    }
}

pub async fn start(tune: impl FnOnce(&mut Config)) -> Running {
    start_with(tune, None).await
}

/// [`start`], keeping saved exchanges in `store`.
pub async fn start_with(
    tune: impl FnOnce(&mut Config),
    store: Option<std::sync::Arc<dyn socketlab::db::Store>>,
) -> Running {
    // These tests cover the inferred timeline; tests/capture.rs covers captured packets.
    let mut config = Config {
        http: "127.0.0.1:0".parse().unwrap(),
        udp_port: 0,
        tcp_port: 0,
        capture: CaptureMode::Off,
        ..Config::default()
    };
    config.limits.rate_per_sec = 10_000;
    config.limits.burst = 10_000;
    tune(&mut config);
    let bound = Bound::bind(&config).await.unwrap();
    let (udp, tcp) = (bound.udp.local_addr().unwrap(), bound.tcp.local_addr().unwrap());
    let cancel = CancellationToken::new();
    let gateway = Gateway::new(config, bound, cancel.clone()).unwrap();
    // Saved exchanges go to a SQLite file of this test process unless the test brings a store.
    let store = match store {
        Some(store) => store,
        None => {
            let dir = std::env::temp_dir().join(format!("socketlab-test-data-{}", std::process::id()));
            socketlab::db::open(&dir, None).await.unwrap()
        }
    };
    let gateway = gateway.with_store(store);
    let http = gateway.http_addr().unwrap();
    let handle = gateway.handle();
    let task = tokio::spawn(async move { gateway.run().await.unwrap() });
    Running { http, handle, cancel, udp, tcp, task }
}

pub async fn connect(r: &Running) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", r.http)).await.unwrap();
    let hello = recv(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    ws
}

pub async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next()).await.expect("a frame in time").expect("open").unwrap();
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// Reads frames for exchange `id` until its end; returns (events, the final frame).
pub async fn collect(ws: &mut Ws, id: &str) -> (Vec<Value>, Value) {
    let mut events = Vec::new();
    loop {
        let v = recv(ws).await;
        assert_eq!(v["id"], id, "frame for another exchange: {v}");
        match v["type"].as_str().unwrap() {
            "event" => events.push(v["event"].clone()),
            "reply" | "error" => return (events, v),
            other => panic!("unexpected frame type {other}"),
        }
    }
}

pub fn packet_flags(events: &[Value]) -> Vec<String> {
    events.iter().filter(|e| e["op"] == "segment").map(|e| e["segment"]["flags"].as_str().unwrap().to_owned()).collect()
}
