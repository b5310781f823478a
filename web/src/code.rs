//! The code panel: Python and Rust versions of the lesson's four programs, each line tagged
//! with the socket calls it makes, and the rule that picks the line behind a timeline event.

use socketlab_proto::{Event, Op, Side, Transport};

/// The language shown in the code panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CodeLang {
    #[default]
    Python,
    Rust,
}

/// One program: its lines, each with the space-separated tags of the calls it makes.
#[derive(Debug)]
pub struct Program {
    pub name: &'static str,
    pub lines: &'static [(&'static str, &'static str)],
}

const PY_UDP_CLIENT: Program = Program {
    name: "udp_client.py",
    lines: &[
        ("from socket import socket, AF_INET, SOCK_DGRAM", ""),
        ("server_address = (\"127.0.0.1\", 12000)", ""),
        ("client = socket(AF_INET, SOCK_DGRAM)", "socket"),
        ("while True:", ""),
        ("    sentence = input(\"Input lowercase sentence:\")", ""),
        ("    if sentence == \"end\":", ""),
        ("        break", ""),
        ("    client.sendto(sentence.encode(), server_address)", "sendto connect"),
        ("    reply, server = client.recvfrom(2048)", "recvfrom"),
        ("    print(reply.decode())", ""),
        ("client.close()", "close"),
    ],
};

const PY_UDP_SERVER: Program = Program {
    name: "udp_server.py",
    lines: &[
        ("from socket import socket, AF_INET, SOCK_DGRAM", ""),
        ("server = socket(AF_INET, SOCK_DGRAM)", "socket"),
        ("server.bind((\"\", 12000))", "bind"),
        ("print(\"The server is ready to receive\")", ""),
        ("while True:", ""),
        ("    message, client_address = server.recvfrom(2048)", "recvfrom"),
        ("    reply = message.decode().upper()", ""),
        ("    server.sendto(reply.encode(), client_address)", "sendto"),
    ],
};

const PY_TCP_CLIENT: Program = Program {
    name: "tcp_client.py",
    lines: &[
        ("from socket import socket, AF_INET, SOCK_STREAM", ""),
        ("client = socket(AF_INET, SOCK_STREAM)", "socket"),
        ("client.connect((\"127.0.0.1\", 12000))", "connect"),
        ("sentence = input(\"Input lowercase sentence:\")", ""),
        ("client.send(sentence.encode())", "send"),
        ("reply = client.recv(1024)", "recv"),
        ("print(\"From Server:\", reply.decode())", ""),
        ("client.close()", "close"),
    ],
};

const PY_TCP_SERVER: Program = Program {
    name: "tcp_server.py",
    lines: &[
        ("from socket import socket, AF_INET, SOCK_STREAM", ""),
        ("welcome = socket(AF_INET, SOCK_STREAM)", "socket"),
        ("welcome.bind((\"\", 12000))", "bind"),
        ("welcome.listen(1)", "listen"),
        ("print(\"The server is ready to receive\")", ""),
        ("while True:", ""),
        ("    connection, address = welcome.accept()", "accept"),
        ("    sentence = connection.recv(1024).decode()", "recv"),
        ("    connection.send(sentence.upper().encode())", "send"),
        ("    connection.close()", "close shutdown"),
    ],
};

const RS_UDP_CLIENT: Program = Program {
    name: "udp_client.rs",
    lines: &[
        ("use std::io::stdin;", ""),
        ("use std::net::UdpSocket;", ""),
        ("", ""),
        ("fn main() -> std::io::Result<()> {", ""),
        ("    let client = UdpSocket::bind(\"0.0.0.0:0\")?;", "socket"),
        ("    for line in stdin().lines() {", ""),
        ("        let sentence = line?;", ""),
        ("        if sentence == \"end\" {", ""),
        ("            break;", ""),
        ("        }", ""),
        ("        client.send_to(sentence.as_bytes(), \"127.0.0.1:12000\")?;", "sendto connect"),
        ("        let mut buf = [0u8; 2048];", ""),
        ("        let (n, _server) = client.recv_from(&mut buf)?;", "recvfrom"),
        ("        println!(\"{}\", String::from_utf8_lossy(&buf[..n]));", ""),
        ("    }", ""),
        ("    drop(client); // close()", "close"),
        ("    Ok(())", ""),
        ("}", ""),
    ],
};

