//! The TCP server rubric: the check plays the lesson's client against a student's server.

use socketlab_proto::check::{ItemOutcome, Program};
use socketlab_proto::uppercase;

use super::probe::{ConnectError, Probe, TcpAnswer, TcpEnd, shown};

async fn item(p: &mut Probe, id: &'static str) -> ItemOutcome {
    let outcome = match id {
        "accepts" => accepts(p).await,
        "upper" => upper(p).await,
        "one-after-another" => one_after_another(p).await,
        "fin-close" => fin_close(p).await,
        "silent-client" => silent_client(p).await,
        "two-at-once" => two_at_once(p).await,
        _ => invalid_utf8(p).await,
    };
    let events = p.events();
    outcome.with_events(events)
}

/// Runs every item in the rubric's order, handing each to `on_item` as it finishes; items
/// after the server died are skipped.
pub async fn run(p: &mut Probe, on_item: &mut super::OnItem<'_>) -> Result<Vec<ItemOutcome>, String> {
    let unreachable = format!("nothing listens on TCP {}: the connection was refused", p.target);
    super::run_rubric(p, Program::TcpServer, on_item, ("accepts", unreachable), |p, id| Box::pin(item(p, id))).await
}

fn no_connection(id: &'static str, e: &ConnectError) -> ItemOutcome {
    match e {
        ConnectError::Refused => ItemOutcome::fail(id, "the server died: the connection was refused"),
        ConnectError::Timeout => {
            ItemOutcome::fail(id, "the handshake did not finish: the backlog is full or the server is not accepting")
        }
        ConnectError::Other(e) => ItemOutcome::fail(id, e.clone()),
    }
}

async fn accepts(p: &mut Probe) -> ItemOutcome {
    match p.tcp_ask(b"hello socket").await {
        Ok(_) => ItemOutcome::pass("accepts", "the handshake completed"),
        Err(e) => no_connection("accepts", &e),
    }
}

/// Judges a reply to `sentence` that should be `want`.
fn judged(id: &'static str, sentence: &[u8], want: &[u8], got: &TcpAnswer) -> Result<(), ItemOutcome> {
    if got.data == want {
        return Ok(());
    }
    if got.data.is_empty() {
        let how = match got.end {
            TcpEnd::Fin => "it closed the connection without replying",
            TcpEnd::Reset => "it reset the connection without replying",
            TcpEnd::Open => "no reply arrived in time",
        };
        return Err(ItemOutcome::fail(id, format!("sent {}: {how}", shown(sentence))));
    }
    Err(ItemOutcome::fail(id, format!("sent {}, expected {}, got {}", shown(sentence), shown(want), shown(&got.data))))
}

async fn upper(p: &mut Probe) -> ItemOutcome {
    let sentence = "straße and the quick fox".as_bytes();
    let want = uppercase(sentence).bytes;
    match p.tcp_ask(sentence).await {
        Ok(got) => match judged("upper", sentence, &want, &got) {
            Ok(()) => ItemOutcome::pass("upper", format!("{} came back {}", shown(sentence), shown(&got.data))),
            Err(fail) => fail,
        },
        Err(e) => no_connection("upper", &e),
    }
}

async fn one_after_another(p: &mut Probe) -> ItemOutcome {
    const ID: &str = "one-after-another";
    let sentences: [&[u8]; 3] = [b"client one", b"client two", b"client three"];
    for (i, sentence) in sentences.iter().enumerate() {
        match p.tcp_ask(sentence).await {
            Ok(got) if got.data.eq_ignore_ascii_case(sentence) => {}
            Ok(got) => {
                let mut fail = judged(ID, sentence, &sentence.to_ascii_uppercase(), &got).err();
                let fail = fail.take().unwrap_or_else(|| ItemOutcome::fail(ID, "unexpected reply"));
                return ItemOutcome { reason: format!("client {} of 3: {}", i + 1, fail.reason), ..fail };
            }
            Err(e) => {
                let fail = no_connection(ID, &e);
                return ItemOutcome { reason: format!("client {} of 3: {}", i + 1, fail.reason), ..fail };
            }
        }
    }
    ItemOutcome::pass(ID, format!("three clients in turn were each answered on {}", p.target))
}

