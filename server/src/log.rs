//! The servers' human log: one line per message on stdout, or nothing inside the gateway.

use std::fmt::Arguments;
use std::io::Write;

/// Where a server writes its one-line-per-message log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// One line per message on stdout, like the lesson's `print`.
    Stdout,
    /// Nothing; the gateway's timeline says it all.
    Quiet,
}

impl Log {
    /// Whether lines are written at all; callers skip building them when not.
    pub fn on(self) -> bool {
        self == Self::Stdout
    }

    /// Writes one line, flushed at once so that pipes and tests see it immediately.
    pub fn line(self, args: Arguments<'_>) {
        if self == Self::Stdout {
            let mut out = std::io::stdout().lock();
            // A closed stdout must not take the server down with it.
            let _ = writeln!(out, "{args}");
            let _ = out.flush();
        }
    }
}

/// Log lines waiting to be written together, so that a busy server does not pay a system
/// call per line.
#[derive(Debug, Default)]
pub struct Pending(String);

impl Log {
    /// Adds a line to `pending`.
    pub fn queue(self, pending: &mut Pending, args: Arguments<'_>) {
        if self.on() {
            let _ = std::fmt::Write::write_fmt(&mut pending.0, args);
            pending.0.push('\n');
        }
    }

    /// Writes the pending lines in one go.
    pub fn flush(self, pending: &mut Pending) {
        if !pending.0.is_empty() {
            let mut out = std::io::stdout().lock();
            // A closed stdout must not take the server down with it.
            let _ = out.write_all(pending.0.as_bytes());
            let _ = out.flush();
            pending.0.clear();
        }
    }
}

/// A payload as it appears in a log line: lossy text, cut after `max` characters.
pub fn shorten(data: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(data);
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    format!("{out:?}")
}
