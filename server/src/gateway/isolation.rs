//! What one student may see of another's traffic. While the store holds any open class
//! ("class mode"), observed traffic reaches every WebSocket that subscribes to all, cookie or
//! not, but without payloads (addresses, sizes, flags and timing only), so a student can still
//! watch their terminal client for the python-client lab without reading a classmate's bytes.
//! And a student's lab check credits only their own work: exchanges their browser session ran,
//! and observed conversations from their own address.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use socketlab_proto::Event;
use socketlab_proto::wire::ErrorCode;

use super::AppState;
use super::classes::now_ms;
use super::error::ApiError;
use super::session::SessionId;
use crate::class::token::Kind;

/// How long a reading of class mode is trusted before the store is asked again.
const CLASS_MODE_TTL: Duration = Duration::from_secs(5);
/// How long the store may take to say; a store that does not answer counts as class mode.
const CLASS_MODE_WAIT: Duration = Duration::from_millis(500);

/// The last reading of class mode, and when it was taken.
#[derive(Debug, Default)]
pub struct ClassMode(Mutex<Option<(Instant, bool)>>);

impl AppState {
    /// Whether the store holds an open class. Without a store there are no classes.
    pub(super) async fn class_mode(&self) -> bool {
        let Some(store) = self.db.get() else { return false };
        let now = Instant::now();
        let cached = *self.classes.mode.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, mode)) = cached.filter(|(at, _)| now.saturating_duration_since(*at) < CLASS_MODE_TTL) {
            return mode;
        }
        let mode = match tokio::time::timeout(CLASS_MODE_WAIT, store.any_open_class()).await {
            Ok(Ok(open)) => open,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "class mode unknown; observed payloads are withheld");
                true
            }
            Err(_) => true,
        };
        *self.classes.mode.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((now, mode));
        mode
    }
}

/// An observed event as a class's students see it: without its payload.
pub fn without_payload(mut event: Event) -> Event {
    event.preview = None;
    event.preview_hex = None;
    event.detail = None;
    event
}

/// The client address of an observed conversation's name, such as `udp 127.0.0.1:53211`.
fn conversation_ip(name: &str) -> Option<IpAddr> {
    let (_, addr) = name.split_once(' ')?;
    addr.parse::<SocketAddr>().ok().map(|a| a.ip())
}

/// Who ran an exchange: the browser session, and the student its class cookie named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub browser: Option<SessionId>,
    pub student: Option<String>,
}

impl Owner {
    /// Whether `self` and `other` share a browser session or a student.
    fn same(&self, other: &Self) -> bool {
        let both = |a: Option<&str>, b: Option<&str>| a.is_some() && a == b;
        both(self.browser.as_ref().map(SessionId::as_str), other.browser.as_ref().map(SessionId::as_str))
            || both(self.student.as_deref(), other.student.as_deref())
    }
}

impl AppState {
    /// The owner a request names: its session, and the student of a class cookie this
    /// gateway signed and that has not expired (read without the store: only the signature).
    pub(super) async fn owner(&self, headers: &HeaderMap, browser: Option<SessionId>) -> Owner {
        let token = super::classes::cookie(headers, super::classes::STUDENT_COOKIE);
        let student = match (token, self.db.get()) {
            (Some(token), Some(_)) => match self.signer().await {
                Ok(s) => s.verify(Kind::Student, token, now_ms(), Some(self.session_ms())).ok(),
                Err(_) => None,
            },
            _ => None,
        };
        Owner { browser, student }
    }
}

/// Refuses, for a student's check, an exchange that neither their browser nor they ran.
pub fn own_exchange(name: &str, ran: &Owner, asks: &Owner) -> Result<(), ApiError> {
    if ran.same(asks) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Forbidden,
        format!("{name:?} was run by someone else; a class's lab check takes only your own exchanges"),
    ))
}

/// Refuses, for a student's check, an observed conversation from another address.
pub fn own_conversation(name: &str, client: IpAddr) -> Result<(), ApiError> {
    if conversation_ip(name) == Some(client) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Forbidden,
        format!("{name:?} came from another address; a class's lab check takes only your own conversations"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversations_name_their_client_address() {
        let local: IpAddr = "127.0.0.1".parse().expect("ip");
        assert_eq!(conversation_ip("udp 127.0.0.1:53211"), Some(local));
        assert_eq!(conversation_ip("tcp [::1]:80"), "::1".parse().ok());
        assert_eq!(conversation_ip("udp server"), None);
        assert!(own_conversation("udp 127.0.0.1:1", local).is_ok());
        assert!(own_conversation("udp 127.0.0.2:1", local).is_err());
        assert!(own_conversation("udp server", local).is_err());
        let ada = Owner { browser: None, student: Some("ada".into()) };
        let nobody = Owner::default();
        assert!(own_exchange("x", &ada, &ada).is_ok());
        assert!(own_exchange("x", &nobody, &nobody).is_err(), "no owner is nobody's");
        assert!(own_exchange("x", &ada, &Owner { student: Some("bob".into()), ..nobody.clone() }).is_err());
    }
}
