//! The client's address behind a reverse proxy. Limits are per address, and behind nginx every
//! connection comes from nginx; so when a connection comes from a proxy the operator listed in
//! `--trusted-proxies`, the address is taken from the one header `--forwarded-header` names:
//! `X-Forwarded-For` (the default, which nginx appends to) or `Forwarded` (RFC 7239). The other
//! header is never read: a proxy that sets one passes the other through as the client wrote it.
//! Only listed proxies are believed: anyone else could write those headers.
//!
//! The headers are read from the right, the end the nearest proxy appended: each hop that is
//! itself a listed proxy is skipped, and the first that is not is the client. Addresses a
//! client wrote further left are never reached, so it cannot choose its own address, as long
//! as the listed networks hold no clients (a listed client's own hop would be skipped too).
//!
//! Whether the browser used HTTPS (so its cookie can be `Secure`) is likewise believed only
//! from a listed proxy: the nearest one's `X-Forwarded-Proto`, or with `Forwarded` its `proto=`.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::AppState;
use super::listener::Peer;

/// The one header a listed proxy's word on the client is read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` and `X-Forwarded-Proto`, as `deploy/socketlab.conf` sets them.
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239): its `for=` and `proto=`.
    Forwarded,
}

/// A network in CIDR notation (`10.0.0.0/8`, `::1/128`), or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

/// What a `--trusted-proxies` entry must look like.
pub const CIDR_RULE: &str = "an address or a network in CIDR notation, such as 10.0.0.0/8 or ::1";

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not {CIDR_RULE}");
        let (ip, bits) = match s.trim().split_once('/') {
            Some((ip, bits)) => (ip, Some(bits.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let net: IpAddr = ip.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Self { net: net.to_canonical(), bits })
    }
}

impl Cidr {
    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let prefix = |a: u128, b: u128, width: u32| {
            let shift = width - u32::from(self.bits);
            shift >= width || (a >> shift) == (b >> shift)
        };
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(i)) => prefix(u32::from(n).into(), u32::from(i).into(), 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => prefix(u128::from(n), u128::from(i), 128),
            _ => false,
        }
    }
}

/// One hop of `Forwarded`'s `for=`: `192.0.2.1`, `"[2001:db8::1]:4711"`, `192.0.2.1:80`.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        key.trim().eq_ignore_ascii_case("for").then(|| value.trim().trim_matches('"'))
    })
}

/// An address as proxies write it: bare, `[v6]`, `[v6]:port` or `v4:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    hop.rsplit_once(':')?.0.parse().ok()
}

/// The client's address: `peer` itself unless it is a listed proxy, else the nearest hop in
/// the forwarding headers that is not one (a hop that cannot be read stops the walk there).
pub fn client_ip(trusted: &[Cidr], from: ForwardedHeader, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let listed = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !listed(peer) {
        return peer;
    }
    let values = |name: &str| -> Vec<String> {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    };
    let hops: Vec<String> = match from {
        ForwardedHeader::XForwardedFor => {
            values("x-forwarded-for").iter().flat_map(|v| v.split(',')).map(|h| h.trim().to_owned()).collect()
        }
        ForwardedHeader::Forwarded => {
            values("forwarded").iter().flat_map(|v| v.split(',')).filter_map(forwarded_for).map(str::to_owned).collect()
        }
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) if listed(ip) => client = ip,
            Some(ip) => return ip,
            None => return client,
        }
    }
    client
}

/// Whether a listed proxy says the browser came over HTTPS (the nearest proxy's word: the last
/// `X-Forwarded-Proto` value, or with `Forwarded` the last element's `proto`).
pub fn https(trusted: &[Cidr], from: ForwardedHeader, peer: IpAddr, headers: &HeaderMap) -> bool {
    if !trusted.iter().any(|c| c.contains(peer)) {
        return false;
    }
    let last = |name: &str| {
        let values = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
        values.flat_map(|v| v.split(',')).map(str::trim).next_back().map(str::to_owned)
    };
    let proto = match from {
        ForwardedHeader::XForwardedFor => last("x-forwarded-proto"),
        ForwardedHeader::Forwarded => last("forwarded").and_then(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.trim().eq_ignore_ascii_case("proto").then(|| value.trim().trim_matches('"').to_owned())
            })
        }),
    };
    proto.is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// Whether the browser came over HTTPS, by [`https`], as an extractor.
#[derive(Debug, Clone, Copy)]
pub struct Https(pub bool);

impl FromRequestParts<Arc<AppState>> for Https {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Infallible> {
        let peer = parts.extensions.get::<ConnectInfo<Peer>>().map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.addr.ip());
        Ok(Self(https(&state.config.trusted_proxies, state.config.forwarded_header, peer, &parts.headers)))
    }
}

/// The client's address as an extractor, for the routes that spend a limit.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub IpAddr);

