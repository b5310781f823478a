//! Parses lab files, built-in or an instructor's, and says exactly what is wrong with a bad one.
//!
//! Reading files is the caller's business; this module takes their names and text. A problem
//! names the file, the line (from the TOML parser's span) and what is wrong, because a
//! malformed lab stops the gateway's startup and the instructor has to find it.

use std::collections::HashSet;

use crate::Lab;

/// A lab file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: String,
    /// 1-based; absent when the problem is the file as a whole.
    pub line: Option<usize>,
    pub problem: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "lab file {}, line {line}: {}", self.file, self.problem),
            None => write!(f, "lab file {}: {}", self.file, self.problem),
        }
    }
}

impl std::error::Error for LoadError {}

/// Parses and validates one lab file.
pub fn parse(file: &str, text: &str) -> Result<Lab, LoadError> {
    let err = |line, problem: String| LoadError { file: file.to_owned(), line, problem };
    let lab: Lab = toml::from_str(text).map_err(|e| {
        let line =
            e.span().map(|s| text.as_bytes()[..s.start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1);
        err(line, e.message().trim().to_owned())
    })?;
    lab.validate().map_err(|e| err(None, e.0))?;
    Ok(lab)
}

/// Parses every file, in order, refusing two labs with one id.
pub fn parse_all<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Vec<Lab>, LoadError> {
    let mut ids = HashSet::new();
    let mut labs = Vec::new();
    for (file, text) in files {
        let lab = parse(file, text)?;
        if !ids.insert(lab.id.clone()) {
            return Err(LoadError {
                file: file.to_owned(),
                line: None,
                problem: format!("another lab already has the id {:?}", lab.id),
            });
        }
        labs.push(lab);
    }
    Ok(labs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_lab_parses_and_there_are_at_least_ten() {
        let labs = parse_all(crate::builtin::FILES.iter().copied()).expect("built-in labs are valid");
        assert!(labs.len() >= 10, "{} labs", labs.len());
        let handshake = labs.iter().find(|l| l.id == "tcp-handshake").expect("tcp-handshake exists");
        let ids: Vec<&str> = handshake.steps[0].questions.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, ["syn_seq", "synack_ack"]);
    }

    #[test]
    fn the_readmes_example_is_a_valid_lab() {
        let readme = include_str!("../README.md");
        let example = readme.split("```toml\n").nth(1).and_then(|rest| rest.split("```").next()).expect("example");
        let lab = parse("README.md", example).expect("the documented example parses");
        assert_eq!(lab.steps[0].questions[0].answer, crate::Answer::ClientPort);
    }

    #[test]
    fn the_readme_documents_every_kind_of_answer_and_observation() {
        use crate::{Answer, Seen};
        let readme = include_str!("../README.md");
        // Each match is exhaustive, so a new kind does not compile until it is listed here.
        let answers = [
            Answer::ClientPort,
            Answer::ServerPort,
            Answer::SynSeq,
            Answer::SynackSeq,
            Answer::SynackAck,
            Answer::ServerRecvBytes,
            Answer::ServerRecvfromBytes,
            Answer::ClientSentBytes,
            Answer::FirstFin,
            Answer::ConnectionPort,
        ];
        for a in answers {
            let listed = match a {
                Answer::ClientPort
                | Answer::ServerPort
                | Answer::SynSeq
                | Answer::SynackSeq
                | Answer::SynackAck
                | Answer::ServerRecvBytes
                | Answer::ServerRecvfromBytes
                | Answer::ClientSentBytes
                | Answer::FirstFin
                | Answer::ConnectionPort => name(&a),
            };
            assert!(readme.contains(&format!("`{listed}`")), "labs/README.md lacks answer {listed}");
        }
        let seen = [
            Seen::UdpExchange,
            Seen::TcpExchange,
            Seen::UdpTruncated,
            Seen::TcpRecvCut,
            Seen::TwoConnections,
            Seen::TcpRst,
            Seen::UdpRefused,
            Seen::InvalidUtf8Answered,
            Seen::FinBothSides,
            Seen::BacklogHeld,
            Seen::OutsideClient,
        ];
        for k in seen {
            let listed = match k {
                Seen::UdpExchange
                | Seen::TcpExchange
                | Seen::UdpTruncated
                | Seen::TcpRecvCut
                | Seen::TwoConnections
                | Seen::TcpRst
                | Seen::UdpRefused
                | Seen::InvalidUtf8Answered
                | Seen::FinBothSides
                | Seen::BacklogHeld
                | Seen::OutsideClient => name(&k),
            };
            assert!(readme.contains(&format!("`{listed}`")), "labs/README.md lacks observation {listed}");
        }
    }

    /// A kind's name as a lab file spells it.
    fn name<T: serde::Serialize>(kind: &T) -> String {
        serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }

    #[test]
    fn a_malformed_file_names_its_line_and_problem() {
        let text = "id = \"x\"\ntitle = { en = \"X\", zh = \"X\" }\nsummary = { en = \"s\", zh = \"s\" }\n\n[[step]]\nid = \"one\"\ntitle = { en = \"a\", zh = \"a\" }\ninstructions = { en = \"a\", zh = \"a\" }\n[[step.question]]\nid = \"q\"\nprompt = { en = \"p\", zh = \"p\" }\nanswer = \"syn_sek\"\n";
        let e = parse("mine.toml", text).expect_err("unknown answer kind");
        assert_eq!(e.line, Some(12), "{e}");
        assert!(e.to_string().starts_with("lab file mine.toml, line 12: "), "{e}");
        assert!(e.problem.contains("syn_sek"), "{e}");

        let e = parse("bad.toml", "id = \"x\"\ntitle = \"no\"\n").expect_err("a title needs both languages");
        assert_eq!(e.line, Some(2), "{e}");

        let missing_zh = text.replace("syn_sek", "syn_seq").replace("zh = \"p\"", "zh = \" \"");
        let e = parse("mine.toml", &missing_zh).expect_err("empty Chinese prompt");
        assert!(e.problem.contains("Chinese"), "{e}");

        let twice = [("a.toml", text.replace("syn_sek", "syn_seq")), ("b.toml", text.replace("syn_sek", "syn_seq"))];
        let e = parse_all(twice.iter().map(|(f, t)| (*f, t.as_str()))).expect_err("one id twice");
        assert_eq!(e.file, "b.toml");
    }
}
