//! The gateway playing the client: one exchange with a hosted server, and its whole timeline.
//!
//! The gateway's own socket calls are recorded as they happen; the server's arrive through the
//! hub, matched by the client socket's address. When the client side is done the gateway waits
//! briefly for the server's last call (its `sendto` or `close` can land a moment after the
//! client already has the reply), merges both sides on the shared clock and adds the inferred
//! packets.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use socketlab_proto::impair::{Plan, mark_lost_datagram, mark_lost_segment};
use socketlab_proto::infer::into_inferred;
use socketlab_proto::wire::{ErrorCode, ExchangeRequest, Limits, Protocol, Target};
use socketlab_proto::{Event, Op, Side, Transport};

use super::AppState;
use super::collect::{Expect, collect};
use super::error::ApiError;
use crate::client::{self, Recorder};
use crate::net;

/// The most reply bytes a TCP exchange keeps.
const MAX_REPLY: usize = 256 * 1024;

/// The longest a TCP exchange may hold its connection open before sending.
pub const MAX_HOLD_MS: u64 = 1000;

/// Room for a UDP reply: upper-casing can triple a datagram's length (`ΐ` becomes three
/// characters), and the hosted server reads at most `buffer` bytes.
fn reply_room(buffer: usize) -> usize {
    (3 * buffer + 16).min(64 * 1024)
}

/// A validated request.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub protocol: Protocol,
    pub payload: Vec<u8>,
    pub trace: bool,
    pub target: Target,
    /// How long a TCP client waits between connect() and send().
    pub hold: std::time::Duration,
    pub impair: Plan,
    /// Who asks, kept with the exchange's timeline for lab checks.
    pub owner: super::isolation::Owner,
}

/// Checks a request against the limits and decodes its payload.
pub fn prepare(req: &ExchangeRequest, limits: &Limits) -> Result<Prepared, ApiError> {
    let invalid = |m: &str| ApiError::new(ErrorCode::InvalidField, m);
    let payload = match (&req.message, &req.message_base64) {
        (Some(text), None) => text.as_bytes().to_vec(),
        (None, Some(b64)) => {
            BASE64.decode(b64.trim()).map_err(|e| invalid(&format!("message_base64 is not valid base64: {e}")))?
        }
        (Some(_), Some(_)) => {
            return Err(invalid("give either message or message_base64, not both"));
        }
        (None, None) => return Err(invalid("message (or message_base64) is required")),
    };
    if payload.is_empty() {
        return Err(invalid("message must not be empty"));
    }
    if payload.len() > limits.max_message_bytes {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("message has {} bytes; the limit is {} bytes", payload.len(), limits.max_message_bytes),
        ));
    }
    let target = req.target.unwrap_or_default();
    if req.protocol == Protocol::Udp && target == Target::Iterative {
        return Err(invalid("the iterative server is a TCP server; use protocol tcp"));
    }
    let hold_ms = req.hold_ms.unwrap_or(0);
    if hold_ms > 0 && req.protocol == Protocol::Udp {
        return Err(invalid("hold_ms is for TCP: a UDP client has no connection to hold"));
    }
    if hold_ms > MAX_HOLD_MS {
        return Err(invalid(&format!("hold_ms is {hold_ms}; the most is {MAX_HOLD_MS}")));
    }
    let impair = match &req.impair {
        None => Plan::None,
        Some(i) => i.plan(req.protocol).map_err(|m| invalid(&m))?,
    };
    if req.impair.is_some_and(|i| i.kinds() > 0) && target != Target::Hosted {
        return Err(invalid("impair works with the hosted servers, not the closed port or the iterative server"));
    }
    if matches!(impair, Plan::Udp(u) if u.delay_ms >= limits.exchange_timeout_ms) {
        // The answer would come after the exchange gave up on it.
        return Err(invalid(&format!(
            "impair.delay_ms must be below the exchange timeout ({} ms)",
            limits.exchange_timeout_ms
        )));
    }
    let hold = std::time::Duration::from_millis(hold_ms);
    Ok(Prepared {
        protocol: req.protocol,
        payload,
        trace: req.trace.unwrap_or(true),
        target,
        hold,
        impair,
        owner: Default::default(),
    })
}

