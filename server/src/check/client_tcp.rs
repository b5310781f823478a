//! The TCP client rubric: the check hosts a welcome socket, answers one connection the way the
//! lesson's server does, and grades whether the client connects, sends, reads and closes.

use std::net::SocketAddr;

use socketlab_proto::check::ItemOutcome;
use socketlab_proto::{Event, Flag, Op, Role, Side, SocketRef, Transport, uppercase};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ClientOpts;
use super::child::Client;
use super::probe::{MAX_REPLY, ReadLog, TcpEnd, shown};
use crate::client::Recorder;
use crate::net;

/// Listens on `opts.listen`, serves one client, and grades it.
pub async fn run(opts: &ClientOpts, rec: &mut Recorder) -> Result<(String, Vec<ItemOutcome>), String> {
    let listener = net::bind_tcp(opts.listen, 1).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let welcome = SocketRef { role: Role::Welcome, ..rec.socket(Transport::Tcp) };
    rec.push(|t| Event::new(t, Side::Server, welcome, Op::Listen).addrs(Some(addr), None));
    super::announce("TCP", addr, opts);
    let mut client = match opts.command.is_empty() {
        true => None,
        false => Some(Client::spawn(&opts.command, addr.port())?),
    };
    let typed = opts.sentences().swap_remove(0);
    if let Some(c) = client.as_mut() {
        c.type_lines(std::slice::from_ref(&typed)).await;
    }
    let known = (!opts.command.is_empty() || !opts.sentences.is_empty()).then_some(typed.as_str());

    let started = rec.now();
    let (mut stream, peer) = match tokio::time::timeout(opts.wait, accept_client(&listener, opts)).await {
        Ok(Ok(x)) => x,
        _ => {
            let reason = format!("no connection within {} s", opts.wait.as_secs_f64());
            let skip = |id| ItemOutcome::skipped(id, "it never connected");
            let events = rec.take();
            return Ok((
                addr.to_string(),
                vec![
                    ItemOutcome::fail("connects", reason).with_events(events),
                    skip("sends"),
                    skip("reads-reply"),
                    skip("closes"),
                ],
            ));
        }
    };
    let conn = SocketRef { role: Role::Connection, ..rec.socket(Transport::Tcp) };
    rec.push(|t| {
        let mut e = Event::new(t, Side::Server, welcome, Op::Accept).addrs(Some(addr), Some(peer)).started(started);
        e.spawned = Some(conn);
        e
    });
    let mut out = vec![ItemOutcome::pass("connects", format!("a connection came from {peer}")).with_events(rec.take())];
    let ev = |t, op| Event::new(t, Side::Server, conn, op).addrs(Some(addr), Some(peer));

    // Like the lesson's server: one recv(1024), the upper-cased reply, then our FIN.
    let started = rec.now();
    let mut buf = vec![0u8; 1024];
    let got = tokio::time::timeout(opts.timeout, stream.read(&mut buf)).await;
    let data = match &got {
        Ok(Ok(n)) => buf[..*n].to_vec(),
        _ => Vec::new(),
    };
    rec.push(|t| {
        let e = ev(t, Op::Recv).started(started).payload(&data);
        if matches!(got, Ok(Ok(_))) { e } else { e.with_flag(Flag::Failed).detail("nothing arrived in time") }
    });
    out.push(sends(&data, matches!(got, Ok(Ok(0))), known, opts).with_events(rec.take()));

    let reply = uppercase(&data).bytes;
    if !data.is_empty() {
        let t = rec.now();
        let _ = stream.write_all(&reply).await;
        rec.push_at(t, |t| ev(t, Op::Send).payload(&reply));
    }
    let t = rec.now();
    let _ = stream.shutdown().await;
    rec.push_at(t, |t| ev(t, Op::Shutdown).detail("the server's FIN, as close() would send"));
    let (end, flooded) = read_to_end(&mut stream, opts, rec, conn, addr, peer).await;
    if let Some(c) = client.as_mut() {
        // Its output is complete once it exits; one that never does is graded on what it printed.
        let _ = c.exited_within(opts.timeout).await;
    }
    let events = rec.take();
    out.push(reads_reply(&data, &reply, end, client.as_ref()).with_events(events.clone()));
    out.push(closes(end, flooded, opts).with_events(events));
    Ok((addr.to_string(), out))
}

/// Accepts the first connection from the client to grade; any other host's is closed
/// unrecorded. The caller's deadline bounds the loop.
async fn accept_client(
    listener: &tokio::net::TcpListener,
    opts: &ClientOpts,
) -> std::io::Result<(TcpStream, SocketAddr)> {
    loop {
        let (stream, peer) = listener.accept().await?;
        if opts.takes(peer.ip()) {
            return Ok((stream, peer));
        }
        drop(stream);
    }
}

