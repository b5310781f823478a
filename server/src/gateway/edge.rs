//! The checks a request passes before any route sees it, so that hostile browsers and slow
//! clients are refused in one place.
//!
//! - **Host.** A page on an attacker's name that resolves to 127.0.0.1 (DNS rebinding) sends
//!   its own name in `Host`. Only the names an operator can mean are taken: `localhost`, the
//!   loopback addresses and the listen address (without a port or with the listen port; any IP
//!   address when listening on all interfaces) and the configured `public_name`. Anything
//!   else gets 421 `forbidden_host`: the request reached a server that does not serve that
//!   name.
//! - **Origin.** A browser names the page that sent a request. Requests that change something
//!   (anything but GET, HEAD and OPTIONS) and WebSocket upgrades are refused with 403
//!   `forbidden_origin` when the Origin is neither an allowed host nor an allowed origin.
//! - **Body.** A declared length over the limit is refused with 413 before a byte of it is
//!   read. The exchange route takes only `application/json` (415 otherwise, which also keeps
//!   cross-site `text/plain` form posts out) and reads the body within the request timeout
//!   (408 otherwise).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use socketlab_proto::wire::ErrorCode;

use super::AppState;
use super::error::ApiError;

/// The names a request may give in `Host`, and so the origins that are this gateway.
#[derive(Debug, Clone)]
pub struct Hosts {
    listen: SocketAddr,
    /// The public name, lower-case, and its port when one was given.
    public: Option<(String, Option<u16>)>,
}

impl Hosts {
    pub fn new(listen: SocketAddr, public_name: Option<&str>) -> Self {
        let public =
            public_name.and_then(split).map(|(name, port)| (name.trim_end_matches('.').to_ascii_lowercase(), port));
        Self { listen, public }
    }

    /// Whether `authority` (a `Host` header, or an origin without its scheme) names this
    /// gateway.
    pub fn permits(&self, authority: &str) -> bool {
        let Some((name, port)) = split(authority) else {
            return false;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some((public, public_port)) = &self.public
            && *public == name
            && (public_port.is_none() || *public_port == port || port.is_none() && is_default_port(*public_port))
        {
            return true;
        }
        if port.is_some_and(|p| p != self.listen.port()) {
            return false;
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || ip == self.listen.ip() || self.listen.ip().is_unspecified(),
            Err(_) => name == "localhost",
        }
    }

    /// Whether a browser's `Origin` may talk to this gateway: it is this gateway under an
    /// allowed name, or one of `allowed`. No Origin at all (scripts) is allowed.
    pub fn origin_allowed(&self, headers: &HeaderMap, allowed: &[String]) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim_end_matches('/');
        let authority = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
        authority.is_some_and(|a| !a.contains('/') && self.permits(a))
            || allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

/// Splits `host[:port]` or `[v6]:port`; `None` when it is not of that shape.
/// Browsers leave out 80 and 443 from `Host` and `Origin`, so `lab.example.edu:443` is also
/// plain `lab.example.edu`.
fn is_default_port(port: Option<u16>) -> bool {
    matches!(port, Some(80 | 443))
}

fn split(authority: &str) -> Option<(&str, Option<u16>)> {
    let (name, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (ip, after) = rest.split_once(']')?;
            (ip, if after.is_empty() { None } else { Some(after.strip_prefix(':')?) })
        }
        None => match authority.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b));
    valid.then_some((name, port))
}

/// The host a request names: its `Host` header (empty when it is not text, which no name
/// matches), or the URI's authority (HTTP/2).
fn host_of(req: &Request) -> Option<&str> {
    match req.headers().get(header::HOST) {
        Some(h) => Some(h.to_str().unwrap_or_default()),
        None => req.uri().authority().map(|a| a.as_str()),
    }
}

/// Refuses a request the gateway should not answer; see the module doc.
pub async fn guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Err(e) = check(&state, &req) {
        return refuse(&state, e);
    }
    next.run(req).await
}

fn check(state: &AppState, req: &Request) -> Result<(), ApiError> {
    // A request without any host is not from a browser, so it cannot be a rebinding page.
    if let Some(host) = host_of(req)
        && !state.hosts.permits(host)
    {
        return Err(ApiError::new(
            ErrorCode::ForbiddenHost,
            format!("this gateway does not answer to {host:?}; ask the operator to set public_name"),
        ));
    }
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !reads && !state.hosts.origin_allowed(req.headers(), &state.config.allowed_origins) {
        return Err(ApiError::new(ErrorCode::ForbiddenOrigin, "requests from other sites are not taken here"));
    }
    let limit = state.config.limits.max_frame_bytes;
    if req.body().size_hint().lower() > limit as u64 {
        return Err(too_large(limit));
    }
    Ok(())
}

