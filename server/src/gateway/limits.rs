//! Fairness for a shared class: a token bucket per IP address and a cap on WebSockets per IP.
//!
//! The bucket takes the current time as an argument, so its arithmetic is tested without
//! sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Buckets kept before idle, full ones are forgotten.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per IP address: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Self { rate: f64::from(rate_per_sec), burst: f64::from(burst), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `ip` at time `now`, or says how long until one is available.
    pub fn try_take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(ip).or_insert(Bucket { tokens: self.burst, at: now });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

/// Counts open WebSockets per IP address.
#[derive(Debug)]
pub struct ConnectionLimiter {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ConnectionLimiter {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { max, open: Mutex::new(HashMap::new()) })
    }

    /// Admits one more connection from `ip`, held until the returned guard drops.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionGuard> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ConnectionGuard { limiter: Arc::clone(self), ip })
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
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let limiter = RateLimiter::new(2, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.try_take(A, t0).is_ok());
        }
        let wait = limiter.try_take(A, t0).expect_err("burst spent");
        assert_eq!(wait, Duration::from_millis(500), "one token every half second");
        assert!(limiter.try_take(B, t0).is_ok(), "each address has its own bucket");
        assert!(limiter.try_take(A, t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.try_take(A, t0 + Duration::from_millis(600)).is_err());
        // Idle time refills up to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.try_take(A, later).is_ok());
        }
        assert!(limiter.try_take(A, later).is_err());
    }

    #[test]
    fn connections_are_capped_per_address_and_released_on_drop() {
        let limiter = ConnectionLimiter::new(2);
        let one = limiter.admit(A).expect("first");
        let _two = limiter.admit(A).expect("second");
        assert!(limiter.admit(A).is_none(), "third refused");
        assert!(limiter.admit(B).is_some(), "other addresses unaffected");
        drop(one);
        assert!(limiter.admit(A).is_some(), "a slot frees when a connection closes");
    }
}
