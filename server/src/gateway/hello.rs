//! The `hello` frame every WebSocket opens with, serialized once and kept as text.
//!
//! A `hello` is about a kilobyte of JSON and says the same thing to every WebSocket until a
//! hosted server stops or starts or the capture dies: building and serializing it for each new
//! WebSocket was a fifth of what an upgrade cost. The text is kept with what it was made
//! from, and made again when that changes, so a `hello` is never stale.

use std::sync::{Mutex, PoisonError};

use socketlab_proto::impair::Pinger;
use socketlab_proto::wire::{API_VERSION, Hello, ServerMsg};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::{AppState, PINGER_LOSS_PERCENT, checks};

/// What in a `hello` can change while the gateway runs: whether each hosted server is up, and
/// whether the capture runs. The rest is fixed at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Facts {
    up: [bool; 3],
    capturing: bool,
}

/// The last `hello` sent, as text, with the facts it was made from.
#[derive(Debug, Default)]
pub struct KeptHello {
    kept: Mutex<Option<(Facts, Utf8Bytes)>>,
}

impl AppState {
    /// The `hello` as it would be built now.
    fn hello(&self) -> Hello {
        Hello {
            api_version: API_VERSION,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            servers: self.servers.describe(),
            limits: self.config.limits.clone(),
            observe_all: self.config.observe_all,
            capture: self.capture_now(),
            closed_port: self.closed.addr.port(),
            targets: checks::listed(self),
            check_listen: self.config.check_listen.map(|a| a.to_string()),
            impairments: self.impairments.clone(),
            pinger: Some(Pinger {
                addr: self.pinger.to_string(),
                port: self.pinger.port(),
                loss_percent: PINGER_LOSS_PERCENT,
                seed: self.pinger_seed,
            }),
            instance: self.store.instance(),
        }
    }

    /// The `hello` frame's text: the kept one while the facts it says are unchanged.
    pub(super) fn hello_text(&self) -> Utf8Bytes {
        let s = &self.servers;
        let facts = Facts {
            up: [s.udp.is_up(), s.tcp.is_up(), s.tcp_iterative.is_up()],
            capturing: self.capture_live.running(),
        };
        let mut kept = self.hello_kept.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((made_from, text)) = kept.as_ref()
            && *made_from == facts
        {
            return text.clone();
        }
        // A `Hello` is plain data, so it always serializes.
        let text = Utf8Bytes::from(serde_json::to_string(&ServerMsg::Hello(self.hello())).unwrap_or_default());
        *kept = Some((facts, text.clone()));
        text
    }
}
