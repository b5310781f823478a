//! A class's roster as the dashboard shows it, and as the grades CSV exports it: one row per
//! student, one column per lab (steps done / steps) and per check program (points passed /
//! total). Built from the store's rows, so the dashboard and the CSV cannot disagree.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::db::class::{CheckDone, StepDone, Student};

/// A student's best check of a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Mark {
    /// Points passed.
    pub passed: i64,
    /// Points of the rubric's required items.
    pub total: i64,
    /// When it ran, Unix milliseconds.
    pub at: i64,
}

/// One student's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Row {
    pub id: String,
    pub name: String,
    /// When they joined, Unix milliseconds.
    pub joined_at: i64,
    /// The steps done, by lab id.
    pub progress: BTreeMap<String, Vec<String>>,
    /// The best check, by program name.
    pub checks: BTreeMap<String, Mark>,
}

/// The rows of `students`, in the order given, with their steps and checks.
pub fn roster(students: &[Student], steps: &[StepDone], checks: &[CheckDone]) -> Vec<Row> {
    let mut rows: Vec<Row> = students
        .iter()
        .map(|s| Row {
            id: s.id.clone(),
            name: s.name.clone(),
            joined_at: s.joined_ms,
            progress: BTreeMap::new(),
            checks: BTreeMap::new(),
        })
        .collect();
    let index: BTreeMap<&str, usize> = students.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    for d in steps {
        if let Some(&i) = index.get(d.student_id.as_str()) {
            rows[i].progress.entry(d.lab.clone()).or_default().push(d.step.clone());
        }
    }
    for c in checks {
        if let Some(&i) = index.get(c.student_id.as_str()) {
            rows[i].checks.insert(c.program.clone(), Mark { passed: c.passed, total: c.total, at: c.at_ms });
        }
    }
    rows
}

/// A lab as a column: its id and how many steps it has. Steps done that the lab no longer has
/// (an operator edited it) are not counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabColumn {
    pub id: String,
    pub steps: Vec<String>,
}

/// The grades as CSV (RFC 4180, CRLF): `student,name`, then one column per lab and one per
/// program. A cell a spreadsheet would run as a formula is prefixed with `'`.
pub fn csv(labs: &[LabColumn], programs: &[&str], rows: &[Row]) -> String {
    let mut out = String::new();
    let mut header = vec!["student".to_owned(), "name".to_owned()];
    header.extend(labs.iter().map(|l| l.id.clone()));
    header.extend(programs.iter().map(|p| (*p).to_owned()));
    line(&mut out, &header);
    for row in rows {
        let mut cells = vec![row.id.clone(), row.name.clone()];
        for lab in labs {
            let done = row.progress.get(&lab.id).map_or(0, |d| d.iter().filter(|s| lab.steps.contains(s)).count());
            cells.push(format!("{done}/{}", lab.steps.len()));
        }
        for p in programs {
            cells.push(row.checks.get(*p).map_or_else(String::new, |m| format!("{}/{}", m.passed, m.total)));
        }
        line(&mut out, &cells);
    }
    out
}

fn line(out: &mut String, cells: &[String]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let cell = if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell.clone() };
        if cell.contains([',', '"', '\n', '\r']) {
            let _ = write!(out, "\"{}\"", cell.replace('"', "\"\""));
        } else {
            out.push_str(&cell);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn student(id: &str, name: &str) -> Student {
        Student { id: id.to_owned(), class_id: "c".to_owned(), name: name.to_owned(), joined_ms: 1 }
    }

    fn step(s: &str, lab: &str, step: &str) -> StepDone {
        StepDone {
            student_id: s.to_owned(),
            lab: lab.to_owned(),
            step: step.to_owned(),
            answers: "{}".to_owned(),
            done_ms: 2,
        }
    }

    #[test]
    fn the_csv_has_a_row_per_student_and_a_column_per_lab_and_program() {
        let students = [student("a", "Ada"), student("b", "Bob, \"the\" builder"), student("c", "=HYPERLINK(1)")];
        let steps =
            [step("a", "udp", "one"), step("a", "udp", "two"), step("b", "udp", "gone"), step("x", "udp", "one")];
        let checks = [CheckDone {
            student_id: "b".to_owned(),
            program: "tcp-server".to_owned(),
            passed: 7,
            total: 10,
            at_ms: 3,
        }];
        let rows = roster(&students, &steps, &checks);
        assert_eq!(rows[0].progress["udp"], ["one", "two"]);
        assert_eq!(rows[1].checks["tcp-server"], Mark { passed: 7, total: 10, at: 3 });
        let labs = [
            LabColumn { id: "udp".to_owned(), steps: vec!["one".to_owned(), "two".to_owned(), "three".to_owned()] },
            LabColumn { id: "tcp".to_owned(), steps: vec!["one".to_owned()] },
        ];
        let text = csv(&labs, &["udp-server", "tcp-server"], &rows);
        let want = "student,name,udp,tcp,udp-server,tcp-server\r\n\
                    a,Ada,2/3,0/1,,\r\n\
                    b,\"Bob, \"\"the\"\" builder\",0/3,0/1,,7/10\r\n\
                    c,'=HYPERLINK(1),0/3,0/1,,\r\n";
        assert_eq!(text, want);
        assert_eq!(csv(&labs, &[], &[]), "student,name,udp,tcp\r\n");
    }
}
