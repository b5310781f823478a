//! Child processes for the benchmarks: servers started (optionally pinned to a core with
//! `taskset`) and killed on drop, ports read from their ready lines, memory read from `/proc`,
//! and the websocat peer installed from crates.io when missing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

/// A child process that is killed when dropped; its stdout is drained in the background.
pub struct Server {
    pub child: Child,
    pub ready: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn pinned(cmd: &[String], core: Option<usize>) -> Command {
    let shell = format!(
        "ulimit -n 65536 2>/dev/null; exec {}",
        cmd.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
    );
    let mut c = match core {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &core.to_string(), "sh", "-c", &shell]);
            c
        }
        None => {
            let mut c = Command::new("sh");
            c.args(["-c", &shell]);
            c
        }
    };
    c.current_dir(crate::root());
    c
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Starts a server and waits for its first stdout line; the rest of stdout is drained.
pub fn start(cmd: &[String], core: Option<usize>, env: &[(&str, &str)]) -> Result<Server> {
    let mut c = pinned(cmd, core);
    // A server pinned to one core gets one runtime worker: two would only take turns.
    if core.is_some() {
        c.env("TOKIO_WORKER_THREADS", "1");
    }
    c.envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::null()).stdin(Stdio::null());
    let mut child = c.spawn().with_context(|| format!("cannot start {cmd:?}"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(first)) = lines.next() {
            let _ = tx.send(first);
        }
        for _ in lines {}
    });
    let ready = rx.recv_timeout(Duration::from_secs(20)).with_context(|| format!("{cmd:?} printed no ready line"))?;
    Ok(Server { child, ready })
}

pub fn port_after(line: &str, marker: &str) -> Result<u16> {
    let rest = line.split(marker).nth(1).with_context(|| format!("no {marker:?} in {line:?}"))?;
    let digits: String = rest.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    digits.parse().with_context(|| format!("no port after {marker:?} in {line:?}"))
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn rss_kb(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with(field)).with_context(|| format!("no {field}"))?;
    Ok(line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Installs websocat from crates.io when it is not on the PATH.
pub fn ensure_websocat() -> Result<String> {
    let home = std::env::var("CARGO_HOME")
        .unwrap_or_else(|_| std::env::var("HOME").map(|h| format!("{h}/.cargo")).unwrap_or_default());
    let installed = Path::new(&home).join("bin/websocat");
    if Command::new("websocat").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Ok("websocat".to_owned());
    }
    if !installed.exists() {
        crate::cargo_install("websocat", "1.14.1", &["--no-default-features"])?;
    }
    Ok(installed.display().to_string())
}
