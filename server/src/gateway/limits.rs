//! Fairness for a shared class: a rate limit per WebSocket session, one per IP address for
//! REST, and a higher ceiling per IP address over both (governor's GCRA, the token bucket's
//! exact equivalent), plus a cap on WebSockets per IP. A class behind one NAT shares an
//! address, so each student's WebSocket has its own bucket and only the ceiling is shared.
//!
//! Addresses are counted as a network would hand them out: an IPv4 address alone, an IPv6
//! address by its /64, since one host commonly holds a whole /64 and could otherwise make up
//! new addresses to escape the limit.
//!
//! The rate limiter takes its clock as a type parameter, so tests drive it with governor's
//! fake clock instead of sleeping. The connection cap stays hand-written: governor limits
//! rates, not how many things are open at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, middleware::NoOpMiddleware};

/// Addresses remembered before those whose bucket is full again are forgotten.
const PRUNE_ABOVE: usize = 10_000;

type Keyed<K, C> = governor::RateLimiter<K, HashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Forgetting refilled addresses scans them all, so it runs at most this often.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// The key an address is limited under: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(v6.to_bits() & !((1u128 << 64) - 1))),
        },
    }
}

/// A rate limit per key (an IP address, or a browser session): `rate` exchanges a second on
/// average, `burst` at once.
#[derive(Debug)]
pub struct RateLimiter<K: Hash + Eq + Clone = IpAddr, C: Clock = DefaultClock> {
    limiter: Keyed<K, C>,
    clock: C,
    last_prune: Mutex<Option<C::Instant>>,
}