/// Reads what the client sends after the reply until it closes; true when it sent so much
/// that the check stopped reading.
async fn read_to_end(
    stream: &mut TcpStream,
    opts: &ClientOpts,
    rec: &mut Recorder,
    conn: SocketRef,
    addr: SocketAddr,
    peer: SocketAddr,
) -> (TcpEnd, bool) {
    let deadline = tokio::time::Instant::now() + opts.timeout;
    let mut buf = vec![0u8; 4096];
    let mut log = ReadLog::default();
    let ev = |t, op| Event::new(t, Side::Server, conn, op).addrs(Some(addr), Some(peer));
    // Bytes after the sentence are read and dropped; the deadline bounds the loop, and reading
    // stops once the client has sent too much.
    loop {
        let started = rec.now();
        let (end, detail) = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) => (TcpEnd::Fin, "the client closed the connection (FIN)".to_owned()),
            Ok(Ok(n)) => {
                if log.count(n) {
                    rec.push(|t| ev(t, Op::Recv).started(started).payload(&buf[..n]));
                }
                match log.full() {
                    Some(why) => (TcpEnd::Open, why),
                    None => continue,
                }
            }
            Ok(Err(e)) => (TcpEnd::Reset, format!("the connection was reset: {e}")),
            Err(_) => (TcpEnd::Open, format!("still open after {} ms", opts.timeout.as_millis())),
        };
        if let Some(summary) = log.summary() {
            rec.push(|t| ev(t, Op::Recv).detail(summary));
        }
        rec.push(|t| {
            let e = ev(t, Op::Recv).started(started).detail(detail);
            if end == TcpEnd::Fin { e.payload(&[]) } else { e.with_flag(Flag::Failed) }
        });
        return (end, log.full().is_some());
    }
}

fn sends(data: &[u8], closed: bool, typed: Option<&str>, opts: &ClientOpts) -> ItemOutcome {
    const ID: &str = "sends";
    if data.is_empty() {
        let why = if closed {
            "it closed without sending".to_owned()
        } else {
            format!("nothing arrived within {} ms", opts.timeout.as_millis())
        };
        return ItemOutcome::fail(ID, why);
    }
    if data.ends_with(b"\n") {
        return ItemOutcome::fail(ID, format!("{} ends with a newline: send the sentence without it", shown(data)));
    }
    match typed {
        Some(t) if data != t.as_bytes() => {
            ItemOutcome::fail(ID, format!("{} was typed but {} arrived", shown(t.as_bytes()), shown(data)))
        }
        _ => ItemOutcome::pass(ID, format!("{} arrived", shown(data))),
    }
}

fn reads_reply(data: &[u8], reply: &[u8], end: TcpEnd, client: Option<&Client>) -> ItemOutcome {
    const ID: &str = "reads-reply";
    if data.is_empty() {
        return ItemOutcome::skipped(ID, "it sent no sentence, so there was no reply");
    }
    if end == TcpEnd::Reset {
        return ItemOutcome::fail(ID, "it closed without reading the reply: closing with unread bytes sends RST");
    }
    match (client, end) {
        (Some(c), _) if c.output().contains(String::from_utf8_lossy(reply).as_ref()) => {
            ItemOutcome::pass(ID, format!("it printed {}", shown(reply)))
        }
        (Some(_), _) => ItemOutcome::fail(ID, format!("the reply {} is not in its output", shown(reply))),
        (None, TcpEnd::Fin) => {
            ItemOutcome::pass(ID, "it read the reply before closing (an unread reply would have reset the connection)")
        }
        (None, _) => ItemOutcome::skipped(
            ID,
            "cannot tell: it neither closed nor is its output visible (give its command after --)",
        ),
    }
}

fn closes(end: TcpEnd, flooded: bool, opts: &ClientOpts) -> ItemOutcome {
    const ID: &str = "closes";
    if flooded {
        return ItemOutcome::fail(
            ID,
            format!("it kept sending after the reply (more than {MAX_REPLY} bytes) instead of calling close()"),
        );
    }
    match end {
        TcpEnd::Fin => ItemOutcome::pass(ID, "it closed the connection (FIN)"),
        TcpEnd::Reset => ItemOutcome::pass(ID, "it closed the connection (with RST: see reads-reply)"),
        TcpEnd::Open => ItemOutcome::fail(
            ID,
            format!(
                "the connection was still open {} ms after the reply and the server's FIN: call close()",
                opts.timeout.as_millis()
            ),
        ),
    }
}
