//! Client UDP sockets kept for the lean path.
//!
//! A traced exchange shows a fresh socket's whole life (`socket`, `sendto`, `recvfrom`, `close`)
//! and so opens one each time. The lean path (`"trace": false`) shows nothing, so it reuses
//! sockets (unconnected, like the lesson's client: `sendto` and `recvfrom` only) and saves the
//! socket's creation, binding and reactor registration per exchange. A socket whose exchange failed is never reused, so a late reply
//! cannot reach the next exchange.

use std::sync::{Mutex, PoisonError};

use tokio::net::UdpSocket;

/// Sockets kept at most.
const MAX_POOLED: usize = 256;

/// Client sockets waiting for reuse.
#[derive(Debug, Default)]
pub struct UdpPool {
    idle: Mutex<Vec<UdpSocket>>,
}

impl UdpPool {
    /// A kept socket, if there is one.
    pub fn take(&self) -> Option<UdpSocket> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    /// Keeps a socket whose exchange succeeded.
    pub fn give(&self, socket: UdpSocket) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_POOLED {
            idle.push(socket);
        }
    }
}
