//! The four textbook programs against real peers: the Python programs that behave like the
//! lesson's, `nc`, and raw sockets, all on 127.0.0.1 with ports the kernel picks.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use support::*;

/// What Python's `str.upper()` makes of each line, asked of Python itself.
fn python_upper(lines: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", "import sys\nfor l in sys.stdin.read().split('\\n')[:-1]: print(l.upper())"]);
    let input = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let (status, out, _) = run_with_input(cmd, input.as_bytes());
    assert!(status.success());
    out.lines().map(str::to_owned).collect()
}

const SENTENCES: &[&str] = &["hello world", "straße", "ﬁne ﬂow", "σοφία ΐ", "привет", "你好 socket", "émoji 🚀 ok"];

#[test]
fn python_udp_client_talks_to_our_udp_server() {
    let (_server, port) = socketlab_server(&["udp-server"]);
    let mut client = python("udp_client.py");
    client.arg(port.to_string());
    let input = SENTENCES.iter().map(|s| format!("{s}\n")).collect::<String>() + "end\n";
    let (status, out, err) = run_with_input(client, input.as_bytes());
    assert!(status.success(), "python client failed: {err}");
    let replies: Vec<String> = out
        .split("Input lowercase sentence:")
        .map(str::trim_end)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(replies, python_upper(SENTENCES));
}

#[test]
fn python_tcp_client_talks_to_our_tcp_server() {
    let (_server, port) = socketlab_server(&["tcp-server"]);
    let want = python_upper(SENTENCES);
    for (sentence, want) in SENTENCES.iter().zip(want) {
        let mut client = python("tcp_client.py");
        client.arg(port.to_string());
        let (status, out, err) = run_with_input(client, format!("{sentence}\n").as_bytes());
        assert!(status.success(), "python client failed: {err}");
        // Python's print("From Server: ", x) puts two spaces after the colon.
        assert_eq!(out, format!("Input lowercase sentence:From Server:  {want}"));
    }
}

#[test]
fn our_udp_client_talks_to_python_udp_server() {
    let (server, port) = python_server("udp_server.py");
    let mut client = socketlab();
    client.args(["udp-client", "--port", &port.to_string(), "--timeout", "5"]);
    let input = SENTENCES.iter().map(|s| format!("{s}\n")).collect::<String>() + "end\n";
    let (status, out, err) = run_with_input(client, input.as_bytes());
    assert!(status.success(), "udp-client failed: {err}");
    // No prompts: stdin is not a terminal.
    assert_eq!(out.lines().map(str::to_owned).collect::<Vec<_>>(), python_upper(SENTENCES));
    assert_eq!(server.line(), "receive message: hello world");
}

#[test]
fn our_tcp_client_talks_to_python_tcp_server() {
    let (_server, port) = python_server("tcp_server.py");
    for (sentence, want) in SENTENCES.iter().zip(python_upper(SENTENCES)) {
        let mut client = socketlab();
        client.args(["tcp-client", "--port", &port.to_string(), "--message", sentence]);
        let (status, out, err) = run_with_input(client, b"");
        assert!(status.success(), "tcp-client failed: {err}");
        assert_eq!(out, format!("From Server: {want}"));
    }
    // Without --message the sentence comes from stdin.
    let mut client = socketlab();
    client.args(["tcp-client", "--port", &port.to_string()]);
    let (status, out, _) = run_with_input(client, b"from stdin\n");
    assert!(status.success());
    assert_eq!(out, "From Server: FROM STDIN");
}

#[test]
fn nc_works_against_both_servers() {
    let (_udp, uport) = socketlab_server(&["udp-server"]);
    let mut nc = Command::new("nc");
    nc.args(["-u", "-w", "2", "127.0.0.1", &uport.to_string()]);
    let (_, out, err) = run_with_input(nc, b"over udp\n");
    assert_eq!(out, "OVER UDP", "nc -u stderr: {err}");

    let (_tcp, tport) = socketlab_server(&["tcp-server"]);
    let mut nc = Command::new("nc");
    nc.args(["-w", "5", "127.0.0.1", &tport.to_string()]);
    let (status, out, err) = run_with_input(nc, b"over tcp\n");
    assert!(status.success(), "nc failed: {err}");
    assert_eq!(out, "OVER TCP");
}

