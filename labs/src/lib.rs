//! Guided labs: exercises whose answers come from each student's own timeline.
//!
//! A lab is data (a TOML file, see `labs/README.md`): steps with instructions, actions the page
//! offers as buttons, and checks. Checks are evaluated here, by pure code that the server runs
//! authoritatively and the browser runs for instant feedback, so both always agree. Nothing
//! here does I/O; the expected answer of a question is computed from the timeline it is given.

pub mod builtin;
pub mod eval;
pub mod load;
mod seen;
pub mod view;

use serde::{Deserialize, Serialize};
use socketlab_proto::wire::{Protocol, Target};

pub use eval::{CheckResult, StepResult, Timeline, check_step};

/// The languages every text of a lab comes in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    /// `zh` (or `zh-CN`, `zh-TW`...) is Chinese; anything else is English.
    pub fn parse(s: &str) -> Self {
        if s.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("zh")) { Self::Zh } else { Self::En }
    }
}

/// One text in English and Chinese.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub en: String,
    pub zh: String,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Zh => &self.zh,
        }
    }
}

/// A lab: a title and its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    /// Lower-case letters, digits and dashes, such as `tcp-handshake`.
    pub id: String,
    pub title: Text,
    /// What the lab teaches, in a sentence or two.
    pub summary: Text,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// One step of a lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    pub title: Text,
    pub instructions: Text,
    #[serde(default, rename = "action")]
    pub actions: Vec<Action>,
    #[serde(default, rename = "question")]
    pub questions: Vec<Question>,
    #[serde(default, rename = "observation")]
    pub observations: Vec<Observation>,
}

/// A button the page offers: one exchange with a hosted server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub label: Text,
    pub protocol: Protocol,
    /// The message to send; absent means the student types it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The message's bytes in base64, for bytes that are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_base64: Option<String>,
    /// Send `message` repeated this many times, for a message longer than the buffer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    /// `closed_port` for the port nobody listens on, `iterative` for the TCP server that serves
    /// one client at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// TCP only: keep the connection open this long before sending, in milliseconds (at most
    /// 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ms: Option<u64>,
}

/// A question whose expected answer is computed from the student's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub prompt: Text,
    /// What the answer is, in the timeline.
    pub answer: Answer,
}

/// Where a question's answer is on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// The port the kernel gave the client's socket.
    ClientPort,
    /// The port of the hosted server the client reached.
    ServerPort,
    /// The SYN's absolute sequence number (needs capture).
    SynSeq,
    /// The SYN-ACK's absolute sequence number (needs capture).
    SynackSeq,
    /// The SYN-ACK's absolute acknowledgement number (needs capture).
    SynackAck,
    /// The bytes the server's first `recv` returned.
    ServerRecvBytes,
    /// The bytes the server's first `recvfrom` returned.
    ServerRecvfromBytes,
    /// The bytes the client sent in its first `send` or `sendto`.
    ClientSentBytes,
    /// Which side sent the first FIN: `client` or `server`.
    FirstFin,
    /// The port of the connection socket `accept()` returned, on the server's side.
    ConnectionPort,
}

impl Answer {
    /// Whether the answer is only known from captured packets.
    pub fn needs_capture(self) -> bool {
        matches!(self, Self::SynSeq | Self::SynackSeq | Self::SynackAck)
    }
}

/// Something the student's exchanges must contain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub id: String,
    pub prompt: Text,
    pub kind: Seen,
}

/// The kinds of observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seen {
    /// A UDP exchange: a datagram each way and no handshake.
    UdpExchange,
    /// A TCP exchange: a handshake before the data.
    TcpExchange,
    /// A datagram cut by the server's `recvfrom(2048)`.
    UdpTruncated,
    /// A TCP message longer than the server's `recv(1024)` returned.
    TcpRecvCut,
    /// Two connection sockets that one welcome socket handed over.
    TwoConnections,
    /// A TCP connection refused with RST.
    TcpRst,
    /// A UDP datagram refused with ICMP port unreachable.
    UdpRefused,
    /// A datagram that was not valid UTF-8 and still got an answer.
    InvalidUtf8Answered,
    /// A FIN from each side of a TCP connection.
    FinBothSides,
    /// A second client whose connection waited in the backlog of an iterative server.
    BacklogHeld,
    /// A client outside the gateway (such as the lesson's Python client in a terminal)
    /// answered by a hosted server, seen live.
    OutsideClient,
}

/// Why a lab is not valid, beyond what the parser checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Lab {
    /// Checks what the types cannot: ids, uniqueness, and non-empty texts.
    pub fn validate(&self) -> Result<(), Invalid> {
        let bad = |m: String| Err(Invalid(m));
        if !valid_id(&self.id) {
            return bad(format!("lab id {:?} must be lower-case letters, digits, '-' or '_'", self.id));
        }
        if self.steps.is_empty() {
            return bad(format!("lab {:?} has no [[step]]", self.id));
        }
        let mut texts = vec![("title", &self.title), ("summary", &self.summary)];
        let mut steps = std::collections::HashSet::new();
        for s in &self.steps {
            if !valid_id(&s.id) || !steps.insert(s.id.as_str()) {
                return bad(format!("step id {:?} is invalid or used twice", s.id));
            }
            let mut checks = std::collections::HashSet::new();
            let ids = s.questions.iter().map(|q| &q.id).chain(s.observations.iter().map(|o| &o.id));
            for id in ids {
                if !valid_id(id) || !checks.insert(id.as_str()) {
                    return bad(format!("check id {id:?} in step {:?} is invalid or used twice", s.id));
                }
            }
            texts.extend([("title", &s.title), ("instructions", &s.instructions)]);
            texts.extend(s.questions.iter().map(|q| ("prompt", &q.prompt)));
            texts.extend(s.observations.iter().map(|o| ("prompt", &o.prompt)));
            texts.extend(s.actions.iter().map(|a| ("label", &a.label)));
            for a in &s.actions {
                if a.message.is_some() && a.message_base64.is_some() {
                    return bad(format!("an action in step {:?} has both message and message_base64", s.id));
                }
                if a.hold_ms.is_some_and(|h| h > 1000) {
                    return bad(format!("an action in step {:?} holds longer than 1000 ms", s.id));
                }
            }
        }
        if let Some((name, _)) = texts.iter().find(|(_, t)| t.en.trim().is_empty() || t.zh.trim().is_empty()) {
            return bad(format!("a {name} in lab {:?} lacks its English or Chinese text", self.id));
        }
        Ok(())
    }
}
