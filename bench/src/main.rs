//! `socketlab-load`: the benchmark's load generators, one scenario per run, one JSON line out.
//!
//! Every generator is closed-loop: each of N workers sends one request and waits for its reply
//! before the next, for a fixed time. It reports completed exchanges, losses (UDP replies that
//! never came) and errors, and, when asked, the latency of every exchange.
//!
//! ```text
//! socketlab-load udp ADDR INFLIGHT SECS
//! socketlab-load tcp ADDR CLIENTS SECS
//! socketlab-load ws URL SOCKETS SECS MODE
//! socketlab-load idle URL SESSIONS HOLD_SECS
//! socketlab-load students URL STUDENTS SECS
//! ```
//!
//! MODE is `gateway-udp`, `gateway-tcp`, `traced-udp` or `traced-tcp` (exchanges over one
//! gateway WebSocket per worker), `raw` (one websocat WebSocket per worker), `oneshot` (a new
//! websocat WebSocket per exchange), `gateway-oneshot` (a new gateway WebSocket per lean TCP
//! exchange, `hello` included), `upgrade` and `gateway-upgrade` (only the upgrade, and for the
//! gateway its `hello`, then close).
//!
//! `students` is open-loop: each simulated student sends one traced exchange every 2 s over its
//! own WebSocket whether or not the last one was answered, and latency runs from the planned
//! send, so a slow gateway cannot slow the load down and hide its own delay (see `students.rs`).

mod students;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_tungstenite::tungstenite::Message;

/// A UDP reply not back within this long counts as lost.
const UDP_LOSS: Duration = Duration::from_millis(200);
/// Any single exchange taking longer than this counts as an error.
const STALL: Duration = Duration::from_secs(5);
const PAYLOAD: &[u8] = b"hello socket";

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    lost: AtomicU64,
    errors: AtomicU64,
}

struct Run {
    counts: Counts,
    stop: AtomicBool,
    latencies: std::sync::Mutex<Vec<u32>>,
}

