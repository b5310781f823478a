//! Turning item outcomes into a graded report, and the report into Gradescope's shape.
//!
//! The JSON schema of `socketlab check --format json` is [`Report`]; `--format gradescope`
//! is [`GradescopeResults`]. Both are built here, without I/O, so the server and the browser
//! agree on scores and wording.

use serde::{Deserialize, Serialize};

use super::{ItemSpec, Program};
use crate::Event;

/// The version of the [`Report`] schema; it changes only when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// How many characters of a payload a timeline line shows.
const PREVIEW_CHARS: usize = 32;

/// How an item went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The program did what the item asks.
    Pass,
    /// It did not; the reason says what happened instead.
    Fail,
    /// The item could not be judged (the program had died, or its output was not visible).
    Skipped,
}

impl Verdict {
    /// The verdict as a word for tables: `pass`, `FAIL`, `skip`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "FAIL",
            Self::Skipped => "skip",
        }
    }
}

/// What running one item found, before grading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemOutcome {
    /// The item's id in its program's rubric.
    pub id: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
    /// The socket calls (and packets) of the item's exchanges, in time order.
    pub events: Vec<Event>,
}

impl ItemOutcome {
    /// A passing item.
    pub fn pass(id: &'static str, reason: impl Into<String>) -> Self {
        Self { id, verdict: Verdict::Pass, reason: reason.into(), events: Vec::new() }
    }

    /// A failing item.
    pub fn fail(id: &'static str, reason: impl Into<String>) -> Self {
        Self { id, verdict: Verdict::Fail, reason: reason.into(), events: Vec::new() }
    }

    /// An item that could not be judged.
    pub fn skipped(id: &'static str, reason: impl Into<String>) -> Self {
        Self { id, verdict: Verdict::Skipped, reason: reason.into(), events: Vec::new() }
    }

    /// The same outcome with the item's events.
    pub fn with_events(mut self, events: Vec<Event>) -> Self {
        self.events = events;
        self
    }
}

/// One graded item, as it appears in the JSON report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemResult {
    /// The item's id, such as `ascii`.
    pub id: String,
    /// What it checks.
    pub name: String,
    /// Whether it counts towards passing.
    pub required: bool,
    /// The verdict.
    pub verdict: Verdict,
    /// Points earned: all of `max_points` on a pass, none otherwise.
    pub points: u32,
    /// Points the item is worth.
    pub max_points: u32,
    /// One line saying why.
    pub reason: String,
    /// The item's timeline.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub events: Vec<Event>,
}

/// The whole graded run: `socketlab check --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// The graded program.
    pub program: Program,
    /// What was graded: the server's address, or the address the check listened on.
    pub target: String,
    /// Points earned, bonus included.
    pub score: u32,
    /// Points of the required items.
    pub max_score: u32,
    /// Points of the optional items, earned on top of `max_score`.
    pub bonus_max: u32,
    /// True when no required item failed.
    pub passed: bool,
    /// Every item of the rubric, in order.
    pub items: Vec<ItemResult>,
}

/// Grades `outcomes` against `program`'s rubric. An item with no outcome is reported skipped,
/// so the report always lists the whole rubric; outcomes for unknown ids are ignored.
pub fn grade(program: Program, target: &str, mut outcomes: Vec<ItemOutcome>) -> Report {
    let items: Vec<ItemResult> = program
        .rubric()
        .iter()
        .map(|spec| {
            let outcome = match outcomes.iter().position(|o| o.id == spec.id) {
                Some(i) => outcomes.swap_remove(i),
                None => ItemOutcome::skipped(spec.id, "not run"),
            };
            result(spec, outcome)
        })
        .collect();
    let sum = |f: fn(&ItemSpec) -> bool| program.rubric().iter().filter(|s| f(s)).map(|s| s.points).sum();
    Report {
        schema: SCHEMA_VERSION,
        program,
        target: target.to_owned(),
        score: items.iter().map(|i| i.points).sum(),
        max_score: sum(|s| s.required),
        bonus_max: sum(|s| !s.required),
        passed: items.iter().all(|i| !(i.required && i.verdict == Verdict::Fail)),
        items,
    }
}

/// One outcome graded on its own, so that each item can be shown as soon as it finishes;
/// `None` for an id that is not in `program`'s rubric.
pub fn grade_item(program: Program, outcome: ItemOutcome) -> Option<ItemResult> {
    let spec = program.rubric().iter().find(|s| s.id == outcome.id)?;
    Some(result(spec, outcome))
}

fn result(spec: &ItemSpec, o: ItemOutcome) -> ItemResult {
    ItemResult {
        id: spec.id.to_owned(),
        name: spec.name.to_owned(),
        required: spec.required,
        verdict: o.verdict,
        points: if o.verdict == Verdict::Pass { spec.points } else { 0 },
        max_points: spec.points,
        reason: o.reason,
        events: o.events,
    }
}

/// Gradescope's `results.json`: the top-level score and one test per item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradescopeResults {
    /// Points earned, bonus included.
    pub score: u32,
    /// One entry per rubric item.
    pub tests: Vec<GradescopeTest>,
}

/// One Gradescope test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradescopeTest {
    /// The item's name; optional items say `(bonus)`.
    pub name: String,
    /// Points earned.
    pub score: u32,
    /// Points the item is worth.
    pub max_score: u32,
    /// The verdict and reason, and the timeline when the item did not pass.
    pub output: String,
}

impl Report {
    /// The report in Gradescope's `results.json` shape.
    pub fn gradescope(&self) -> GradescopeResults {
        let tests = self
            .items
            .iter()
            .map(|i| {
                let mut output = format!("{}: {}", i.verdict.label(), i.reason);
                if i.verdict != Verdict::Pass && !i.events.is_empty() {
                    output.push_str("\n\nWhat happened:\n");
                    output.push_str(&timeline(&i.events).join("\n"));
                }
                let bonus = if i.required { "" } else { " (bonus)" };
                GradescopeTest {
                    name: format!("{}: {}{bonus}", self.program.name(), i.name),
                    score: i.points,
                    max_score: i.max_points,
                    output,
                }
            })
            .collect();
        GradescopeResults { score: self.score, tests }
    }
}

/// One line per event, timed from the first:
/// `+1.250 ms  socket 3  sendto  peer 127.0.0.1:5000  11 bytes  "hello"`.
pub fn timeline(events: &[Event]) -> Vec<String> {
    let t0 = events.iter().map(|e| e.started_us.unwrap_or(e.t_us)).min().unwrap_or(0);
    events
        .iter()
        .map(|e| {
            let at = e.t_us.saturating_sub(t0);
            let mut line = format!("+{}.{:03} ms  socket {}  {}", at / 1000, at % 1000, e.socket.id, e.op.name());
            if let Some(seg) = &e.segment {
                line.push_str(&format!(" [{}]", seg.flags));
            }
            if let Some(peer) = e.peer {
                line.push_str(&format!("  peer {peer}"));
            }
            if let Some(n) = e.bytes {
                line.push_str(&format!("  {n} bytes"));
            }
            if let Some(p) = &e.preview {
                let shown: String = p.chars().take(PREVIEW_CHARS).collect();
                let more = if shown.len() < p.len() { "..." } else { "" };
                line.push_str(&format!("  {shown:?}{more}"));
            }
            if let Some(d) = &e.detail {
                line.push_str(&format!("  ({d})"));
            }
            line
        })
        .collect()
}
