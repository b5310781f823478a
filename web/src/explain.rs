//! One sentence per event for the inspector: what just happened, in the lesson's terms.

use socketlab_proto::{Event, Flag, Op, Role, Side, Transport};

use crate::i18n::{Lang, fill};

fn who(lang: Lang, e: &Event) -> &'static str {
    match (lang, e.side) {
        (Lang::En, Side::Client) => "The client",
        (Lang::En, Side::Server) => "The server",
        (Lang::Zh, Side::Client) => "客户端",
        (Lang::Zh, Side::Server) => "服务器",
    }
}

fn port(a: Option<std::net::SocketAddr>) -> String {
    a.map_or_else(|| "?".to_owned(), |a| a.port().to_string())
}

/// Explains `e` in one or two sentences.
pub fn explain(lang: Lang, e: &Event) -> String {
    let bytes = e.bytes.unwrap_or(0).to_string();
    let who = who(lang, e);
    let local = port(e.local);
    let peer = port(e.peer);
    let vals = [("who", who), ("bytes", bytes.as_str()), ("local", local.as_str()), ("peer", peer.as_str())];
    let en_zh = |en: &str, zh: &str| fill(if lang == Lang::En { en } else { zh }, &vals);
    let mut text = match e.op {
        Op::Socket => en_zh(
            "{who} creates a socket. It has no port yet; the kernel picks one when it first sends or connects.",
            "{who}创建了一个套接字。它还没有端口号；第一次发送或连接时，内核会为它选一个。",
        ),
        Op::Bind => en_zh(
            "{who} binds its socket to port {local}, so clients know where to send.",
            "{who}把套接字绑定到端口 {local}，这样客户端就知道往哪里发送。",
        ),
        Op::Listen => en_zh(
            "The welcome socket starts listening on port {local}: the kernel now completes handshakes for it.",
            "欢迎套接字开始在端口 {local} 上监听：从现在起内核会替它完成握手。",
        ),
        Op::Accept => en_zh(
            "accept() returns: the handshake with port {peer} is complete, and the welcome socket hands the client to a new connection socket.",
            "accept() 返回：与端口 {peer} 的握手已经完成，欢迎套接字把这个客户交给一个新的连接套接字。",
        ),
        Op::Connect if e.socket.transport == Transport::Udp => en_zh(
            "connect() on a UDP socket sends nothing: it only fixes the peer (port {peer}).",
            "对 UDP 套接字调用 connect() 不会发送任何东西：它只是固定了对端（端口 {peer}）。",
        ),
        Op::Connect => en_zh(
            "connect() returns once the three-way handshake with port {peer} is done; the client's port is {local}.",
            "三次握手完成后 connect() 返回；服务器端口是 {peer}，客户端端口是 {local}。",
        ),
        Op::Send => en_zh(
            "{who} hands {bytes} bytes to TCP with send(); TCP delivers them as a byte stream, in order.",
            "{who}用 send() 把 {bytes} 个字节交给 TCP；TCP 按顺序把它们作为字节流送达。",
        ),
        Op::Recv if e.bytes == Some(0) => en_zh(
            "recv() returns 0 bytes: the other side closed its half of the connection.",
            "recv() 返回 0 个字节：对方关闭了它那一半的连接。",
        ),
        Op::Recv => en_zh("{who} reads {bytes} bytes with recv().", "{who}用 recv() 读到了 {bytes} 个字节。"),
        Op::Sendto => en_zh(
            "{who} sends a {bytes}-byte datagram from port {local} to port {peer}. UDP sends it at once, with no connection.",
            "{who}从端口 {local} 向端口 {peer} 发送了一个 {bytes} 字节的数据报。UDP 不建立连接，直接发送。",
        ),
        Op::Recvfrom => en_zh(
            "recvfrom() returns a {bytes}-byte datagram and the sender's address (port {peer}), which is where the reply goes.",
            "recvfrom() 返回一个 {bytes} 字节的数据报以及发送方地址（端口 {peer}），回复就发往那里。",
        ),
        Op::Shutdown => en_zh(
            "{who} shuts down its sending side: TCP sends FIN, but the socket can still read.",
            "{who}关闭了发送方向：TCP 发出 FIN，但这个套接字仍然可以读。",
        ),
        Op::Close if e.socket.role == Role::Welcome || e.peer.is_none() => {
            en_zh("{who} closes its socket.", "{who}关闭了套接字。")
        }
        Op::Close if e.socket.transport == Transport::Tcp => en_zh(
            "{who} closes the connection socket; TCP sends FIN to end its half of the connection.",
            "{who}关闭了连接套接字；TCP 发出 FIN，结束它这一半的连接。",
        ),
        Op::Close => en_zh("{who} closes its socket. UDP sends nothing.", "{who}关闭了套接字。UDP 不发送任何东西。"),
        Op::Segment => segment(lang, e, &vals),
    };
    if let Some(detail) = &e.detail {
        text.push(' ');
        text.push_str(detail);
    }
    text
}

