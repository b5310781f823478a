//! The class API's JSON as the instructor page reads it: the dashboard
//! (`GET /api/v1/classes/{id}`) and the event stream's data. Lenient on purpose: a field the
//! page does not know is ignored, a missing one takes its default, and a step or a program may
//! come as a bare id or as an object with one, so a refinement of the contract on the server
//! degrades the page instead of blanking it.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `GET /api/v1/classes/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Dashboard {
    pub class: ClassInfo,
    pub labs: Vec<LabInfo>,
    #[serde(deserialize_with = "ids")]
    pub programs: Vec<String>,
    pub students: Vec<Student>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ClassInfo {
    pub id: String,
    pub name: String,
    pub closed: bool,
    pub join_code: String,
}

/// A lab, with its steps' ids when the API lists them, or only their number.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LabInfo {
    pub id: String,
    pub title: String,
    #[serde(deserialize_with = "steps")]
    pub steps: Steps,
}

/// A lab's steps: their ids in order, or how many there are.
#[derive(Debug, Clone, PartialEq)]
pub enum Steps {
    Ids(Vec<String>),
    Count(usize),
}

impl Default for Steps {
    fn default() -> Self {
        Self::Count(0)
    }
}

impl Steps {
    pub fn len(&self) -> usize {
        match self {
            Self::Ids(ids) => ids.len(),
            Self::Count(n) => *n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Student {
    pub id: String,
    pub name: String,
    /// Done step ids by lab id.
    #[serde(deserialize_with = "progress")]
    pub progress: BTreeMap<String, Vec<String>>,
    /// The latest result by check program.
    pub checks: BTreeMap<String, CheckResult>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CheckResult {
    pub passed: u32,
    pub total: u32,
}

/// A step, program or student named by its id: a string, a number, or an object's `id`.
pub fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => o.get("id").or_else(|| o.get("program")).and_then(id_of),
        _ => None,
    }
}

fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Option::<Vec<Value>>::deserialize(d)?.unwrap_or_default();
    Ok(list.iter().filter_map(id_of).collect())
}

fn steps<'de, D: Deserializer<'de>>(d: D) -> Result<Steps, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(list) => Steps::Ids(list.iter().filter_map(id_of).collect()),
        Value::Number(n) => Steps::Count(n.as_u64().and_then(|n| usize::try_from(n).ok()).unwrap_or(0)),
        _ => Steps::default(),
    })
}

fn progress<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    let map = Option::<BTreeMap<String, Vec<Value>>>::deserialize(d)?.unwrap_or_default();
    Ok(map.into_iter().map(|(lab, steps)| (lab, steps.iter().filter_map(id_of).collect())).collect())
}

/// What one event of the class's stream asks of the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `progress`: a student passed a step.
    Step { student: String, lab: String, step: String },
    /// `check`: a student's latest check of a program (the grid keeps the best).
    Check { student: String, program: String, result: CheckResult },
    /// `removed`: a student left the roster.
    Removed { student: String },
    /// `closed`: the class takes no new students.
    Closed,
    /// Anything else: `ready` (the stream is subscribed, so a roster read now misses nothing),
    /// `lagged` (events were missed), `joined` (a new row), or data the page cannot read:
    /// fetch the dashboard again.
    Refetch,
}

/// Reads one event: its name and its data.
pub fn change(kind: &str, data: &str) -> Change {
    let Ok(v) = serde_json::from_str::<Value>(data) else { return Change::Refetch };
    let text = |key: &str| v.get(key).and_then(id_of);
    let student = text("student").or_else(|| text("student_id"));
    match (kind, student) {
        ("closed", _) => Change::Closed,
        ("removed", Some(student)) => Change::Removed { student },
        ("progress", Some(student)) => match (text("lab"), text("step")) {
            (Some(lab), Some(step)) => Change::Step { student, lab, step },
            _ => Change::Refetch,
        },
        ("check", Some(student)) => {
            let num = |key: &str| v.get(key).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok());
            match (text("program"), num("passed"), num("total")) {
                (Some(program), Some(passed), Some(total)) => {
                    Change::Check { student, program, result: CheckResult { passed, total } }
                }
                _ => Change::Refetch,
            }
        }
        _ => Change::Refetch,
    }
}

impl Dashboard {
    /// Applies a change in place; false when the page must fetch the dashboard instead.
    pub fn apply(&mut self, change: Change) -> bool {
        let find = |students: &mut Vec<Student>, id: &str| students.iter().position(|s| s.id == id);
        match change {
            Change::Closed => self.class.closed = true,
            Change::Removed { student } => self.students.retain(|s| s.id != student),
            Change::Step { student, lab, step } => {
                let Some(i) = find(&mut self.students, &student) else { return false };
                let done = self.students[i].progress.entry(lab).or_default();
                if !done.contains(&step) {
                    done.push(step);
                }
            }
            Change::Check { student, program, result } => {
                let Some(i) = find(&mut self.students, &student) else { return false };
                if !self.programs.contains(&program) {
                    self.programs.push(program.clone());
                }
                // The best result stays, as the gateway keeps it: a later, worse check of the
                // same program is announced too, but changes no grade.
                let best = self.students[i].checks.entry(program).or_insert(result);
                if result.passed > best.passed {
                    *best = result;
                }
            }
            Change::Refetch => return false,
        }
        true
    }
}

/// An error's code and message from the API's `{"error":{"code","message"}}`.
pub fn error(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let field = |k: &str| v["error"][k].as_str().unwrap_or_default().to_owned();
    (field("code"), field("message"))
}
