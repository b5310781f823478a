//! An event's WebSocket frame written straight into a string, the same bytes serde writes.
//!
//! A traced exchange sends a dozen `event` frames, and serializing them through serde was a
//! third of the gateway's instructions for one: serde_json escapes every key as it would any
//! string, grows its buffer from 128 bytes, and formats each address through `core::fmt`. Here
//! the keys are literals, strings that need no escaping (nearly all) are copied as they are,
//! and the buffer is sized once. The output is byte for byte what `serde_json::to_string` gives
//! for `ServerMsg::Event` and `ServerMsg::Observed`; the tests compare the two on events with
//! every field set, none set, and strings that need escaping.

use std::fmt::Write as _;

use crate::addr::push_addr;
use crate::event::{Event, Flag, Role, Segment, Side, SocketRef, Transport};

/// `{"type":"event","id":ID,"event":EVENT}`, as serde writes `ServerMsg::Event`.
pub fn event_frame(id: &str, event: &Event) -> String {
    frame("event", "id", id, event)
}

/// `{"type":"observed","conversation":NAME,"event":EVENT}`, as serde writes
/// `ServerMsg::Observed`.
pub fn observed_frame(conversation: &str, event: &Event) -> String {
    frame("observed", "conversation", conversation, event)
}

fn frame(kind: &str, key: &str, value: &str, event: &Event) -> String {
    let strings = [value, opt(&event.preview), opt(&event.preview_hex), opt(&event.detail)];
    let mut out = String::with_capacity(320 + strings.iter().map(|s| s.len()).sum::<usize>() * 6 / 5);
    out.push_str("{\"type\":\"");
    out.push_str(kind);
    out.push_str("\",\"");
    out.push_str(key);
    out.push_str("\":");
    string(&mut out, value);
    out.push_str(",\"event\":");
    write_event(&mut out, event);
    out.push('}');
    out
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or_default()
}

/// Writes `event` as serde writes it: fields in declaration order, absent ones skipped.
fn write_event(out: &mut String, e: &Event) {
    out.push_str("{\"t_us\":");
    number(out, e.t_us);
    if let Some(t) = e.started_us {
        out.push_str(",\"started_us\":");
        number(out, t);
    }
    out.push_str(",\"side\":");
    out.push_str(match e.side {
        Side::Client => "\"client\"",
        Side::Server => "\"server\"",
    });
    out.push_str(",\"socket\":");
    socket(out, e.socket);
    out.push_str(",\"op\":\"");
    out.push_str(e.op.name());
    out.push('"');
    if let Some(a) = &e.local {
        out.push_str(",\"local\":\"");
        push_addr(out, a);
        out.push('"');
    }
    if let Some(a) = &e.peer {
        out.push_str(",\"peer\":\"");
        push_addr(out, a);
        out.push('"');
    }
    optional_number(out, ",\"bytes\":", e.bytes);
    optional_number(out, ",\"wire_bytes\":", e.wire_bytes);
    optional_string(out, ",\"preview\":", &e.preview);
    optional_string(out, ",\"preview_hex\":", &e.preview_hex);
    if !e.flags.is_empty() {
        out.push_str(",\"flags\":[");
        for (i, f) in e.flags.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(flag(*f));
        }
        out.push(']');
    }
    optional_string(out, ",\"detail\":", &e.detail);
    if let Some(s) = &e.segment {
        out.push_str(",\"segment\":");
        segment(out, s);
    }
    if let Some(s) = e.spawned {
        out.push_str(",\"spawned\":");
        socket(out, s);
    }
    out.push('}');
}

fn socket(out: &mut String, s: SocketRef) {
    out.push_str("{\"id\":");
    number(out, s.id);
    out.push_str(match s.role {
        Role::Udp => ",\"role\":\"udp\"",
        Role::Welcome => ",\"role\":\"welcome\"",
        Role::Connection => ",\"role\":\"connection\"",
        Role::Client => ",\"role\":\"client\"",
    });
    out.push_str(match s.transport {
        Transport::Udp => ",\"transport\":\"udp\"}",
        Transport::Tcp => ",\"transport\":\"tcp\"}",
    });
}

fn flag(f: Flag) -> &'static str {
    match f {
        Flag::Truncated => "\"truncated\"",
        Flag::InvalidUtf8 => "\"invalid_utf8\"",
        Flag::Inferred => "\"inferred\"",
        Flag::Failed => "\"failed\"",
        Flag::Lost => "\"lost\"",
        Flag::Retransmission => "\"retransmission\"",
    }
}

fn segment(out: &mut String, s: &Segment) {
    out.push_str("{\"flags\":");
    string(out, &s.flags);
    out.push_str(",\"len\":");
    number(out, s.len);
    optional_number(out, ",\"seq\":", s.seq.map(u64::from));
    optional_number(out, ",\"ack\":", s.ack.map(u64::from));
    optional_number(out, ",\"rel_seq\":", s.rel_seq.map(u64::from));
    optional_number(out, ",\"rel_ack\":", s.rel_ack.map(u64::from));
    optional_number(out, ",\"window\":", s.window.map(u64::from));
    if !s.options.is_empty() {
        out.push_str(",\"options\":[");
        for (i, o) in s.options.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            string(out, o);
        }
        out.push(']');
    }
    out.push('}');
}

fn optional_number(out: &mut String, key: &str, n: Option<u64>) {
    if let Some(n) = n {
        out.push_str(key);
        number(out, n);
    }
}

fn optional_string(out: &mut String, key: &str, s: &Option<String>) {
    if let Some(s) = s {
        out.push_str(key);
        string(out, s);
    }
}

/// A decimal number, without `core::fmt` (itoa, as serde_json writes numbers).
fn number(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// A JSON string with serde_json's escapes: `"`, `\`, and the control characters below
/// U+0020, as `\b \t \n \f \r` or `\u00xx` (lower-case hex); everything else as it is.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    // Without an early exit the check runs many bytes at a time; nearly every string passes.
    if !s.bytes().fold(false, |any, b| any | (b < 0x20) | (b == b'"') | (b == b'\\')) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            0x09 => out.push_str("\\t"),
            0x0a => out.push_str("\\n"),
            0x0c => out.push_str("\\f"),
            0x0d => out.push_str("\\r"),
            _ => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
#[path = "event_json_tests.rs"]
mod tests;