#[test]
fn invalid_utf8_is_answered_and_the_server_keeps_serving() {
    let (server, port) = socketlab_server(&["udp-server"]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    sock.send_to(b"caf\xe9 ok \xff", ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"CAF\xe9 OK \xff", "ASCII upper-cased, other bytes untouched");
    let log = server.line();
    assert!(log.contains("invalid UTF-8") && log.contains("position 3"), "log: {log}");

    // The next client is still served, where the lesson's server would have died.
    let mut client = python("udp_client.py");
    client.arg(port.to_string());
    let (status, out, _) = run_with_input(client, b"still alive\nend\n");
    assert!(status.success());
    assert!(out.contains("STILL ALIVE"), "{out}");

    // The same bytes kill the Python server, which is the lesson's behaviour.
    let (mut py, pport) = python_server("udp_server.py");
    sock.send_to(b"caf\xe9", ("127.0.0.1", pport)).unwrap();
    let status = py.wait();
    assert!(!status.success());
    assert!(py.rest_of_stderr().join("\n").contains("UnicodeDecodeError"));

    // The TCP server survives them too.
    let (tcp, tport) = socketlab_server(&["tcp-server"]);
    let mut s = TcpStream::connect(("127.0.0.1", tport)).unwrap();
    s.write_all(b"\xfe\xfftcp").unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"\xfe\xffTCP");
    assert!(tcp.line().contains("invalid UTF-8"));
}

#[test]
fn udp_datagrams_are_truncated_at_2048_and_reported() {
    let (server, port) = socketlab_server(&["udp-server", "--trace"]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    sock.send_to(&[b'a'; 3000], ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 8192];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(n, 2048, "recvfrom(2048) keeps 2048 bytes");
    assert!(buf[..n].iter().all(|&b| b == b'A'));
    assert!(server.line().contains("[truncated: 3000 bytes arrived]"));
    let _bind = server.err_line();
    let recv: serde_json::Value = serde_json::from_str(&server.err_line()).unwrap();
    assert_eq!(recv["op"], "recvfrom");
    assert_eq!(recv["bytes"], 2048);
    assert_eq!(recv["wire_bytes"], 3000);
    assert_eq!(recv["flags"][0], "truncated");

    // Exactly 2048 bytes fit and are not reported.
    sock.send_to(&[b'b'; 2048], ("127.0.0.1", port)).unwrap();
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(n, 2048);
    assert!(!server.line().contains("truncated"));
}

#[test]
fn tcp_reads_once_at_1024_and_reports_the_rest() {
    let (server, port) = socketlab_server(&["tcp-server"]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&[b'x'; 1500]).unwrap();
    let mut reply = [0u8; 4096];
    let mut got = 0;
    // The server sends FIN after the reply: read until it does.
    loop {
        let n = s.read(&mut reply[got..]).unwrap();
        if n == 0 {
            break;
        }
        got += n;
    }
    assert_eq!(got, 1024, "one recv(1024)");
    assert!(reply[..got].iter().all(|&b| b == b'X'));
    drop(s);
    let log = server.line();
    assert!(log.contains("1024 bytes") && log.contains("476 more bytes discarded"), "log: {log}");
}

#[test]
fn iterative_mode_holds_the_second_client_and_concurrent_does_not() {
    for (mode, held) in [("iterative", true), ("concurrent", false)] {
        let (_server, port) = socketlab_server(&["tcp-server", "--mode", mode]);
        // The first client connects and says nothing yet, like a student still typing.
        let mut first = TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let mut second = TcpStream::connect(("127.0.0.1", port)).unwrap();
        second.write_all(b"second").unwrap();
        second.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
        let mut buf = [0u8; 64];
        let early = second.read(&mut buf);
        if held {
            assert!(early.is_err(), "{mode}: the second client must wait, got {early:?}");
        } else {
            assert_eq!(&buf[..early.unwrap()], b"SECOND", "{mode}: served at once");
        }
        first.write_all(b"first").unwrap();
        first.set_read_timeout(Some(WAIT)).unwrap();
        let n = first.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"FIRST");
        if held {
            second.set_read_timeout(Some(WAIT)).unwrap();
            let n = second.read(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"SECOND", "{mode}: served after the first client");
        }
    }
}

#[test]
fn udp_client_reports_a_lost_datagram_with_timeout() {
    // A bound socket that never answers stands in for a lost reply.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut client = socketlab();
    client.args(["udp-client", "--port", &port.to_string(), "--timeout", "0.3"]);
    let (status, out, err) = run_with_input(client, b"anyone there?\nend\n");
    assert!(status.success(), "a lost datagram does not end the client");
    assert_eq!(out, "");
    assert!(err.contains("no reply from 127.0.0.1") && err.contains("within 300 ms"), "{err}");
    let mut buf = [0u8; 64];
    let (n, _) = silent.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"anyone there?");
}

/// Runs a command expected to fail and returns its one-line message.
fn failure(args: &[&str]) -> (i32, String) {
    let mut cmd = socketlab();
    cmd.args(args);
    let (status, _, err) = run_with_input(cmd, b"");
    assert!(!status.success(), "{args:?} should fail");
    assert_eq!(err.lines().count(), 1, "one line, no backtrace: {err:?}");
    assert!(!err.contains("panicked"), "{err}");
    (status.code().unwrap(), err)
}

