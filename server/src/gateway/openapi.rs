//! The OpenAPI document, served at `/api/v1/openapi.json`: generated from the handlers'
//! annotations and the proto types, then completed with what annotations cannot say.
//!
//! Three things are added to the generated document. Every operation gets the answers the
//! HTTP edge gives before any route runs (408, 413, 421; see `edge.rs` and `listener.rs`).
//! `ExchangeRequest` gets the rule that exactly one of `message` and `message_base64` is
//! given, and not empty, as a `oneOf`, and the rule that only TCP takes the `iterative`
//! target and `hold_ms`, as an `allOf`. And `CheckRequest` names the programs the gateway
//! checks and the targets this operator listed, so the document of each gateway says which
//! checks it takes; the longest `impair.delay_ms` is the one its exchange timeout allows. This module depends on `rest.rs`, `checks.rs`, `labs.rs`, `saved.rs` and the class
//! modules (`classes.rs`, `me.rs`, `instructor.rs`, `class_events.rs`) for the annotations;
//! nothing depends on it but the router.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use socketlab_proto::check::{CheckRequest, ItemResult, ListedTarget, Program, Report, Verdict};
use socketlab_proto::impair::{Impair, Impairments, Lose, MAX_DELAY_MS};
use socketlab_proto::wire::{
    CaptureStatus, ErrorBody, ErrorCode, ErrorDetail, ExchangeRequest, ExchangeResult, HostedServer, Limits, Protocol,
    ServerStatus, Servers, Target,
};
use utoipa::OpenApi;

use super::{AppState, checks, class_events, classes, instructor, labs, me, rest, saved};
use socketlab_proto::saved::{SaveRequest, SavedExchange, SavedLink};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "socketlab gateway",
        description = "Runs exchanges with the hosted UDP and TCP upper-case servers and returns their timelines."
    ),
    paths(
        rest::create_exchange,
        checks::create_check,
        rest::pcapng,
        saved::save,
        saved::read,
        saved::pcapng,
        rest::servers,
        rest::healthz,
        rest::metrics,
        labs::list,
        labs::lab,
        labs::check,
        classes::create,
        classes::join,
        me::me,
        me::leave,
        me::resume,
        instructor::dashboard,
        instructor::student,
        instructor::grades_csv,
        instructor::close,
        instructor::remove,
        instructor::session,
        class_events::events,
        openapi,
        ws
    ),
    components(schemas(
        CheckRequest,
        Report,
        ItemResult,
        Verdict,
        Program,
        ListedTarget,
        CaptureStatus,
        Target,
        Impair,
        Impairments,
        Lose,
        ExchangeRequest,
        ExchangeResult,
        ErrorBody,
        ErrorDetail,
        ErrorCode,
        Protocol,
        Servers,
        HostedServer,
        ServerStatus,
        Limits,
        rest::Health,
        SaveRequest,
        SavedLink,
        SavedExchange,
        labs::LabCheckRequest,
        socketlab_labs::view::LabSummary,
        socketlab_labs::view::LabView,
        socketlab_labs::view::StepView,
        socketlab_labs::view::Prompt,
        socketlab_labs::view::ActionView,
        socketlab_labs::StepResult,
        socketlab_labs::CheckResult,
        socketlab_labs::eval::At,
        classes::CreateClass,
        classes::Created,
        classes::JoinRequest,
        classes::Joined,
        classes::ClassRef,
        classes::StudentRef,
        me::Work,
        me::StepDoneView,
        me::CheckView,
        me::SavedView,
        instructor::Dashboard,
        instructor::ClassInfo,
        crate::class::grades::Row,
        crate::class::grades::Mark
    ))
)]
struct ApiDoc;

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")),
    tag = "operations"
)]
pub async fn openapi(State(state): State<Arc<AppState>>) -> Response {
    let names: Vec<&str> = state.config.targets.keys().map(String::as_str).collect();
    let clients = state.config.check_listen.is_some();
    let max_delay = max_delay_ms(state.config.limits.exchange_timeout_ms);
    Json(state.openapi.get_or_init(|| document(&names, clients, max_delay))).into_response()
}

/// The WebSocket API; see the README for its frames. The handshake needs `Connection:
/// Upgrade`, `Upgrade: websocket`, `Sec-WebSocket-Version: 13` and a `Sec-WebSocket-Key`.
#[utoipa::path(
    get,
    path = "/api/v1/ws",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; frames are JSON objects tagged by `type`"),
        (status = 400, description = "Not a WebSocket handshake (a plain GET, or a handshake header missing)", content_type = "text/plain", body = String),
        (status = 403, description = "The Origin is not allowed (`forbidden_origin`)", body = ErrorBody),
        (status = 426, description = "This connection cannot be upgraded (HTTP/2)", content_type = "text/plain", body = String),
        (status = 429, description = "Too many WebSockets from this address (`too_many_connections`)", body = ErrorBody),
        (status = 503, description = "The gateway is shutting down (`shutting_down`), or holds the most WebSockets it may (`gateway_full`; see Retry-After)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may pass, when full"))),
    ),
    tag = "websocket"
)]
#[allow(dead_code)]
fn ws() {}