fn segment(lang: Lang, e: &Event, vals: &[(&str, &str)]) -> String {
    let flags = e.segment.as_ref().map_or("", |s| s.flags.as_str());
    let len = e.segment.as_ref().map_or(0, |s| s.len).to_string();
    let mut vals = vals.to_vec();
    vals.push(("len", &len));
    let (en, zh) = match (e.socket.transport, flags) {
        (_, f) if f.starts_with("ICMP") => (
            "ICMP port unreachable: nothing is bound to UDP port {local}, so the server's kernel tells the client. UDP itself never answers.",
            "ICMP 端口不可达：UDP 端口 {local} 上没有绑定任何套接字，所以服务器的内核通知了客户端。UDP 本身从不回答。",
        ),
        (Transport::Udp, _) => (
            "A UDP datagram with {len} bytes of data travels from port {local} to port {peer}.",
            "一个带有 {len} 字节数据的 UDP 数据报从端口 {local} 发往端口 {peer}。",
        ),
        (_, "SYN") => (
            "SYN: the client asks to open a connection (first step of the three-way handshake).",
            "SYN：客户端请求建立连接（三次握手的第一步）。",
        ),
        (_, "SYN,ACK") => (
            "SYN-ACK: the server's kernel agrees and acknowledges the SYN (second step).",
            "SYN-ACK：服务器内核同意并确认了 SYN（第二步）。",
        ),
        (_, "RST,ACK") => (
            "RST: nobody listens on port {local}, so the kernel refuses the connection.",
            "RST：端口 {local} 上没有人监听，所以内核拒绝了连接。",
        ),
        (_, f) if f.starts_with("PSH") => (
            "A segment carries {len} bytes of data from port {local} to port {peer}.",
            "一个报文段把 {len} 字节数据从端口 {local} 送到端口 {peer}。",
        ),
        (_, f) if f.starts_with("FIN") => (
            "FIN: port {local} has nothing more to send and closes its half of the connection.",
            "FIN：端口 {local} 没有更多数据要发送，关闭了它那一半的连接。",
        ),
        _ => (
            "ACK: port {local}'s kernel acknowledges what it received; no line of code sends this.",
            "ACK：端口 {local} 的内核确认收到的数据；没有哪行代码发送它。",
        ),
    };
    let mut text = fill(if lang == Lang::En { en } else { zh }, &vals);
    text.push(' ');
    text.push_str(crate::i18n::t(lang, if e.has(Flag::Inferred) { "inferred_note" } else { "captured_note" }));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketlab_proto::{Segment, SocketRef};

    fn ev(side: Side, transport: Transport, op: Op) -> Event {
        let a = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
        let b = std::net::SocketAddr::from(([127, 0, 0, 1], 12000));
        let (l, p) = if side == Side::Client { (a, b) } else { (b, a) };
        Event::new(0, side, SocketRef { id: 1, role: Role::Udp, transport }, op).addrs(Some(l), Some(p))
    }

    #[test]
    fn sentences_name_ports_sizes_and_sides() {
        let mut e = ev(Side::Server, Transport::Udp, Op::Recvfrom);
        e.bytes = Some(5);
        assert_eq!(
            explain(Lang::En, &e),
            "recvfrom() returns a 5-byte datagram and the sender's address (port 40000), which is where the reply goes."
        );
        assert!(explain(Lang::Zh, &e).contains("40000"));

        let mut syn = ev(Side::Client, Transport::Tcp, Op::Segment).with_flag(Flag::Inferred);
        syn.segment = Some(Segment::inferred("SYN", 0));
        let text = explain(Lang::En, &syn);
        assert!(text.starts_with("SYN: the client asks") && text.ends_with("not captured."), "{text}");

        let detailed = ev(Side::Server, Transport::Udp, Op::Recvfrom).detail("Extra words.");
        assert!(explain(Lang::En, &detailed).ends_with(" Extra words."));
    }

    #[test]
    fn every_op_has_an_explanation_without_holes() {
        for op in [
            Op::Socket,
            Op::Bind,
            Op::Listen,
            Op::Accept,
            Op::Connect,
            Op::Send,
            Op::Recv,
            Op::Sendto,
            Op::Recvfrom,
            Op::Shutdown,
            Op::Close,
            Op::Segment,
        ] {
            for lang in [Lang::En, Lang::Zh] {
                for tr in [Transport::Udp, Transport::Tcp] {
                    let text = explain(lang, &ev(Side::Client, tr, op));
                    assert!(!text.is_empty() && !text.contains('{'), "{op:?} {lang:?}: {text}");
                }
            }
        }
    }
}
