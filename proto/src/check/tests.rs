//! Table tests of the rubric and the grading.

use super::report::{SCHEMA_VERSION, timeline};
use super::*;
use crate::{Event, Op, Role, Side, SocketRef, Transport};

#[test]
fn every_rubric_has_unique_ids_required_items_and_invalid_utf8_last() {
    for program in Program::ALL {
        let rubric = program.rubric();
        let mut ids: Vec<_> = rubric.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), rubric.len(), "{program:?} repeats an id");
        assert!(rubric.iter().any(|s| s.required), "{program:?}");
        assert!(rubric.iter().all(|s| s.points > 0), "{program:?}");
        if let Some(i) = rubric.iter().position(|s| s.id == "invalid-utf8") {
            assert_eq!(i, rubric.len() - 1, "{program:?}: the crash-inducing item must run last");
        }
        assert_eq!(Program::parse(program.name()), Some(program));
    }
    assert_eq!(Program::parse("udp"), None);
    assert!(Program::UdpServer.is_server() && !Program::TcpClient.is_server());
}

#[test]
fn grading_table() {
    use Verdict::*;
    // (verdicts in rubric order for the UDP server, score, passed)
    let cases: &[(&[Verdict], u32, bool)] = &[
        (&[Pass, Pass, Pass, Pass, Pass, Pass, Pass], 12, true),
        (&[Pass, Pass, Pass, Pass, Pass, Pass, Fail], 11, true),
        (&[Pass, Pass, Pass, Pass, Pass, Fail, Fail], 10, true),
        (&[Pass, Fail, Fail, Pass, Pass, Pass, Fail], 7, false),
        (&[Pass, Pass, Pass, Pass, Pass, Skipped, Skipped], 10, true),
        (&[Fail, Skipped, Skipped, Skipped, Skipped, Skipped, Skipped], 0, false),
        (&[Skipped, Skipped, Skipped, Skipped, Skipped, Skipped, Skipped], 0, true),
    ];
    let rubric = Program::UdpServer.rubric();
    for (verdicts, score, passed) in cases {
        let outcomes = rubric
            .iter()
            .zip(verdicts.iter())
            .map(|(s, v)| ItemOutcome { id: s.id, verdict: *v, reason: "r".into(), events: Vec::new() })
            .collect();
        let report = grade(Program::UdpServer, "127.0.0.1:9", outcomes);
        assert_eq!((report.score, report.passed), (*score, *passed), "{verdicts:?}");
        assert_eq!((report.max_score, report.bonus_max), (10, 2));
        assert_eq!(report.schema, SCHEMA_VERSION);
        assert_eq!(report.items.iter().map(|i| i.verdict).collect::<Vec<_>>(), *verdicts);
    }
}

#[test]
fn missing_outcomes_are_skipped_and_unknown_ones_ignored() {
    let outcomes = vec![ItemOutcome::pass("closes", "FIN"), ItemOutcome::fail("nonsense", "x")];
    let report = grade(Program::TcpClient, "127.0.0.1:12000", outcomes);
    let ids: Vec<_> = report.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["connects", "sends", "reads-reply", "closes"]);
    assert_eq!(report.items[0].verdict, Verdict::Skipped);
    assert_eq!(report.items[0].reason, "not run");
    assert_eq!(report.items[3].points, 2);
    assert!(report.passed);
}

fn ev(t: u64, op: Op) -> Event {
    let sock = SocketRef { id: 1, role: Role::Client, transport: Transport::Udp };
    Event::new(t, Side::Client, sock, op)
}

#[test]
fn gradescope_shape_and_output() {
    let events = vec![ev(1_000, Op::Sendto).payload(b"hello"), ev(3_500, Op::Recvfrom).detail("no reply")];
    let outcomes = vec![
        ItemOutcome::pass("connects", "accepted"),
        ItemOutcome::fail("sends", "nothing arrived").with_events(events),
    ];
    let g = grade(Program::TcpClient, "127.0.0.1:1", outcomes).gradescope();
    assert_eq!(g.score, 2);
    assert_eq!(g.tests.len(), 4);
    assert_eq!(g.tests[0].name, "tcp-client: it connects");
    assert_eq!((g.tests[0].score, g.tests[0].max_score), (2, 2));
    assert_eq!(g.tests[0].output, "pass: accepted");
    assert!(g.tests[1].output.starts_with("FAIL: nothing arrived\n\nWhat happened:\n+0.000 ms  socket 1  sendto"));
    assert!(g.tests[1].output.contains("+2.500 ms  socket 1  recvfrom  (no reply)"), "{}", g.tests[1].output);
    let json = serde_json::to_value(&g).expect("serializes");
    let keys: Vec<_> = json["tests"][0].as_object().expect("object").keys().cloned().collect();
    assert_eq!(keys, ["max_score", "name", "output", "score"]);
    let bonus = grade(Program::UdpServer, "x", vec![]).gradescope();
    assert!(bonus.tests[6].name.ends_with("(bonus)"));
}

#[test]
fn timeline_is_relative_and_bounded() {
    let long = vec![b'a'; 90];
    let lines = timeline(&[ev(10, Op::Send).payload(&long), ev(2_010, Op::Close)]);
    assert_eq!(lines[1], "+2.000 ms  socket 1  close");
    assert!(lines[0].starts_with("+0.000 ms  socket 1  send  90 bytes  \"aaaa"), "{}", lines[0]);
    assert!(lines[0].ends_with("\"..."), "{}", lines[0]);
    assert!(timeline(&[]).is_empty());
}

#[test]
fn report_round_trips_through_json() {
    let report = grade(Program::UdpClient, "127.0.0.1:12000", vec![ItemOutcome::pass("one-socket", "same port")]);
    let json = serde_json::to_string(&report).expect("serializes");
    assert!(json.contains("\"program\":\"udp-client\""));
    assert!(json.contains("\"verdict\":\"skipped\""));
    let back: Report = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, report);
}