/// A finished exchange.
#[derive(Debug)]
pub struct Outcome {
    pub reply: Vec<u8>,
    pub elapsed_us: u64,
    pub events: Vec<Event>,
    /// The stored capture's name, when packets were captured.
    pub exchange: Option<String>,
    /// The stored timeline's name (the same as the capture's), when the timeline was traced.
    pub stored: Option<String>,
}

/// A failed exchange, with the timeline up to the failure.
#[derive(Debug)]
pub struct Failed {
    pub error: ApiError,
    pub events: Vec<Event>,
    pub exchange: Option<String>,
    pub stored: Option<String>,
}

/// Runs one exchange with the hosted server for `p.protocol` (or the closed port).
pub async fn run(state: &AppState, p: &Prepared) -> Result<Outcome, Failed> {
    let fail = |error: ApiError| Failed { error, events: Vec::new(), exchange: None, stored: None };
    if state.cancel.is_cancelled() {
        return Err(fail(ApiError::new(ErrorCode::ShuttingDown, "the gateway is shutting down")));
    }
    // Held until the exchange ends; a full gateway refuses at once rather than queueing.
    let _running = state.running.try_acquire().map_err(|_| {
        let most = state.config.limits.max_exchanges;
        fail(super::limits::full(format!("this gateway is running the most exchanges it may at once ({most})")))
    })?;
    let closed = p.target == Target::ClosedPort;
    let server = state.servers.for_target(p.protocol, p.target);
    let addr = if closed { state.closed.addr } else { server.addr };
    if !closed && !server.is_up() {
        return Err(fail(ApiError::new(
            ErrorCode::ServerDown,
            format!("the hosted {} server on {} is not running", server.protocol.as_str().to_uppercase(), server.addr),
        )));
    }
    if let (Plan::Tcp(lose), Some(why)) = (p.impair, &state.impairments.tcp_reason) {
        return Err(fail(ApiError::new(
            ErrorCode::ImpairmentUnavailable,
            format!("impair.drop {:?} needs a TCP drop, which is unavailable: {why}", lose.as_str()),
        )));
    }
    let mut rec = Recorder::new(state.tracer.clone(), p.trace);
    let started = rec.now();
    let timeout = state.config.exchange_timeout();
    let (result, route, last_op) = match p.protocol {
        Protocol::Udp if !p.trace && !closed && p.impair == Plan::None => {
            // The lean path: a kept socket and no timeline. Like the traced path and the
            // lesson's client it is never connected: sendto, then recvfrom.
            let socket = match state.udp_pool.take() {
                Some(s) => s,
                None => net::client_udp_socket(addr).await.map_err(|e| fail(e.into()))?,
            };
            let sock = rec.socket(Transport::Udp);
            let room = reply_room(server.buffer);
            let result = client::udp_exchange(&socket, sock, addr, &p.payload, Some(timeout), room, &mut rec).await;
            if result.is_ok() {
                state.udp_pool.give(socket);
            }
            (result, None, Op::Sendto)
        }
        Protocol::Udp => {
            // The calls of the code panel's client, line for line: socket, sendto, recvfrom,
            // close. No connect(): the socket hears an ICMP port unreachable through IP_RECVERR.
            let socket = net::client_udp_socket(addr).await.map_err(|e| fail(e.into()))?;
            let local = socket.local_addr().map_err(|e| fail(ApiError::new(ErrorCode::Internal, e.to_string())))?;
            let route = p.trace.then(|| state.hub.route(local));
            // Told before the datagram leaves; the entry goes when the exchange ends.
            let impaired = match p.impair {
                Plan::Udp(u) => Some(state.udp_impair.set(local, u)),
                _ => None,
            };
            let sock = rec.socket(Transport::Udp);
            rec.push(|t| Event::new(t, Side::Client, sock, Op::Socket).addrs(Some(local), None));
            rec.knows_local(local);
            let room = reply_room(server.buffer);
            let result = client::udp_exchange(&socket, sock, addr, &p.payload, Some(timeout), room, &mut rec).await;
            // The entry goes first: a delayed answer still waiting is then never sent, while
            // the port is still this socket's.
            drop(impaired);
            drop(socket);
            rec.push(|t| Event::new(t, Side::Client, sock, Op::Close).addrs(Some(local), Some(addr)));
            (result, route, Op::Sendto)
        }
        Protocol::Tcp => {
            let (socket, local) = net::client_tcp_socket(addr).map_err(|e| fail(e.into()))?;
            let route = p.trace.then(|| state.hub.route(local));
            // The client's port is known (bound, not yet connected), so the drop is armed
            // before the SYN leaves.
            let _armed = match (p.impair, &state.nft) {
                (Plan::Tcp(lose), Some(nft)) => Some(nft.arm(lose, local, addr).await.map_err(|why| {
                    fail(ApiError::new(
                        ErrorCode::ImpairmentUnavailable,
                        format!("the TCP drop could not be set up: {why}"),
                    ))
                })?),
                _ => None,
            };
            let sock = rec.socket(Transport::Tcp);
            rec.push(|t| Event::new(t, Side::Client, sock, Op::Socket).addrs(Some(local), None));
            let result = if p.hold.is_zero() {
                client::tcp_exchange(socket, sock, addr, &p.payload, timeout, MAX_REPLY, &mut rec).await
            } else {
                // A client slow to send: connected, then silent for `hold`.
                let deadline = Some(client::Deadline::after(timeout + p.hold));
                match client::tcp_connect(socket, sock, addr, deadline, &mut rec).await {
                    Ok(stream) => {
                        tokio::time::sleep(p.hold).await;
                        client::tcp_converse(stream, sock, &p.payload, deadline, MAX_REPLY, &mut rec).await
                    }
                    Err(e) => Err(e),
                }
            };
            (result, route, Op::Close)
        }
    };
    let elapsed_us = rec.now().saturating_sub(started);
    let mut events = rec.take();
    let mut frames = Vec::new();
    if let Some(route) = route {
        let udp = match p.impair {
            Plan::Udp(u) => u,
            _ => Default::default(),
        };
        let expect = Expect {
            server_last: (result.is_ok() && !closed).then_some(last_op),
            server_calls: if udp.duplicate { 2 } else { 1 },
            captured: state.capture_live.running().then_some(p.protocol),
            datagrams: if udp.duplicate {
                3
            } else if udp.drop_request || udp.drop_reply {
                1
            } else {
                2
            },
        };
        (events, frames) = collect(route, events, expect, &state.capture_live).await;
    }
    let mut events = if p.trace { into_inferred(events) } else { events };
    match (p.trace, p.impair) {
        (true, Plan::Udp(u)) if u.drop_request => mark_lost_datagram(&mut events, Side::Client),
        (true, Plan::Udp(u)) if u.drop_reply => mark_lost_datagram(&mut events, Side::Server),
        (true, Plan::Tcp(lose)) => mark_lost_segment(&mut events, lose),
        _ => {}
    }
    // Every traced exchange is kept, so that lab checks can read its timeline; the ones with
    // packets also name their capture.
    let captured = !frames.is_empty();
    let stored = p.trace.then(|| {
        let id = state.store.next_id();
        // The label is the capture file's comment, so only an exchange with packets needs one.
        let label = if captured {
            let text = String::from_utf8_lossy(&p.payload);
            format!("socketlab exchange {id}: {} {text:?}", p.protocol.as_str().to_uppercase())
        } else {
            String::new()
        };
        let kept = super::store::Kept { comment: label, owner: p.owner.clone(), frames, events: events.clone() };
        state.store.put(id.clone(), kept, std::time::Instant::now());
        id
    });
    let exchange = if captured { stored.clone() } else { None };
    match result {
        Ok(reply) => {
            state.metrics.exchange_ok(p.protocol, elapsed_us);
            Ok(Outcome { reply, elapsed_us, events, exchange, stored })
        }
        Err(e) => {
            state.metrics.exchange_failed(p.protocol);
            let mut error = ApiError::from(e);
            if closed && error.code == ErrorCode::ServerDown {
                error.code = ErrorCode::ConnectionRefused;
                error.message = match p.protocol {
                    Protocol::Tcp => format!("nobody listens on {addr}: the kernel answered the SYN with RST"),
                    Protocol::Udp => {
                        format!("nobody listens on {addr}: the kernel answered with ICMP port unreachable")
                    }
                };
            }
            tracing::debug!(protocol = p.protocol.as_str(), code = error.code.as_str(), message = %error.message, "exchange failed");
            Err(Failed { error, events, exchange, stored })
        }
    }
}

