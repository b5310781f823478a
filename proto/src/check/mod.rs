//! The grading rubric behind `socketlab check`: which items each of the lesson's four programs
//! is graded on, their points, and which are required.
//!
//! The rubric is data so that the command line, the gateway and the browser show the same
//! items in the same order. Running the items is I/O and lives in the server; turning their
//! outcomes into a score and the report formats is pure and lives in [`report`].

pub mod report;

pub use report::{GradescopeResults, GradescopeTest, ItemOutcome, ItemResult, Report, Verdict, grade, grade_item};

use serde::{Deserialize, Serialize};

/// The program a check grades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Program {
    /// A UDP upper-case server; the check plays the client.
    UdpServer,
    /// A TCP upper-case server; the check plays the client.
    TcpServer,
    /// A UDP client; the check plays the server.
    UdpClient,
    /// A TCP client; the check plays the server.
    TcpClient,
}

impl Program {
    /// Every program, in the lesson's order.
    pub const ALL: [Self; 4] = [Self::UdpServer, Self::TcpServer, Self::UdpClient, Self::TcpClient];

    /// The name used on the command line and in JSON, such as `udp-server`.
    pub fn name(self) -> &'static str {
        match self {
            Self::UdpServer => "udp-server",
            Self::TcpServer => "tcp-server",
            Self::UdpClient => "udp-client",
            Self::TcpClient => "tcp-client",
        }
    }

    /// The program named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether the check plays the client (for a server) rather than the server.
    pub fn is_server(self) -> bool {
        matches!(self, Self::UdpServer | Self::TcpServer)
    }

    /// The items this program is graded on, in the order they run. An item that may crash the
    /// program (invalid UTF-8) always comes last, so it cannot spoil the others.
    pub fn rubric(self) -> &'static [ItemSpec] {
        match self {
            Self::UdpServer => UDP_SERVER,
            Self::TcpServer => TCP_SERVER,
            Self::UdpClient => UDP_CLIENT,
            Self::TcpClient => TCP_CLIENT,
        }
    }
}

/// A check to run: the body of `POST /api/v1/checks`, and the `check` WebSocket frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The client's name for this check, echoed on every frame about it. Required on the
    /// WebSocket, ignored by REST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The program to grade.
    pub program: Program,
    /// For a server program: a name the operator listed in `[targets]`, never an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A server the operator listed for checks, as `hello` and `/api/v1/servers` show it. The
/// address is shown because the student must run the program there; a request can only ever
/// name the target by `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListedTarget {
    /// The name a check request gives as `target`.
    pub name: String,
    /// Where the student's server must run, such as `127.0.0.1:12001`.
    pub addr: String,
    /// The programs that can be checked there.
    pub programs: Vec<Program>,
}

/// One graded item of a rubric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ItemSpec {
    /// A stable identifier, unique within its program, such as `ascii`.
    pub id: &'static str,
    /// What the item checks, as one sentence fragment.
    pub name: &'static str,
    /// Points earned when it passes.
    pub points: u32,
    /// Whether it counts towards passing; optional items are bonus points.
    pub required: bool,
}

const fn item(id: &'static str, name: &'static str, points: u32, required: bool) -> ItemSpec {
    ItemSpec { id, name, points, required }
}

const UDP_SERVER: &[ItemSpec] = &[
    item("answers", "it answers a datagram", 2, true),
    item("ascii", "it upper-cases ASCII", 2, true),
    item("unicode", "it upper-cases Unicode as Python's str.upper() does", 2, true),
    item("own-reply", "it replies from its port to each sender's address and port, two clients at once", 2, true),
    item("whole-2048", "a 2048-byte datagram comes back whole", 2, true),
    item("truncated-3000", "it answers a 3000-byte datagram, truncated", 1, false),
    item("invalid-utf8", "it survives invalid UTF-8 and still answers the next client", 1, false),
];

const TCP_SERVER: &[ItemSpec] = &[
    item("accepts", "it accepts a connection", 2, true),
    item("upper", "it upper-cases the sentence", 2, true),
    item("one-after-another", "it serves several clients one after another on one welcome socket", 2, true),
    item("fin-close", "it closes with FIN, not RST, after replying", 2, true),
    item("silent-client", "a client that connects and closes without sending does not stop it", 2, true),
    item("two-at-once", "two clients at once: the second is answered while the first is silent", 1, false),
    item("invalid-utf8", "it survives invalid UTF-8 and still answers the next client", 1, false),
];

const UDP_CLIENT: &[ItemSpec] = &[
    item("one-datagram", "it sends the typed sentence as one datagram", 4, true),
    item("prints-reply", "it prints the reply", 3, true),
    item("one-socket", "it uses one socket for several sentences", 3, true),
    item("ends-on-end", "it ends when the user types end", 1, false),
];

const TCP_CLIENT: &[ItemSpec] = &[
    item("connects", "it connects", 2, true),
    item("sends", "it sends the sentence", 3, true),
    item("reads-reply", "it reads the reply", 3, true),
    item("closes", "it closes the connection", 2, true),
];

#[cfg(test)]
mod tests;