impl FromRequestParts<Arc<AppState>> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Infallible> {
        let peer = parts.extensions.get::<ConnectInfo<Peer>>().map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.addr.ip());
        Ok(Self(client_ip(&state.config.trusted_proxies, state.config.forwarded_header, peer, &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn networks_parse_and_contain() {
        let net: Cidr = "10.1.0.0/16".parse().expect("valid");
        assert!(net.contains(ip("10.1.255.7")) && !net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped IPv6 is IPv4");
        let one: Cidr = "127.0.0.1".parse().expect("valid");
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let all: Cidr = "0.0.0.0/0".parse().expect("valid");
        assert!(all.contains(ip("203.0.113.9")) && !all.contains(ip("::1")));
        let v6: Cidr = "fd00::/8".parse().expect("valid");
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        for bad in ["", "10.0.0.0/33", "::/129", "lab.example.edu", "10.0.0.0/x", "10.0.0/8"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_listed_proxies_are_believed_and_the_chain_is_read_from_the_right() {
        let trusted: Vec<Cidr> = ["127.0.0.1", "10.0.0.0/8"].iter().map(|s| s.parse().expect("valid")).collect();
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.append(*k, v.parse().expect("header value"));
            }
            m
        };
        use ForwardedHeader::{Forwarded as Fwd, XForwardedFor as Xff};
        // (the header read, peer, headers, the client's address)
        type Case<'a> = (ForwardedHeader, &'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            // A peer that is not a listed proxy is the client, whatever it writes.
            (Xff, "203.0.113.5", &[("x-forwarded-for", "198.51.100.1")], "203.0.113.5"),
            (Fwd, "203.0.113.5", &[("forwarded", "for=198.51.100.1")], "203.0.113.5"),
            // nginx on loopback appended the real client.
            (Xff, "127.0.0.1", &[("x-forwarded-for", "198.51.100.1")], "198.51.100.1"),
            // A client's own entry on the left is never reached.
            (Xff, "127.0.0.1", &[("x-forwarded-for", "6.6.6.6, 198.51.100.1")], "198.51.100.1"),
            // Two listed proxies in a row are skipped.
            (Xff, "127.0.0.1", &[("x-forwarded-for", "198.51.100.1, 10.0.0.7")], "198.51.100.1"),
            // Several header lines are one list.
            (Xff, "127.0.0.1", &[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.2")], "198.51.100.2"),
            // Only the header named is read: a client's own `Forwarded` passes nginx untouched.
            (Xff, "127.0.0.1", &[("forwarded", "for=6.6.6.6"), ("x-forwarded-for", "198.51.100.1")], "198.51.100.1"),
            (Xff, "127.0.0.1", &[("forwarded", "for=6.6.6.6")], "127.0.0.1"),
            (Fwd, "127.0.0.1", &[("forwarded", "for=198.51.100.4"), ("x-forwarded-for", "6.6.6.6")], "198.51.100.4"),
            (Fwd, "127.0.0.1", &[("x-forwarded-for", "6.6.6.6")], "127.0.0.1"),
            // Forwarded, with quotes, brackets and ports.
            (Fwd, "127.0.0.1", &[("forwarded", "for=6.6.6.6, for=\"[2001:db8::1]:4711\";proto=https")], "2001:db8::1"),
            (Fwd, "127.0.0.1", &[("forwarded", "For=198.51.100.3:5000;by=10.0.0.1")], "198.51.100.3"),
            // Nothing forwarded, or nothing readable: the nearest proxy itself.
            (Xff, "127.0.0.1", &[], "127.0.0.1"),
            (Xff, "127.0.0.1", &[("x-forwarded-for", "unknown")], "127.0.0.1"),
            (Fwd, "127.0.0.1", &[("forwarded", "for=_hidden, for=10.0.0.9")], "10.0.0.9"),
        ];
        for (from, peer, headers, want) in cases {
            assert_eq!(client_ip(&trusted, *from, ip(peer), &h(headers)), ip(want), "{from:?} {peer} {headers:?}");
        }
        let lone = h(&[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(client_ip(&[], Xff, ip("127.0.0.1"), &lone), ip("127.0.0.1"));
    }

    #[test]
    fn https_is_believed_only_from_a_listed_proxy_and_its_own_hop() {
        let trusted: Vec<Cidr> = vec!["127.0.0.1".parse().expect("valid")];
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.append(*k, v.parse().expect("header value"));
            }
            m
        };
        use ForwardedHeader::{Forwarded as Fwd, XForwardedFor as Xff};
        type Case<'a> = (ForwardedHeader, &'a str, &'a [(&'a str, &'a str)], bool);
        let cases: &[Case] = &[
            (Xff, "127.0.0.1", &[("x-forwarded-proto", "https")], true),
            (Xff, "127.0.0.1", &[("x-forwarded-proto", "HTTPS")], true),
            (Xff, "127.0.0.1", &[("x-forwarded-proto", "http")], false),
            (Xff, "127.0.0.1", &[("x-forwarded-proto", "https, http")], false), // the nearest hop says http
            (Xff, "127.0.0.1", &[("forwarded", "proto=http"), ("x-forwarded-proto", "https")], true),
            (Xff, "127.0.0.1", &[("forwarded", "proto=https")], false), // the client's own word
            (Fwd, "127.0.0.1", &[("forwarded", "for=1.2.3.4;proto=https")], true),
            (Fwd, "127.0.0.1", &[("forwarded", "proto=https, for=1.2.3.4;proto=http")], false),
            (Fwd, "127.0.0.1", &[("forwarded", "for=1.2.3.4"), ("x-forwarded-proto", "https")], false),
            (Xff, "127.0.0.1", &[], false),
            (Xff, "203.0.113.5", &[("x-forwarded-proto", "https")], false), // not a listed proxy
        ];
        for (from, peer, headers, want) in cases {
            assert_eq!(https(&trusted, *from, ip(peer), &h(headers)), *want, "{from:?} {peer} {headers:?}");
        }
    }
}
