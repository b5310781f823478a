//! The most recent exchanges the gateway ran: each one's timeline, for checking lab answers
//! against, and its captured frames, for pcapng export.
//!
//! Bounded both ways: at most `max` exchanges, none older than `max_age`. Names are random, so
//! a client can reach only the exchanges it was told about. The timelines here are the ones
//! the gateway recorded itself, so a lab check never trusts one a client sends.

use std::collections::VecDeque;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use socketlab_proto::Event;

use crate::capture::pcapng::{self, Frame};

#[derive(Debug)]
struct Entry {
    id: String,
    at: Instant,
    comment: String,
    frames: Vec<Frame>,
    events: Vec<Event>,
}

/// The store.
#[derive(Debug)]
pub struct Store {
    max: usize,
    max_age: Duration,
    next: AtomicU64,
    salt: RandomState,
    entries: Mutex<VecDeque<Entry>>,
}

impl Store {
    pub fn new(max: usize, max_age: Duration) -> Self {
        Self { max, max_age, next: AtomicU64::new(1), salt: RandomState::new(), entries: Mutex::new(VecDeque::new()) }
    }

    /// A fresh, unguessable exchange name such as `x12-5f0c9a1e77d2b3c4`.
    pub fn next_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut h = self.salt.build_hasher();
        h.write_u64(n);
        format!("x{n}-{:016x}", h.finish())
    }

    /// This store's own name, random per process: exchange names are only known to the store
    /// that made them, and `hello` tells a reconnecting page which store it now talks to.
    pub fn instance(&self) -> String {
        format!("{:016x}", self.salt.hash_one(u64::MAX))
    }

    /// Keeps an exchange's timeline and frames, dropping the oldest and the expired.
    pub fn put(&self, id: String, comment: String, frames: Vec<Frame>, events: Vec<Event>, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        while entries.front().is_some_and(|e| now.saturating_duration_since(e.at) > self.max_age) {
            entries.pop_front();
        }
        while entries.len() >= self.max.max(1) {
            entries.pop_front();
        }
        entries.push_back(Entry { id, at: now, comment, frames, events });
    }

    /// The exchange's capture as a pcapng file, if it is still kept and had packets.
    pub fn pcapng(&self, id: &str, interface: &str, now: Instant) -> Option<Result<Vec<u8>, pcapng::PcapError>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let e = entries.iter().find(|e| e.id == id && now.saturating_duration_since(e.at) <= self.max_age)?;
        (!e.frames.is_empty()).then(|| pcapng::write(interface, &e.comment, &e.frames))
    }

    /// The exchange's timeline as the gateway recorded it, if it is still kept.
    pub fn timeline(&self, id: &str, now: Instant) -> Option<Vec<Event>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let e = entries.iter().find(|e| e.id == id && now.saturating_duration_since(e.at) <= self.max_age)?;
        Some(e.events.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        Frame { unix_ns: 1, data: vec![0; 14], wire_len: 14 }
    }

    #[test]
    fn keeps_the_newest_and_forgets_the_old() {
        let store = Store::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        let ids: Vec<String> = (0..3).map(|_| store.next_id()).collect();
        assert!(ids[0] != ids[1] && ids[0].starts_with("x1-") && ids[0].len() == 19);
        for id in &ids {
            store.put(id.clone(), "c".into(), vec![frame()], Vec::new(), t0);
        }
        assert!(store.pcapng(&ids[0], "lo", t0).is_none(), "only the newest two are kept");
        assert!(store.pcapng(&ids[2], "lo", t0).is_some_and(|f| f.is_ok()));
        assert!(store.pcapng(&ids[2], "lo", t0 + Duration::from_secs(61)).is_none(), "expired");
        assert!(store.pcapng("x2-0000000000000000", "lo", t0).is_none(), "names must match exactly");
    }

    #[test]
    fn keeps_timelines_with_or_without_frames() {
        let store = Store::new(4, Duration::from_secs(60));
        let t0 = Instant::now();
        let sock = socketlab_proto::SocketRef {
            id: 1,
            role: socketlab_proto::Role::Client,
            transport: socketlab_proto::Transport::Udp,
        };
        let events = vec![Event::new(1, socketlab_proto::Side::Client, sock, socketlab_proto::Op::Socket)];
        let id = store.next_id();
        store.put(id.clone(), "c".into(), Vec::new(), events.clone(), t0);
        assert_eq!(store.timeline(&id, t0), Some(events));
        assert!(store.pcapng(&id, "lo", t0).is_none(), "no frames, no capture to export");
        assert!(store.timeline(&id, t0 + Duration::from_secs(61)).is_none(), "expired");
        assert!(store.timeline("x9-0", t0).is_none());
    }
}
