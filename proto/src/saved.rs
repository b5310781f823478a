//! Saved exchanges (permalinks): what `POST /api/v1/saved` takes and answers, and what
//! `GET /api/v1/saved/{id}` returns, shared by the gateway and the page that shows a link.

use serde::{Deserialize, Serialize};

use crate::Event;
use crate::wire::Protocol;

/// `POST /api/v1/saved`: the exchange to keep, by the name the gateway gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SaveRequest {
    /// The `id` of an exchange's result (REST) or the `exchange` of its reply (WebSocket).
    pub exchange: String,
}

/// The permalink of a saved exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SavedLink {
    /// The short id: 16 random letters and digits.
    pub id: String,
    /// The page that shows it, `/x/{id}`.
    pub url: String,
}

/// A saved exchange with its timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SavedExchange {
    pub id: String,
    /// The gateway's name for the exchange it was saved from.
    pub exchange: String,
    pub protocol: Protocol,
    /// When it was saved, Unix time in milliseconds.
    pub saved_at_ms: i64,
    /// Whether `GET /api/v1/saved/{id}/pcapng` has packets to give.
    pub capture: bool,
    /// The timeline, client and server side merged, in time order.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub events: Vec<Event>,
}

/// The page's path for a saved exchange.
pub fn permalink(id: &str) -> String {
    format!("/x/{id}")
}

/// The length of a saved exchange's id, all of it letters and digits (`[A-Za-z0-9]`).
pub const ID_LEN: usize = 16;

/// Whether `id` has the shape of a saved exchange's id.
pub fn is_id(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `path` is exactly a saved exchange's page, `/x/` and an id, and nothing else: a
/// page that turns text into links links only these.
pub fn is_permalink(path: &str) -> bool {
    path.strip_prefix("/x/").is_some_and(is_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_refuses_unknown_fields_and_the_link_is_under_x() {
        let ok: SaveRequest = serde_json::from_str(r#"{"exchange":"x1-ab"}"#).expect("valid");
        assert_eq!(ok.exchange, "x1-ab");
        assert!(serde_json::from_str::<SaveRequest>(r#"{"exchange":"x","owner":"me"}"#).is_err());
        assert_eq!(permalink("AbC"), "/x/AbC");
    }

    #[test]
    fn only_an_exact_id_path_is_a_permalink() {
        assert!(is_permalink("/x/AbCdEfGh01234567"));
        for not in [
            "/x/AbCdEfGh0123456",
            "/x/AbCdEfGh012345678",
            "/x/../resume/AbCdEfGh01",
            "/x/AbCdEfGh0123456/",
            "/x/AbCdEfGh012345-7",
            "/x/AbCdEfGh012345é",
            " /x/AbCdEfGh01234567",
            "/x/AbCdEfGh01234567?a",
            "//x/AbCdEfGh01234567",
            "/x/",
        ] {
            assert!(!is_permalink(not), "{not}");
        }
        assert!(is_id("0123456789abcdef") && !is_id("0123456789abcde_"));
    }
}