#[test]
fn errors_are_one_clear_line() {
    let held = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let (code, err) = failure(&["udp-server", "--port", &port]);
    assert_eq!(code, 1);
    assert!(err.contains("already in use") && err.contains(&port), "{err}");

    let welcome = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tport = welcome.local_addr().unwrap().port().to_string();
    let (_, err) = failure(&["tcp-server", "--port", &tport]);
    assert!(err.contains("already in use"), "{err}");
    drop(welcome);

    // A port nobody listens on: bind one, note it, close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (_, err) = failure(&["tcp-client", "--port", &closed.to_string(), "--message", "hi"]);
    assert!(err.contains("connection refused") && err.contains(&closed.to_string()), "{err}");

    let (_, err) = failure(&["tcp-client", "--server", "no-such-host.invalid", "--message", "hi"]);
    assert!(err.contains("unknown host \"no-such-host.invalid\""), "{err}");

    let (code, err) = failure(&["udp-server", "--bogus"]);
    assert_eq!(code, 2);
    assert!(err.contains("--bogus"), "{err}");
    let (_, err) = failure(&["tcp-server", "--buffer", "0"]);
    assert!(err.contains("buffer size"), "{err}");
    let (_, err) = failure(&["tcp-server", "--mode", "parallel"]);
    assert!(err.contains("parallel"), "{err}");
}

fn ops(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"));
            v["op"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn trace_is_json_lines_in_call_order() {
    let (mut server, port) = socketlab_server(&["tcp-server", "--trace"]);
    let mut client = socketlab();
    client.args(["tcp-client", "--trace", "--port", &port.to_string(), "--message", "trace me"]);
    let (status, out, err) = run_with_input(client, b"");
    assert!(status.success());
    assert_eq!(out, "From Server: TRACE ME");
    let client_lines: Vec<String> = err.lines().map(str::to_owned).collect();
    assert_eq!(ops(&client_lines), ["socket", "connect", "send", "recv", "recv", "close"]);

    assert!(server.line().contains("trace me"));
    server.terminate();
    assert!(server.wait().success(), "SIGTERM is a clean exit");
    let server_lines = server.rest_of_stderr();
    assert_eq!(ops(&server_lines), ["listen", "accept", "recv", "send", "close", "close"]);
    let stamps: Vec<u64> = server_lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["t_us"].as_u64().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "monotonic: {stamps:?}");
    let accept: serde_json::Value = serde_json::from_str(&server_lines[1]).unwrap();
    assert_eq!(accept["socket"]["role"], "welcome");
    assert_eq!(accept["spawned"]["role"], "connection");

    let (mut udp, uport) = socketlab_server(&["udp-server", "--trace"]);
    let mut client = socketlab();
    client.args(["udp-client", "--trace", "--port", &uport.to_string(), "--timeout", "5"]);
    let (_, _, err) = run_with_input(client, b"one\ntwo\nend\n");
    let client_lines: Vec<String> = err.lines().map(str::to_owned).collect();
    assert_eq!(ops(&client_lines), ["socket", "sendto", "recvfrom", "sendto", "recvfrom", "close"]);
    udp.line();
    udp.line();
    udp.terminate();
    assert!(udp.wait().success());
    assert_eq!(ops(&udp.rest_of_stderr()), ["bind", "recvfrom", "sendto", "recvfrom", "sendto", "close"]);
}

#[test]
fn pinger_server_loses_the_same_requests_for_the_same_seed() {
    let run = || {
        let (_server, port) = socketlab_server(&["pinger-server", "--loss", "0.3", "--seed", "7"]);
        let mut client = python("pinger_client.py");
        client.arg(port.to_string());
        let (status, out, err) = run_with_input(client, b"");
        assert!(status.success(), "pinger client failed: {err}");
        out
    };
    let lost = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.ends_with(": Request timed out"))
            .map(|l| l.split(':').next().unwrap().to_owned())
            .collect()
    };
    let first = run();
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(lines.len(), 11, "ten pings and a summary: {first}");
    let lost_first = lost(&first);
    assert!(!lost_first.is_empty() && lost_first.len() < 10, "some lost, some answered: {first}");
    for line in lines.iter().take(10).filter(|l| !l.ends_with("Request timed out")) {
        assert!(line.contains(": PING ") && line.contains(" RTT ") && line.ends_with(" ms"), "{line}");
    }
    assert_eq!(lines[10], format!("{} of 10 lost", lost_first.len()));
    let second = run();
    assert_eq!(lost(&second), lost_first, "the same seed loses the same pings:\n{first}\n{second}");
}
