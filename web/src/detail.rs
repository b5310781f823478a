//! The right column: the inspector (the current step's fields in words), the code panel with the
//! line behind the step, and the TCP states. Pure, like `view`, and tested natively.

use std::fmt::Write;

use socketlab_proto::tcp_state::tcp_states;
use socketlab_proto::wire::Protocol;
use socketlab_proto::{Event, Op, Side, Transport};

use crate::code::{line_for, programs};
use crate::explain::explain;
use crate::html::esc;
use crate::i18n::{fill, t};
use crate::layout::{layout, transport_of};
use crate::model::{Model, Outcome};

/// The timeline the right column explains (the first on screen) and its current step.
pub fn primary(m: &Model) -> Option<(Vec<Event>, usize)> {
    let events = m.timelines().into_iter().next()?;
    let step = m.step.min(events.len().checked_sub(1)?);
    Some((events, step))
}

/// The Inspector region.
pub fn inspector(m: &Model) -> String {
    let Some((events, step)) = primary(m) else {
        return format!("<p class=\"hint\">{}</p>", esc(t(m.lang, "no_selection")));
    };
    let e = &events[step];
    let lang = m.lang;
    let t0 = events.first().map_or(0, |f| f.t_us);
    let mut rows: Vec<(&str, String)> = Vec::new();
    let addr = |a: Option<std::net::SocketAddr>| a.map_or_else(|| "—".to_owned(), |a| a.to_string());
    rows.push(("field_time", format!("+{} ms", crate::html::ms(e.t_us.saturating_sub(t0)))));
    rows.push(("field_socket", format!("#{} {:?} ({:?})", e.socket.id, e.socket.role, e.side).to_ascii_lowercase()));
    rows.push((
        "field_from",
        addr(if e.op == Op::Segment || e.side == Side::Client || matches!(e.op, Op::Send | Op::Sendto) {
            e.local
        } else {
            e.peer
        }),
    ));
    rows.push((
        "field_to",
        addr(if e.op == Op::Segment || e.side == Side::Client || matches!(e.op, Op::Send | Op::Sendto) {
            e.peer
        } else {
            e.local
        }),
    ));
    let bytes = e.segment.as_ref().map(|s| s.len).or(e.bytes);
    if let Some(b) = bytes {
        let mut text = b.to_string();
        if let Some(w) = e.wire_bytes {
            let _ = write!(text, " (of {w})");
        }
        rows.push(("field_bytes", text));
    }
    if let Some(p) = &e.preview {
        rows.push(("field_text", whole_payload(m, e).unwrap_or_else(|| p.clone())));
    }
    if let Some(h) = &e.preview_hex {
        rows.push(("field_hex", h.clone()));
    }
    let mut flags: Vec<String> = e.flags.iter().map(|f| format!("{f:?}")).map(|f| snake(&f)).collect();
    if let Some(seg) = &e.segment {
        if !seg.flags.is_empty() {
            flags.insert(0, seg.flags.clone());
        }
    }
    if !flags.is_empty() {
        rows.push(("field_flags", flags.join(" ")));
    }
    if let Some(seg) = &e.segment {
        let both = |rel: Option<u32>, abs: Option<u32>| {
            abs.map(|a| {
                fill(t(lang, "relative_absolute"), &[("rel", &rel.unwrap_or(a).to_string()), ("abs", &a.to_string())])
            })
        };
        if let Some(v) = both(seg.rel_seq, seg.seq) {
            rows.push(("field_seq", v));
        }
        if let Some(v) = both(seg.rel_ack, seg.ack) {
            rows.push(("field_ack", v));
        }
        if let Some(w) = seg.window {
            rows.push(("field_window", w.to_string()));
        }
        if !seg.options.is_empty() {
            rows.push(("field_options", seg.options.join(", ")));
        }
    }
    let mut out = format!("<p class=\"explain\">{}</p><dl>", esc(&explain(lang, e)));
    for (key, value) in rows {
        let _ = match key {
            // The whole payload, however long, in a box that scrolls instead of growing the page.
            "field_text" => write!(
                out,
                "<dt>{}</dt><dd><pre class=\"payload mono\" tabindex=\"0\">{}</pre></dd>",
                esc(t(lang, key)),
                esc(&value)
            ),
            "field_hex" => write!(out, "<dt>{}</dt><dd class=\"mono\">{}</dd>", esc(t(lang, key)), esc(&value)),
            _ => write!(out, "<dt>{}</dt><dd>{}</dd>", esc(t(lang, key)), esc(&value)),
        };
    }
    out.push_str("</dl>");
    out
}

