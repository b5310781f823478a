//! Two kinds of output, kept apart. [`Log`] is the lesson's own output: the servers' one line
//! per message on stdout, like the Python programs' `print`, which the tests compare with
//! Python. Everything an operator reads (failures that do not stop a server, the gateway's
//! life) goes through `tracing`, set up by [`init`] on stderr: filtered by `RUST_LOG`, as text
//! or, with `--log-format json`, one JSON object per line.

use std::fmt::Arguments;
use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;

/// How operator logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

/// What is logged when `RUST_LOG` is unset or cannot be parsed.
pub const DEFAULT_FILTER: &str = "info";

/// Installs the `tracing` subscriber: stderr, `RUST_LOG` (default [`DEFAULT_FILTER`]), `format`.
/// Does nothing if one is already installed (tests, embedders).
pub fn init(format: LogFormat) {
    let (filter, refused) = match EnvFilter::try_from_default_env() {
        Ok(filter) => (filter, None),
        Err(e) => (EnvFilter::new(DEFAULT_FILTER), std::env::var_os(EnvFilter::DEFAULT_ENV).map(|_| e)),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
    };
    if let Some(e) = refused {
        tracing::warn!(error = %e, "RUST_LOG is not a valid filter; logging at {DEFAULT_FILTER}");
    }
}

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

impl Pending {
    /// How many bytes are waiting.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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

/// A payload as it appears in a log line, written straight into the line: the same text as
/// [`shorten`], without building it first when the payload is short plain ASCII (the common
/// case, and the one a busy server meets per datagram).
#[derive(Debug, Clone, Copy)]
pub struct Short<'a>(pub &'a [u8], pub usize);

impl std::fmt::Display for Short<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self(data, max) = *self;
        // Printable ASCII other than `"` and `\\` is its own `Debug` form.
        let plain = data.len() <= max && data.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
        match std::str::from_utf8(data) {
            Ok(text) if plain => write!(f, "\"{text}\""),
            _ => f.write_str(&shorten(data, max)),
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

#[cfg(test)]
mod tests {
    use super::{Short, shorten};

    #[test]
    fn short_writes_what_shorten_builds() {
        let long = "a".repeat(61);
        let cases: [&[u8]; 9] = [
            b"hello socket",
            b"",
            b"say \"hi\"",
            b"back\\slash",
            b"it's",
            b"tab\there",
            "caf\u{e9} \u{2026}".as_bytes(),
            b"\xff\xfe bad",
            long.as_bytes(),
        ];
        for data in cases {
            assert_eq!(Short(data, 60).to_string(), shorten(data, 60), "{data:?}");
        }
    }
}
