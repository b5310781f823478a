//! Loss on demand for one exchange: the hosted UDP server's one-shot impairments, and TCP
//! drops through nftables.
//!
//! UDP needs no privilege: the gateway tells its hosted UDP server, before it sends, what to
//! do to the next datagram from this exchange's client address (lose it, lose the answer,
//! answer late or twice), as the textbook's pinger server loses requests itself. The entry is
//! used once and removed when the exchange ends, so no other client is ever affected.

pub mod nft;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use socketlab_proto::impair::UdpImpair;

/// What the hosted UDP server does to the next datagram from each listed client.
#[derive(Debug, Default)]
pub struct UdpTable {
    map: Mutex<HashMap<SocketAddr, UdpImpair>>,
    /// Entries in `map`, so that the server skips the lock when nothing is impaired.
    len: AtomicUsize,
}

impl UdpTable {
    fn lock(&self) -> MutexGuard<'_, HashMap<SocketAddr, UdpImpair>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Impairs the next datagram from `client` until the guard is dropped.
    pub fn set(self: &Arc<Self>, client: SocketAddr, impair: UdpImpair) -> UdpGuard {
        let mut map = self.lock();
        map.insert(client, impair);
        self.len.store(map.len(), Ordering::Relaxed);
        UdpGuard { table: Arc::clone(self), client }
    }

    /// Takes what to do to this datagram from `client`, once.
    pub fn take(&self, client: SocketAddr) -> Option<UdpImpair> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut map = self.lock();
        let got = map.remove(&client);
        self.len.store(map.len(), Ordering::Relaxed);
        got
    }
}

/// Removes a client's entry when its exchange ends, used or not.
#[derive(Debug)]
pub struct UdpGuard {
    table: Arc<UdpTable>,
    client: SocketAddr,
}

impl Drop for UdpGuard {
    fn drop(&mut self) {
        let mut map = self.table.lock();
        map.remove(&self.client);
        self.table.len.store(map.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_used_once_and_gone_with_its_guard() {
        let table = Arc::new(UdpTable::default());
        let a = SocketAddr::from(([127, 0, 0, 1], 4000));
        let b = SocketAddr::from(([127, 0, 0, 1], 4001));
        let imp = UdpImpair { drop_request: true, ..UdpImpair::default() };
        let guard = table.set(a, imp);
        assert_eq!(table.take(b), None);
        assert_eq!(table.take(a), Some(imp));
        assert_eq!(table.take(a), None, "once");
        let again = table.set(b, imp);
        drop(again);
        assert_eq!(table.take(b), None, "the guard removed it");
        drop(guard);
    }
}