/// The longest `impair.delay_ms` a gateway with this exchange timeout takes: the answer must
/// come before the exchange gives up on it.
pub fn max_delay_ms(exchange_timeout_ms: u64) -> u64 {
    MAX_DELAY_MS.min(exchange_timeout_ms.saturating_sub(1))
}

/// The document for a gateway that lists `targets`, takes client checks or not and takes
/// delays up to `max_delay`, with the crate's version and the additions the module doc names.
pub fn document(targets: &[&str], clients: bool, max_delay: u64) -> Value {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        })
    };
    let edge = [
        ("408", error("The request's head or body came too slowly (`request_timeout`); the connection closes")),
        ("413", error("The declared body is larger than `max_frame_bytes` (`too_large`)")),
        ("421", error("The `Host` is not a name this gateway answers to (`forbidden_host`)")),
    ];
    if let Some(paths) = doc.pointer_mut("/paths").and_then(Value::as_object_mut) {
        for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|p| p.values_mut()) {
            if let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) {
                for (status, response) in &edge {
                    responses.entry(*status).or_insert_with(|| response.clone());
                }
            }
        }
    }
    // The name in a REST reply is the name of its capture, and what saving it takes.
    let link = json!({
        "capture": {"operationId": "pcapng", "parameters": {"exchange": "$response.body#/id"}},
        "save": {"operationId": "save_exchange", "requestBody": {"exchange": "$response.body#/id"}}
    });
    if let Some(ok) = doc.pointer_mut("/paths/~1api~1v1~1exchanges/post/responses/200").and_then(Value::as_object_mut) {
        ok.insert("links".into(), link);
    }
    // A permalink's id names the saved exchange and its capture.
    let saved = json!({
        "saved": {"operationId": "get_saved", "parameters": {"id": "$response.body#/id"}},
        "saved_capture": {"operationId": "get_saved_pcapng", "parameters": {"id": "$response.body#/id"}}
    });
    if let Some(ok) = doc.pointer_mut("/paths/~1api~1v1~1saved/post/responses/201").and_then(Value::as_object_mut) {
        ok.insert("links".into(), saved);
    }
    if let Some(name) = doc.pointer_mut("/paths/~1api~1v1~1exchanges~1{exchange}~1pcapng/get/parameters/0/schema") {
        name["minLength"] = json!(1);
    }
    if let Some(request) = doc.pointer_mut("/components/schemas/ExchangeRequest").and_then(Value::as_object_mut) {
        request.insert("oneOf".into(), one_message());
        request.insert("allOf".into(), json!([impair_rule(max_delay), {"anyOf": tcp_only()}]));
    }
    if let Some(request) = doc.pointer_mut("/components/schemas/CheckRequest").and_then(Value::as_object_mut) {
        request.insert("oneOf".into(), one_check(targets, clients));
    }
    // Class secrets and the operator's token travel as `Authorization: Bearer`.
    if let Some(components) = doc.pointer_mut("/components").and_then(Value::as_object_mut) {
        components.insert("securitySchemes".into(), json!({"bearer": {"type": "http", "scheme": "bearer"}}));
    }
    doc
}

/// The `iterative` target and a hold are for TCP: a UDP exchange has neither.
fn tcp_only() -> Value {
    json!([
        {"properties": {"protocol": {"const": "tcp"}}},
        {
            "properties": {
                "protocol": {"const": "udp"},
                "target": {"enum": ["hosted", "closed_port", null]},
                "hold_ms": {"enum": [0, null]}
            }
        }
    ])
}

/// A server program with one of the listed target names, or, when the gateway takes client
/// checks, a client program without a target. With no target listed, no server is checkable,
/// and the rule says so.
fn one_check(targets: &[&str], clients: bool) -> Value {
    let programs = |server: bool| -> Vec<&str> {
        Program::ALL.into_iter().filter(|p| p.is_server() == server).map(Program::name).collect()
    };
    let mut rule = vec![json!({
        "required": ["program", "target"],
        "properties": {
            "program": {"type": "string", "enum": programs(true)},
            "target": {"type": "string", "enum": targets}
        }
    })];
    if clients {
        rule.push(json!({
            "required": ["program"],
            "properties": {"program": {"type": "string", "enum": programs(false)}, "target": {"type": "null"}}
        }));
    }
    Value::Array(rule)
}

/// Exactly one of `message` and `message_base64`, not empty; the other absent or null.
fn one_message() -> Value {
    // Canonical, padded standard base64 of at least one byte, as the gateway decodes it (after
    // trimming white space): the bits after the last byte must be zero.
    let base64 = concat!(
        r"^\s*(?:[A-Za-z0-9+/]{4})*",
        r"(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)\s*$"
    );
    let absent = json!({"type": "null"});
    json!([
        {
            "required": ["message"],
            "properties": {"message": {"type": "string", "minLength": 1}, "message_base64": absent}
        },
        {
            "required": ["message_base64"],
            "properties": {
                "message_base64": {"type": "string", "minLength": 4, "pattern": base64},
                "message": absent
            }
        }
    ])
}

