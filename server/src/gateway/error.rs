//! The gateway's one error type at the HTTP edge, with a stable JSON shape:
//! `{"error":{"code":"...","message":"..."}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use socketlab_proto::Event;
use socketlab_proto::wire::{ErrorBody, ErrorCode, ErrorDetail};

use crate::error::NetError;

/// An error answered to an HTTP client (or sent as a WebSocket `error` frame).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds to wait before retrying, for 429 and `gateway_full` answers.
    pub retry_after: Option<u64>,
    /// The timeline of a failed exchange that ran, and its capture's name.
    pub events: Option<Vec<Event>>,
    pub exchange: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None, events: None, exchange: None }
    }

    /// The HTTP status that goes with the code.
    pub fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::MalformedJson => StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField | ErrorCode::DuplicateId => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::ServerDown | ErrorCode::ShuttingDown | ErrorCode::SessionClosed | ErrorCode::GatewayFull => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::RateLimited | ErrorCode::TooManyInFlight | ErrorCode::TooManyConnections => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ErrorCode::ObserveDisabled | ErrorCode::ForbiddenOrigin | ErrorCode::Forbidden | ErrorCode::ClassClosed => {
                StatusCode::FORBIDDEN
            }
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::NameTaken => StatusCode::CONFLICT,
            ErrorCode::ForbiddenHost => StatusCode::MISDIRECTED_REQUEST,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::NotFound | ErrorCode::UnknownClass => StatusCode::NOT_FOUND,
            ErrorCode::ConnectionRefused => StatusCode::BAD_GATEWAY,
            ErrorCode::CaptureUnavailable | ErrorCode::ImpairmentUnavailable => StatusCode::CONFLICT,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail { code: self.code, message: self.message.clone() },
            exchange: self.exchange.clone(),
            events: self.events.clone(),
        }
    }
}

impl From<NetError> for ApiError {
    fn from(e: NetError) -> Self {
        let code = match &e {
            NetError::Refused { .. } => ErrorCode::ServerDown,
            NetError::Timeout { .. } | NetError::TcpTimeout { .. } => ErrorCode::Timeout,
            _ => ErrorCode::Internal,
        };
        Self::new(code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}
