//! The API's errors: one stable code per failure, the same over WebSocket and REST, and the one
//! REST error body. Kept apart from `wire` so the frames stay readable; `wire` re-exports them.

use serde::{Deserialize, Serialize};

use crate::event::Event;

/// Stable, machine-readable error codes, the same over WebSocket and REST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame or body is not JSON of the expected shape.
    MalformedJson,
    /// A field has a value the gateway does not accept.
    InvalidField,
    /// The frame, body or message is larger than allowed.
    TooLarge,
    /// The hosted server did not answer in time.
    Timeout,
    /// The hosted server is not running.
    ServerDown,
    /// Too many exchanges from this address; retry later.
    RateLimited,
    /// This WebSocket already has the most exchanges in flight it may have.
    TooManyInFlight,
    /// An exchange with this id is still in flight on this WebSocket.
    DuplicateId,
    /// The operator turned off observing other clients.
    ObserveDisabled,
    /// The request's `Origin` is neither this gateway nor an allowed origin.
    ForbiddenOrigin,
    /// The request's `Host` is not a name this gateway answers to (DNS rebinding guard).
    ForbiddenHost,
    /// A request body that is not `Content-Type: application/json`.
    UnsupportedMediaType,
    /// The request's head or body did not arrive in time.
    RequestTimeout,
    /// This IP address already holds the most WebSockets it may.
    TooManyConnections,
    /// No such route or resource.
    NotFound,
    /// Nobody listens at the target: TCP answered RST, or UDP an ICMP port-unreachable.
    ConnectionRefused,
    /// Packet capture is off, so there are no frames to export.
    CaptureUnavailable,
    /// The exchange asked for an impairment this gateway cannot apply (TCP drops need nftables
    /// and CAP_NET_ADMIN); the message says why.
    ImpairmentUnavailable,
    /// The gateway is at its capacity (its WebSockets or its exchanges running at once); retry
    /// after `Retry-After`, possibly on another instance.
    GatewayFull,
    /// The gateway is shutting down.
    ShuttingDown,
    /// The WebSocket closed (idle or session time limit, or a frame it could not take) before
    /// this exchange finished.
    SessionClosed,
    /// A class request without valid credentials: no instructor secret, or a student cookie
    /// that is forged, expired or of a removed student.
    Unauthorized,
    /// An instructor secret of another class.
    Forbidden,
    /// No class has this join code.
    UnknownClass,
    /// Another student of the class has this display name (ignoring case).
    NameTaken,
    /// The class takes no new students.
    ClassClosed,
    /// Something failed inside the gateway.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::InvalidField => "invalid_field",
            Self::TooLarge => "too_large",
            Self::Timeout => "timeout",
            Self::ServerDown => "server_down",
            Self::RateLimited => "rate_limited",
            Self::TooManyInFlight => "too_many_in_flight",
            Self::DuplicateId => "duplicate_id",
            Self::ObserveDisabled => "observe_disabled",
            Self::ForbiddenOrigin => "forbidden_origin",
            Self::ForbiddenHost => "forbidden_host",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RequestTimeout => "request_timeout",
            Self::TooManyConnections => "too_many_connections",
            Self::NotFound => "not_found",
            Self::ConnectionRefused => "connection_refused",
            Self::CaptureUnavailable => "capture_unavailable",
            Self::ImpairmentUnavailable => "impairment_unavailable",
            Self::GatewayFull => "gateway_full",
            Self::ShuttingDown => "shutting_down",
            Self::SessionClosed => "session_closed",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::UnknownClass => "unknown_class",
            Self::NameTaken => "name_taken",
            Self::ClassClosed => "class_closed",
            Self::Internal => "internal",
        }
    }
}

/// The one error shape of the REST API: `{"error":{"code":"...","message":"..."}}`. A failed
/// exchange that ran also carries its timeline and, when packets were captured, its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub events: Option<Vec<Event>>,
}

/// The code and human text of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}