impl Run {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            counts: Counts::default(),
            stop: AtomicBool::new(false),
            latencies: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn going(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    fn done(&self, started: Instant, keep: &mut Vec<u32>) {
        self.counts.ok.fetch_add(1, Ordering::Relaxed);
        keep.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
    }

    fn keep(&self, mine: Vec<u32>) {
        if let Ok(mut all) = self.latencies.lock() {
            all.extend(mine);
        }
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> Result<T> {
    args.get(i).with_context(|| format!("missing {name}"))?.parse().ok().with_context(|| format!("bad {name}"))
}

async fn udp_worker(run: Arc<Run>, addr: SocketAddr) -> Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    socket.connect(addr).await?;
    let mut buf = [0u8; 2048];
    let mut mine = Vec::new();
    while run.going() {
        let started = Instant::now();
        socket.send(PAYLOAD).await?;
        match tokio::time::timeout(UDP_LOSS, socket.recv(&mut buf)).await {
            Ok(Ok(_)) => run.done(started, &mut mine),
            Ok(Err(_)) => {
                run.counts.errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                run.counts.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    run.keep(mine);
    Ok(())
}

/// Repeats `cycle` until the run stops, counting each one that finishes within [`STALL`].
async fn closed_loop<F, Fut>(run: Arc<Run>, mut cycle: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut mine = Vec::new();
    while run.going() {
        let started = Instant::now();
        match tokio::time::timeout(STALL, cycle()).await {
            Ok(Ok(())) => run.done(started, &mut mine),
            _ => {
                run.counts.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    run.keep(mine);
    Ok(())
}

async fn tcp_worker(run: Arc<Run>, addr: SocketAddr) -> Result<()> {
    closed_loop(run, || async move {
        let mut buf = [0u8; 2048];
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(PAYLOAD).await?;
        let mut got = 0;
        loop {
            let n = s.read(&mut buf[got..]).await?;
            if n == 0 {
                break;
            }
            got += n;
        }
        anyhow::ensure!(got == PAYLOAD.len(), "short reply");
        Ok(())
    })
    .await
}

/// One WebSocket per exchange: connect, send, read one message, close. This is how a generic
/// bridge that maps one WebSocket to one TCP connection serves a server that closes after
/// each reply.
async fn oneshot_worker(run: Arc<Run>, url: String) -> Result<()> {
    closed_loop(run, || {
        let url = url.clone();
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url).await?;
            ws.send(Message::text(String::from_utf8_lossy(PAYLOAD).into_owned())).await?;
            // websocat answers with the server's bytes, in the first data frame.
            until_reply(&mut ws, |m| Ok(matches!(m, Message::Text(_) | Message::Binary(_)))).await?;
            let _ = ws.close(None).await;
            Ok(())
        }
    })
    .await
}

/// A new gateway WebSocket per lean TCP exchange: upgrade, `hello`, exchange, close.
async fn gateway_oneshot_worker(run: Arc<Run>, url: String) -> Result<()> {
    closed_loop(run, || {
        let url = url.clone();
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url).await?;
            ws.next().await.context("no hello")??;
            let frame = r#"{"type":"exchange","id":"1","protocol":"tcp","message":"hello socket","trace":false}"#;
            ws.send(Message::text(frame)).await?;
            until_reply(&mut ws, |m| match m {
                Message::Text(t) if t.as_str().contains(r#""type":"reply""#) => Ok(true),
                Message::Text(t) if t.as_str().contains(r#""type":"error""#) => bail!("error frame"),
                _ => Ok(false),
            })
            .await?;
            let _ = ws.close(None).await;
            Ok(())
        }
    })
    .await
}

/// Reads frames until `is_reply` says one is the reply (or fails on it); the socket closing
/// first is an error.
async fn until_reply<S>(ws: &mut S, is_reply: impl Fn(&Message) -> Result<bool>) -> Result<()>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(m)) if is_reply(&m)? => return Ok(()),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(anyhow::Error::from(e)),
            None => bail!("closed before the reply"),
        }
    }
}

/// Only the upgrade (and the gateway's `hello`), then close: what a new WebSocket costs.
async fn upgrade_worker(run: Arc<Run>, url: String, hello: bool) -> Result<()> {
    closed_loop(run, || {
        let url = url.clone();
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url).await?;
            if hello {
                ws.next().await.context("no hello")??;
            }
            let _ = ws.close(None).await;
            Ok(())
        }
    })
    .await
}

