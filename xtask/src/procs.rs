//! Child processes for the benchmarks: servers started (optionally pinned to a core with
//! `taskset`) and killed on drop, ports read from their ready lines or probed, memory, CPU time
//! and the load average read from `/proc`, the websocat peer installed from crates.io when
//! missing, and the C echo peer compiled with the system's `cc`.

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

/// Starts a server whose output goes to `/dev/null`, on `port`, and waits until `probe`
/// (one real exchange) succeeds, so that no side pays for a pipe the other does not have.
pub fn start_quiet(
    cmd: &[String],
    core: Option<usize>,
    env: &[(&str, &str)],
    probe: impl Fn() -> bool,
) -> Result<Server> {
    let mut c = pinned(cmd, core);
    if core.is_some() {
        c.env("TOKIO_WORKER_THREADS", "1");
    }
    c.envs(env.iter().copied()).stdout(Stdio::null()).stderr(Stdio::null()).stdin(Stdio::null());
    let child = c.spawn().with_context(|| format!("cannot start {cmd:?}"))?;
    let server = Server { child, ready: String::new() };
    for _ in 0..200 {
        if probe() {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("{cmd:?} never answered a probe")
}

/// One upper-case exchange over UDP, as a readiness probe.
pub fn probe_udp(port: u16) -> bool {
    let Ok(s) = std::net::UdpSocket::bind("127.0.0.1:0") else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 64];
    s.send_to(b"probe", ("127.0.0.1", port)).is_ok() && s.recv(&mut buf).is_ok_and(|n| &buf[..n] == b"PROBE")
}

/// One upper-case exchange over TCP, as a readiness probe.
pub fn probe_tcp(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut got = Vec::new();
    s.write_all(b"probe").is_ok() && s.read_to_end(&mut got).is_ok() && got == b"PROBE"
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

/// The 1-minute load average, so a reader can see how busy the machine was.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// A process's CPU time so far, in microseconds: (user, system).
pub fn cpu_us(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (user, system): (u64, u64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    let us = |ticks: u64| ticks as f64 * 1e6 / clock_ticks();
    Some((us(user), us(system)))
}

fn clock_ticks() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The C peer: the same upper-case UDP server in plain C (blocking `recvfrom` and `sendto`, no
/// output), the fastest a one-socket server gets on this kernel. Compiled once into the target
/// directory with the system's `cc`.
const C_ECHO: &str = r#"#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(argc > 1 ? atoi(argv[1]) : 12000);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) return 1;
    char buf[2048];
    for (;;) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n < 0) continue;
        for (ssize_t i = 0; i < n; i++) buf[i] = (char)toupper((unsigned char)buf[i]);
        sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
}
"#;

/// Compiles the C peer (see [`C_ECHO`]) and returns its path.
pub fn c_echo() -> Result<String> {
    let dir = crate::target_dir().join("bench-peers");
    std::fs::create_dir_all(&dir)?;
    let src = dir.join("udp_upper.c");
    let bin = dir.join("udp_upper");
    std::fs::write(&src, C_ECHO)?;
    let out = Command::new("cc").arg("-O2").arg("-o").arg(&bin).arg(&src).output().context("cannot run cc")?;
    anyhow::ensure!(out.status.success(), "cc failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(bin.display().to_string())
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
