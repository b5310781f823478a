//! File descriptors, budgeted: every connection the hosted TCP server accepts costs the process
//! one, and so does every HTTP connection and exchange socket of the gateway. At startup the
//! soft `RLIMIT_NOFILE` is raised to the hard limit, and the hosted server's connection cap is
//! kept below it with room to spare, so the hosted server stops accepting (leaving clients in
//! the kernel's backlog) before the gateway runs out and cannot answer `/healthz`.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept for the gateway itself: HTTP connections, exchange sockets, the capture
/// socket, the lean path's kept sockets.
pub const GATEWAY_RESERVE: u64 = 256;

/// The soft limit asked for when the hard limit is unlimited.
const UNLIMITED_SOFT: u64 = 1 << 20;

/// Raises the soft descriptor limit as far as the hard limit allows, and returns the soft
/// limit in force afterwards (`None` when it is unlimited).
pub fn raise_limit() -> Result<Option<u64>, std::io::Error> {
    let now = getrlimit(Resource::Nofile);
    let wanted = now.maximum.unwrap_or(UNLIMITED_SOFT);
    if now.current.is_some_and(|c| c < wanted) {
        setrlimit(Resource::Nofile, Rlimit { current: Some(wanted), maximum: now.maximum })?;
    }
    Ok(getrlimit(Resource::Nofile).current)
}

/// How many connections the hosted TCP server may hold under the current soft limit: the
/// limit less the gateway's reserve, but never less than half of it.
pub fn hosted_room() -> usize {
    room(getrlimit(Resource::Nofile).current)
}

/// Descriptors the process may hold at once when every cap is reached: a WebSocket costs one,
/// an exchange at most two (its client socket and, over TCP, the hosted server's end), the
/// hosted TCP server's other connections one each, and the gateway's reserve.
pub fn needed(max_connections: usize, max_exchanges: usize, tcp_max_connections: usize) -> u64 {
    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    n(max_connections)
        .saturating_add(n(max_exchanges).saturating_mul(2))
        .saturating_add(n(tcp_max_connections))
        .saturating_add(GATEWAY_RESERVE)
}

/// Warns the operator when the soft limit (`None`: unlimited) is below what the caps need:
/// then the process could run out of descriptors before a cap answers `gateway_full`.
pub fn warn_if_short(soft: Option<u64>, need: u64) -> bool {
    let short = soft.is_some_and(|soft| soft < need);
    if short {
        tracing::warn!(
            soft_limit = soft,
            needed = need,
            "the open-file limit is below what --max-connections, --max-exchanges and --tcp-max-connections need; raise it (ulimit -n, LimitNOFILE) or lower them"
        );
    }
    short
}

/// [`warn_if_short`] for the resolved settings.
pub fn check_caps(soft: Option<u64>, config: &crate::config::Config) {
    let l = &config.limits;
    warn_if_short(soft, needed(l.max_connections, l.max_exchanges, config.tcp_max_connections));
}

fn room(soft: Option<u64>) -> usize {
    match soft {
        None => usize::MAX,
        Some(soft) => usize::try_from(soft.saturating_sub(GATEWAY_RESERVE).max(soft / 2)).unwrap_or(usize::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_keeps_a_reserve() {
        assert_eq!(room(Some(1024)), 768);
        assert_eq!(room(Some(512)), 256);
        assert_eq!(room(Some(300)), 150, "half of a small limit");
        assert_eq!(room(None), usize::MAX);
    }

    #[test]
    fn the_caps_are_checked_against_the_limit() {
        assert_eq!(needed(4096, 1024, 512), 4096 + 2048 + 512 + 256);
        assert!(warn_if_short(Some(1024), needed(4096, 1024, 512)));
        assert!(!warn_if_short(Some(1 << 20), needed(4096, 1024, 512)));
        assert!(!warn_if_short(None, u64::MAX), "unlimited is never short");
    }

    #[test]
    fn raising_never_lowers_the_limit() {
        let before = getrlimit(Resource::Nofile).current;
        let after = raise_limit().expect("raise to the hard limit");
        assert!(after >= before || after.is_none(), "{before:?} -> {after:?}");
    }
}
