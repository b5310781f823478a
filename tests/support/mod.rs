//! Helpers shared by the integration tests: spawning the real binary and the Python peers,
//! and reading their output with deadlines so a hung peer fails a test instead of stalling it.
#![allow(dead_code, clippy::unwrap_used)]

pub mod class;
pub mod gateway;
pub mod nginx;
pub mod postgres;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// The `socketlab` binary under test. Its store goes to a directory of this test process
/// under the temporary directory, not into the source tree.
pub fn socketlab() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_socketlab"));
    cmd.env("SOCKETLAB_DATA_DIR", data_dir());
    cmd
}

/// Where this test process's gateways keep saved exchanges.
pub fn data_dir() -> PathBuf {
    std::env::temp_dir().join(format!("socketlab-test-data-{}", std::process::id()))
}

/// A Python peer script from `tests/peers`, run unbuffered.
pub fn python(script: &str) -> Command {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/peers").join(script);
    let mut cmd = Command::new("python3");
    cmd.arg("-u").arg(path);
    cmd
}

/// A running child whose stdout and stderr are read line by line in the background.
pub struct Proc {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    out: Receiver<String>,
    err: Receiver<String>,
}

fn pump(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Proc {
    /// Starts `cmd` with all three standard streams piped.
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let out = pump(child.stdout.take().unwrap());
        let err = pump(child.stderr.take().unwrap());
        let stdin = child.stdin.take();
        Self { child, stdin, out, err }
    }

    /// The next stdout line, or a test failure after [`WAIT`].
    pub fn line(&self) -> String {
        self.out.recv_timeout(WAIT).unwrap_or_else(|_| panic!("no stdout line within {WAIT:?}"))
    }

    /// The next stderr line, or a test failure after [`WAIT`].
    pub fn err_line(&self) -> String {
        self.err.recv_timeout(WAIT).unwrap_or_else(|_| panic!("no stderr line within {WAIT:?}"))
    }

    /// Writes to the child's stdin.
    pub fn send(&mut self, text: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(text).unwrap();
        stdin.flush().unwrap();
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the child to exit; fails the test after [`WAIT`].
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "process did not exit within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every stderr line written so far, after the child has exited.
    pub fn rest_of_stderr(&self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(l) = self.err.recv_timeout(Duration::from_millis(500)) {
            lines.push(l);
        }
        lines
    }

    /// Every stdout line until the child closes stdout.
    pub fn rest_of_stdout(&self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(l) = self.out.recv_timeout(WAIT) {
            lines.push(l);
        }
        lines
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port at the end of a ready line such as `... ready on 127.0.0.1:4242 (...)` or
/// `The server is ready to receive on port 4242`.
pub fn port_in(line: &str) -> u16 {
    let digits = |s: &str| s.chars().take_while(char::is_ascii_digit).collect::<String>();
    let found = if let Some(rest) = line.split("ready on ").nth(1) {
        rest.rsplit_once(':').map(|(_, p)| digits(p.split_whitespace().next().unwrap_or("")))
    } else {
        line.split("port ").nth(1).map(digits)
    };
    found.and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in ready line {line:?}"))
}

/// Starts a `socketlab` server subcommand on port 0 and returns it with its port.
pub fn socketlab_server(args: &[&str]) -> (Proc, u16) {
    let mut cmd = socketlab();
    cmd.args(args).args(["--port", "0"]);
    let p = Proc::start(cmd);
    let ready = p.line();
    assert!(ready.contains("ready on"), "unexpected first line {ready:?}");
    let port = port_in(&ready);
    (p, port)
}

/// Starts `socketlab serve` on free ports and returns it with its HTTP address and ready line.
pub fn serve(extra_env: &[(&str, &str)]) -> (Proc, String, String) {
    serve_with(&[], extra_env)
}

/// [`serve`] with extra flags too.
pub fn serve_with(flags: &[&str], extra_env: &[(&str, &str)]) -> (Proc, String, String) {
    let mut cmd = socketlab();
    cmd.args(["serve", "--http", "127.0.0.1:0", "--tcp-port", "0", "--capture", "off"]).args(flags);
    cmd.env("SOCKETLAB_UDP_PORT", "0");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let p = Proc::start(cmd);
    let ready = p.line();
    assert!(ready.starts_with("socketlab gateway ready at http://127.0.0.1:"), "{ready}");
    let http = ready.split("http://").nth(1).unwrap().split('/').next().unwrap().to_owned();
    (p, http, ready)
}

/// Starts a Python peer server on port 0 and returns it with its port.
pub fn python_server(script: &str) -> (Proc, u16) {
    let mut cmd = python(script);
    cmd.arg("0");
    let p = Proc::start(cmd);
    let ready = p.line();
    assert!(ready.contains("ready to receive"), "unexpected first line {ready:?}");
    let port = port_in(&ready);
    (p, port)
}

/// Runs `cmd` with `input` on stdin and returns (status, stdout, stderr), failing after [`WAIT`].
pub fn run_with_input(cmd: Command, input: &[u8]) -> (std::process::ExitStatus, String, String) {
    let mut p = Proc::start(cmd);
    p.send(input);
    drop(p.stdin.take());
    let status = p.wait();
    let out = p.rest_of_stdout().join("\n");
    let err = p.rest_of_stderr().join("\n");
    (status, out, err)
}
