//! Splitting the input into lines the way InfluxDB 1.x does.
//!
//! A newline ends a line unless it is inside a quoted field value or right
//! after a backslash. InfluxDB decides this with a small state machine
//! (`scanLine` in `models/points.go`) that knows just enough of the grammar to
//! tell where quotes open; it is reproduced here exactly, because where lines
//! end decides which of the following lines survive a malformed one (an
//! unbalanced quote swallows the rest of the body, as in InfluxDB).

use memchr::{memchr3, memchr_iter};

/// Returns the end of the line starting at `start` (the index of its
/// terminating `\n`, or `b.len()`) and how many newlines the line itself
/// contains (quoted or escaped ones).
#[inline]
pub(crate) fn line_end(b: &[u8], start: usize) -> (usize, usize) {
    let rest = &b[start..];
    // Without a quote or backslash before it, the first newline ends the
    // line whatever the state machine would think: one SIMD scan suffices.
    match memchr3(b'\n', b'"', b'\\', rest) {
        None => (b.len(), 0),
        Some(off) if rest[off] == b'\n' => (start + off, 0),
        Some(_) => line_end_slow(b, start),
    }
}

#[cold]
fn line_end_slow(b: &[u8], start: usize) -> (usize, usize) {
    let mut quoted = false;
    // Whether an (unescaped) space was seen: quotes only count after it.
    let mut fields = false;
    // A quote opens a string only in a value position, i.e. when there have
    // been more `=` than `,` since the fields began (InfluxDB counts them
    // the same crude way, including the ones of a leading-space tag set).
    let mut equals = 0usize;
    let mut commas = 0usize;
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if c == b' ' {
            fields = true;
        }
        if fields {
            if !quoted && c == b'=' {
                equals += 1;
                i += 1;
                continue;
            } else if !quoted && c == b',' {
                commas += 1;
                i += 1;
                continue;
            } else if c == b'"' && equals > commas {
                quoted = !quoted;
                i += 1;
                continue;
            }
        }
        if c == b'\n' && !quoted {
            break;
        }
        i += 1;
    }
    let end = i.min(b.len());
    (end, memchr_iter(b'\n', &b[start..end]).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<&str> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < b.len() {
            let (end, _) = line_end(b, pos);
            out.push(&s[pos..end]);
            pos = end + 1;
        }
        out
    }

    #[test]
    fn plain_lines() {
        assert_eq!(lines("a x=1\nb x=2\n"), ["a x=1", "b x=2"]);
        assert_eq!(lines("a x=1\n\nb x=2"), ["a x=1", "", "b x=2"]);
    }

    #[test]
    fn quoted_newline_stays_in_line() {
        assert_eq!(lines("a x=\"1\n2\" 5\nb x=2"), ["a x=\"1\n2\" 5", "b x=2"]);
        assert_eq!(line_end(b"a x=\"1\n2\" 5\nb", 0), (11, 1));
    }

    #[test]
    fn escaped_newline_joins_lines() {
        // as InfluxDB 1.6 does: `h2,t=a\` + newline + `h2 b=2` is one line.
        assert_eq!(lines("a,t=x\\\na y=1\nb"), ["a,t=x\\\na y=1", "b"]);
    }

    #[test]
    fn quotes_in_names_do_not_open_strings() {
        assert_eq!(lines("a\"b,t=\"x y=1\nb"), ["a\"b,t=\"x y=1", "b"]);
        assert_eq!(lines("a \"k\"=1\nb"), ["a \"k\"=1", "b"]);
    }

    #[test]
    fn unbalanced_quote_swallows_the_rest() {
        assert_eq!(lines("a x=\"1\nb x=2\n"), ["a x=\"1\nb x=2\n"]);
    }

    #[test]
    fn escaped_quote_does_not_close() {
        assert_eq!(lines("a x=\"1\\\"\n\" 1\nb"), ["a x=\"1\\\"\n\" 1", "b"]);
    }

    #[test]
    fn trailing_backslash_at_end_of_input() {
        assert_eq!(line_end(b"a\\", 0), (2, 0));
        assert_eq!(line_end(b"a\\\n", 0), (3, 1));
    }
}
