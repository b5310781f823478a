//! Classes without passwords, the pure parts: display names, join codes, the signed tokens
//! (student cookies, resume links, instructor secrets) and the grades CSV. Nothing here does
//! I/O or reads a clock: anything that depends on time takes `now`, so all of it is
//! table-tested; the gateway's `classes.rs` and `instructor.rs` put it on HTTP.

pub mod grades;
pub mod token;

/// The longest display name, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 40;

/// Letters and digits a join code is made of: no 0/O, 1/I/L, so it reads aloud and types well.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Characters in a join code: 31^8, about 2^40 codes.
pub const CODE_LEN: usize = 8;

/// Why a display name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("the name is longer than {MAX_NAME_CHARS} characters")]
    TooLong,
    #[error("the name has a control character")]
    Control,
}

/// A display name as kept: trimmed, 1 to 40 characters, no control characters.
pub fn display_name(raw: &str) -> Result<String, NameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    Ok(name.to_owned())
}

/// A join code from `random` bytes (one per character; bytes past the alphabet's largest
/// multiple are skipped so every character is equally likely). `None` when `random` ran out.
pub fn join_code(random: &[u8]) -> Option<String> {
    let n = CODE_ALPHABET.len();
    let limit = 256 - 256 % n;
    let code: String = random
        .iter()
        .filter(|b| usize::from(**b) < limit)
        .take(CODE_LEN)
        .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % n]))
        .collect();
    (code.len() == CODE_LEN).then_some(code)
}

/// A typed join code as stored: upper-case, without spaces or dashes. Anything that cannot be
/// a code is `None`, and is answered `unknown_class` unread.
pub fn normalize_code(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_short_and_printable() {
        let forty = "é".repeat(40);
        let cases: &[(&str, Result<&str, NameError>)] = &[
            ("Ada", Ok("Ada")),
            ("  Grace Hopper \t", Ok("Grace Hopper")),
            ("李雷", Ok("李雷")),
            (&forty, Ok(&forty)),
            ("", Err(NameError::Empty)),
            ("   ", Err(NameError::Empty)),
            ("a\u{0}b", Err(NameError::Control)),
            ("a\nb", Err(NameError::Control)),
            ("x\u{7f}", Err(NameError::Control)),
        ];
        for (raw, want) in cases {
            assert_eq!(display_name(raw).as_deref().map_err(Clone::clone), want.clone(), "{raw:?}");
        }
        assert_eq!(display_name(&"é".repeat(41)), Err(NameError::TooLong));
    }

    #[test]
    fn join_codes_use_the_whole_alphabet_evenly_and_read_back() {
        let random: Vec<u8> = (0..=255).collect();
        let code = join_code(&random).expect("enough bytes");
        assert_eq!(code, "ABCDEFGH");
        assert_eq!(join_code(&[0; 7]), None, "too few bytes");
        assert_eq!(join_code(&[255; 64]), None, "bytes past the even range are skipped");
        assert_eq!(normalize_code(" abcd-efgh "), Some("ABCDEFGH".to_owned()));
        for bad in ["ABCDEFG", "ABCDEFGHJ", "ABCDEFG0", "ABCDEFGI", "../etc/pw", ""] {
            assert_eq!(normalize_code(bad), None, "{bad:?}");
        }
    }
}
