//! The browser session: a `socketlab_session` cookie, so that the rate limits can follow a
//! browser rather than its address. A class behind one school NAT shares an address; without
//! the cookie every student's REST requests would share one bucket.
//!
//! The id is random and unguessable (the same CSPRNG ids as saved exchanges), set `HttpOnly`,
//! `SameSite=Lax` and `Path=/` on the page's first load and on a WebSocket upgrade that came
//! without one. The gateway keeps no table of ids it handed out: any well-shaped id gets its
//! own bucket, which is why every bucket sits under its address's ceiling (`limits.rs`), so a
//! script that makes up ids gains nothing past the ceiling. A request without a (well-shaped)
//! cookie, such as a script's, is limited by its address as before.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

use super::AppState;
use super::limits::limit_key;

/// The cookie's name.
pub const COOKIE: &str = "socketlab_session";

/// A browser session's id, as its cookie carried it (shaped like one the gateway makes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// The session's id from the request's `Cookie` headers; an id of the wrong shape counts as
    /// none.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .map(|(_, value)| value.trim().trim_matches('"'))
            .filter(|value| crate::db::is_id(value))
            .map(|value| Self(value.to_owned()))
    }
}

/// The `Set-Cookie` value for a new session, or `None` if the CSPRNG failed (the browser is
/// then limited by its address, as a script is).
pub fn new_cookie() -> Option<HeaderValue> {
    let id = crate::db::new_id().ok()?;
    HeaderValue::from_str(&format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax")).ok()
}

/// Adds a new session's cookie to a response for a request that came without one.
pub fn set_if_absent(request: &HeaderMap, response: &mut HeaderMap) {
    if SessionId::from_headers(request).is_none()
        && let Some(cookie) = new_cookie()
    {
        response.append(header::SET_COOKIE, cookie);
    }
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

/// The request's browser session, as an extractor for the routes that spend a limit.
#[derive(Debug, Clone)]
pub struct Browser(pub Option<SessionId>);

impl FromRequestParts<Arc<AppState>> for Browser {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &Arc<AppState>) -> Result<Self, Infallible> {
        Ok(Self(SessionId::from_headers(&parts.headers)))
    }
}

#[cfg(test)]
mod tests {
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
        let a = new_cookie().expect("a cookie");
        let b = new_cookie().expect("a cookie");
        assert_ne!(a, b);
        let text = a.to_str().expect("ascii");
        assert!(text.ends_with("; Path=/; HttpOnly; SameSite=Lax"), "{text}");
        let back = SessionId::from_headers(&headers(&[text.split(';').next().expect("pair")]));
        assert!(back.is_some(), "a cookie made here is read back: {text}");
        let mut response = HeaderMap::new();
        set_if_absent(&headers(&[text]), &mut response);
        assert!(response.is_empty(), "a browser with a session keeps it");
        set_if_absent(&headers(&["socketlab_affinity=x"]), &mut response);
        assert_eq!(response.get_all(header::SET_COOKIE).iter().count(), 1);
    }
}
