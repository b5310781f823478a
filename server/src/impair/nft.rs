//! TCP drops on demand: one nftables table of this gateway's own, whose rules drop exactly one
//! kernel segment of one chosen connection, so that the real kernel retransmits it.
//!
//! The table (`inet socketlab_<pid>_<n>`, one per gateway) holds one set per kind of drop and
//! one rule per set on the input hook. A set element names a connection by its ports in the
//! dropped segment's direction; the rule matches the segment, deletes the element and drops,
//! so the retransmission passes. An exchange adds its element after binding its client port
//! and before connecting, and deletes it when it ends (an element also expires by itself). On
//! loopback every segment passes the input hook of the receiving end, and the packet capture
//! reads the frame before the IP layer, so a dropped segment is still captured.
//!
//! `nft` (Debian's `nftables`) is driven as a child process rather than through netlink from
//! Rust: `rustables` cannot express the rule's `delete @set` statement today, raw netlink
//! would mean hand-encoding nftables expressions (and `unsafe` outside `capture/sys.rs`),
//! and `nft`'s own parser checks the ruleset and explains its failures in words an operator
//! can act on. An impaired exchange pays two short-lived processes, which is fine for a lesson.

use std::net::SocketAddr;
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

/// The set a kind of drop uses.
fn set_name(lose: Lose) -> &'static str {
    lose.as_str()
}

/// The ports of the dropped segment, source first: whose segment each kind drops.
fn ports(lose: Lose, client: SocketAddr, server: SocketAddr) -> (u16, u16) {
    match lose {
        Lose::Syn | Lose::Data | Lose::Request => (client.port(), server.port()),
        // The hosted server closes first, so the first FIN is the server's.
        Lose::SynAck | Lose::Reply | Lose::Fin => (server.port(), client.port()),
    }
}

/// The ruleset of one table.
fn ruleset(table: &str) -> String {
    let mut out = format!("table inet {table} {{\n");
    for (lose, _) in KINDS {
        out.push_str(&format!(
            "  set {} {{ type inet_service . inet_service; flags dynamic, timeout; }}\n",
            set_name(lose)
        ));
    }
    out.push_str("  chain input {\n    type filter hook input priority filter; policy accept;\n");
    for (lose, matches) in KINDS {
        let set = set_name(lose);
        out.push_str(&format!(
            "    {matches} tcp sport . tcp dport @{set} delete @{set} {{ tcp sport . tcp dport }} drop\n"
        ));
    }
    out.push_str("  }\n}\n");
    out
}

/// Deletes the tables that killed processes left behind; returns their names.
fn clear_leftovers() -> Vec<String> {
    let mut cleared = Vec::new();
    let Ok(list) = nft(&["list", "tables"], None) else { return cleared };
    for line in list.lines() {
        let Some(name) = line.trim().strip_prefix("table inet ") else { continue };
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|rest| rest.split('_').next()) else { continue };
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|p| p == std::process::id() || std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
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
        let cleared = clear_leftovers();
        let table = format!("{PREFIX}{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        nft(&["-f", "-"], Some(&ruleset(&table)))?;
        Ok(Self { table, removed: AtomicBool::new(false), cleared })
    }

    /// The table's name, such as `socketlab_4242_0`.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Drops the `lose` segment of the connection from `client` to `server` once, until the
    /// guard is dropped.
    pub async fn arm(self: &Arc<Self>, lose: Lose, client: SocketAddr, server: SocketAddr) -> Result<Armed, String> {
        let (sport, dport) = ports(lose, client, server);
        let element = format!("{{ {sport} . {dport} timeout {ELEMENT_TIMEOUT} }}");
        let set = set_name(lose);
        let script = format!("add element inet {} {set} {element}\n", self.table);
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
        Ok(Armed { nft: Arc::clone(self), set, key: format!("{{ {sport} . {dport} }}") })
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
    set: &'static str,
    key: String,
}

impl Drop for Armed {
    fn drop(&mut self) {
        if self.nft.removed.load(Ordering::Relaxed) {
            return;
        }
        let args = ["delete", "element", "inet", self.nft.table.as_str(), self.set, self.key.as_str()];
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
    fn the_ruleset_names_each_kind_once_and_ports_follow_the_direction() {
        let rules = ruleset("socketlab_1_0");
        assert_eq!(rules.matches("delete @").count(), KINDS.len());
        assert!(rules.contains("hook input"));
        let (c, s) = (SocketAddr::from(([127, 0, 0, 1], 40000)), SocketAddr::from(([127, 0, 0, 1], 12000)));
        assert_eq!(ports(Lose::Syn, c, s), (40000, 12000));
        assert_eq!(ports(Lose::SynAck, c, s), (12000, 40000));
        assert_eq!(ports(Lose::Fin, c, s), (12000, 40000));
    }

    #[test]
    fn permission_problems_name_the_capability() {
        let e = explain("Error: Could not process rule: Operation not permitted\n");
        assert!(e.contains("CAP_NET_ADMIN"), "{e}");
        assert_eq!(explain("\nError: syntax error\n"), "nft failed: Error: syntax error");
    }
}
