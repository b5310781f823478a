//! Signed tokens: a student's cookie, their resume link, a class's instructor secret and the
//! instructor's cookie. Each is `<kind>.<id>.<issued ms>.<HMAC-SHA256, base64url>` signed with
//! one key that the database keeps (`signing_key`), so every instance accepts what any other
//! issued, and nothing but that key is stored.
//!
//! **Why HMAC by hand and not axum-extra's signed cookies.** The `cookie` crate's signed jar
//! does the same HMAC-SHA256, but it knows no issued-at and no expiry, so the value would still
//! need its own format for `--student-session-days`; resume links and instructor secrets are
//! not cookies at all. `hmac` and `sha2` are already built for sqlx, and the comparison is
//! constant-time (`Mac::verify_slice`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a token opens. The letter is part of what is signed, so one kind never passes for
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The student's session cookie; expires.
    Student,
    /// The student's personal resume link; lasts as long as the student.
    Resume,
    /// A class's instructor secret; lasts as long as the class.
    Secret,
    /// The instructor's cookie for the live events; expires.
    Instructor,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Self::Student => 's',
            Self::Resume => 'r',
            Self::Secret => 'k',
            Self::Instructor => 'i',
        }
    }
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a token of this gateway")]
    Forged,
    #[error("expired; join again or use your resume link")]
    Expired,
}

/// The key's length, in bytes.
pub const KEY_LEN: usize = 32;

/// Signs and checks tokens with the shared key.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length; the error cannot happen.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(payload.as_bytes());
        mac
    }

    /// A token of `kind` for `id` (a store id: letters and digits), issued at `now_ms`.
    pub fn sign(&self, kind: Kind, id: &str, now_ms: i64) -> String {
        let payload = format!("{}.{id}.{now_ms}", kind.letter());
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The id a token of `kind` names, if this key signed it and, when `max_age_ms` is given,
    /// it was issued no longer than that before `now_ms`.
    pub fn verify(&self, kind: Kind, token: &str, now_ms: i64, max_age_ms: Option<i64>) -> Result<String, TokenError> {
        let (payload, tag) = token.rsplit_once('.').ok_or(TokenError::Forged)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenError::Forged)?;
        self.mac(payload).verify_slice(&tag).map_err(|_| TokenError::Forged)?;
        let mut parts = payload.splitn(3, '.');
        let (Some(letter), Some(id), Some(issued)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Forged);
        };
        if !letter.starts_with(kind.letter()) || letter.len() != 1 {
            return Err(TokenError::Forged);
        }
        let issued: i64 = issued.parse().map_err(|_| TokenError::Forged)?;
        if max_age_ms.is_some_and(|age| now_ms.saturating_sub(issued) > age) {
            return Err(TokenError::Expired);
        }
        Ok(id.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    /// Who verifies, the kind asked for, the token, now, the longest age, and the outcome.
    type Case<'a> = (&'a Signer, Kind, &'a str, i64, Option<i64>, Result<&'a str, TokenError>);

    #[test]
    fn tokens_verify_only_with_their_key_kind_and_age() {
        let signer = Signer::new(vec![7; KEY_LEN]);
        let other = Signer::new(vec![8; KEY_LEN]);
        let t = signer.sign(Kind::Student, "Abc123", 1_000);
        assert!(t.starts_with("s.Abc123.1000."), "{t}");
        let cases: &[Case<'_>] = &[
            (&signer, Kind::Student, &t, 1_000 + DAY, Some(DAY), Ok("Abc123")),
            (&signer, Kind::Student, &t, 1_001 + DAY, Some(DAY), Err(TokenError::Expired)),
            (&signer, Kind::Student, &t, i64::MAX, None, Ok("Abc123")),
            (&other, Kind::Student, &t, 1_000, None, Err(TokenError::Forged)),
            (&signer, Kind::Resume, &t, 1_000, None, Err(TokenError::Forged)),
            (&signer, Kind::Student, "s.Abc123.1000", 1_000, None, Err(TokenError::Forged)),
            (&signer, Kind::Student, "", 1_000, None, Err(TokenError::Forged)),
            (&signer, Kind::Student, "s.x.y.!!!", 1_000, None, Err(TokenError::Forged)),
        ];
        for (s, kind, token, now, age, want) in cases {
            assert_eq!(s.verify(*kind, token, *now, *age).as_deref().map_err(|e| *e), *want, "{token} {kind:?}");
        }
        // Changing the id, the time or the kind breaks the signature.
        let tag = t.rsplit_once('.').map(|(_, tag)| tag).unwrap_or_default();
        for forged in [format!("s.Abc124.1000.{tag}"), format!("s.Abc123.999999.{tag}"), format!("r.Abc123.1000.{tag}")]
        {
            assert_eq!(signer.verify(Kind::Student, &forged, 1_000, None), Err(TokenError::Forged), "{forged}");
            assert_eq!(signer.verify(Kind::Resume, &forged, 1_000, None), Err(TokenError::Forged), "{forged}");
        }
        let secret = signer.sign(Kind::Secret, "Class1", 0);
        assert_eq!(signer.verify(Kind::Secret, &secret, i64::MAX, None).as_deref(), Ok("Class1"));
        assert_eq!(signer.verify(Kind::Instructor, &secret, 0, None), Err(TokenError::Forged));
    }
}