/// Which `impair` each protocol takes: at most one field given (not null), UDP's `drop`,
/// `delay_ms` (up to `max_delay`) or `duplicate`, TCP's `drop` only, and none at all for the
/// `closed_port` target.
fn impair_rule(max_delay: u64) -> Value {
    let none = json!({"type": "null"});
    // An impair object whose fields other than `given` are absent or null.
    let only = |given: &str, schema: Value| {
        let mut properties = serde_json::Map::new();
        for field in ["drop", "delay_ms", "duplicate"] {
            properties.insert(field.into(), if field == given { schema.clone() } else { none.clone() });
        }
        json!({"type": "object", "additionalProperties": false, "required": [given], "properties": properties})
    };
    let nothing = json!({"anyOf": [none, {
        "type": "object", "additionalProperties": false,
        "properties": {"drop": none, "delay_ms": none, "duplicate": none}
    }]});
    let hosted = json!({"enum": ["hosted", null]});
    let udp = json!({"anyOf": [
        only("drop", json!({"enum": ["request", "reply"]})),
        only("delay_ms", json!({"type": "integer", "minimum": 1, "maximum": max_delay})),
        only("duplicate", json!({"type": "boolean"})),
    ]});
    let tcp = only("drop", json!({"enum": ["syn", "syn_ack", "data", "reply", "fin"]}));
    json!({"anyOf": [
        {"properties": {"impair": nothing}},
        {"properties": {"protocol": {"const": "udp"}, "target": hosted, "impair": udp}},
        {"properties": {"protocol": {"const": "tcp"}, "target": hosted, "impair": tcp}}
    ]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_the_edge_and_the_message_rule_is_a_one_of() {
        let doc = document(&["my-server"], false, max_delay_ms(2000));
        let paths = doc["paths"].as_object().expect("paths");
        assert_eq!(paths.len(), 24, "{:?}", paths.keys());
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("path item") {
                for status in ["408", "413", "421"] {
                    assert!(op["responses"][status].is_object(), "{method} {path} lacks {status}");
                }
            }
        }
        let post = &doc["paths"]["/api/v1/exchanges"]["post"]["responses"];
        for status in ["200", "400", "403", "415", "422", "429", "502", "503", "504"] {
            assert!(post[status].is_object(), "POST /api/v1/exchanges lacks {status}");
        }
        let check = &doc["paths"]["/api/v1/checks"]["post"]["responses"];
        for status in ["200", "400", "403", "413", "415", "422", "429", "500", "502", "503"] {
            assert!(check[status].is_object(), "POST /api/v1/checks lacks {status}");
        }
        let rule = &doc["components"]["schemas"]["CheckRequest"]["oneOf"][0]["properties"];
        assert_eq!(rule["target"]["enum"], json!(["my-server"]));
        assert_eq!(rule["program"]["enum"], json!(["udp-server", "tcp-server"]));
        assert_eq!(doc["components"]["schemas"]["CheckRequest"]["oneOf"].as_array().map(Vec::len), Some(1));
        let clients = document(&[], true, max_delay_ms(2000));
        let rule = &clients["components"]["schemas"]["CheckRequest"]["oneOf"][1]["properties"];
        assert_eq!(rule["program"]["enum"], json!(["udp-client", "tcp-client"]));
        assert!(doc["components"]["schemas"]["Report"]["properties"]["items"].is_object());
        assert!(doc["paths"]["/api/v1/ws"]["get"]["responses"]["400"].is_object());
        assert_eq!(post["200"]["links"]["capture"]["operationId"], "pcapng");
        let saved = &doc["paths"]["/api/v1/saved"]["post"]["responses"]["201"]["links"];
        assert_eq!(saved["saved"]["operationId"], "get_saved");
        assert_eq!(saved["saved_capture"]["operationId"], "get_saved_pcapng");
        let pcapng = &doc["paths"]["/api/v1/exchanges/{exchange}/pcapng"]["get"];
        assert_eq!(pcapng["parameters"][0]["schema"]["minLength"], 1);
        let rule = &doc["components"]["schemas"]["ExchangeRequest"]["oneOf"];
        assert_eq!(rule[0]["properties"]["message"]["minLength"], 1);
        assert_eq!(rule[1]["required"][0], "message_base64");
        let check = &doc["paths"]["/api/v1/labs/{lab}/steps/{step}/check"]["post"]["responses"];
        for status in ["200", "400", "404", "415", "422"] {
            assert!(check[status].is_object(), "the lab check lacks {status}");
        }
        let impair = doc["components"]["schemas"]["ExchangeRequest"]["allOf"][0]["anyOf"].to_string();
        assert!(!impair.contains("null,") && !impair.contains(":null"), "every schema is an object: {impair}");
        assert!(impair.contains(r#""maximum":1999"#), "a delay stays below the exchange timeout: {impair}");
        assert_eq!(max_delay_ms(60_000), MAX_DELAY_MS);
        let codes = doc["components"]["schemas"]["ErrorCode"].to_string();
        for code in ["session_closed", "connection_refused", "forbidden_host", "request_timeout", "gateway_full"] {
            assert!(codes.contains(code), "{code} missing from {codes}");
        }
    }
}