const RS_UDP_SERVER: Program = Program {
    name: "udp_server.rs",
    lines: &[
        ("use std::net::UdpSocket;", ""),
        ("", ""),
        ("fn main() -> std::io::Result<()> {", ""),
        ("    let server = UdpSocket::bind(\"0.0.0.0:12000\")?;", "socket bind"),
        ("    println!(\"The server is ready to receive\");", ""),
        ("    let mut buf = [0u8; 2048];", ""),
        ("    loop {", ""),
        ("        let (n, client) = server.recv_from(&mut buf)?;", "recvfrom"),
        ("        let reply = String::from_utf8_lossy(&buf[..n]).to_uppercase();", ""),
        ("        server.send_to(reply.as_bytes(), client)?;", "sendto"),
        ("    }", ""),
        ("}", ""),
    ],
};

const RS_TCP_CLIENT: Program = Program {
    name: "tcp_client.rs",
    lines: &[
        ("use std::io::{stdin, Read, Write};", ""),
        ("use std::net::TcpStream;", ""),
        ("", ""),
        ("fn main() -> std::io::Result<()> {", ""),
        ("    let mut client = TcpStream::connect(\"127.0.0.1:12000\")?;", "socket connect"),
        ("    let mut sentence = String::new();", ""),
        ("    stdin().read_line(&mut sentence)?;", ""),
        ("    client.write_all(sentence.trim_end().as_bytes())?;", "send"),
        ("    let mut reply = String::new();", ""),
        ("    client.read_to_string(&mut reply)?;", "recv"),
        ("    println!(\"From Server: {reply}\");", ""),
        ("    drop(client); // close()", "close"),
        ("    Ok(())", ""),
        ("}", ""),
    ],
};

const RS_TCP_SERVER: Program = Program {
    name: "tcp_server.rs",
    lines: &[
        ("use std::io::{Read, Write};", ""),
        ("use std::net::TcpListener;", ""),
        ("", ""),
        ("fn main() -> std::io::Result<()> {", ""),
        ("    let welcome = TcpListener::bind(\"0.0.0.0:12000\")?; // socket, bind, listen", "socket bind listen"),
        ("    println!(\"The server is ready to receive\");", ""),
        ("    loop {", ""),
        ("        let (mut connection, _address) = welcome.accept()?;", "accept"),
        ("        let mut buf = [0u8; 1024];", ""),
        ("        let n = connection.read(&mut buf)?;", "recv"),
        ("        let reply = String::from_utf8_lossy(&buf[..n]).to_uppercase();", ""),
        ("        connection.write_all(reply.as_bytes())?;", "send"),
        ("        drop(connection); // close()", "close shutdown"),
        ("    }", ""),
        ("}", ""),
    ],
};

/// The client and server programs for a protocol in a language.
pub fn programs(lang: CodeLang, transport: Transport) -> [&'static Program; 2] {
    match (lang, transport) {
        (CodeLang::Python, Transport::Udp) => [&PY_UDP_CLIENT, &PY_UDP_SERVER],
        (CodeLang::Python, Transport::Tcp) => [&PY_TCP_CLIENT, &PY_TCP_SERVER],
        (CodeLang::Rust, Transport::Udp) => [&RS_UDP_CLIENT, &RS_UDP_SERVER],
        (CodeLang::Rust, Transport::Tcp) => [&RS_TCP_CLIENT, &RS_TCP_SERVER],
    }
}

/// The side and call tag behind an event, or `None` when the kernel acts alone (an ACK).
pub fn cause(e: &Event, previous: &[Event]) -> Option<(Side, &'static str)> {
    let tag = match e.op {
        Op::Segment => {
            let flags = e.segment.as_ref().map_or("", |s| s.flags.as_str());
            return match (e.socket.transport, flags) {
                (Transport::Udp, f) if f.starts_with("ICMP") => None,
                (Transport::Udp, _) => Some((e.side, "sendto")),
                (_, f) if f.starts_with("SYN,ACK") => Some((e.side, "accept")),
                (_, f) if f.starts_with("SYN") => Some((e.side, "connect")),
                (_, f) if f.starts_with("PSH") => Some((e.side, "send")),
                (_, f) if f.starts_with("FIN") => Some((e.side, "close")),
                (_, f) if f.starts_with("RST") => None,
                // The ACK that completes the handshake is still connect()'s doing.
                (_, "ACK") if handshake_pending(previous) => Some((e.side, "connect")),
                _ => None,
            };
        }
        op => op.name(),
    };
    Some((e.side, tag))
}

