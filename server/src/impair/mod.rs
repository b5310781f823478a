//! Loss on demand for one exchange: the hosted UDP server's one-shot impairments, and TCP
//! drops through nftables.
//!
//! UDP needs no privilege: the gateway tells its hosted UDP server, before it sends, what to
//! do to the next datagram from this exchange's client address (lose it, lose the answer,
//! answer late or twice), as the textbook's pinger server loses requests itself. The entry is
//! used once and removed when the exchange ends, so no other client is ever affected: a late
//! answer still waiting when its exchange ends is never sent (the exchange's socket is gone,
//! and another may hold its port by then).
//!
//! [`Loss`] is the pinger server's random loss: a share of all requests, repeatable from a seed
//! so that a run can be graded.

pub mod nft;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use socketlab_proto::impair::UdpImpair;
use tokio_util::sync::CancellationToken;

/// What the hosted UDP server does to the next datagram from each listed client.
#[derive(Debug, Default)]
pub struct UdpTable {
    map: Mutex<HashMap<SocketAddr, Entry>>,
    /// Entries in `map`, so that the server skips the lock when nothing is impaired.
    len: AtomicUsize,
}

impl UdpTable {
    fn lock(&self) -> MutexGuard<'_, HashMap<SocketAddr, Entry>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Impairs the next datagram from `client` until the guard is dropped.
    pub fn set(self: &Arc<Self>, client: SocketAddr, impair: UdpImpair) -> UdpGuard {
        let ended = CancellationToken::new();
        let mut map = self.lock();
        map.insert(client, Entry { impair, ended: ended.clone() });
        self.len.store(map.len(), Ordering::Relaxed);
        UdpGuard { table: Arc::clone(self), client, ended }
    }

    /// Takes what to do to this datagram from `client`, once.
    pub fn take(&self, client: SocketAddr) -> Option<Entry> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut map = self.lock();
        let got = map.remove(&client);
        self.len.store(map.len(), Ordering::Relaxed);
        got
    }
}

/// What to do to one datagram, and whether its exchange is still on.
#[derive(Debug, Clone)]
pub struct Entry {
    pub impair: UdpImpair,
    /// Cancelled when the exchange ends: a delayed answer still waiting is not sent.
    pub ended: CancellationToken,
}

/// Removes a client's entry when its exchange ends, used or not, and tells a delayed answer
/// that its exchange is over.
#[derive(Debug)]
pub struct UdpGuard {
    table: Arc<UdpTable>,
    client: SocketAddr,
    ended: CancellationToken,
}

impl Drop for UdpGuard {
    fn drop(&mut self) {
        self.ended.cancel();
        let mut map = self.table.lock();
        map.remove(&self.client);
        self.table.len.store(map.len(), Ordering::Relaxed);
    }
}

/// Loses a share of datagrams at random, the same ones again for the same seed.
#[derive(Debug, Clone)]
pub struct Loss {
    share: f64,
    state: u64,
}

impl Loss {
    /// Loses `share` (0 to 1) of datagrams, drawn from `seed`.
    pub fn new(share: f64, seed: u64) -> Self {
        Self { share, state: seed }
    }

    /// SplitMix64: tiny, fast, and the same sequence on every machine.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Whether to lose the next datagram.
    pub fn lose(&mut self) -> bool {
        // The top 53 bits as a number in [0, 1).
        let x = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        x < self.share
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_repeats_for_a_seed_and_keeps_its_share() {
        let run = |seed| {
            let mut l = Loss::new(0.3, seed);
            (0..1000).map(|_| l.lose()).collect::<Vec<bool>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let lost = run(7).iter().filter(|&&x| x).count();
        assert!((200..400).contains(&lost), "{lost} of 1000");
        assert!(!Loss::new(0.0, 1).lose());
        assert!(Loss::new(1.0, 1).lose());
    }

    #[test]
    fn an_entry_is_used_once_and_gone_with_its_guard() {
        let table = Arc::new(UdpTable::default());
        let a = SocketAddr::from(([127, 0, 0, 1], 4000));
        let b = SocketAddr::from(([127, 0, 0, 1], 4001));
        let imp = UdpImpair { drop_request: true, ..UdpImpair::default() };
        let guard = table.set(a, imp);
        assert!(table.take(b).is_none());
        let taken = table.take(a).expect("set");
        assert_eq!(taken.impair, imp);
        assert!(table.take(a).is_none(), "once");
        let again = table.set(b, imp);
        drop(again);
        assert!(table.take(b).is_none(), "the guard removed it");
        assert!(!taken.ended.is_cancelled());
        drop(guard);
        assert!(taken.ended.is_cancelled(), "the exchange's end is told to a late answer");
    }
}
