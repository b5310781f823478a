//! The labs that ship in the binary: every file of `labs/*.toml`, embedded at build time.

/// `(file name, text)` of every built-in lab, in the order the page lists them.
pub const FILES: &[(&str, &str)] = &[
    ("addressing.toml", include_str!("../addressing.toml")),
    ("udp-datagrams.toml", include_str!("../udp-datagrams.toml")),
    ("udp-truncation.toml", include_str!("../udp-truncation.toml")),
    ("tcp-handshake.toml", include_str!("../tcp-handshake.toml")),
    ("welcome-socket.toml", include_str!("../welcome-socket.toml")),
    ("iterative-backlog.toml", include_str!("../iterative-backlog.toml")),
    ("byte-stream.toml", include_str!("../byte-stream.toml")),
    ("teardown.toml", include_str!("../teardown.toml")),
    ("closed-ports.toml", include_str!("../closed-ports.toml")),
    ("invalid-utf8.toml", include_str!("../invalid-utf8.toml")),
    ("udp-vs-tcp.toml", include_str!("../udp-vs-tcp.toml")),
    ("python-client.toml", include_str!("../python-client.toml")),
];
