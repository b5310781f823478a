//! The page's dynamic parts as HTML strings, built from the model: the status line, the Reply,
//! the timeline (its SVG is `svg`'s), History and Live traffic; the right column is `detail`'s.
//! Pure: the render module only puts these strings into their regions, so everything a student
//! reads is tested natively.

use std::fmt::Write;

use socketlab_proto::wire::{ErrorCode, Target};

use crate::html::{elide, esc};
use crate::i18n::{Lang, fill, t};
use crate::layout::layout;
use crate::model::{Exchange, Model, Outcome, Status, View};

/// Characters of a message shown in one-line places: History entries and diagram captions.
pub const SHORT: usize = 32;

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
        View::CheckItem(c, i) => m.checks.item(c, i).map(|it| format!("{}: {}", it.id, it.name)).into_iter().collect(),
        _ => m
            .shown()
            .iter()
            .map(|x| {
                let to = if x.target == Target::ClosedPort {
                    format!(" → {}", t(m.lang, "closed_caption"))
                } else {
                    String::new()
                };
                format!("{}{to} · \"{}\"", x.protocol.as_str().to_uppercase(), elide(&x.message, SHORT))
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

/// The History region.
pub fn history(m: &Model) -> String {
    if m.exchanges.is_empty() {
        return format!("<p class=\"hint\">{}</p>", esc(t(m.lang, "history_empty")));
    }
    let mut out = String::from("<ol class=\"history\">");
    for (i, x) in m.exchanges.iter().enumerate().rev() {
        let state = match &x.outcome {
            Outcome::Pending => "…".to_owned(),
            Outcome::Reply { text, .. } => format!("→ {}", elide(text, SHORT)),
            Outcome::Failed { code, .. } => format!("✗ {}", code.as_str()),
            Outcome::Lost => "✗".to_owned(),
        };
        let current = matches!(m.view, View::Exchange(j) if j == i);
        let _ = write!(
            out,
            "<li><button type=\"button\" data-open=\"{i}\"{}>{} “{}” {}</button></li>",
            if current { " aria-current=\"true\"" } else { "" },
            x.protocol.as_str().to_uppercase(),
            esc(&elide(&x.message, SHORT)),
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
pub(crate) mod tests {
    use super::*;
    use socketlab_proto::infer::with_inferred;
    use socketlab_proto::wire::Protocol;
    use socketlab_proto::wire::{Reply, ServerMsg};
    use socketlab_proto::{Event, Op, Role, Side, SocketRef, Transport};

    /// A TCP exchange of "hi <b>", handshake and reply included.
    pub(crate) fn tcp_model() -> Model {
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
        let mut m = tcp_model();
        assert!(!reply(&m).contains("pcap"), "inferred packets only: nothing to export");
        m.exchanges[0].capture = Some("x1-0123".into());
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
    fn a_long_message_is_elided_in_one_line_places_and_whole_in_the_reply() {
        let long = "y".repeat(3000);
        let mut m = Model::default();
        let _ = m.start(Protocol::Udp, &long, Target::Hosted);
        let sock = SocketRef { id: 1, role: Role::Client, transport: Transport::Udp };
        m.receive(ServerMsg::Event { id: "e1".into(), event: Event::new(1, Side::Client, sock, Op::Sendto) });
        m.receive(ServerMsg::Reply(Reply {
            id: "e1".into(),
            reply: long.to_uppercase(),
            reply_base64: None,
            elapsed_us: 1,
            exchange: None,
        }));
        assert!(reply(&m).contains(&long.to_uppercase()), "the reply region keeps it all (it scrolls)");
        let entry = history(&m);
        assert!(entry.len() < 400 && entry.contains('…'), "{entry}");
        let diagram = timeline(&m);
        assert!(!diagram.contains(&long[..SHORT]), "caption and label are elided");
        assert!(diagram.contains(&format!("{}…", &long[..SHORT - 1])));
    }
}
