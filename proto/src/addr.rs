//! Socket addresses as text, written without the formatting machinery.
//!
//! Every event carries one or two addresses, and a traced exchange sends a dozen events, each
//! serialized once for the WebSocket. `SocketAddr`'s `Display` goes through `core::fmt` for each
//! octet and the port, which was about 5% of a traced exchange's instructions. An IPv4 address
//! is written here with itoa into a stack buffer, with exactly the text `Display` gives
//! (the unit tests compare both); IPv6 keeps `Display`, into the same buffer.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde::{Serialize, Serializer};

/// The longest text of a socket address: an IPv6 one with a scope id and a port.
const MAX_LEN: usize = 58;

/// One socket address as text, on the stack.
#[derive(Debug)]
pub struct AddrText {
    buf: [u8; MAX_LEN],
    len: usize,
}

impl AddrText {
    /// The address as `Display` writes it, such as `127.0.0.1:5555` or `[::1]:5555`.
    pub fn new(addr: &SocketAddr) -> Self {
        let mut out = Self { buf: [0; MAX_LEN], len: 0 };
        match addr {
            SocketAddr::V4(_) => write_v4(addr, |b| out.push(b)),
            SocketAddr::V6(_) => {
                // Never fails: MAX_LEN holds the longest IPv6 socket address.
                let _ = write!(out, "{addr}");
            }
        }
        out
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits, dots, colons, brackets, hex letters and `%` are ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }
}

/// Appends the address as `Display` writes it to `out`.
pub fn push_addr(out: &mut String, addr: &SocketAddr) {
    match addr {
        SocketAddr::V4(_) => {
            // `255.255.255.255:65535` is the longest.
            let mut buf = [0u8; 21];
            let mut len = 0;
            write_v4(addr, |b| {
                if let Some(slot) = buf.get_mut(len) {
                    *slot = b;
                    len += 1;
                }
            });
            // Only ASCII digits, dots and a colon were written.
            out.push_str(std::str::from_utf8(&buf[..len]).unwrap_or_default());
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{addr}");
        }
    }
}

/// Hands over an IPv4 socket address's text byte by byte: `a.b.c.d:port`, in decimal without
/// leading zeros. Writes nothing for an IPv6 address.
fn write_v4(addr: &SocketAddr, mut put: impl FnMut(u8)) {
    let SocketAddr::V4(v4) = addr else { return };
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            put(b'.');
        }
        decimal(octet.into(), &mut put);
    }
    put(b':');
    decimal(v4.port().into(), &mut put);
}

/// Hands over `n` in decimal (itoa, as serde_json writes numbers).
fn decimal(n: u32, put: &mut impl FnMut(u8)) {
    for &d in itoa::Buffer::new().format(n).as_bytes() {
        put(d);
    }
}

impl std::fmt::Write for AddrText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl Serialize for AddrText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `serialize_with` for an event's `Option<SocketAddr>`: the same output as serde's own, a
/// string for human-readable formats, and serde's own encoding for the others.
pub fn serialize_opt<S: Serializer>(addr: &Option<SocketAddr>, serializer: S) -> Result<S::Ok, S::Error> {
    match addr {
        Some(a) if serializer.is_human_readable() => serializer.serialize_some(&AddrText::new(a)),
        _ => addr.serialize(serializer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_display_writes() {
        let cases = [
            "0.0.0.0:0",
            "127.0.0.1:5555",
            "10.0.0.9:10",
            "192.168.100.200:65535",
            "255.255.255.255:65535",
            "1.22.103.4:9",
            "[::1]:5555",
            "[::]:0",
            "[fe80::1%7]:80",
            "[2001:db8::ff00:42:8329]:443",
            "[::ffff:127.0.0.1]:1",
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535",
        ];
        for case in cases {
            let addr: SocketAddr = case.parse().expect(case);
            assert_eq!(AddrText::new(&addr).as_str(), addr.to_string(), "{case}");
            let mut pushed = String::from("x");
            push_addr(&mut pushed, &addr);
            assert_eq!(pushed, format!("x{addr}"), "{case}");
        }
        for port in [0u16, 1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 65535] {
            for octet in [0u8, 1, 9, 10, 99, 100, 199, 200, 255] {
                let addr = SocketAddr::from(([octet, 255 - octet, octet / 3, 7], port));
                assert_eq!(AddrText::new(&addr).as_str(), addr.to_string());
                let mut pushed = String::new();
                push_addr(&mut pushed, &addr);
                assert_eq!(pushed, addr.to_string());
            }
        }
    }

    #[test]
    fn serializes_as_serde_does() {
        #[derive(Serialize)]
        struct Ours(#[serde(serialize_with = "serialize_opt")] Option<SocketAddr>);
        for case in ["127.0.0.1:40312", "[::1]:5555", "[fe80::1%2]:7"] {
            let addr: Option<SocketAddr> = Some(case.parse().expect(case));
            let ours = serde_json::to_string(&Ours(addr)).expect("serializes");
            assert_eq!(ours, serde_json::to_string(&addr).expect("serializes"));
        }
        assert_eq!(serde_json::to_string(&Ours(None)).expect("serializes"), "null");
    }
}