fn handshake_pending(previous: &[Event]) -> bool {
    let last = previous.iter().rev().find(|p| p.op == Op::Segment);
    last.and_then(|p| p.segment.as_ref()).is_some_and(|s| s.flags == "SYN,ACK")
}

/// The (program index: 0 client, 1 server; line index) to highlight for event `step`.
pub fn line_for(lang: CodeLang, events: &[Event], step: usize) -> Option<(usize, usize)> {
    let e = events.get(step)?;
    let (side, tag) = cause(e, &events[..step])?;
    let which = if side == Side::Client { 0 } else { 1 };
    let program = programs(lang, e.socket.transport)[which];
    let line = program.lines.iter().position(|(_, tags)| tags.split(' ').any(|t| t == tag))?;
    Some((which, line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketlab_proto::{Flag, Role, Segment, SocketRef};

    fn ev(side: Side, transport: Transport, op: Op, flags: Option<&str>) -> Event {
        let role = if side == Side::Client { Role::Client } else { Role::Connection };
        let mut e = Event::new(0, side, SocketRef { id: 1, role, transport }, op);
        if let Some(f) = flags {
            e.segment = Some(Segment::inferred(f, 0));
            e.flag(Flag::Inferred);
        }
        e
    }

    fn line_text(lang: CodeLang, events: &[Event], step: usize) -> Option<&'static str> {
        let (which, line) = line_for(lang, events, step)?;
        Some(programs(lang, events[step].socket.transport)[which].lines[line].0.trim())
    }

    #[test]
    fn each_event_points_at_the_call_that_caused_it() {
        use Transport::{Tcp, Udp};
        let (c, s) = (Side::Client, Side::Server);
        let py = CodeLang::Python;
        let table: Vec<(Vec<Event>, Option<&str>)> = vec![
            (vec![ev(s, Udp, Op::Recvfrom, None)], Some("message, client_address = server.recvfrom(2048)")),
            (vec![ev(c, Udp, Op::Sendto, None)], Some("client.sendto(sentence.encode(), server_address)")),
            (vec![ev(c, Udp, Op::Segment, Some(""))], Some("client.sendto(sentence.encode(), server_address)")),
            (vec![ev(s, Tcp, Op::Accept, None)], Some("connection, address = welcome.accept()")),
            (vec![ev(c, Tcp, Op::Segment, Some("SYN"))], Some("client.connect((\"127.0.0.1\", 12000))")),
            (vec![ev(s, Tcp, Op::Segment, Some("SYN,ACK"))], Some("connection, address = welcome.accept()")),
            (
                vec![ev(s, Tcp, Op::Segment, Some("SYN,ACK")), ev(c, Tcp, Op::Segment, Some("ACK"))],
                Some("client.connect((\"127.0.0.1\", 12000))"),
            ),
            (vec![ev(s, Tcp, Op::Segment, Some("FIN,ACK"))], Some("connection.close()")),
            (vec![ev(s, Tcp, Op::Segment, Some("FIN,ACK")), ev(c, Tcp, Op::Segment, Some("ACK"))], None),
            (vec![ev(c, Tcp, Op::Recv, None)], Some("reply = client.recv(1024)")),
        ];
        for (events, want) in table {
            let step = events.len() - 1;
            assert_eq!(line_text(py, &events, step), want, "{:?}", events[step]);
        }
        let rust = line_text(CodeLang::Rust, &[ev(s, Udp, Op::Recvfrom, None)], 0);
        assert_eq!(rust, Some("let (n, client) = server.recv_from(&mut buf)?;"));
    }

    #[test]
    fn every_program_has_a_line_for_each_call_its_side_makes() {
        for lang in [CodeLang::Python, CodeLang::Rust] {
            let [uc, us] = programs(lang, Transport::Udp);
            let [tc, ts] = programs(lang, Transport::Tcp);
            for (p, tags) in [
                (uc, &["socket", "sendto", "recvfrom", "close"][..]),
                (us, &["socket", "bind", "recvfrom", "sendto"][..]),
                (tc, &["socket", "connect", "send", "recv", "close"][..]),
                (ts, &["socket", "bind", "listen", "accept", "recv", "send", "close"][..]),
            ] {
                for tag in tags {
                    assert!(p.lines.iter().any(|(_, t)| t.split(' ').any(|x| x == *tag)), "{} lacks {tag}", p.name);
                }
            }
        }
    }
}
