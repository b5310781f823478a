//! The OpenAPI document, generated from the handlers' annotations and the proto types.

use socketlab_proto::impair::{Impair, Impairments, Lose};
use socketlab_proto::wire::{
    CaptureStatus, ErrorBody, ErrorCode, ErrorDetail, ExchangeRequest, ExchangeResult, HostedServer, Limits, Protocol,
    ServerStatus, Servers, Target,
};
use utoipa::OpenApi;

use super::rest;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "socketlab gateway",
        description = "Runs exchanges with the hosted UDP and TCP upper-case servers and returns their timelines."
    ),
    paths(
        rest::create_exchange,
        rest::pcapng,
        rest::servers,
        rest::healthz,
        rest::metrics,
        rest::openapi,
        rest::ws_doc
    ),
    components(schemas(
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
        rest::Health
    ))
)]
struct ApiDoc;

/// The document, with the crate's version.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