/// `rate` takes every `period` on average, `burst` at once; a rate or burst of 0 counts as 1
/// (settings refuse 0 anyway).
fn quota(rate: u32, burst: u32, period: Duration) -> Quota {
    let at_least_one = |n| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    let each = (period / at_least_one(rate).get()).max(Duration::from_nanos(1));
    Quota::with_period(each).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN)).allow_burst(at_least_one(burst))
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `rate` takes every `period` rather than every second (tests lengthen the period, so a
    /// stalled machine does not refill a bucket they expect empty).
    pub fn over(rate: u32, burst: u32, period: Duration) -> Self {
        Self::with_quota(quota(rate, burst, period), DefaultClock::default())
    }

    /// A limit of one take every `period` on average, `burst` at once, for things rarer than
    /// one a second; a zero period counts as a millisecond.
    pub fn per_period(period: Duration, burst: u32) -> Self {
        let quota = Quota::with_period(period.max(Duration::from_millis(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self::with_quota(quota, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> RateLimiter<K, C> {
    /// A limiter on `clock` (tests drive a fake one), `rate_per_sec` a second.
    #[cfg(test)]
    pub fn with_clock(rate_per_sec: u32, burst: u32, clock: C) -> Self {
        Self::with_quota(quota(rate_per_sec, burst, Duration::from_secs(1)), clock)
    }

    fn with_quota(quota: Quota, clock: C) -> Self {
        Self {
            limiter: governor::RateLimiter::hashmap_with_clock(quota, clock.clone()),
            clock,
            last_prune: Mutex::new(None),
        }
    }

    /// Lets one more exchange for `key` through, or says how long until one may start.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        if self.limiter.len() > PRUNE_ABOVE {
            let now = self.clock.now();
            let mut last = self.last_prune.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_none_or(|at| Duration::from(now.duration_since(at)) >= PRUNE_EVERY) {
                *last = Some(now);
                self.limiter.retain_recent();
            }
        }
        self.limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

impl<C: Clock + Clone> RateLimiter<IpAddr, C> {
    /// Lets one more exchange from `ip` through (IPv6 counted by its /64), or says how long
    /// until one may start.
    pub fn try_take(&self, ip: IpAddr) -> Result<(), Duration> {
        self.take(&limit_key(ip))
    }
}

type Direct<C> = governor::RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    C,
    NoOpMiddleware<<C as Clock>::Instant>,
>;

/// One WebSocket session's own bucket.
#[derive(Debug)]
pub struct SessionLimiter<C: Clock = DefaultClock> {
    limiter: Direct<C>,
    clock: C,
}

impl SessionLimiter {
    /// `rate` takes every `period`, as [`RateLimiter::over`].
    pub fn over(rate: u32, burst: u32, period: Duration) -> Self {
        Self::with_quota(quota(rate, burst, period), DefaultClock::default())
    }
}

impl<C: Clock + Clone> SessionLimiter<C> {
    #[cfg(test)]
    pub fn with_clock(rate_per_sec: u32, burst: u32, clock: C) -> Self {
        Self::with_quota(quota(rate_per_sec, burst, Duration::from_secs(1)), clock)
    }

    fn with_quota(quota: Quota, clock: C) -> Self {
        Self { limiter: governor::RateLimiter::direct_with_clock(quota, clock.clone()), clock }
    }

    /// Lets one more exchange through, or says how long until one may start.
    pub fn try_take(&self) -> Result<(), Duration> {
        self.limiter.check().map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// Counts open WebSockets, per IP address and in all.
#[derive(Debug)]
pub struct ConnectionLimiter {
    max: usize,
    max_total: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    by_ip: HashMap<IpAddr, usize>,
    total: usize,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its address holds the most it may.
    Address,
    /// The gateway holds the most it may, from everyone.
    Full,
}

impl ConnectionLimiter {
    /// `max` connections per address, `max_total` in all.
    pub fn new(max: usize, max_total: usize) -> Arc<Self> {
        Arc::new(Self { max, max_total, open: Mutex::new(Open::default()) })
    }

    /// Admits one more connection from `ip`, held until the returned guard drops.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionGuard, Refused> {
        let ip = limit_key(ip);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.by_ip.get(&ip).is_some_and(|n| *n >= self.max) {
            return Err(Refused::Address);
        }
        if open.total >= self.max_total {
            return Err(Refused::Full);
        }
        *open.by_ip.entry(ip).or_insert(0) += 1;
        open.total += 1;
        Ok(ConnectionGuard { limiter: Arc::clone(self), ip })
    }
}

/// One admitted connection.
#[derive(Debug)]
pub struct ConnectionGuard {
    limiter: Arc<ConnectionLimiter>,
    ip: IpAddr,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        release(&mut open.by_ip, &self.ip);
    }
}

/// One fewer open for `key`; a key leaves the map when it has none, so the map holds only
/// keys in use.
fn release<K: Eq + Hash>(open: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = open.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            open.remove(key);
        }
    }
}

/// Counts streams open per key (a class's live dashboards), up to a cap per key.
#[derive(Debug, Default)]
pub struct PerKey {
    open: Mutex<HashMap<String, usize>>,
}

impl PerKey {
    /// One more stream for `key`, held until the guard drops; `None` when `key` has `max`.
    pub fn admit(self: &Arc<Self>, key: &str, max: usize) -> Option<KeyGuard> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(key.to_owned()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(KeyGuard { of: Arc::clone(self), key: key.to_owned() })
    }
}

/// One stream admitted by [`PerKey::admit`].
#[derive(Debug)]
pub struct KeyGuard {
    of: Arc<PerKey>,
    key: String,
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        release(&mut self.of.open.lock().unwrap_or_else(PoisonError::into_inner), &self.key);
    }
}

/// How long a client is told to wait when the gateway is full.
pub const FULL_RETRY_SECS: u64 = 2;

/// The gateway is full: 503 `gateway_full`, at once, with a `Retry-After`.
pub fn full(what: String) -> super::error::ApiError {
    let mut e = super::error::ApiError::new(
        socketlab_proto::wire::ErrorCode::GatewayFull,
        format!("{what}; retry in {FULL_RETRY_SECS} s"),
    );
    e.retry_after = Some(FULL_RETRY_SECS);
    e
}

/// A refusal that says when to retry.
pub(super) fn limited(what: String, wait: Duration) -> super::error::ApiError {
    let mut e = super::error::ApiError::new(
        socketlab_proto::wire::ErrorCode::RateLimited,
        format!("{what}; retry in {:.1} s", wait.as_secs_f64()),
    );
    e.retry_after = Some(wait.as_secs_f64().ceil() as u64);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn a_burst_then_the_rate_per_address() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(2, 3, clock.clone());
        for _ in 0..3 {
            assert!(limiter.try_take(A).is_ok());
        }
        let wait = limiter.try_take(A).expect_err("burst spent");
        assert_eq!(wait, Duration::from_millis(500), "one exchange every half second");
        assert!(limiter.try_take(B).is_ok(), "each address has its own limit");
        clock.advance(Duration::from_millis(500));
        assert!(limiter.try_take(A).is_ok());
        clock.advance(Duration::from_millis(100));
        assert_eq!(limiter.try_take(A), Err(Duration::from_millis(400)));
        // Idle time refills up to the burst, not beyond.
        clock.advance(Duration::from_secs(60));
        for _ in 0..3 {
            assert!(limiter.try_take(A).is_ok());
        }
        assert!(limiter.try_take(A).is_err());
    }

    #[test]
    fn many_addresses_are_pruned_once_their_limit_has_refilled() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(1000, 1, clock.clone());
        let ip = |i: u32| IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        for i in 0..=PRUNE_ABOVE as u32 + 1 {
            assert!(limiter.try_take(ip(i)).is_ok());
        }
        clock.advance(Duration::from_secs(1));
        assert!(limiter.try_take(A).is_ok());
        assert!(limiter.limiter.len() <= 2, "refilled addresses forgotten: {}", limiter.limiter.len());
    }

    #[test]
    fn ipv6_addresses_share_the_limit_of_their_64() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(1, 2, clock);
        let v6 = |s: &str| s.parse::<IpAddr>().expect("ipv6");
        assert!(limiter.try_take(v6("2001:db8:1:2::1")).is_ok());
        assert!(limiter.try_take(v6("2001:db8:1:2:ffff::7")).is_ok());
        assert!(limiter.try_take(v6("2001:db8:1:2::99")).is_err(), "the same /64 is one address");
        assert!(limiter.try_take(v6("2001:db8:1:3::1")).is_ok(), "another /64 is another");
        assert_eq!(limit_key(v6("::ffff:10.0.0.1")), A, "IPv4-mapped counts as IPv4");
        let cap = ConnectionLimiter::new(1, 10);
        let _held = cap.admit(v6("2001:db8::1")).expect("first");
        assert_eq!(cap.admit(v6("2001:db8::2")).err(), Some(Refused::Address), "the cap also counts the /64");
    }

    #[test]
    fn connections_are_capped_per_address_and_in_all_and_released_on_drop() {
        let limiter = ConnectionLimiter::new(2, 3);
        let one = limiter.admit(A).expect("first");
        let _two = limiter.admit(A).expect("second");
        assert_eq!(limiter.admit(A).err(), Some(Refused::Address), "third refused");
        let b = limiter.admit(B).expect("other addresses unaffected");
        assert_eq!(limiter.admit(B).err(), Some(Refused::Full), "three in all");
        drop(one);
        assert!(limiter.admit(A).is_ok(), "a slot frees when a connection closes");
        drop(b);
        assert!(limiter.admit(B).is_ok(), "and frees the gateway's");
    }

    #[test]
    fn streams_per_key_are_capped_and_freed() {
        let streams = Arc::new(PerKey::default());
        let held: Vec<_> = (0..2).map(|_| streams.admit("a", 2).expect("room")).collect();
        assert!(streams.admit("a", 2).is_none(), "the third of a is refused");
        let other = streams.admit("b", 2).expect("another key has its own cap");
        drop(held);
        assert!(streams.admit("a", 2).is_some(), "freed when they close");
        drop(other);
        assert!(streams.open.lock().unwrap_or_else(PoisonError::into_inner).is_empty(), "nothing kept");
    }
}
