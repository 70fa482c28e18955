//! Quoting of identifiers and strings for canonical output.

use crate::lexer::{is_ident_char, is_ident_first_char, lookup, Tok};

/// `'text'` with `\n`, `\\` and `\'` escaped.
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// True when `ident` must be double-quoted to be read back as the same
/// identifier: keywords (any case) and names with other than `[A-Za-z0-9_]`
/// or starting with a digit.
pub fn ident_needs_quotes(ident: &str) -> bool {
    if lookup(ident) != Tok::Ident {
        return true;
    }
    ident.chars().enumerate().any(|(i, c)| {
        if i == 0 {
            !is_ident_first_char(c)
        } else {
            !is_ident_char(c)
        }
    })
}

/// An identifier, double-quoted when needed (always when empty).
pub fn quote_ident(ident: &str) -> String {
    if ident.is_empty() || ident_needs_quotes(ident) {
        quoted(ident)
    } else {
        ident.to_owned()
    }
}

fn quoted(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len() + 2);
    out.push('"');
    for c in ident.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Dotted identifier segments the way InfluxQL prints them in messages.
pub(crate) fn quote_ident_segments<S: AsRef<str>>(segments: &[S]) -> String {
    let n = segments.len();
    let mut out = String::new();
    for (i, seg) in segments.iter().enumerate() {
        let seg = seg.as_ref();
        let need = ident_needs_quotes(seg)
            || (i + 1 < n && !seg.is_empty())
            || ((i == 0 || i + 1 == n) && seg.is_empty());
        if need {
            out.push_str(&quoted(seg));
        } else {
            out.push_str(seg);
        }
        if i + 1 < n {
            out.push('.');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("cpu"), "cpu");
        assert_eq!(quote_ident("select"), "\"select\"");
        assert_eq!(quote_ident("my field"), "\"my field\"");
        assert_eq!(quote_ident("1x"), "\"1x\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(quote_ident("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote_string("it's\n"), "'it\\'s\\n'");
        assert_eq!(quote_ident_segments(&["db", "rp", "m"]), "\"db\".\"rp\".m");
    }
}
