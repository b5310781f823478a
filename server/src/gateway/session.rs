//! The browser session: a `socketlab_session` cookie, so that the rate limits can follow a
//! browser rather than its address. A class behind one school NAT shares an address; without
//! the cookie every student's REST requests would share one bucket. [`take`] is the one rule
//! for which buckets a request spends.
//!
//! The id is random and unguessable (the same CSPRNG ids as saved exchanges), set `HttpOnly`,
//! `SameSite=Lax` and `Path=/` (and `Secure` when a listed proxy says the browser used HTTPS)
//! on the page's first load and on a WebSocket upgrade that came without one. The gateway keeps no table of ids it handed out: any well-shaped id gets its
//! own bucket, which is why every bucket sits under its address's ceiling (`limits.rs`), so a
//! script that makes up ids gains nothing past the ceiling. A request without a (well-shaped)
//! cookie, such as a script's, is limited by its address as before.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

use governor::clock::{Clock, DefaultClock};

use super::AppState;
use super::error::ApiError;
use super::limits::{RateLimiter, SessionLimiter, limit_key, limited};

/// The cookie's name.
pub const COOKIE: &str = "socketlab_session";

/// A browser session's id, as its cookie carried it (shaped like one the gateway makes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The session's id from the request's `Cookie` headers; an id of the wrong shape counts as
    /// none.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        super::classes::cookie(headers, COOKIE)
            .map(|value| value.trim().trim_matches('"'))
            .filter(|value| crate::db::is_id(value))
            .map(|value| Self(value.to_owned()))
    }
}

/// A new session and its `Set-Cookie` value (`Secure` when the browser came over HTTPS), or
/// `None` if the CSPRNG failed (the browser is then limited by its address, as a script is).
pub fn new_session(https: bool) -> Option<(SessionId, HeaderValue)> {
    let id = crate::db::new_id().ok()?;
    let secure = if https { "; Secure" } else { "" };
    let cookie = HeaderValue::from_str(&format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax{secure}")).ok()?;
    Some((SessionId(id), cookie))
}

/// The request's session, or a new one whose cookie goes on the response.
pub fn ensure(request: &HeaderMap, https: bool, response: &mut HeaderMap) -> Option<SessionId> {
    SessionId::from_headers(request).or_else(|| {
        let (id, cookie) = new_session(https)?;
        response.append(header::SET_COOKIE, cookie);
        Some(id)
    })
}

/// Whose bucket a REST request spends: its browser session's, or else its address's (IPv6 by
/// its /64).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Session(SessionId),
    Address(IpAddr),
}

impl Key {
    pub fn of(session: Option<&SessionId>, ip: IpAddr) -> Self {
        match session {
            Some(s) => Self::Session(s.clone()),
            None => Self::Address(limit_key(ip)),
        }
    }
}

/// Where a request came in: over REST, or on a WebSocket with its own bucket.
#[derive(Debug, Clone, Copy)]
pub enum Via<'a, C: Clock = DefaultClock> {
    Rest,
    WebSocket(&'a SessionLimiter<C>),
}

/// Spends a request's limits, in order: its WebSocket's bucket (on a WebSocket), its browser
/// session's (REST and WebSocket alike, when it has one) or else, over REST, its address's, and
/// last its address's ceiling. A refusal spends nothing further on, so one busy browser does not
/// use up its classmates' share of the ceiling; a made-up id still meets the ceiling.
pub fn take<C: Clock + Clone>(
    via: Via<'_, C>,
    own: &RateLimiter<Key, C>,
    ceiling: &RateLimiter<IpAddr, C>,
    session: Option<&SessionId>,
    ip: IpAddr,
) -> Result<(), ApiError> {
    if let Via::WebSocket(bucket) = via {
        bucket.try_take().map_err(|wait| limited("too many exchanges on this WebSocket".to_owned(), wait))?;
    }
    let key = match (session, via) {
        (Some(_), _) | (None, Via::Rest) => Some(Key::of(session, ip)),
        (None, Via::WebSocket(_)) => None,
    };
    if let Some(key) = key {
        own.take(&key).map_err(|wait| match key {
            Key::Session(_) => limited("too many requests from this browser".to_owned(), wait),
            Key::Address(_) => limited(format!("too many exchanges from {ip}"), wait),
        })?;
    }
    let all = || format!("too many exchanges from {ip} in all (its limit covers every browser and WebSocket)");
    ceiling.try_take(ip).map_err(|wait| limited(all(), wait))
}

