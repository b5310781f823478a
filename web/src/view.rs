//! The page's dynamic parts as HTML and SVG strings, built from the model. Pure: the render
//! module only puts these strings into their regions, so everything a student reads is tested
//! natively.

use std::fmt::Write;

use socketlab_proto::tcp_state::tcp_states;
use socketlab_proto::wire::{ErrorCode, Protocol, Target};
use socketlab_proto::{Event, Op, Side, Transport};

use crate::code::{line_for, programs};
use crate::explain::explain;
use crate::html::esc;
use crate::i18n::{Lang, fill, t};
use crate::layout::{layout, transport_of};
use crate::model::{Exchange, Model, Outcome, Status, View};

/// The status badge's text and CSS class.
pub fn status(m: &Model) -> (&str, &'static str) {
    match m.status {
        Status::Connecting => (t(m.lang, "status_connecting"), "connecting"),
        Status::Connected => (t(m.lang, "status_connected"), "connected"),
        Status::Reconnecting => (t(m.lang, "status_reconnecting"), "reconnecting"),
    }
}

/// One line on packet capture, from the gateway's `hello`.
pub fn capture(m: &Model) -> String {
    match m.hello.as_ref().map(|h| &h.capture) {
        Some(c) if c.enabled => fill(t(m.lang, "capture_on"), &[("iface", &c.interface)]),
        Some(c) => fill(t(m.lang, "capture_off"), &[("reason", c.reason.as_deref().unwrap_or(""))]),
        None => String::new(),
    }
}

/// A failed exchange's reason in plain words.
pub fn error_words(lang: Lang, code: ErrorCode, message: &str) -> String {
    let key = match code {
        ErrorCode::Timeout => "err_timeout",
        ErrorCode::ServerDown => "err_server_down",
        ErrorCode::RateLimited => "err_rate_limited",
        ErrorCode::TooLarge => "err_too_large",
        ErrorCode::TooManyInFlight => "err_too_many_in_flight",
        ErrorCode::ShuttingDown => "err_shutting_down",
        ErrorCode::ConnectionRefused => {
            let how = t(lang, if message.contains("RST") { "refused_tcp" } else { "refused_udp" });
            return fill(t(lang, "err_connection_refused"), &[("how", how)]);
        }
        _ => return fill(t(lang, "err_other"), &[("message", message)]),
    };
    t(lang, key).to_owned()
}

fn reply_of(lang: Lang, x: &Exchange) -> String {
    let proto = x.protocol.as_str().to_uppercase();
    let pcap = x.capture.as_ref().map_or_else(String::new, |id| {
        format!(
            " <a class=\"pcap\" href=\"/api/v1/exchanges/{}/pcapng\" download>{}</a>",
            esc(id),
            esc(t(lang, "download_pcap"))
        )
    });
    match &x.outcome {
        Outcome::Pending => format!("<p class=\"pending\">{}</p>", esc(t(lang, "waiting"))),
        Outcome::Reply { text, elapsed_us } => {
            let ms = format!("{:.3}", *elapsed_us as f64 / 1000.0);
            format!(
                "<p class=\"answer\"><span class=\"proto\">{proto}</span> <output class=\"reply-text\">{}</output> <span class=\"elapsed\">{}</span>{pcap}</p>",
                esc(text),
                esc(&fill(t(lang, "elapsed"), &[("ms", &ms)]))
            )
        }
        Outcome::Failed { code, message } => format!(
            "<p class=\"failure\" data-code=\"{}\"><span class=\"proto\">{proto}</span> {}{pcap}</p>",
            code.as_str(),
            esc(&error_words(lang, *code, message))
        ),
        Outcome::Lost => format!(
            "<p class=\"failure\" data-code=\"disconnected\"><span class=\"proto\">{proto}</span> {}</p>",
            esc(t(lang, "err_disconnected"))
        ),
    }
}

/// The Reply region.
pub fn reply(m: &Model) -> String {
    let mut out = String::new();
    if let Some(notice) = &m.notice {
        let _ = write!(out, "<p class=\"failure notice\">{}</p>", esc(t(m.lang, notice)));
    }
    let shown = m.shown();
    if shown.is_empty() && m.notice.is_none() {
        let _ = write!(out, "<p class=\"hint\">{}</p>", esc(t(m.lang, "no_reply_yet")));
    }
    for x in shown {
        out.push_str(&reply_of(m.lang, x));
    }
    out
}

/// The Timeline region: one diagram, or two side by side when comparing.
pub fn timeline(m: &Model) -> String {
    let timelines = m.timelines();
    if timelines.iter().all(Vec::is_empty) {
        return String::new();
    }
    let captions: Vec<String> = match m.view {
        View::Live(i) => m.conversations.get(i).map(|c| c.key.clone()).into_iter().collect(),
        _ => m
            .shown()
            .iter()
            .map(|x| {
                let to = if x.target == Target::ClosedPort {
                    format!(" → {}", t(m.lang, "closed_caption"))
                } else {
                    String::new()
                };
                format!("{}{to} · \"{}\"", x.protocol.as_str().to_uppercase(), x.message)
            })
            .collect(),
    };
    let class = if timelines.len() > 1 { "diagrams compare" } else { "diagrams" };
    let mut out = format!("<div class=\"{class}\">");
    for (events, caption) in timelines.iter().zip(captions) {
        let d = layout(events);
        out.push_str(&crate::svg::svg(m.lang, &d, m.step.min(events.len().saturating_sub(1)), &caption));
    }
    out.push_str("</div>");
    out
}

