//! Escaping, eliding and number formatting for the HTML and SVG the view modules build as
//! strings (integer arithmetic only, so the bundle carries no float formatting for them).

pub use socketlab_proto::text::esc;

/// `text` cut to at most `max` characters, ending in "…" when cut, for one-line places (History,
/// captions) where a long message must not grow the page.
pub fn elide(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Microseconds as milliseconds with three decimals: 1234 → "1.234".
pub fn ms(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

#[cfg(test)]
mod tests {
    #[test]
    fn milliseconds_with_three_decimals() {
        assert_eq!(
            (super::ms(0), super::ms(1234), super::ms(12_000_007)),
            ("0.000".into(), "1.234".into(), "12000.007".into())
        );
    }

    #[test]
    fn elides_by_characters() {
        assert_eq!(super::elide("short", 5), "short");
        assert_eq!(super::elide("longer", 5), "long…");
        assert_eq!(super::elide("你好世界啊呀", 3), "你好…");
        assert_eq!(super::elide(&"x".repeat(3000), 40).chars().count(), 40);
    }
}