/// The whole text a step moved, when the page knows it: the exchange's message on its way to
/// the server, the reply on its way back. Events carry only a preview; this is used only when
/// the step moved exactly the message's (or the reply's) bytes.
fn whole_payload(m: &Model, e: &Event) -> Option<String> {
    let x = m.shown().into_iter().next()?;
    let to_server = match (e.side, e.op) {
        (Side::Client, Op::Send | Op::Sendto | Op::Segment) | (Side::Server, Op::Recv | Op::Recvfrom) => true,
        (Side::Server, Op::Send | Op::Sendto | Op::Segment) | (Side::Client, Op::Recv | Op::Recvfrom) => false,
        _ => return None,
    };
    let text = match (&x.outcome, to_server) {
        (_, true) => &x.message,
        (Outcome::Reply { text, .. }, false) => text,
        _ => return None,
    };
    let bytes = e.segment.as_ref().map(|s| s.len).or(e.bytes)?;
    (bytes > 0 && text.len() as u64 == bytes).then(|| text.clone())
}

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The Code region: client and server programs, the line behind the current step highlighted.
pub fn code(m: &Model) -> String {
    let (transport, hl) = match primary(m) {
        Some((events, step)) => (transport_of(&events), line_for(m.code_lang, &events, step)),
        None => (
            m.shown()
                .first()
                .map_or(Transport::Udp, |x| if x.protocol == Protocol::Tcp { Transport::Tcp } else { Transport::Udp }),
            None,
        ),
    };
    let mut out = String::from("<div class=\"programs\">");
    for (which, p) in programs(m.code_lang, transport).iter().enumerate() {
        let title = t(m.lang, if which == 0 { "client_program" } else { "server_program" });
        let _ = write!(
            out,
            "<section class=\"program\"><h4>{} <code>{}</code></h4><ol class=\"code\">",
            esc(title),
            esc(p.name)
        );
        for (line, (text, _)) in p.lines.iter().enumerate() {
            let current = hl == Some((which, line));
            let _ = write!(
                out,
                "<li{}><code>{}</code></li>",
                if current { " class=\"hl\" aria-current=\"true\"" } else { "" },
                esc(text)
            );
        }
        out.push_str("</ol></section>");
    }
    out.push_str("</div>");
    if primary(m).is_some() && hl.is_none() {
        let _ = write!(out, "<p class=\"hint\">{}</p>", esc(t(m.lang, "no_code_line")));
    }
    out
}

/// The TCP states region.
pub fn states(m: &Model) -> String {
    let Some((events, step)) = primary(m) else {
        return String::new();
    };
    if transport_of(&events) == Transport::Udp {
        return format!("<p class=\"hint\">{}</p>", esc(t(m.lang, "udp_no_state")));
    }
    let d = layout(&events);
    let (Some(client), Some(server)) = (d.lanes[0].addr, d.lanes.get(1).and_then(|l| l.addr)) else {
        return String::new();
    };
    let listening = events.iter().any(|e| e.op == Op::Accept)
        || !events.iter().any(|e| e.segment.as_ref().is_some_and(|s| s.flags.starts_with("RST")));
    let all = tcp_states(&events, client, server, listening);
    let [c, s] = all[step];
    format!(
        "<dl class=\"states\"><dt>{}</dt><dd class=\"state\" data-side=\"client\">{}</dd><dt>{}</dt><dd class=\"state\" data-side=\"server\">{}</dd></dl>",
        esc(t(m.lang, "client_state")),
        c.name(),
        esc(t(m.lang, "server_state")),
        s.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::history;
    use crate::view::tests::tcp_model;

    #[test]
    fn inspector_code_and_states_follow_the_step() {
        let mut m = tcp_model();
        m.step = 1;
        assert!(inspector(&m).contains("SYN-ACK: the server"));
        let code_html = code(&m);
        assert!(
            code_html.contains(
                "<li class=\"hl\" aria-current=\"true\"><code>    connection, address = welcome.accept()</code>"
            ),
            "{code_html}"
        );
        assert!(states(&m).contains(">ESTABLISHED<") && states(&m).contains(">SYN_RECEIVED<"), "{}", states(&m));
        m.step = 0;
        assert!(states(&m).contains(">SYN_SENT<"), "{}", states(&m));
        m.step = 5;
        let inspect = inspector(&m);
        assert!(inspect.contains("68 69 20 3c 62 3e") && inspect.contains("hi &lt;b&gt;"), "{inspect}");
        assert!(states(&m).contains("ESTABLISHED"));
        assert!(history(&m).contains("TCP “hi &lt;b&gt;” → HI &lt;B&gt;"));
    }

    #[test]
    fn the_inspector_shows_a_long_payload_whole_in_a_scroll_box() {
        let long = "x".repeat(3000);
        let mut m = Model::default();
        let _ = m.start(Protocol::Udp, &long, socketlab_proto::wire::Target::Hosted);
        let sock = socketlab_proto::SocketRef { id: 1, role: socketlab_proto::Role::Client, transport: Transport::Udp };
        let send = Event::new(1, Side::Client, sock, Op::Sendto).payload(long.as_bytes());
        let mut cut = Event::new(2, Side::Server, sock, Op::Recvfrom).payload(&long.as_bytes()[..2048]);
        cut.socket.role = socketlab_proto::Role::Udp;
        for event in [send, cut] {
            m.receive(socketlab_proto::wire::ServerMsg::Event { id: "e1".into(), event });
        }
        let html = inspector(&m);
        assert!(html.contains(&format!("<pre class=\"payload mono\" tabindex=\"0\">{long}</pre>")), "{html}");
        m.step = 1;
        let html = inspector(&m);
        assert!(!html.contains(&long[..2048]), "a truncated read shows its preview, not the whole message");
        assert!(html.contains(&long[..socketlab_proto::event::PREVIEW_BYTES]));
    }
}
