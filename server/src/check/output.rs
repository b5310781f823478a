//! Printing a check's report: a table for people, the JSON schema, or Gradescope's shape.

use socketlab_proto::check::report::timeline;
use socketlab_proto::check::{Report, Verdict};

use super::Format;

/// Writes `report` to stdout in `format`.
pub fn print(report: &Report, format: Format) {
    let text = match format {
        Format::Text => text(report),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default(),
        Format::Gradescope => serde_json::to_string_pretty(&report.gradescope()).unwrap_or_default(),
    };
    println!("{text}");
}

/// One row per item (verdict, points, name and reason), each failing item's timeline under
/// it, and the score.
pub fn text(report: &Report) -> String {
    let mut out = format!("socketlab check {} {}\n", report.program.name(), report.target);
    for item in &report.items {
        let bonus = if item.required { "" } else { " (bonus)" };
        out.push_str(&format!(
            "{:<4}  {}/{}  {}{bonus}: {}\n",
            item.verdict.label(),
            item.points,
            item.max_points,
            item.name,
            item.reason
        ));
        if item.verdict == Verdict::Fail {
            for line in timeline(&item.events) {
                out.push_str(&format!("            {line}\n"));
            }
        }
    }
    let bonus: u32 = report.items.iter().filter(|i| !i.required).map(|i| i.points).sum();
    let required = report.score - bonus;
    let verdict = if report.passed { "every required item passed" } else { "a required item failed" };
    let extra = if report.bonus_max > 0 { format!(" (+{bonus}/{} bonus)", report.bonus_max) } else { String::new() };
    out.push_str(&format!("score {required}/{}{extra}: {verdict}", report.max_score));
    out
}
