//! The capacity load: simulated students, each making one traced exchange every [`PERIOD`]
//! over its own WebSocket, UDP and TCP in turn. Open loop: a student sends on schedule whether
//! or not its last exchange was answered, and each exchange's latency runs from its planned
//! send time, so a gateway that falls behind shows it in the percentiles instead of slowing
//! the load down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::percentile;

/// How often each student sends.
const PERIOD: Duration = Duration::from_secs(2);
/// How long to wait for answers after the last planned send.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Tally {
    sent: u64,
    ok: u64,
    errors: u64,
    latencies: Vec<u32>,
}

/// One student: connects, then sends on schedule from `start + phase` until `end`.
async fn student(url: String, me: usize, start: Instant, phase: Duration, end: Instant, tally: Arc<Mutex<Tally>>) {
    let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await else {
        if let Ok(mut t) = tally.lock() {
            t.errors += 1;
        }
        return;
    };
    let (mut tx, mut rx) = ws.split();
    // The gateway greets first.
    if !matches!(rx.next().await, Some(Ok(_))) {
        if let Ok(mut t) = tally.lock() {
            t.errors += 1;
        }
        return;
    }
    let planned: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let reader = {
        let (planned, tally) = (Arc::clone(&planned), Arc::clone(&tally));
        tokio::spawn(async move {
            while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(end + DRAIN, rx.next()).await {
                let Message::Text(text) = msg else { continue };
                let (reply, error) = (text.contains(r#""type":"reply""#), text.contains(r#""type":"error""#));
                if !reply && !error {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                let id = v["id"].as_str().unwrap_or_default().to_owned();
                let Some(at) = planned.lock().ok().and_then(|mut p| p.remove(&id)) else { continue };
                let Ok(mut t) = tally.lock() else { continue };
                if reply {
                    t.ok += 1;
                    t.latencies.push(u32::try_from(at.elapsed().as_micros()).unwrap_or(u32::MAX));
                } else {
                    t.errors += 1;
                }
                let done = planned.lock().map(|p| p.is_empty()).unwrap_or(true);
                if done && Instant::now() >= end {
                    break;
                }
            }
        })
    };
    let mut at = start + phase;
    let mut n = 0u64;
    while at < end {
        tokio::time::sleep_until(at).await;
        n += 1;
        let id = format!("s{me}-{n}");
        let protocol = if n % 2 == 1 { "udp" } else { "tcp" };
        let frame = format!(
            r#"{{"type":"exchange","id":"{id}","protocol":"{protocol}","message":"hello socket","trace":true}}"#
        );
        if let Ok(mut p) = planned.lock() {
            p.insert(id, at);
        }
        if let Ok(mut t) = tally.lock() {
            t.sent += 1;
        }
        if tx.send(Message::text(frame)).await.is_err() {
            break;
        }
        at += PERIOD;
    }
    let _ = reader.await;
    // Whatever was never answered is an error.
    let unanswered = planned.lock().map(|p| p.len() as u64).unwrap_or(0);
    if let Ok(mut t) = tally.lock() {
        t.errors += unanswered;
    }
    let _ = tx.close().await;
}

/// Runs `students` students for `secs` seconds and prints one JSON line.
pub async fn run(url: String, students: usize, secs: f64) -> Result<()> {
    let tally = Arc::new(Mutex::new(Tally::default()));
    // Connections open during the first period; sends start one period later, spread evenly.
    let start = Instant::now() + PERIOD;
    let end = start + Duration::from_secs_f64(secs);
    let step = PERIOD / u32::try_from(students.max(1)).unwrap_or(u32::MAX);
    let handles: Vec<_> = (0..students)
        .map(|i| {
            let phase = step * u32::try_from(i).unwrap_or(0);
            tokio::spawn(student(url.clone(), i, start, phase, end, Arc::clone(&tally)))
        })
        .collect();
    for h in handles {
        let _ = h.await;
    }
    let t = tally.lock().map_err(|_| anyhow::anyhow!("a student panicked"))?;
    let mut lat = t.latencies.clone();
    lat.sort_unstable();
    println!(
        "{}",
        serde_json::json!({
            "students": students,
            "sent": t.sent,
            "ok": t.ok,
            "errors": t.errors,
            "p50_us": percentile(&lat, 0.50),
            "p99_us": percentile(&lat, 0.99),
        })
    );
    Ok(())
}