async fn ws_worker(run: Arc<Run>, url: String, mode: String, me: usize) -> Result<()> {
    match mode.as_str() {
        "oneshot" => return oneshot_worker(run, url).await,
        "gateway-oneshot" => return gateway_oneshot_worker(run, url).await,
        "upgrade" => return upgrade_worker(run, url, false).await,
        "gateway-upgrade" => return upgrade_worker(run, url, true).await,
        _ => {}
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await?;
    let (protocol, trace) = match mode.as_str() {
        "gateway-udp" => ("udp", false),
        "gateway-tcp" => ("tcp", false),
        "traced-udp" => ("udp", true),
        "traced-tcp" => ("tcp", true),
        _ => ("raw", false),
    };
    if protocol != "raw" {
        // The gateway greets first.
        ws.next().await.context("no hello")??;
    }
    let mut mine = Vec::new();
    let mut n = 0u64;
    while run.going() {
        n += 1;
        let started = Instant::now();
        let frame = if protocol == "raw" {
            String::from_utf8_lossy(PAYLOAD).into_owned()
        } else {
            format!(
                r#"{{"type":"exchange","id":"{me}-{n}","protocol":"{protocol}","message":"hello socket","trace":{trace}}}"#
            )
        };
        ws.send(Message::text(frame)).await?;
        let answered = async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        if protocol == "raw" || t.as_str().contains(r#""type":"reply""#) {
                            return Ok(true);
                        }
                        if t.as_str().contains(r#""type":"error""#) {
                            return Ok(false);
                        }
                    }
                    Some(Ok(Message::Binary(_))) => return Ok(true),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(anyhow::Error::from(e)),
                    None => bail!("closed"),
                }
            }
        };
        match tokio::time::timeout(STALL, answered).await {
            Ok(Ok(true)) => run.done(started, &mut mine),
            Ok(Ok(false)) => {
                run.counts.errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                run.counts.errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
    run.keep(mine);
    Ok(())
}

pub(crate) fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn timed(
    workers: usize,
    secs: f64,
    spawn: impl Fn(Arc<Run>, usize) -> tokio::task::JoinHandle<Result<()>>,
) -> Result<()> {
    let run = Run::new();
    let started = Instant::now();
    let handles: Vec<_> = (0..workers).map(|i| spawn(Arc::clone(&run), i)).collect();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    run.stop.store(true, Ordering::Relaxed);
    // Count what finished inside the window; stragglers only get to wind down.
    let elapsed = started.elapsed().as_secs_f64();
    let ok = run.counts.ok.load(Ordering::Relaxed);
    let mut failed = 0;
    for h in handles {
        if !matches!(tokio::time::timeout(STALL + Duration::from_secs(1), h).await, Ok(Ok(Ok(())))) {
            failed += 1;
        }
    }
    let mut lat = run.latencies.lock().map(|l| l.clone()).unwrap_or_default();
    lat.sort_unstable();
    println!(
        "{}",
        serde_json::json!({
            "ok": ok,
            "secs": elapsed,
            "rate": ok as f64 / elapsed,
            "lost": run.counts.lost.load(Ordering::Relaxed),
            "errors": run.counts.errors.load(Ordering::Relaxed),
            "failed_workers": failed,
            "p50_us": percentile(&lat, 0.50),
            "p99_us": percentile(&lat, 0.99),
        })
    );
    Ok(())
}

async fn idle(url: String, sessions: usize, hold: f64) -> Result<()> {
    let mut open = Vec::with_capacity(sessions);
    let mut failed = 0usize;
    for chunk in (0..sessions).collect::<Vec<_>>().chunks(200) {
        let tries = chunk.iter().map(|_| tokio_tungstenite::connect_async(url.clone()));
        for r in futures_util::future::join_all(tries).await {
            match r {
                Ok((ws, _)) => open.push(ws),
                Err(_) => failed += 1,
            }
        }
    }
    println!("{}", serde_json::json!({"open": open.len(), "failed": failed}));
    tokio::time::sleep(Duration::from_secs_f64(hold)).await;
    drop(open);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("udp") => {
            let addr: SocketAddr = arg(&args, 1, "ADDR")?;
            timed(arg(&args, 2, "INFLIGHT")?, arg(&args, 3, "SECS")?, |run, _| tokio::spawn(udp_worker(run, addr)))
                .await
        }
        Some("tcp") => {
            let addr: SocketAddr = arg(&args, 1, "ADDR")?;
            timed(arg(&args, 2, "CLIENTS")?, arg(&args, 3, "SECS")?, |run, _| tokio::spawn(tcp_worker(run, addr))).await
        }
        Some("ws") => {
            let url: String = arg(&args, 1, "URL")?;
            let mode: String = arg(&args, 4, "MODE")?;
            timed(arg(&args, 2, "SOCKETS")?, arg(&args, 3, "SECS")?, |run, i| {
                tokio::spawn(ws_worker(run, url.clone(), mode.clone(), i))
            })
            .await
        }
        Some("students") => {
            students::run(arg(&args, 1, "URL")?, arg(&args, 2, "STUDENTS")?, arg(&args, 3, "SECS")?).await
        }
        Some("idle") => idle(arg(&args, 1, "URL")?, arg(&args, 2, "SESSIONS")?, arg(&args, 3, "HOLD_SECS")?).await,
        _ => bail!("usage: socketlab-load udp|tcp|ws|idle|students ..."),
    }
}
