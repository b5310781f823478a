//! A small JSON reader and writer for the bodies of the labs API and the stored progress.
//!
//! `serde_json::Value` would pull float parsing and formatting into the bundle, which must stay
//! under its size budget; the labs API only needs strings, whole numbers, booleans, arrays and
//! objects, so numbers stay as their text. Bounded: nesting deeper than [`MAX_DEPTH`] is refused.

use std::ops::Index;

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 32;

/// A JSON value; a number keeps its text.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum J {
    #[default]
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

static NULL: J = J::Null;

impl J {
    /// Parses a whole document; `None` for anything that is not JSON.
    pub fn parse(text: &str) -> Option<J> {
        let mut p = Parser { s: text, i: 0 };
        let v = p.value(0)?;
        p.ws();
        (p.i == text.len()).then_some(v)
    }

    pub fn as_str(&self) -> Option<&str> {
        if let J::Str(s) = self { Some(s) } else { None }
    }

    /// The elements of an array; empty for anything else.
    pub fn items(&self) -> &[J] {
        if let J::Arr(a) = self { a } else { &[] }
    }

    pub fn as_u64(&self) -> Option<u64> {
        if let J::Num(n) = self { n.parse().ok() } else { None }
    }

    pub fn is_true(&self) -> bool {
        *self == J::Bool(true)
    }

    /// The string at `key`, or "".
    pub fn text(&self, key: &str) -> &str {
        self[key].as_str().unwrap_or_default()
    }
}

impl Index<&str> for J {
    type Output = J;
    fn index(&self, key: &str) -> &J {
        match self {
            J::Obj(fields) => fields.iter().find(|(k, _)| k == key).map_or(&NULL, |(_, v)| v),
            _ => &NULL,
        }
    }
}

impl Index<usize> for J {
    type Output = J;
    fn index(&self, i: usize) -> &J {
        self.items().get(i).unwrap_or(&NULL)
    }
}

/// `s` as a JSON string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, word: &str) -> Option<()> {
        self.s[self.i..].starts_with(word).then(|| self.i += word.len())
    }

    fn value(&mut self, depth: usize) -> Option<J> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'n' => self.eat("null").map(|()| J::Null),
            b't' => self.eat("true").map(|()| J::Bool(true)),
            b'f' => self.eat("false").map(|()| J::Bool(false)),
            b'"' => self.string().map(J::Str),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]").is_some() {
                    return Some(J::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat("]").is_some() {
                        return Some(J::Arr(items));
                    }
                    self.eat(",")?;
                }
            }
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.eat("}").is_some() {
                    return Some(J::Obj(fields));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    self.eat(":")?;
                    fields.push((key, self.value(depth + 1)?));
                    self.ws();
                    if self.eat("}").is_some() {
                        return Some(J::Obj(fields));
                    }
                    self.eat(",")?;
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while matches!(self.peek(), Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) {
                    self.i += 1;
                }
                Some(J::Num(self.s[start..self.i].to_owned()))
            }
            _ => None,
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        self.eat("\"")?;
        let mut out = String::new();
        loop {
            let rest = &self.s[self.i..];
            let run = rest.find(['"', '\\'])?;
            out.push_str(&rest[..run]);
            self.i += run + 1;
            if rest.as_bytes()[run] == b'"' {
                return Some(out);
            }
            let c = match self.peek()? {
                b'u' => {
                    self.i += 1;
                    let hi = self.hex4()?;
                    let code = if (0xD800..0xDC00).contains(&hi) {
                        self.eat("\\u")?;
                        let lo = self.hex4()?;
                        0x10000 + ((hi - 0xD800) << 10) + lo.checked_sub(0xDC00)?
                    } else {
                        hi
                    };
                    out.push(char::from_u32(code)?);
                    continue;
                }
                b'n' => '\n',
                b't' => '\t',
                b'r' => '\r',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b @ (b'"' | b'\\' | b'/') => b as char,
                _ => return None,
            };
            self.i += 1;
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_labs_api_sends_and_refuses_the_rest() {
        let v = J::parse(r#" {"id":"a\"b\u00e9\ud83d\ude00","n":12,"ok":true,"x":null,"l":[1,-2.5e3,[]],"o":{}} "#)
            .expect("json");
        assert_eq!(v.text("id"), "a\"bé😀");
        assert_eq!((v["n"].as_u64(), v["ok"].is_true(), v["x"].clone()), (Some(12), true, J::Null));
        assert_eq!(v["l"].items().len(), 3);
        assert_eq!(v["l"][1], J::Num("-2.5e3".into()));
        assert_eq!(v["missing"][3]["deeper"], J::Null);
        assert_eq!(J::parse("\"中文\\n\""), Some(J::Str("中文\n".into())));
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "\"open", "tru", "[1] x", "\"\\ud83d\"", "\"\\q\"", "{1:2}"] {
            assert_eq!(J::parse(bad), None, "{bad}");
        }
        assert_eq!(J::parse(&"[".repeat(1000)), None, "too deep");
        assert!(J::parse(&format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH))).is_some());
    }

    #[test]
    fn quotes_round_trip() {
        for s in ["plain", "qu\"ote\\", "line\nbreak\t\u{1}", "中文 😀"] {
            assert_eq!(J::parse(&quote(s)), Some(J::Str(s.into())), "{s}");
        }
    }
}
