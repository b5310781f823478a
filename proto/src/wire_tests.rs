//! Tests of the wire format: frames parse and serialize as the README documents them.

use super::*;

#[test]
fn exchange_frame_parses_as_documented() {
    let text = r#"{"type":"exchange","id":"a1","protocol":"udp","message":"hello"}"#;
    let msg: ClientMsg = serde_json::from_str(text).expect("parses");
    let ClientMsg::Exchange(req) = msg else { panic!("not an exchange: {msg:?}") };
    assert_eq!(req.id.as_deref(), Some("a1"));
    assert_eq!(req.protocol, Protocol::Udp);
    assert_eq!(req.message.as_deref(), Some("hello"));
    assert_eq!(req.trace, None);
}

#[test]
fn server_frames_are_tagged_by_type() {
    let err = ServerMsg::Error {
        id: None,
        code: ErrorCode::MalformedJson,
        message: "x".into(),
        exchange: None,
        refused_id: None,
    };
    let json = serde_json::to_value(&err).expect("serializes");
    assert_eq!(json["type"], "error");
    assert_eq!(json["code"], "malformed_json");
    assert!(json["id"].is_null());

    let sub: ServerMsg = serde_json::from_str(r#"{"type":"subscribed","scope":"all"}"#).expect("parses");
    assert_eq!(sub, ServerMsg::Subscribed { scope: Scope::All });
}

#[test]
fn error_codes_match_their_wire_names() {
    for code in [
        ErrorCode::MalformedJson,
        ErrorCode::InvalidField,
        ErrorCode::TooLarge,
        ErrorCode::Timeout,
        ErrorCode::ServerDown,
        ErrorCode::RateLimited,
        ErrorCode::TooManyInFlight,
        ErrorCode::DuplicateId,
        ErrorCode::ObserveDisabled,
        ErrorCode::ForbiddenOrigin,
        ErrorCode::ForbiddenHost,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RequestTimeout,
        ErrorCode::TooManyConnections,
        ErrorCode::NotFound,
        ErrorCode::ConnectionRefused,
        ErrorCode::CaptureUnavailable,
        ErrorCode::ImpairmentUnavailable,
        ErrorCode::GatewayFull,
        ErrorCode::ShuttingDown,
        ErrorCode::SessionClosed,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::UnknownClass,
        ErrorCode::NameTaken,
        ErrorCode::ClassClosed,
        ErrorCode::Internal,
    ] {
        let json = serde_json::to_string(&code).expect("serializes");
        assert_eq!(json, format!("\"{}\"", code.as_str()));
    }
}

#[test]
fn counts_take_whole_numbers_however_written() {
    let parse = |hold: &str| {
        serde_json::from_str::<ExchangeRequest>(&format!(r#"{{"protocol":"tcp","message":"a","hold_ms":{hold}}}"#))
            .map(|r| r.hold_ms)
    };
    assert_eq!(parse("994").ok(), Some(Some(994)));
    assert_eq!(parse("994.0").ok(), Some(Some(994)));
    assert_eq!(parse("null").ok(), Some(None));
    for bad in ["994.5", "-1", "\"5\"", "1e300"] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    let delay = r#"{"protocol":"udp","message":"a","impair":{"delay_ms":1755.0}}"#;
    let req: ExchangeRequest = serde_json::from_str(delay).expect("a whole delay written as a float");
    assert_eq!(req.impair.and_then(|i| i.delay_ms), Some(1755));
}
