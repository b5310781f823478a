//! The sequence diagram as an SVG string: lanes with their sockets' addresses, a row per step,
//! arrows for packets (dashed when inferred) with ports at both ends, boxes for socket calls.

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
        if row.failed {
            class.push_str(" failed");
        }
        let y = row.y;
        let _ = write!(s, "<g class=\"{class}\" data-step=\"{}\"", row.step);
        match &row.shape {
            Shape::Arrow { from, to, label, src_port, dst_port } => {
                let (x1, x2) = (d.lanes[*from].x, d.lanes[*to].x);
                let dir = if x2 > x1 { 1.0 } else { -1.0 };
                let _ = write!(
                    s,
                    " data-kind=\"packet\" data-label=\"{}\"><rect class=\"hit\" x=\"0\" y=\"{}\" width=\"{}\" height=\"34\"/><text class=\"time\" x=\"6\" y=\"{}\">{}</text><line class=\"arrow\" x1=\"{x1}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" marker-end=\"url(#head)\"/><text class=\"arrow-label\" x=\"{}\" y=\"{}\">{}</text>",
                    esc(label),
                    y - 17.0,
                    d.width,
                    y + 4.0,
                    esc(&row.time),
                    x2 - dir * 3.0,
                    (x1 + x2) / 2.0,
                    y - 5.0,
                    esc(label)
                );
                for (port, x, anchor) in [
                    (src_port, x1 + dir * 4.0, if dir > 0.0 { "start" } else { "end" }),
                    (dst_port, x2 - dir * 4.0, if dir > 0.0 { "end" } else { "start" }),
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
