//! A student's client run by the check: its command after `--`, the sentences typed on its
//! stdin, and what it prints, so that "it prints the reply" can be graded.

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};

/// Bytes of the client's output kept for grading.
const MAX_OUTPUT: usize = 64 * 1024;

/// A running client whose output is collected in the background.
#[derive(Debug)]
pub struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Client {
    /// Starts `command`, with `{port}` in any argument replaced by `port`.
    pub fn spawn(command: &[String], port: u16) -> Result<Self, String> {
        let (program, args) = command.split_first().ok_or("no client command after --")?;
        let mut cmd = Command::new(program);
        cmd.args(args.iter().map(|a| a.replace("{port}", &port.to_string())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| format!("cannot start the client {program:?}: {e}"))?;
        let out = Arc::new(Mutex::new(Vec::new()));
        let reader = child.stdout.take().map(|mut stdout| {
            let out = Arc::clone(&out);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stdout.read(&mut buf).await {
                    if let Ok(mut kept) = out.lock() {
                        let room = MAX_OUTPUT.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            })
        });
        let stdin = child.stdin.take();
        Ok(Self { child, stdin, out, reader })
    }

    /// Types `lines` on the client's stdin, each followed by a newline; stdin stays open, so a
    /// client that does not stop on `end` keeps waiting for more instead of seeing end of input.
    pub async fn type_lines(&mut self, lines: &[String]) {
        if let Some(stdin) = self.stdin.as_mut() {
            for line in lines {
                // A client that already exited cannot read; its items say so.
                let _ = stdin.write_all(format!("{line}\n").as_bytes()).await;
            }
            let _ = stdin.flush().await;
        }
    }

    /// What the client printed so far, as text.
    pub fn output(&self) -> String {
        self.out.lock().map(|o| String::from_utf8_lossy(&o).into_owned()).unwrap_or_default()
    }

    /// Waits up to `limit` for the client to exit; once it has, also waits (within the same
    /// limit) until its output is read to the end.
    pub async fn exited_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        let status = tokio::time::timeout_at(deadline, self.child.wait()).await.ok().and_then(Result::ok)?;
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout_at(deadline, reader).await;
        }
        Some(status)
    }
}
