//! TCP drops on demand: one nftables table of this gateway's own, whose rules drop exactly one
//! kernel segment of one chosen connection, so that the real kernel retransmits it.
//!
//! The table (`inet socketlab_<pid>_<start>_<boot>_<pidns>_<n>`, one per gateway) holds two
//! sets per kind of drop (IPv4 and IPv6) and one rule per set on the input hook, for segments
//! that arrive on `lo` only. A set element names a connection by both addresses and ports in
//! the dropped segment's direction, so a remote client that happens to use the same ports is
//! never touched; the rule matches the segment, deletes the element and drops, so the
//! retransmission passes. An exchange adds its element after binding its client port
//! and before connecting, and deletes it when it ends (an element also expires by itself). On
//! loopback every segment passes the input hook of the receiving end, and the packet capture
//! reads the frame before the IP layer, so a dropped segment is still captured.
//!
//! A table's name says whose it is: the process id, its start time (field 22 of
//! `/proc/<pid>/stat`), the boot id and the PID namespace. At startup a table is deleted as a
//! leftover only when its owner is provably gone (another boot, or no process with that id and
//! start time in this namespace): a reused PID does not keep a leftover alive, and a gateway in
//! another PID namespace sharing this network namespace keeps its table.
//!
//! `nft` (Debian's `nftables`) is driven as a child process rather than through netlink from
//! Rust: `rustables` cannot express the rule's `delete @set` statement today, raw netlink
//! would mean hand-encoding nftables expressions (and `unsafe` outside `capture/sys.rs`),
//! and `nft`'s own parser checks the ruleset and explains its failures in words an operator
//! can act on. An impaired exchange pays two short-lived processes, which is fine for a lesson.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use socketlab_proto::impair::Lose;
use tokio::io::AsyncWriteExt;

/// The prefix of every table this program makes.
const PREFIX: &str = "socketlab_";

/// How long an element lives if its exchange never deletes it.
const ELEMENT_TIMEOUT: &str = "60s";

/// Tables made by this process, numbered so that in-process gateways (tests) do not collide.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The kinds of drop, each with its set and the match for its segment.
const KINDS: [(Lose, &str); 5] = [
    (Lose::Syn, "tcp flags & (syn | ack) == syn"),
    (Lose::SynAck, "tcp flags & (syn | ack) == syn | ack"),
    (Lose::Data, "tcp flags & (syn | rst | psh) == psh"),
    (Lose::Reply, "tcp flags & (syn | rst | psh) == psh"),
    (Lose::Fin, "tcp flags & fin == fin"),
];

/// This gateway's table.
#[derive(Debug)]
pub struct Nft {
    table: String,
    removed: AtomicBool,
    /// Tables of stopped gateways deleted at startup, for the ready log.
    pub cleared: Vec<String>,
}

/// Who made a table, as its name records it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    pid: u32,
    /// Clock ticks after boot at which the process started.
    start: u64,
    /// The boot id without dashes.
    boot: String,
    /// The PID namespace's inode.
    pidns: u64,
}

/// A process's start time, field 22 of its `stat` (the name in field 2 may hold spaces and
/// parentheses, so fields are counted after its last `)`).
fn start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

impl Owner {
    /// This process.
    fn me() -> Result<Self, String> {
        let read = |path: &str| std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"));
        let start = start_time(&read("/proc/self/stat")?).ok_or("cannot parse /proc/self/stat")?;
        let boot = read("/proc/sys/kernel/random/boot_id")?.trim().replace('-', "");
        let ns = std::fs::read_link("/proc/self/ns/pid").map_err(|e| format!("cannot read /proc/self/ns/pid: {e}"))?;
        let pidns = ns.to_string_lossy().trim_start_matches("pid:[").trim_end_matches(']').parse().ok();
        let pidns = pidns.ok_or("cannot parse /proc/self/ns/pid")?;
        Ok(Self { pid: std::process::id(), start, boot, pidns })
    }

    /// The name of this owner's table number `n`.
    fn table(&self, n: u32) -> String {
        format!("{PREFIX}{}_{}_{}_{}_{n}", self.pid, self.start, self.boot, self.pidns)
    }

    /// The owner a table name records; `None` for names in another form.
    fn of(table: &str) -> Option<Self> {
        let parts: Vec<&str> = table.strip_prefix(PREFIX)?.split('_').collect();
        let [pid, start, boot, pidns, n] = parts[..] else { return None };
        n.parse::<u32>().ok()?;
        Some(Self {
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
            boot: boot.to_owned(),
            pidns: pidns.parse().ok()?,
        })
    }

    /// Whether this owner is provably gone, seen from `me`; `started` gives a process's start
    /// time in this namespace.
    fn gone(&self, me: &Self, started: impl Fn(u32) -> Option<u64>) -> bool {
        if self.boot != me.boot {
            return true;
        }
        if self.pidns != me.pidns {
            // Its processes are not visible from here.
            return false;
        }
        started(self.pid) != Some(self.start)
    }
}

