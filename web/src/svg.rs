//! The sequence diagram as an SVG string: lanes with their sockets' addresses, a row per step,
//! arrows for packets (dashed when inferred, stopping short with a cross when lost, labelled
//! as Wireshark labels a retransmission) with ports at both ends, boxes for socket calls.

use std::fmt::Write;

use socketlab_proto::Transport;

use crate::html::esc;
use crate::i18n::{Lang, t};
use crate::layout::{Diagram, Shape};

/// One diagram as SVG, with `current` highlighted.
pub fn svg(lang: Lang, d: &Diagram, current: usize, caption: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<figure class=\"diagram-wrap\"><figcaption>{}</figcaption><svg class=\"diagram\" data-transport=\"{}\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\">",
        esc(caption),
        if d.transport == Transport::Udp { "udp" } else { "tcp" },
        d.width,
        d.height,
        esc(caption)
    );
    s.push_str("<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\"/></marker></defs>");
    for lane in &d.lanes {
        let addr = lane.addr.map(|a| a.to_string()).unwrap_or_default();
        let _ = write!(
            s,
            "<g class=\"lane\" data-lane=\"{}\"><text class=\"lane-title\" x=\"{x}\" y=\"22\">{}</text><text class=\"lane-addr\" x=\"{x}\" y=\"40\">{}</text><line class=\"lifeline\" x1=\"{x}\" y1=\"50\" x2=\"{x}\" y2=\"{}\"/></g>",
            lane.kind.name(),
            esc(t(lang, lane.kind.title_key())),
            esc(&addr),
            d.height - 6.0,
            x = lane.x
        );
    }
    for row in &d.rows {
        let mut class = String::from("row");
        if row.step == current {
            class.push_str(" current");
        }
        if row.inferred {
            class.push_str(" inferred");
        }
        for (on, name) in [(row.failed, " failed"), (row.lost, " lost"), (row.retransmission, " retransmission")] {
            if on {
                class.push_str(name);
            }
        }
        let y = row.y;
        let _ = write!(s, "<g class=\"{class}\" data-step=\"{}\"", row.step);
        match &row.shape {
            Shape::Arrow { from, to, label, src_port, dst_port } => {
                let (x1, full) = (d.lanes[*from].x, d.lanes[*to].x);
                let dir = if full > x1 { 1.0 } else { -1.0 };
                // As Wireshark's Info column marks a segment sent again.
                let label = if row.retransmission { format!("[TCP Retransmission] {label}") } else { label.clone() };
                // A lost packet's arrow stops short, where it was lost, with a cross and "lost".
                let x2 = if row.lost { x1 + (full - x1) * 0.62 } else { full };
                let head = if row.lost { "" } else { " marker-end=\"url(#head)\"" };
                let _ = write!(
                    s,
                    " data-kind=\"packet\" data-label=\"{}\"><rect class=\"hit\" x=\"0\" y=\"{}\" width=\"{}\" height=\"34\"/><text class=\"time\" x=\"6\" y=\"{}\">{}</text><line class=\"arrow\" x1=\"{x1}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"{head}/><text class=\"arrow-label\" x=\"{}\" y=\"{}\">{}</text>",
                    esc(&label),
                    y - 17.0,
                    d.width,
                    y + 4.0,
                    esc(&row.time),
                    x2 - dir * 3.0,
                    (x1 + full) / 2.0,
                    y - 5.0,
                    esc(&label)
                );
                if row.lost {
                    let r = 6.0;
                    let _ = write!(
                        s,
                        "<path class=\"cross\" d=\"M{} {} L{} {} M{} {} L{} {}\"/><text class=\"lost-label\" x=\"{}\" y=\"{}\" text-anchor=\"{}\">lost</text>",
                        x2 - r,
                        y - r,
                        x2 + r,
                        y + r,
                        x2 - r,
                        y + r,
                        x2 + r,
                        y - r,
                        x2 + dir * 12.0,
                        y + 4.0,
                        if dir > 0.0 { "start" } else { "end" }
                    );
                }
                for (port, x, anchor) in [
                    (src_port, x1 + dir * 4.0, if dir > 0.0 { "start" } else { "end" }),
                    (dst_port, full - dir * 4.0, if dir > 0.0 { "end" } else { "start" }),
                ] {
                    if let Some(p) = port {
                        let _ = write!(
                            s,
                            "<text class=\"port\" x=\"{x}\" y=\"{}\" text-anchor=\"{anchor}\">:{p}</text>",
                            y + 13.0
                        );
                    }
                }
            }
            Shape::Call { lane, label } => {
                let x = d.lanes[*lane].x;
                let w = (label.chars().count() as f64 * 7.2 + 16.0).max(60.0);
                let _ = write!(
                    s,
                    " data-kind=\"call\" data-label=\"{}\"><rect class=\"hit\" x=\"0\" y=\"{}\" width=\"{}\" height=\"34\"/><text class=\"time\" x=\"6\" y=\"{}\">{}</text><rect class=\"call\" x=\"{}\" y=\"{}\" width=\"{w}\" height=\"22\" rx=\"4\"/><text class=\"call-label\" x=\"{x}\" y=\"{}\">{}</text>",
                    esc(label),
                    y - 17.0,
                    d.width,
                    y + 4.0,
                    esc(&row.time),
                    x - w / 2.0,
                    y - 11.0,
                    y + 4.0,
                    esc(label)
                );
            }
        }
        s.push_str("</g>");
    }
    s.push_str("</svg></figure>");
    s
}

#[cfg(test)]
mod tests {
    use socketlab_proto::{Event, Flag, Op, Role, Segment, Side, SocketRef, Transport};

    use super::*;
    use crate::layout::layout;

    #[test]
    fn a_lost_packet_stops_short_with_a_cross_and_its_copy_is_a_retransmission() {
        let seg = |t: u64, lost: bool| {
            let sock = SocketRef { id: 0, role: Role::Connection, transport: Transport::Tcp };
            let mut e = Event::new(t, Side::Server, sock, Op::Segment)
                .addrs(Some(([127, 0, 0, 1], 12000).into()), Some(([127, 0, 0, 1], 40000).into()));
            e.segment = Some(Segment::inferred("SYN,ACK", 0));
            e.with_flag(if lost { Flag::Lost } else { Flag::Retransmission })
        };
        let html = svg(Lang::En, &layout(&[seg(1, true), seg(1_000_000, false)]), 0, "x");
        assert_eq!(html.matches("class=\"cross\"").count(), 1, "{html}");
        assert!(html.contains(">lost</text>"));
        assert!(html.contains("[TCP Retransmission] SYN-ACK"));
        assert_eq!(html.matches("marker-end").count(), 1, "only the delivered copy has a head");
    }
}