async fn fin_close(p: &mut Probe) -> ItemOutcome {
    const ID: &str = "fin-close";
    match p.tcp_ask(b"close me nicely").await {
        Ok(TcpAnswer { end: TcpEnd::Fin, .. }) => ItemOutcome::pass(ID, "the server closed with FIN after its reply"),
        Ok(TcpAnswer { end: TcpEnd::Reset, .. }) => ItemOutcome::fail(
            ID,
            "the server reset the connection (RST) instead of closing it: SO_LINGER 0, or it closed with unread bytes",
        ),
        Ok(TcpAnswer { end: TcpEnd::Open, .. }) => ItemOutcome::fail(
            ID,
            format!("the connection was still open {} ms after the request", p.timeout.as_millis()),
        ),
        Err(e) => no_connection(ID, &e),
    }
}

/// Asks once more after something that may have hurt the server.
async fn still_serves(p: &mut Probe, id: &'static str, after: &str) -> ItemOutcome {
    match p.tcp_ask(b"anyone there?").await {
        Ok(got) if !got.data.is_empty() => {
            ItemOutcome::pass(id, format!("after {after}, the next client was answered"))
        }
        Ok(_) => ItemOutcome::fail(id, format!("after {after}, the next client got no reply")),
        Err(ConnectError::Refused) => {
            ItemOutcome::fail(id, format!("the server died after {after}: the next connection was refused"))
        }
        Err(e) => ItemOutcome::fail(id, format!("after {after}, the next client could not connect: {e}")),
    }
}

async fn silent_client(p: &mut Probe) -> ItemOutcome {
    const ID: &str = "silent-client";
    match p.tcp_connect().await {
        Ok((stream, sock)) => p.tcp_close(stream, sock),
        Err(e) => return no_connection(ID, &e),
    }
    still_serves(p, ID, "a client closed without sending").await
}

async fn two_at_once(p: &mut Probe) -> ItemOutcome {
    const ID: &str = "two-at-once";
    let (first, first_sock) = match p.tcp_connect().await {
        Ok(x) => x,
        Err(e) => return no_connection(ID, &e),
    };
    let (mut second, second_sock) = match p.tcp_connect().await {
        Ok(x) => x,
        Err(e) => {
            p.tcp_close(first, first_sock);
            return no_connection(ID, &e);
        }
    };
    let sentence = b"second client";
    let sent = p.tcp_send(&mut second, second_sock, sentence).await;
    let got = p.tcp_read_to_end(&mut second, second_sock).await;
    // Let the first client go; a server that serves one at a time can now reach the second,
    // which stays open for its (late) reply so that the server is not hurt by a closed peer.
    p.tcp_close(first, first_sock);
    let outcome = match (sent, got.data.is_empty()) {
        (Err(e), _) => ItemOutcome::fail(ID, e),
        (Ok(()), false) => ItemOutcome::pass(ID, "the second client was answered while the first was silent"),
        (Ok(()), true) => {
            let late = p.tcp_read_to_end(&mut second, second_sock).await;
            let after = if late.data.is_empty() { "" } else { "; it was answered only after the first one left" };
            ItemOutcome::fail(ID, format!("the second client waited while the first was connected and silent{after}"))
        }
    };
    p.tcp_close(second, second_sock);
    outcome
}

async fn invalid_utf8(p: &mut Probe) -> ItemOutcome {
    const ID: &str = "invalid-utf8";
    if let Err(e) = p.tcp_ask(b"caf\xe9 \xff bytes").await {
        return no_connection(ID, &e);
    }
    let outcome = still_serves(p, ID, "invalid UTF-8").await;
    if p.refused {
        let reason = "the server died on invalid UTF-8 (Python's decode() raises UnicodeDecodeError): the next connection was refused";
        return ItemOutcome::fail(ID, reason);
    }
    outcome
}