impl AppState {
    /// A REST request, from `ip` and perhaps a browser session.
    pub(super) fn rate_limit(&self, ip: IpAddr, browser: &Browser) -> Result<(), ApiError> {
        take(Via::Rest, &self.rate, &self.ceiling, browser.0.as_ref(), ip)
    }

    /// A WebSocket's exchange or check.
    pub(super) fn rate_limit_ws(
        &self,
        bucket: &SessionLimiter,
        session: Option<&SessionId>,
        ip: IpAddr,
    ) -> Result<(), ApiError> {
        take(Via::WebSocket(bucket), &self.rate, &self.ceiling, session, ip)
    }
}

/// The request's browser session, as an extractor for the routes that spend a limit.
#[derive(Debug, Clone)]
pub struct Browser(pub Option<SessionId>);

impl FromRequestParts<Arc<AppState>> for Browser {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &Arc<AppState>) -> Result<Self, Infallible> {
        Ok(Self(SessionId::from_headers(&parts.headers)))
    }
}

/// Spends the request's REST limit (its browser's bucket under its address's ceiling) before a
/// route that reads the store, so nobody can loop `/api/v1/me`, a recorded lab check or an
/// instructor route as fast as HTTP allows and drain the database's pool that every instance
/// shares. A refusal is a 429 with `Retry-After`, as for exchanges.
pub(super) async fn store_limit(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    super::proxy::Client(client): super::proxy::Client,
    browser: Browser,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.rate_limit(client, &browser) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// [`store_limit`] for a request with a class cookie only: without one, a lab check reads
/// no store, and the page's lab steps stay as free as before.
pub(super) async fn student_store_limit(
    state: axum::extract::State<Arc<AppState>>,
    client: super::proxy::Client,
    browser: Browser,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if super::classes::cookie(req.headers(), super::classes::STUDENT_COOKIE).is_none() {
        return next.run(req).await;
    }
    store_limit(state, client, browser, req, next).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(header::COOKIE, HeaderValue::from_str(c).expect("a header value"));
        }
        h
    }

    #[test]
    fn the_cookie_is_read_only_when_well_shaped() {
        let id = |cookies: &[&str]| SessionId::from_headers(&headers(cookies)).map(|s| s.0);
        let good = "AbCdEfGh12345678";
        assert_eq!(id(&[&format!("{COOKIE}={good}")]), Some(good.to_owned()));
        assert_eq!(id(&[&format!("socketlab_affinity=x; {COOKIE}={good}; other=1")]), Some(good.to_owned()));
        assert_eq!(id(&["other=1", &format!("{COOKIE}=\"{good}\"")]), Some(good.to_owned()));
        for bad in ["", "short", "AbCdEfGh123456789", "AbCdEfGh1234567!", "AbCdEfGh-2345678"] {
            assert_eq!(id(&[&format!("{COOKIE}={bad}")]), None, "{bad:?}");
        }
        assert_eq!(id(&[&format!("x{COOKIE}={good}")]), None, "another cookie's name");
        assert_eq!(id(&[]), None);
    }

    #[test]
    fn a_new_cookie_is_random_http_only_lax_and_site_wide() {
        let (id_a, a) = new_session(false).expect("a cookie");
        let (id_b, b) = new_session(false).expect("a cookie");
        assert_ne!((&id_a, &a), (&id_b, &b));
        let text = a.to_str().expect("ascii");
        assert!(text.ends_with("; Path=/; HttpOnly; SameSite=Lax"), "{text}");
        let back = SessionId::from_headers(&headers(&[text.split(';').next().expect("pair")]));
        assert!(back.is_some(), "a cookie made here is read back: {text}");
        assert_eq!(back, Some(id_a.clone()));
        let mut response = HeaderMap::new();
        assert_eq!(ensure(&headers(&[text]), true, &mut response), Some(id_a), "a browser with a session keeps it");
        assert!(response.is_empty());
        let new = ensure(&headers(&["socketlab_affinity=x"]), false, &mut response).expect("a new session");
        let set: Vec<_> = response.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(set.len(), 1);
        assert!(set[0].to_str().expect("ascii").starts_with(&format!("{COOKIE}={}", new.0)));
        let (_, secure) = new_session(true).expect("a cookie");
        assert!(secure.to_str().expect("ascii").ends_with("; SameSite=Lax; Secure"), "{secure:?}");
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));
    const C: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 3));

    /// Which limit refused, read off the refusal's message.
    fn verdict(r: Result<(), ApiError>) -> &'static str {
        match r {
            Ok(()) => "ok",
            Err(e) if e.message.contains("in all") => "ceiling",
            Err(e) if e.message.contains("on this WebSocket") => "websocket",
            Err(e) if e.message.contains("browser") => "browser",
            Err(_) => "address",
        }
    }

    #[test]
    fn buckets_follow_the_browser_session_else_the_address_or_websocket_under_the_ceiling() {
        let clock = FakeRelativeClock::default();
        let own: RateLimiter<Key, _> = RateLimiter::with_clock(1, 2, clock.clone());
        let ceiling: RateLimiter<IpAddr, _> = RateLimiter::with_clock(1, 5, clock.clone());
        let sockets: Vec<SessionLimiter<_>> = (0..4).map(|_| SessionLimiter::with_clock(1, 2, clock.clone())).collect();
        let id = |s: &str| Some(SessionId(s.to_owned()));
        let (s1, s2, s3, forged) = (id("s1"), id("s2"), id("s3"), id("made-up"));
        let v6 = |s: &str| s.parse::<IpAddr>().expect("ipv6");
        // (over REST (None) or on WebSocket n, whose, from, ms to wait first, verdict), in order.
        type Row<'a> = (Option<usize>, &'a Option<SessionId>, IpAddr, u64, &'a str);
        let rows: &[Row<'_>] = &[
            (None, &None, A, 0, "ok"),
            (None, &None, A, 0, "ok"),
            (None, &None, A, 0, "address"), // a script: its address's bucket, spent
            (None, &s1, A, 0, "ok"),        // a browser behind that address has its own
            (None, &s1, A, 0, "ok"),
            (None, &s1, A, 0, "browser"),     // spent, without spending the ceiling
            (None, &s2, A, 0, "ok"),          // a classmate; the ceiling's fifth token
            (None, &forged, A, 0, "ceiling"), // a made-up id still meets A's ceiling
            (None, &None, B, 0, "ok"),        // another address, another ceiling
            (None, &forged, B, 0, "ok"),      // the same id elsewhere: B's ceiling
            (None, &s1, A, 1000, "ok"),       // a second later, one token each
            (None, &s2, A, 0, "ceiling"),
            (None, &None, v6("2001:db8::1"), 0, "ok"),
            (None, &None, v6("2001:db8::2"), 0, "ok"),
            (None, &None, v6("2001:db8::3"), 0, "address"), // one /64, one bucket
            // WebSockets: each its own bucket, as before; a browser's also spend its session's.
            (Some(0), &None, C, 10_000, "ok"),
            (Some(0), &None, C, 0, "ok"),
            (Some(0), &None, C, 0, "websocket"), // a script's socket: its own bucket only
            (Some(1), &None, C, 0, "ok"),        // its next socket has another
            (Some(1), &s3, C, 0, "ok"),
            (Some(2), &s3, C, 0, "ok"),
            (Some(3), &s3, C, 0, "browser"), // a browser's tabs share its session's bucket
            (None, &s3, C, 0, "browser"),    // and so does its REST
            (Some(3), &forged, C, 0, "ceiling"),
        ];
        for (i, (socket, who, from, wait_ms, want)) in rows.iter().enumerate() {
            clock.advance(Duration::from_millis(*wait_ms));
            let via = socket.map_or(Via::Rest, |n| Via::WebSocket(&sockets[n]));
            assert_eq!(verdict(take(via, &own, &ceiling, who.as_ref(), *from)), *want, "row {i}");
        }
    }
}