/// Takes a JSON body, whole, within the request timeout; for routes that read one.
pub async fn json_body(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let json = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        let essence = v.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/json")
    });
    if !json {
        let e = ApiError::new(ErrorCode::UnsupportedMediaType, "send the body as Content-Type: application/json");
        return refuse(&state, e);
    }
    let limit = state.config.limits.max_frame_bytes;
    let timeout = Duration::from_millis(state.config.limits.handshake_timeout_ms);
    let (parts, body) = req.into_parts();
    let read = async {
        let mut stream = body.into_data_stream();
        let mut whole = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::new(ErrorCode::MalformedJson, format!("the body broke off: {e}")))?;
            if whole.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            whole.extend_from_slice(&chunk);
        }
        Ok(whole)
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(whole)) => next.run(Request::from_parts(parts, Body::from(whole))).await,
        Ok(Err(e)) => refuse(&state, e),
        Err(_) => refuse(
            &state,
            ApiError::new(
                ErrorCode::RequestTimeout,
                format!("the body did not arrive within {} ms", timeout.as_millis()),
            ),
        ),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(ErrorCode::TooLarge, format!("the body is larger than {limit} bytes"))
}

/// Answers a refusal; one that leaves a body unread also closes the connection, since what
/// follows on it would be the rest of that body.
fn refuse(state: &AppState, e: ApiError) -> Response {
    tracing::debug!(code = e.code.as_str(), message = %e.message, "request refused at the edge");
    state.metrics.error(e.code);
    let close = matches!(e.code, ErrorCode::TooLarge | ErrorCode::RequestTimeout | ErrorCode::UnsupportedMediaType);
    let mut response = e.into_response();
    if close {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(o: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_str(o).expect("origin"));
        h
    }

    #[test]
    fn hosts_are_the_listen_address_localhost_and_the_public_name() {
        let hosts = Hosts::new("127.0.0.1:8080".parse().expect("addr"), Some("Lab.Example.edu"));
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:8080",
            "LOCALHOST",
            "localhost.",
            "[::1]:8080",
            "[::1]",
            "lab.example.edu",
            "lab.example.edu:443",
        ] {
            assert!(hosts.permits(ok), "{ok}");
        }
        for refused in [
            "rebind.example:8080",
            "rebind.example",
            "localhost:9999",
            "10.0.0.7:8080",
            "",
            ":8080",
            "a b",
            "x:y",
            "[::1",
        ] {
            assert!(!hosts.permits(refused), "{refused}");
        }
        let everywhere = Hosts::new("0.0.0.0:8080".parse().expect("addr"), None);
        assert!(everywhere.permits("10.0.0.7:8080"), "any address when listening on all of them");
        assert!(!everywhere.permits("lab.example.edu"), "no name without public_name");
        let with_port = Hosts::new("127.0.0.1:8080".parse().expect("addr"), Some("lab.example.edu:8443"));
        assert!(with_port.permits("lab.example.edu:8443"));
        assert!(!with_port.permits("lab.example.edu:9000"));
        assert!(!with_port.permits("lab.example.edu"), "no port is 80 or 443, not 8443");
        for default in ["lab.example.edu:443", "lab.example.edu:80"] {
            let hosts = Hosts::new("127.0.0.1:8080".parse().expect("addr"), Some(default));
            assert!(hosts.permits(default), "{default}");
            assert!(hosts.permits("lab.example.edu"), "browsers leave out the default port of {default}");
        }
    }

    #[test]
    fn origins_same_site_allowed_or_absent_pass() {
        let hosts = Hosts::new("127.0.0.1:8080".parse().expect("addr"), None);
        let allowed = vec!["https://course.example.edu".to_owned()];
        assert!(hosts.origin_allowed(&HeaderMap::new(), &allowed), "scripts send no Origin");
        for ok in ["http://127.0.0.1:8080", "http://localhost:8080/", "https://course.example.edu"] {
            assert!(hosts.origin_allowed(&origin(ok), &allowed), "{ok}");
        }
        for refused in [
            "http://evil.example",
            "http://127.0.0.1:9999",
            "null",
            "http://rebind.example:8080",
            "ftp://localhost:8080",
        ] {
            assert!(!hosts.origin_allowed(&origin(refused), &allowed), "{refused}");
        }
    }
}
