//! Routes the hosted servers' events to whoever asked for them.
//!
//! An exchange registers its client socket's address before it sends anything; every server
//! event whose peer is that address goes to that exchange alone. Everything else (a Python
//! client in a terminal, `nc`, a server starting) goes to the sockets that subscribed to all
//! traffic, and nowhere when none did, so unobserved traffic costs no allocation. Observed
//! conversations are also kept, boundedly, for lab checks of a client run in a terminal.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use socketlab_proto::{Event, Transport};
use tokio::sync::{Notify, broadcast};

use crate::capture::pcapng::Frame;
use crate::capture::{Captured, PacketSink};
use crate::trace::Sink;

/// The events waiting for one exchange. A queue and a wake-up rather than a channel: a tokio
/// channel allocates a block of 32 slots when it is made, about 13 KB for these events, and
/// a traced exchange makes one route.
#[derive(Debug, Default)]
struct Inbox {
    queue: Mutex<VecDeque<Routed>>,
    arrived: Notify,
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Routed>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One event for an exchange, with its raw frame when it was captured.
#[derive(Debug, Clone)]
pub struct Routed {
    pub event: Event,
    pub frame: Option<Frame>,
}

/// How many observed events a slow subscriber may fall behind before it skips some.
const OBSERVER_BACKLOG: usize = 4096;

/// How many observed conversations are kept for lab checks, and how many events of each.
const KEPT_CONVERSATIONS: usize = 256;
const KEPT_EVENTS: usize = 256;

/// One server event seen by subscribers to all traffic.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Groups the events of one client socket, such as `tcp 127.0.0.1:40312`.
    pub conversation: String,
    pub event: Event,
}

/// The router between the hosted servers and the gateway's exchanges and subscribers.
#[derive(Debug)]
pub struct Hub {
    routes: Mutex<HashMap<SocketAddr, Arc<Inbox>>>,
    observers: broadcast::Sender<Observed>,
    observer_count: AtomicUsize,
    /// The newest conversations observed while someone watched, so that a lab can check a
    /// client run in a terminal against what the hosted server itself recorded.
    kept: Mutex<VecDeque<(String, Vec<Event>)>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            routes: Mutex::new(HashMap::new()),
            observers: broadcast::channel(OBSERVER_BACKLOG).0,
            observer_count: AtomicUsize::new(0),
            kept: Mutex::new(VecDeque::new()),
        }
    }
}

impl Hub {
    /// Sends every server event about `client` to the returned route until it is dropped.
    pub fn route(self: &Arc<Self>, client: SocketAddr) -> Route {
        let inbox = Arc::new(Inbox::default());
        self.lock().insert(client, Arc::clone(&inbox));
        Route { hub: Arc::clone(self), client, inbox }
    }

    /// Subscribes to all traffic that no exchange of this gateway routed.
    pub fn observe(self: &Arc<Self>) -> Observer {
        self.observer_count.fetch_add(1, Ordering::Relaxed);
        Observer { hub: Arc::clone(self), rx: self.observers.subscribe() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Arc<Inbox>>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn observed(&self) -> bool {
        self.observer_count.load(Ordering::Relaxed) > 0
    }
}

impl Hub {
    /// Sends an event about the conversation with `client` to its exchange, or else to the
    /// subscribers of all traffic.
    fn deliver(&self, client: Option<SocketAddr>, event: Event, frame: Option<Frame>) {
        if let Some(client) = client {
            let inbox = self.lock().get(&client).map(Arc::clone);
            if let Some(inbox) = inbox {
                // Once its exchange has finished, nobody reads the route's inbox again, and a
                // late event goes with it.
                inbox.lock().push_back(Routed { event, frame });
                inbox.arrived.notify_one();
                return;
            }
        }
        if self.observed() {
            let transport = match event.socket.transport {
                Transport::Udp => "udp",
                Transport::Tcp => "tcp",
            };
            let conversation = match client {
                Some(client) => format!("{transport} {client}"),
                None => format!("{transport} server"),
            };
            self.keep(&conversation, &event);
            let _ = self.observers.send(Observed { conversation, event });
        }
    }
}

impl Hub {
    fn keep(&self, conversation: &str, event: &Event) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        match kept.iter_mut().find(|(name, _)| name == conversation) {
            Some((_, events)) if events.len() < KEPT_EVENTS => events.push(event.clone()),
            Some(_) => {}
            None => {
                if kept.len() >= KEPT_CONVERSATIONS {
                    kept.pop_front();
                }
                kept.push_back((conversation.to_owned(), vec![event.clone()]));
            }
        }
    }

    /// The events of an observed conversation, such as `udp 127.0.0.1:53211`, if still kept.
    pub fn conversation(&self, name: &str) -> Option<Vec<Event>> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.iter().find(|(n, _)| n == name).map(|(_, events)| events.clone())
    }
}

