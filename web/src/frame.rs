//! Reads the gateway's WebSocket frames (and the saved exchanges' bodies) into `proto`'s types
//! without serde's buffering of internally tagged enums. `serde_json::from_str::<ServerMsg>`
//! first copies every frame into serde's generic `Content` tree to find its `"type"`, and the
//! code for that tree and for reading every type out of it was the largest part of the
//! bundle. Here the type is read first and the frame is read once, straight into the struct
//! its type names, so each type has one reader. Pure, and tested natively against what the
//! gateway writes.

use serde::Deserialize;
use socketlab_proto::Event;
use socketlab_proto::check::{ItemResult, Report};
use socketlab_proto::saved::SavedExchange;
use socketlab_proto::wire::{ErrorCode, Scope, ServerMsg};

use crate::json::J;

#[derive(Deserialize)]
struct Step {
    id: String,
    event: Event,
}

#[derive(Deserialize)]
struct Observed {
    conversation: String,
    event: Event,
}

#[derive(Deserialize)]
struct Failure {
    id: Option<String>,
    code: ErrorCode,
    message: String,
    #[serde(default)]
    exchange: Option<String>,
    #[serde(default)]
    refused_id: Option<String>,
}

#[derive(Deserialize)]
struct Subscribed {
    scope: Scope,
}

#[derive(Deserialize)]
struct Item {
    id: String,
    item: ItemResult,
}

#[derive(Deserialize)]
struct Graded {
    id: String,
    report: Report,
}

/// The frame's `"type"`: the gateway writes it first; anything else is read whole to find it.
fn kind(text: &str) -> Option<String> {
    let first = text.strip_prefix("{\"type\":\"").and_then(|rest| rest.split_once('"')).map(|(k, _)| k);
    match first {
        Some(k) if !k.contains('\\') => Some(k.to_owned()),
        _ => J::parse(text)?["type"].as_str().map(str::to_owned),
    }
}

fn read<'a, T: Deserialize<'a>>(text: &'a str) -> Option<T> {
    serde_json::from_str(text).ok()
}

/// One frame from the gateway; `None` for anything that is not one.
pub fn parse(text: &str) -> Option<ServerMsg> {
    Some(match kind(text)?.as_str() {
        "hello" => ServerMsg::Hello(read(text)?),
        "event" => read(text).map(|s: Step| ServerMsg::Event { id: s.id, event: s.event })?,
        "observed" => {
            read(text).map(|o: Observed| ServerMsg::Observed { conversation: o.conversation, event: o.event })?
        }
        "reply" => ServerMsg::Reply(read(text)?),
        "error" => read(text).map(|f: Failure| ServerMsg::Error {
            id: f.id,
            code: f.code,
            message: f.message,
            exchange: f.exchange,
            refused_id: f.refused_id,
        })?,
        "subscribed" => read(text).map(|s: Subscribed| ServerMsg::Subscribed { scope: s.scope })?,
        "check_item" => read(text).map(|i: Item| ServerMsg::CheckItem { id: i.id, item: i.item })?,
        "check_report" => read(text).map(|g: Graded| ServerMsg::CheckReport { id: g.id, report: g.report })?,
        _ => return None,
    })
}

/// `GET /api/v1/saved/{id}`'s body.
pub fn saved(text: &str) -> Option<SavedExchange> {
    read(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketlab_proto::check::{Program, grade};
    use socketlab_proto::wire::{CaptureStatus, Hello, Protocol, Reply};
    use socketlab_proto::{Op, Role, Side, SocketRef, Transport};

    fn event() -> Event {
        let sock = SocketRef { id: 3, role: Role::Client, transport: Transport::Tcp };
        Event::new(7, Side::Client, sock, Op::Send)
            .addrs(Some(([127, 0, 0, 1], 40000).into()), Some(([127, 0, 0, 1], 12000).into()))
            .payload(b"hi \"there\"")
    }

    #[test]
    fn every_frame_the_gateway_writes_reads_back_the_same() {
        let limits = crate::update::tests::limits();
        let hello = Hello {
            api_version: 1,
            version: "1".into(),
            servers: Vec::new(),
            limits,
            observe_all: true,
            capture: CaptureStatus { enabled: false, interface: "lo".into(), reason: Some("off".into()) },
            closed_port: 9,
            targets: Vec::new(),
            check_listen: Some("127.0.0.1:1".into()),
            impairments: Default::default(),
            pinger: None,
            instance: "abc".into(),
        };
        let mut report = grade(Program::UdpServer, "127.0.0.1:1", Vec::new());
        report.items[0].events.push(event());
        let frames = [
            ServerMsg::Hello(hello),
            ServerMsg::Event { id: "e1".into(), event: event() },
            ServerMsg::Observed { conversation: "tcp 127.0.0.1:5".into(), event: event() },
            ServerMsg::Reply(Reply {
                id: "e1".into(),
                reply: "HI".into(),
                reply_base64: Some("SEk=".into()),
                elapsed_us: 5,
                exchange: Some("x1-a".into()),
            }),
            ServerMsg::Error {
                id: Some("e2".into()),
                code: ErrorCode::Timeout,
                message: "slow".into(),
                exchange: None,
                refused_id: None,
            },
            ServerMsg::Error {
                id: None,
                code: ErrorCode::DuplicateId,
                message: "again".into(),
                exchange: None,
                refused_id: Some("e1".into()),
            },
            ServerMsg::Subscribed { scope: Scope::All },
            ServerMsg::CheckItem { id: "c1".into(), item: report.items[0].clone() },
            ServerMsg::CheckReport { id: "c1".into(), report },
        ];
        for frame in frames {
            // A new kind of frame fails to compile here until `parse` reads it.
            match &frame {
                ServerMsg::Hello(_)
                | ServerMsg::Event { .. }
                | ServerMsg::Observed { .. }
                | ServerMsg::Reply(_)
                | ServerMsg::Error { .. }
                | ServerMsg::Subscribed { .. }
                | ServerMsg::CheckItem { .. }
                | ServerMsg::CheckReport { .. } => {}
            }
            let text = serde_json::to_string(&frame).expect("json");
            assert_eq!(parse(&text).as_ref(), Some(&frame), "{text}");
            // The type need not come first.
            let (head, rest) = text.split_once(',').expect("a frame has fields besides its type");
            let moved = format!("{{{},{}}}", &rest[..rest.len() - 1], &head[1..]);
            assert_eq!(parse(&moved), Some(frame), "{moved}");
        }
        for bad in ["", "{}", "[]", r#"{"type":"nope"}"#, r#"{"type":"reply"}"#, r#"{"type":"event","id":1}"#] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        let saved = SavedExchange {
            id: "A".into(),
            exchange: "x1-a".into(),
            protocol: Protocol::Tcp,
            saved_at_ms: 1,
            capture: true,
            events: vec![event()],
        };
        assert_eq!(super::saved(&serde_json::to_string(&saved).expect("json")), Some(saved));
    }
}
