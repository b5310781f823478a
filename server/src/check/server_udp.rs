//! The UDP server rubric: the check plays the lesson's client against a student's server.

use socketlab_proto::check::ItemOutcome;
use socketlab_proto::uppercase;

use super::probe::{Probe, UdpAnswer, shown};

/// Runs one item and attaches its events.
async fn item(p: &mut Probe, id: &'static str) -> ItemOutcome {
    let outcome = match id {
        "answers" => answers(p).await,
        "ascii" => exact(p, id, b"the quick brown fox, 42 times!").await,
        "unicode" => exact(p, id, "straße, ﬁne σοφία, привет".as_bytes()).await,
        "own-reply" => own_reply(p).await,
        "whole-2048" => whole(p).await,
        "truncated-3000" => truncated(p).await,
        _ => invalid_utf8(p).await,
    };
    let events = p.events();
    outcome.with_events(events)
}

/// Runs every item in the rubric's order, handing each to `on_item` as it finishes; items
/// after the server died are skipped.
pub async fn run(p: &mut Probe, on_item: &mut super::OnItem<'_>) -> Result<Vec<ItemOutcome>, String> {
    let unreachable = format!("nothing listens on UDP {}: an ICMP port unreachable came back", p.target);
    super::run_rubric(p, socketlab_proto::check::Program::UdpServer, on_item, ("answers", unreachable), |p, id| {
        Box::pin(item(p, id))
    })
    .await
}

fn silent(id: &'static str, answer: &UdpAnswer, ms: u128) -> ItemOutcome {
    match answer {
        UdpAnswer::Refused => ItemOutcome::fail(id, "the server died: an ICMP port unreachable came back"),
        UdpAnswer::Error(e) => ItemOutcome::fail(id, e.clone()),
        _ => ItemOutcome::fail(id, format!("no reply within {ms} ms")),
    }
}

async fn answers(p: &mut Probe) -> ItemOutcome {
    match p.udp_ask(b"hello socket").await {
        UdpAnswer::Reply { data, .. } => ItemOutcome::pass("answers", format!("it answered {}", shown(&data))),
        other => silent("answers", &other, p.timeout.as_millis()),
    }
}

async fn exact(p: &mut Probe, id: &'static str, sentence: &[u8]) -> ItemOutcome {
    let want = uppercase(sentence).bytes;
    match p.udp_ask(sentence).await {
        UdpAnswer::Reply { data, .. } if data == want => {
            ItemOutcome::pass(id, format!("{} came back {}", shown(sentence), shown(&data)))
        }
        UdpAnswer::Reply { data, .. } => {
            ItemOutcome::fail(id, format!("sent {}, expected {}, got {}", shown(sentence), shown(&want), shown(&data)))
        }
        other => silent(id, &other, p.timeout.as_millis()),
    }
}

async fn own_reply(p: &mut Probe) -> ItemOutcome {
    const ID: &str = "own-reply";
    let sentences: [&[u8]; 2] = [b"first client, aaa", b"second client, bbb"];
    let mut sockets = Vec::new();
    for s in sentences {
        let (socket, sock) = match p.udp_socket().await {
            Ok(x) => x,
            Err(e) => return ItemOutcome::fail(ID, e),
        };
        if let Err(e) = p.udp_send(&socket, sock, s).await {
            return ItemOutcome::fail(ID, e);
        }
        sockets.push((socket, sock));
    }
    let names = ["the first client", "the second client"];
    for ((i, (socket, sock)), sentence) in sockets.iter().enumerate().zip(sentences) {
        match p.udp_recv(socket, *sock).await {
            UdpAnswer::Reply { from, .. } if from != p.target => {
                return ItemOutcome::fail(
                    ID,
                    format!(
                        "the reply came from {from}, not from the server's own address {}: a client that checks the sender, or calls connect(), never sees it",
                        p.target
                    ),
                );
            }
            UdpAnswer::Reply { data, .. } if !data.eq_ignore_ascii_case(sentence) => {
                return ItemOutcome::fail(
                    ID,
                    format!("{} sent {} but got {}", names[i], shown(sentence), shown(&data)),
                );
            }
            UdpAnswer::Reply { .. } => {}
            other => return silent(ID, &other, p.timeout.as_millis()),
        }
    }
    ItemOutcome::pass(ID, format!("two clients at once each got their own reply from {}", p.target))
}

/// Lower-case letters, so that upper-casing is visible and the length is known.
fn letters(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

async fn whole(p: &mut Probe) -> ItemOutcome {
    const ID: &str = "whole-2048";
    let sent = letters(2048);
    match p.udp_ask(&sent).await {
        UdpAnswer::Reply { data, .. } if data.len() == 2048 => {
            ItemOutcome::pass(ID, "all 2048 bytes came back: recvfrom(2048) holds the whole datagram")
        }
        UdpAnswer::Reply { data, .. } => ItemOutcome::fail(
            ID,
            format!("{} of 2048 bytes came back: is the receive buffer smaller than recvfrom(2048)?", data.len()),
        ),
        other => silent(ID, &other, p.timeout.as_millis()),
    }
}

async fn truncated(p: &mut Probe) -> ItemOutcome {
    const ID: &str = "truncated-3000";
    match p.udp_ask(&letters(3000)).await {
        UdpAnswer::Reply { data, .. } => ItemOutcome::pass(ID, format!("{} of 3000 bytes came back", data.len())),
        other => silent(ID, &other, p.timeout.as_millis()),
    }
}

async fn invalid_utf8(p: &mut Probe) -> ItemOutcome {
    const ID: &str = "invalid-utf8";
    let first = p.udp_ask(b"caf\xe9 \xff bytes").await;
    match p.udp_ask(b"anyone there?").await {
        UdpAnswer::Reply { .. } => {
            let note = if matches!(first, UdpAnswer::Reply { .. }) { "answered it" } else { "ignored it" };
            ItemOutcome::pass(ID, format!("it {note} and still answers the next client"))
        }
        UdpAnswer::Refused => ItemOutcome::fail(
            ID,
            "the server died on invalid UTF-8 (Python's decode() raises UnicodeDecodeError): nothing listens on its port any more",
        ),
        _ => ItemOutcome::fail(ID, "the server stopped answering after invalid UTF-8: it died or hung"),
    }
}
