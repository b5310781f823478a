//! The UDP client rubric: the check hosts an upper-case server and grades the datagrams a
//! student's client sends, how many sockets it uses, what it prints and how it ends.

use std::net::SocketAddr;

use socketlab_proto::check::ItemOutcome;
use socketlab_proto::{Event, Op, Role, Side, SocketRef, Transport, uppercase};

use super::ClientOpts;
use super::child::Client;
use super::probe::shown;
use crate::client::Recorder;
use crate::net;

/// Datagrams graded at most; a client that sends more is still answered up to here.
const MAX_DATAGRAMS: usize = 32;

struct Seen {
    data: Vec<u8>,
    from: SocketAddr,
    reply: Vec<u8>,
}

/// Listens on `opts.listen`, serves the client, and grades it.
pub async fn run(opts: &ClientOpts, rec: &mut Recorder) -> Result<(String, Vec<ItemOutcome>), String> {
    let socket = net::bind_udp(opts.listen).await.map_err(|e| e.to_string())?;
    let addr = socket.local_addr().map_err(|e| e.to_string())?;
    let sock = SocketRef { role: Role::Udp, ..rec.socket(Transport::Udp) };
    rec.push(|t| Event::new(t, Side::Server, sock, Op::Bind).addrs(Some(addr), None));
    super::announce("UDP", addr, opts);
    let mut client = match opts.command.is_empty() {
        true => None,
        false => Some(Client::spawn(&opts.command, addr.port())?),
    };
    let typed = opts.sentences();
    if let Some(c) = client.as_mut() {
        let mut lines = typed.clone();
        lines.push("end".to_owned());
        c.type_lines(&lines).await;
    }

    let mut seen: Vec<Seen> = Vec::new();
    let first_by = tokio::time::Instant::now() + opts.wait;
    let mut buf = vec![0u8; 64 * 1024];
    // Bounded: at most MAX_DATAGRAMS, and each wait ends at a deadline that only a datagram
    // from the client to grade moves.
    let mut by = first_by;
    while seen.len() < MAX_DATAGRAMS {
        let started = rec.now();
        let Ok(Ok((n, from))) = tokio::time::timeout_at(by, socket.recv_from(&mut buf)).await else { break };
        if !opts.takes(from.ip()) {
            // Another host's datagram: neither answered nor recorded, so it shows in no report.
            continue;
        }
        let data = buf[..n].to_vec();
        rec.push(|t| {
            Event::new(t, Side::Server, sock, Op::Recvfrom)
                .addrs(Some(addr), Some(from))
                .started(started)
                .payload(&data)
        });
        let reply = uppercase(&data).bytes;
        let t = rec.now();
        let sent = socket.send_to(&reply, from).await;
        rec.push_at(t, |t| Event::new(t, Side::Server, sock, Op::Sendto).addrs(Some(addr), Some(from)).payload(&reply));
        if sent.is_err() {
            break;
        }
        seen.push(Seen { data, from, reply });
        by = tokio::time::Instant::now() + opts.timeout;
    }
    let events = rec.take();

    let known = !opts.command.is_empty() || !opts.sentences.is_empty();
    let mut out = vec![one_datagram(&seen, known.then(|| typed[0].as_str()), opts).with_events(events)];
    let exited = match client.as_mut() {
        Some(c) => c.exited_within(opts.timeout).await.is_some(),
        None => false,
    };
    out.push(prints_reply(&seen, client.as_ref()));
    out.push(one_socket(&seen));
    out.push(ends_on_end(&seen, client.is_some(), exited, opts));
    Ok((addr.to_string(), out))
}

fn one_datagram(seen: &[Seen], typed: Option<&str>, opts: &ClientOpts) -> ItemOutcome {
    const ID: &str = "one-datagram";
    let Some(first) = seen.first() else {
        return ItemOutcome::fail(ID, format!("no datagram arrived within {} s", opts.wait.as_secs_f64()));
    };
    let d = &first.data;
    if d.ends_with(b"\n") {
        return ItemOutcome::fail(ID, format!("{} ends with a newline: send the sentence without it", shown(d)));
    }
    match typed {
        Some(t) if d == t.as_bytes() => ItemOutcome::pass(ID, format!("{} arrived as one datagram", shown(d))),
        Some(t) => {
            ItemOutcome::fail(ID, format!("{} was typed but the datagram was {}", shown(t.as_bytes()), shown(d)))
        }
        None if d.is_empty() => ItemOutcome::fail(ID, "the first datagram was empty"),
        None => ItemOutcome::pass(ID, format!("{} arrived as one datagram", shown(d))),
    }
}

fn prints_reply(seen: &[Seen], client: Option<&Client>) -> ItemOutcome {
    const ID: &str = "prints-reply";
    let Some(client) = client else {
        return ItemOutcome::skipped(ID, "its output is not visible: give the client's command after -- to grade it");
    };
    if seen.is_empty() {
        return ItemOutcome::fail(ID, "no datagram arrived, so there was no reply to print");
    }
    let output = client.output();
    match seen.iter().find(|s| !output.contains(String::from_utf8_lossy(&s.reply).as_ref())) {
        None => ItemOutcome::pass(ID, format!("it printed all {} replies", seen.len())),
        Some(s) => ItemOutcome::fail(ID, format!("the reply {} is not in its output", shown(&s.reply))),
    }
}

fn one_socket(seen: &[Seen]) -> ItemOutcome {
    const ID: &str = "one-socket";
    if seen.len() < 2 {
        return ItemOutcome::fail(
            ID,
            format!("{} sentence(s) arrived: it should send one per line until end", seen.len()),
        );
    }
    let mut ports: Vec<u16> = seen.iter().map(|s| s.from.port()).collect();
    ports.dedup();
    if ports.len() == 1 {
        ItemOutcome::pass(ID, format!("all {} sentences came from {}", seen.len(), seen[0].from))
    } else {
        ItemOutcome::fail(
            ID,
            format!("the sentences came from ports {ports:?}: create the socket once, before the loop"),
        )
    }
}

fn ends_on_end(seen: &[Seen], ran: bool, exited: bool, opts: &ClientOpts) -> ItemOutcome {
    const ID: &str = "ends-on-end";
    if seen.iter().any(|s| s.data == b"end") {
        return ItemOutcome::fail(ID, "it sent \"end\" to the server instead of stopping");
    }
    match (ran, exited) {
        (false, _) => ItemOutcome::skipped(ID, "give the client's command after -- to see it end"),
        (true, true) => ItemOutcome::pass(ID, "it exited after end was typed"),
        (true, false) => {
            ItemOutcome::fail(ID, format!("it was still running {} ms after end was typed", opts.timeout.as_millis()))
        }
    }
}
