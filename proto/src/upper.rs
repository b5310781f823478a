//! The one upper-casing rule every socketlab server applies.
//!
//! The lesson's servers call Python's `message.decode().upper()`. For valid UTF-8 we follow
//! `str.upper()` exactly, including the full case mappings that change a string's length
//! (`ß` becomes `SS`). Python dies with `UnicodeDecodeError` on bytes that are not UTF-8; we
//! keep serving instead: ASCII letters are upper-cased, every other byte is left untouched,
//! and the caller is told so that it can explain what happened.

/// The result of upper-casing one received payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uppercased {
    /// The bytes to send back.
    pub bytes: Vec<u8>,
    /// True when the input was not valid UTF-8 and only ASCII letters were changed.
    pub invalid_utf8: bool,
}

/// Upper-cases `input` the way the lesson's servers do, and survives where they crash.
pub fn uppercase(input: &[u8]) -> Uppercased {
    match std::str::from_utf8(input) {
        Ok(text) => Uppercased { bytes: text.to_uppercase().into_bytes(), invalid_utf8: false },
        Err(_) => Uppercased { bytes: input.to_ascii_uppercase(), invalid_utf8: true },
    }
}

/// Describes where `input` stops being UTF-8, for error messages and the inspector.
///
/// Returns `None` for valid UTF-8. The wording mirrors Python's `UnicodeDecodeError`, which
/// is what students see when the lesson's server dies on the same bytes.
pub fn utf8_problem(input: &[u8]) -> Option<String> {
    let err = std::str::from_utf8(input).err()?;
    let at = err.valid_up_to();
    let byte = input.get(at).copied().unwrap_or_default();
    Some(match err.error_len() {
        Some(_) => format!("byte 0x{byte:02x} in position {at} is not valid UTF-8"),
        None => format!("the UTF-8 sequence starting at position {at} is cut off"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_python_str_upper_for_valid_utf8() {
        // Each row was checked against CPython's `str.upper()`.
        let table: &[(&str, &str)] = &[
            ("hello", "HELLO"),
            ("", ""),
            ("already UPPER 123 !?", "ALREADY UPPER 123 !?"),
            ("straße", "STRASSE"),
            ("ﬁne ﬂow", "FINE FLOW"),
            ("ǆemal", "ǄEMAL"),
            ("ŉ", "ʼN"),
            ("\u{390}", "\u{399}\u{308}\u{301}"),
            ("σοφία", "ΣΟΦΊΑ"),
            ("привет мир", "ПРИВЕТ МИР"),
            ("你好, socket", "你好, SOCKET"),
            ("émoji 🚀 ok", "ÉMOJI 🚀 OK"),
            ("tab\there\r\n", "TAB\tHERE\r\n"),
            ("ı i", "I I"),
        ];
        for (input, want) in table {
            let got = uppercase(input.as_bytes());
            assert_eq!(String::from_utf8(got.bytes).expect("valid UTF-8 stays valid"), *want, "upper({input:?})");
            assert!(!got.invalid_utf8, "{input:?} is valid UTF-8");
        }
    }

    #[test]
    fn invalid_utf8_changes_only_ascii_letters() {
        let table: &[(&[u8], &[u8])] = &[
            (b"abc\xffdef", b"ABC\xffDEF"),
            (b"\xc3\x28 x", b"\xc3\x28 X"),
            // A multi-byte character cut off by the buffer keeps its first bytes as they were,
            // and the valid part before it is still only ASCII-upper-cased.
            (b"stra\xc3\x9fe \xe4\xbd", b"STRA\xc3\x9fE \xe4\xbd"),
            (b"\x80", b"\x80"),
        ];
        for (input, want) in table {
            let got = uppercase(input);
            assert_eq!(got.bytes, *want, "upper({input:?})");
            assert!(got.invalid_utf8, "{input:?} is not UTF-8");
        }
    }

    #[test]
    fn explains_where_utf8_breaks() {
        assert_eq!(utf8_problem(b"fine"), None);
        assert_eq!(utf8_problem(b"ab\xffcd").as_deref(), Some("byte 0xff in position 2 is not valid UTF-8"));
        assert_eq!(
            utf8_problem(b"ab\xe4\xbd").as_deref(),
            Some("the UTF-8 sequence starting at position 2 is cut off")
        );
    }
}