/// "Step 3 of 12".
pub fn step_label(m: &Model) -> String {
    let total = m.steps();
    if total == 0 {
        return String::new();
    }
    fill(t(m.lang, "step_of"), &[("n", &(m.step + 1).to_string()), ("total", &total.to_string())])
}

fn primary(m: &Model) -> Option<(Vec<Event>, usize)> {
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
    rows.push(("field_time", format!("+{:.3} ms", e.t_us.saturating_sub(t0) as f64 / 1000.0)));
    rows.push(("field_socket", format!("#{} {:?} ({:?})", e.socket.id, e.socket.role, e.side).to_lowercase()));
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
        rows.push(("field_text", p.clone()));
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
        let mono = if key == "field_hex" || key == "field_text" { " class=\"mono\"" } else { "" };
        let _ = write!(out, "<dt>{}</dt><dd{mono}>{}</dd>", esc(t(lang, key)), esc(&value));
    }
    out.push_str("</dl>");
    out
}

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
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

/// The History region.
pub fn history(m: &Model) -> String {
    if m.exchanges.is_empty() {
        return format!("<p class=\"hint\">{}</p>", esc(t(m.lang, "history_empty")));
    }
    let mut out = String::from("<ol class=\"history\">");
    for (i, x) in m.exchanges.iter().enumerate().rev() {
        let state = match &x.outcome {
            Outcome::Pending => "…".to_owned(),
            Outcome::Reply { text, .. } => format!("→ {text}"),
            Outcome::Failed { code, .. } => format!("✗ {}", code.as_str()),
            Outcome::Lost => "✗".to_owned(),
        };
        let current = matches!(m.view, View::Exchange(j) if j == i);
        let _ = write!(
            out,
            "<li><button type=\"button\" data-open=\"{i}\"{}>{} “{}” {}</button></li>",
            if current { " aria-current=\"true\"" } else { "" },
            x.protocol.as_str().to_uppercase(),
            esc(&x.message),
            esc(&state)
        );
    }
    out.push_str("</ol>");
    out
}

/// The Live traffic region.
pub fn live(m: &Model) -> String {
    if m.conversations.is_empty() {
        return format!("<p class=\"hint\">{}</p>", esc(t(m.lang, "live_empty")));
    }
    let mut out = String::from("<ol class=\"conversations\">");
    for (i, c) in m.conversations.iter().enumerate().rev() {
        let current = matches!(m.view, View::Live(j) if j == i);
        let _ = write!(
            out,
            "<li><button type=\"button\" data-live=\"{i}\"{}>{} ({})</button></li>",
            if current { " aria-current=\"true\"" } else { "" },
            esc(&c.key),
            c.events.len()
        );
    }
    out.push_str("</ol>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketlab_proto::infer::with_inferred;
    use socketlab_proto::wire::{Reply, ServerMsg};
    use socketlab_proto::{Role, SocketRef};

    fn tcp_model() -> Model {
        let mut m = Model::default();
        let _ = m.start(Protocol::Tcp, "hi <b>", Target::Hosted);
        let c: std::net::SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        let s: std::net::SocketAddr = "127.0.0.1:12000".parse().expect("addr");
        let call = |t: u64, side: Side, role: Role, op: Op| {
            let (l, p) = if side == Side::Client { (c, s) } else { (s, c) };
            Event::new(t, side, SocketRef { id: t, role, transport: Transport::Tcp }, op).addrs(Some(l), Some(p))
        };
        let events = with_inferred(&[
            call(10, Side::Client, Role::Client, Op::Connect).started(5),
            call(12, Side::Server, Role::Welcome, Op::Accept),
            call(20, Side::Client, Role::Client, Op::Send).payload(b"hi <b>"),
        ]);
        for event in events {
            m.receive(ServerMsg::Event { id: "e1".into(), event });
        }
        m.receive(ServerMsg::Reply(Reply {
            id: "e1".into(),
            reply: "HI <B>".into(),
            reply_base64: None,
            elapsed_us: 1500,
            exchange: Some("x1-0123".into()),
        }));
        m
    }

    #[test]
    fn reply_region_escapes_and_times() {
        let m = tcp_model();
        let html = reply(&m);
        assert!(html.contains("HI &lt;B&gt;"), "{html}");
        assert!(html.contains("in 1.500 ms"));
        assert!(
            html.contains("<a class=\"pcap\" href=\"/api/v1/exchanges/x1-0123/pcapng\" download>Download pcap</a>"),
            "{html}"
        );
        let mut failed = Model::default();
        let _ = failed.start(Protocol::Udp, "x", Target::Hosted);
        failed.receive(ServerMsg::Error {
            id: Some("e1".into()),
            code: ErrorCode::Timeout,
            message: "m".into(),
            exchange: None,
            refused_id: None,
        });
        assert!(reply(&failed).contains("UDP does not retry"));
    }

    #[test]
    fn timeline_draws_lanes_and_handshake_with_current_step() {
        let mut m = tcp_model();
        m.step = 1;
        let html = timeline(&m);
        for lane in ["client", "welcome", "connection"] {
            assert!(html.contains(&format!("data-lane=\"{lane}\"")), "{lane}");
        }
        assert!(html.contains("data-label=\"SYN\""));
        assert!(html.contains("data-label=\"SYN-ACK\""));
        assert!(
            html.contains(
                "<g class=\"row current inferred\" data-step=\"1\" data-kind=\"packet\" data-label=\"SYN-ACK\""
            ),
            "{html}"
        );
        assert!(html.contains(":40000") && html.contains(":12000"));
        assert_eq!(step_label(&m), "Step 2 of 7");
    }

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
}
