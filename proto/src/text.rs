//! The text helpers both browser pages (students' and instructor's) share: the page language,
//! the lookup in a page's (key, English, Chinese) table, `{name}` templates and HTML escaping.
//! Each page keeps its own table; only the rules live here, so the two cannot drift apart.

/// A page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    /// The language a browser prefers, from `navigator.language`.
    pub fn of(tag: &str) -> Self {
        if tag.to_ascii_lowercase().starts_with("zh") { Self::Zh } else { Self::En }
    }

    /// The other language, for the toggle.
    pub fn other(self) -> Self {
        match self {
            Self::En => Self::Zh,
            Self::Zh => Self::En,
        }
    }

    /// The `lang` attribute value.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh",
        }
    }
}

/// One sentence: (key, English, Chinese).
pub type Row = (&'static str, &'static str, &'static str);

/// The text for `key` in `lang` from the first of `tables` that has it; the key itself if none
/// does, so a gap is visible on the page.
pub fn lookup<'a>(tables: &[&[Row]], lang: Lang, key: &'a str) -> &'a str {
    let mut rows = tables.iter().flat_map(|table| table.iter());
    rows.find(|(k, _, _)| *k == key).map(|(_, en, zh)| if lang == Lang::En { *en } else { *zh }).unwrap_or(key)
}

/// What is wrong with a page's `tables` taken together: an empty sentence, a key given twice, or
/// a key whose languages fill different placeholders. Empty when the tables are sound.
pub fn table_faults(tables: &[&[Row]]) -> Vec<String> {
    let all: Vec<&Row> = tables.iter().flat_map(|table| table.iter()).collect();
    let mut faults = Vec::new();
    for (i, (key, en, zh)) in all.iter().enumerate() {
        if en.is_empty() || zh.is_empty() {
            faults.push(format!("{key}: a language is empty"));
        }
        if all[i + 1..].iter().any(|(k, _, _)| k == key) {
            faults.push(format!("{key}: duplicate key"));
        }
        if holes(en) != holes(zh) {
            faults.push(format!("{key}: the languages fill different placeholders"));
        }
    }
    faults
}

/// The placeholder names in `template`, sorted.
fn holes(template: &str) -> Vec<&str> {
    let mut names: Vec<&str> = template.split('{').skip(1).filter_map(|p| p.split_once('}').map(|(n, _)| n)).collect();
    names.sort_unstable();
    names
}

/// Replaces each `{name}` in `template` with its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// Escapes text for an element's content or a quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[Row] = &[("send", "Send", "发送"), ("step_of", "Step {n} of {total}", "第 {n} 步，共 {total} 步")];
    const B: &[Row] = &[("send", "Other", "其他"), ("join", "Join", "加入")];

    #[test]
    fn languages_from_browser_tags() {
        assert_eq!(
            (Lang::of("zh-CN"), Lang::of("ZH"), Lang::of("en-US"), Lang::of("")),
            (Lang::Zh, Lang::Zh, Lang::En, Lang::En)
        );
        assert_eq!((Lang::En.other(), Lang::Zh.other()), (Lang::Zh, Lang::En));
        assert_eq!((Lang::En.code(), Lang::Zh.code(), Lang::default()), ("en", "zh", Lang::En));
    }

    #[test]
    fn lookup_takes_the_first_table_that_has_the_key_and_shows_a_gap() {
        assert_eq!(lookup(&[A, B], Lang::En, "send"), "Send");
        assert_eq!(lookup(&[A, B], Lang::Zh, "send"), "发送");
        assert_eq!(lookup(&[A, B], Lang::Zh, "join"), "加入");
        assert_eq!(lookup(&[A, B], Lang::En, "no_such_key"), "no_such_key");
        assert_eq!(fill(lookup(&[A], Lang::En, "step_of"), &[("n", "2"), ("total", "9")]), "Step 2 of 9");
    }

    #[test]
    fn table_faults_names_each_fault() {
        assert!(table_faults(&[A]).is_empty());
        assert_eq!(table_faults(&[A, B]), ["send: duplicate key"]);
        let bad: &[Row] = &[("x", "", "空"), ("y", "{a} and {b}", "{a}")];
        assert_eq!(table_faults(&[bad]), ["x: a language is empty", "y: the languages fill different placeholders"]);
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(esc(r#"<b a="x">&'"#), "&lt;b a=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(esc("中文 plain"), "中文 plain");
    }
}