/// Runs `nft` with `args` and `input` on stdin; the error is one sentence.
fn nft(args: &[&str], input: Option<&str>) -> Result<String, String> {
    let mut cmd = Command::new("nft");
    cmd.args(args).stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            "nftables is not installed (no nft command; on Debian: apt-get install nftables)".to_owned()
        }
        _ => format!("nft could not be started: {e}"),
    })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        stdin.write_all(text.as_bytes()).map_err(|e| format!("writing to nft failed: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("nft failed: {e}"))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(explain(&String::from_utf8_lossy(&out.stderr)))
}

/// `nft`'s complaint as one sentence; a permission problem says which capability is missing.
fn explain(stderr: &str) -> String {
    if stderr.contains("Operation not permitted") || stderr.contains("Permission denied") {
        return "changing nftables rules needs root or the CAP_NET_ADMIN capability".to_owned();
    }
    let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("no reason given");
    format!("nft failed: {}", first.trim())
}

/// The IP families, as (set suffix, address type, header keyword).
const FAMILIES: [(&str, &str, &str); 2] = [("v4", "ipv4_addr", "ip"), ("v6", "ipv6_addr", "ip6")];

/// The set a kind of drop uses for one family.
fn set_name(lose: Lose, v6: bool) -> String {
    format!("{}_{}", lose.as_str(), if v6 { "v6" } else { "v4" })
}

/// The addresses a local connection's segments carry: a server bound to the unspecified
/// address is reached on loopback, and a client bound to it sends from the address it reaches.
fn wire_ips(client: SocketAddr, server: SocketAddr) -> (IpAddr, IpAddr) {
    let server_ip = match server.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let client_ip = if client.ip().is_unspecified() { server_ip } else { client.ip() };
    (client_ip, server_ip)
}

/// The set element of the dropped segment, source first: whose segment each kind drops.
fn element(lose: Lose, client: SocketAddr, server: SocketAddr) -> String {
    let (c, s) = wire_ips(client, server);
    let (src, dst) = match lose {
        Lose::Syn | Lose::Data | Lose::Request => {
            (SocketAddr::new(c, client.port()), SocketAddr::new(s, server.port()))
        }
        // The hosted server closes first, so the first FIN is the server's.
        Lose::SynAck | Lose::Reply | Lose::Fin => {
            (SocketAddr::new(s, server.port()), SocketAddr::new(c, client.port()))
        }
    };
    format!("{} . {} . {} . {}", src.ip(), src.port(), dst.ip(), dst.port())
}

/// The ruleset of one table.
fn ruleset(table: &str) -> String {
    let mut out = format!("table inet {table} {{\n");
    for (lose, _) in KINDS {
        for (i, (_, addr, _)) in FAMILIES.iter().enumerate() {
            let set = set_name(lose, i == 1);
            out.push_str(&format!(
                "  set {set} {{ type {addr} . inet_service . {addr} . inet_service; flags dynamic, timeout; }}\n"
            ));
        }
    }
    out.push_str("  chain input {\n    type filter hook input priority filter; policy accept;\n");
    for (lose, matches) in KINDS {
        for (i, (_, _, ip)) in FAMILIES.iter().enumerate() {
            let set = set_name(lose, i == 1);
            let key = format!("{ip} saddr . tcp sport . {ip} daddr . tcp dport");
            out.push_str(&format!("    iifname \"lo\" {matches} {key} @{set} delete @{set} {{ {key} }} drop\n"));
        }
    }
    out.push_str("  }\n}\n");
    out
}

/// Deletes the tables that killed processes left behind; returns their names. A name in
/// another form (an older socketlab's) is left alone: its owner cannot be told.
fn clear_leftovers(me: &Owner) -> Vec<String> {
    let mut cleared = Vec::new();
    let Ok(list) = nft(&["list", "tables"], None) else { return cleared };
    let started = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(start_time);
    for line in list.lines() {
        let Some(name) = line.trim().strip_prefix("table inet ") else { continue };
        let Some(owner) = Owner::of(name) else { continue };
        if owner.gone(me, started) {
            match nft(&["delete", "table", "inet", name], None) {
                Ok(_) => cleared.push(name.to_owned()),
                // Another gateway starting at the same time may have deleted it first; a
                // table that stays is tried again at the next start.
                Err(e) => tracing::debug!(table = name, error = %e, "a leftover nftables table was not removed"),
            }
        }
    }
    cleared
}

impl Nft {
    /// Clears leftovers and makes this gateway's table; the error says why TCP drops are
    /// unavailable.
    pub fn open() -> Result<Self, String> {
        let me = Owner::me().map_err(|e| format!("cannot tell this process apart for nftables: {e}"))?;
        let cleared = clear_leftovers(&me);
        let table = me.table(NEXT.fetch_add(1, Ordering::Relaxed));
        nft(&["-f", "-"], Some(&ruleset(&table)))?;
        Ok(Self { table, removed: AtomicBool::new(false), cleared })
    }

    /// The table's name, such as `socketlab_4242_81234_3da792d2…_4026531836_0`.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Drops the `lose` segment of the connection from `client` to `server` once, until the
    /// guard is dropped.
    pub async fn arm(self: &Arc<Self>, lose: Lose, client: SocketAddr, server: SocketAddr) -> Result<Armed, String> {
        let key = element(lose, client, server);
        let set = set_name(lose, wire_ips(client, server).0.is_ipv6());
        let script = format!("add element inet {} {set} {{ {key} timeout {ELEMENT_TIMEOUT} }}\n", self.table);
        let mut child = tokio::process::Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("nft could not be started: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(script.as_bytes()).await.map_err(|e| format!("writing to nft failed: {e}"))?;
        }
        let out = child.wait_with_output().await.map_err(|e| format!("nft failed: {e}"))?;
        if !out.status.success() {
            return Err(explain(&String::from_utf8_lossy(&out.stderr)));
        }
        Ok(Armed { nft: Arc::clone(self), set, key: format!("{{ {key} }}") })
    }

    /// Deletes the table; later calls do nothing.
    pub fn remove(&self) {
        if self.removed.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Err(e) = nft(&["delete", "table", "inet", &self.table], None) {
            tracing::warn!(table = %self.table, error = %e, "could not remove the nftables table");
        }
    }
}

impl Drop for Nft {
    fn drop(&mut self) {
        self.remove();
    }
}

/// One armed drop; dropping it deletes the element if the segment never came.
#[derive(Debug)]
pub struct Armed {
    nft: Arc<Nft>,
    set: String,
    key: String,
}

impl Drop for Armed {
    fn drop(&mut self) {
        if self.nft.removed.load(Ordering::Relaxed) {
            return;
        }
        let args = ["delete", "element", "inet", self.nft.table.as_str(), self.set.as_str(), self.key.as_str()];
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let delete = move || {
            // Gone already when the rule dropped the segment: not an error.
            let _ = Command::new("nft").args(&args).stdout(Stdio::null()).stderr(Stdio::null()).status();
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(delete);
            }
            Err(_) => delete(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ruleset_names_each_kind_per_family_and_keys_follow_the_direction() {
        let rules = ruleset("socketlab_1_0");
        assert_eq!(rules.matches("delete @").count(), 2 * KINDS.len());
        assert_eq!(rules.matches("iifname \"lo\"").count(), 2 * KINDS.len(), "{rules}");
        assert!(rules.contains("hook input"));
        let (c, s) = (SocketAddr::from(([127, 0, 0, 2], 40000)), SocketAddr::from(([127, 0, 0, 1], 12000)));
        assert_eq!(element(Lose::Syn, c, s), "127.0.0.2 . 40000 . 127.0.0.1 . 12000");
        assert_eq!(element(Lose::SynAck, c, s), "127.0.0.1 . 12000 . 127.0.0.2 . 40000");
        assert_eq!(element(Lose::Fin, c, s), "127.0.0.1 . 12000 . 127.0.0.2 . 40000");
        let any = |port| SocketAddr::from(([0, 0, 0, 0], port));
        assert_eq!(element(Lose::Data, any(40000), any(12000)), "127.0.0.1 . 40000 . 127.0.0.1 . 12000");
        let v6 = |port| SocketAddr::from((Ipv6Addr::LOCALHOST, port));
        assert_eq!(element(Lose::Data, v6(40000), v6(12000)), "::1 . 40000 . ::1 . 12000");
    }

    #[test]
    fn a_table_is_a_leftover_only_when_its_owner_is_provably_gone() {
        let stat = "81 (a) b) c) S 1 81 81 0 -1 4194560 1 2 0 0 3 4 0 0 20 0 1 0 123456 9 9";
        assert_eq!(start_time(stat), Some(123456));
        let me = Owner { pid: 81, start: 123456, boot: "ab12".to_owned(), pidns: 4026531836 };
        assert_eq!(Owner::of(&me.table(3)), Some(me.clone()));
        assert_eq!(Owner::of("socketlab_19064_0"), None, "an older form is left alone");
        assert_eq!(Owner::of("socketlab_1_x_ab_4_0"), None);
        let running = |pid: u32| (pid == 81).then_some(123456);
        assert!(!me.gone(&me, running), "alive");
        let reused = Owner { start: 99, ..me.clone() };
        assert!(reused.gone(&me, running), "the same pid, started at another time: the owner is gone");
        let exited = Owner { pid: 82, ..me.clone() };
        assert!(exited.gone(&me, running));
        let elsewhere = Owner { pid: 82, pidns: 1, ..me.clone() };
        assert!(!elsewhere.gone(&me, running), "another PID namespace cannot be judged from here");
        let earlier = Owner { boot: "cd34".to_owned(), ..me.clone() };
        assert!(earlier.gone(&me, running), "a table of another boot");
    }

    #[test]
    fn permission_problems_name_the_capability() {
        let e = explain("Error: Could not process rule: Operation not permitted\n");
        assert!(e.contains("CAP_NET_ADMIN"), "{e}");
        assert_eq!(explain("\nError: syntax error\n"), "nft failed: Error: syntax error");
    }
}