impl Sink for Hub {
    fn wants(&self, peer: Option<SocketAddr>) -> bool {
        self.observed() || peer.is_some_and(|p| self.lock().contains_key(&p))
    }

    fn emit(&self, event: Event) {
        self.deliver(event.peer, event, None);
    }
}

impl PacketSink for Hub {
    fn packet(&self, captured: Captured) {
        self.deliver(Some(captured.client), captured.event, Some(captured.frame));
    }
}

/// The server events about one client socket, while the exchange lasts.
#[derive(Debug)]
pub struct Route {
    hub: Arc<Hub>,
    client: SocketAddr,
    inbox: Arc<Inbox>,
}

impl Route {
    /// The next event, or `None` once `deadline` passes.
    pub async fn next_until(&mut self, deadline: tokio::time::Instant) -> Option<Routed> {
        loop {
            if let Some(r) = self.inbox.lock().pop_front() {
                return Some(r);
            }
            // An event pushed since the check left a permit: this returns at once.
            tokio::time::timeout_at(deadline, self.inbox.arrived.notified()).await.ok()?;
        }
    }

    /// Every event already delivered.
    pub fn drain(&mut self) -> Vec<Routed> {
        self.inbox.lock().drain(..).collect()
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        self.hub.lock().remove(&self.client);
    }
}

/// A subscription to all traffic.
#[derive(Debug)]
pub struct Observer {
    hub: Arc<Hub>,
    pub rx: broadcast::Receiver<Observed>,
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.hub.observer_count.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketlab_proto::{Op, Role, Side, SocketRef};

    fn event(peer: Option<SocketAddr>) -> Event {
        let sock = SocketRef { id: 1, role: Role::Udp, transport: Transport::Udp };
        Event::new(1, Side::Server, sock, Op::Recvfrom).addrs(None, peer)
    }

    #[test]
    fn routed_events_reach_only_their_exchange() {
        let hub = Arc::new(Hub::default());
        let a: SocketAddr = "127.0.0.1:1000".parse().expect("addr");
        let b: SocketAddr = "127.0.0.1:2000".parse().expect("addr");
        assert!(!hub.wants(Some(a)), "nobody listens yet");
        let mut route = hub.route(a);
        let mut observer = hub.observe();
        assert!(hub.wants(Some(a)) && hub.wants(Some(b)));
        hub.emit(event(Some(a)));
        hub.emit(event(Some(b)));
        assert_eq!(route.drain().len(), 1);
        let seen = observer.rx.try_recv().expect("b is observed");
        assert_eq!(seen.conversation, "udp 127.0.0.1:2000");
        assert!(observer.rx.try_recv().is_err(), "a was routed, not observed");
        drop(route);
        drop(observer);
        assert!(!hub.wants(Some(a)), "routes and observers unregister on drop");
    }

    #[test]
    fn observed_conversations_are_kept_boundedly_while_watched() {
        let hub = Arc::new(Hub::default());
        let a: SocketAddr = "127.0.0.1:1000".parse().expect("addr");
        hub.emit(event(Some(a)));
        assert_eq!(hub.conversation("udp 127.0.0.1:1000"), None, "nobody watched");
        let _observer = hub.observe();
        for _ in 0..KEPT_EVENTS + 5 {
            hub.emit(event(Some(a)));
        }
        assert_eq!(hub.conversation("udp 127.0.0.1:1000").map(|e| e.len()), Some(KEPT_EVENTS));
        for port in 0..KEPT_CONVERSATIONS {
            hub.emit(event(Some(SocketAddr::from(([127, 0, 0, 2], 3000 + port as u16)))));
        }
        assert_eq!(hub.conversation("udp 127.0.0.1:1000"), None, "the oldest went first");
        assert!(hub.conversation("udp 127.0.0.2:3000").is_some());
    }
}