/// The reply as text, plus base64 when the bytes are not UTF-8.
pub fn reply_text(reply: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(reply) {
        Ok(text) => (text.to_owned(), None),
        Err(_) => (String::from_utf8_lossy(reply).into_owned(), Some(BASE64.encode(reply))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(message: Option<&str>, b64: Option<&str>) -> ExchangeRequest {
        ExchangeRequest {
            id: None,
            protocol: Protocol::Udp,
            message: message.map(str::to_owned),
            message_base64: b64.map(str::to_owned),
            trace: None,
            target: None,
            hold_ms: None,
            impair: None,
        }
    }

    #[test]
    fn prepare_checks_every_field() {
        let limits = crate::config::Config::default().limits;
        let ok = prepare(&req(Some("hi"), None), &limits).expect("valid");
        assert_eq!(ok.payload, b"hi");
        assert!(ok.trace);
        let raw = prepare(&req(None, Some("/w==")), &limits).expect("valid base64");
        assert_eq!(raw.payload, [0xff]);
        let code = |r: ExchangeRequest| prepare(&r, &limits).expect_err("invalid").code;
        assert_eq!(code(req(None, None)), ErrorCode::InvalidField);
        assert_eq!(code(req(Some("a"), Some("YQ=="))), ErrorCode::InvalidField);
        assert_eq!(code(req(None, Some("not base64!"))), ErrorCode::InvalidField);
        assert_eq!(code(req(Some(""), None)), ErrorCode::InvalidField);
        let udp_iterative = ExchangeRequest { target: Some(Target::Iterative), ..req(Some("a"), None) };
        assert_eq!(code(udp_iterative), ErrorCode::InvalidField);
        let udp_hold = ExchangeRequest { hold_ms: Some(10), ..req(Some("a"), None) };
        assert_eq!(code(udp_hold), ErrorCode::InvalidField);
        let long_hold =
            ExchangeRequest { protocol: Protocol::Tcp, hold_ms: Some(MAX_HOLD_MS + 1), ..req(Some("a"), None) };
        assert_eq!(code(long_hold), ErrorCode::InvalidField);
        let big = "x".repeat(limits.max_message_bytes + 1);
        assert_eq!(code(req(Some(&big), None)), ErrorCode::TooLarge);
        let delayed = |ms: u64| ExchangeRequest {
            impair: Some(socketlab_proto::impair::Impair { delay_ms: Some(ms), ..Default::default() }),
            ..req(Some("hi"), None)
        };
        let below = limits.exchange_timeout_ms - 1;
        assert!(prepare(&delayed(below), &limits).is_ok());
        let err = prepare(&delayed(limits.exchange_timeout_ms), &limits).expect_err("not below the timeout");
        assert_eq!(err.code, ErrorCode::InvalidField);
        assert!(err.message.contains(&format!("({} ms)", limits.exchange_timeout_ms)), "{}", err.message);
    }

    #[test]
    fn replies_that_are_not_utf8_also_come_as_base64() {
        assert_eq!(reply_text(b"OK"), ("OK".to_owned(), None));
        assert_eq!(reply_text(b"A\xff"), ("A\u{fffd}".to_owned(), Some("Qf8=".to_owned())));
    }
}
