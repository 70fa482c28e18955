//! Tests of the public behaviour. "as InfluxDB 1.6 does" marks behaviour
//! observed on `influxd` 1.6.7 over HTTP `/write`.

use std::borrow::Cow;

use crate::*;

fn parse_one(s: &str) -> ParsedLine<'_> {
    let mut it = parse_lines(s);
    let line = it
        .next()
        .expect("a line")
        .unwrap_or_else(|e| panic!("{s:?}: {e}"));
    assert!(it.next().is_none(), "{s:?}: more than one line");
    line
}

fn reason(s: &str) -> ErrorReason {
    let mut it = parse_lines(s);
    let e = it
        .next()
        .expect("a line")
        .expect_err(&format!("{s:?} should fail"));
    e.reason
}

fn value(s: &str) -> FieldValue<'static> {
    parse_one(&format!("m v={s}")).fields[0]
        .1
        .clone()
        .into_owned()
}

fn float(s: &str) -> f64 {
    match value(s) {
        FieldValue::Float(f) => f,
        other => panic!("{s}: {other:?}"),
    }
}

#[allow(clippy::ptr_arg)] // the point is to look at the Cow's variant
fn borrowed(c: &Cow<'_, str>) -> bool {
    matches!(c, Cow::Borrowed(_))
}

// ---------------------------------------------------------------- syntax

#[test]
fn full_line() {
    let l = parse_one("cpu,host=a,region=west usage=0.5,count=3i,ok=true,msg=\"hi\",u=7u 1500");
    assert_eq!(l.measurement, "cpu");
    assert_eq!(
        l.tags,
        vec![
            ("host".into(), "a".into()),
            ("region".into(), "west".into())
        ]
    );
    assert_eq!(
        l.fields,
        vec![
            ("usage".into(), FieldValue::Float(0.5)),
            ("count".into(), FieldValue::Integer(3)),
            ("ok".into(), FieldValue::Boolean(true)),
            ("msg".into(), FieldValue::String("hi".into())),
            ("u".into(), FieldValue::Unsigned(7)),
        ]
    );
    assert_eq!(l.timestamp, Some(1500));
    assert_eq!(l.line_number, 1);
    assert!(borrowed(&l.measurement));
    assert!(l.tags.iter().all(|(k, v)| borrowed(k) && borrowed(v)));
    assert!(matches!(
        &l.fields[3].1,
        FieldValue::String(Cow::Borrowed("hi"))
    ));
}

#[test]
fn no_tags_no_timestamp() {
    let l = parse_one("cpu v=1");
    assert!(l.tags.is_empty());
    assert_eq!(l.timestamp, None);
    assert_eq!(l.field("v"), Some(&FieldValue::Float(1.0)));
}

#[test]
fn tags_are_sorted() {
    // as InfluxDB 1.6 does (series keys use the sorted tag set)
    let l = parse_one("cpu,zone=z,b=2,a=1,host=h v=1");
    let keys: Vec<&str> = l.tags.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(keys, ["a", "b", "host", "zone"]);
    assert_eq!(l.tag("host"), Some("h"));
    assert_eq!(l.tag("nope"), None);
}

#[test]
fn tag_value_may_start_with_equals() {
    // as InfluxDB 1.6 does: `cpu,a==b c=1` is accepted.
    assert_eq!(parse_one("cpu,a==b c=1").tag("a"), Some("=b"));
    assert_eq!(parse_one("cpu,a== c=1").tag("a"), Some("="));
}

#[test]
fn every_boolean_spelling() {
    for t in ["t", "T", "true", "True", "TRUE"] {
        assert_eq!(value(t), FieldValue::Boolean(true), "{t}");
    }
    for f in ["f", "F", "false", "False", "FALSE"] {
        assert_eq!(value(f), FieldValue::Boolean(false), "{f}");
    }
    for bad in ["tRUE", "TRue", "fAlse", "yes", "truee", "Fa", "on"] {
        assert_eq!(
            reason(&format!("m v={bad}")),
            ErrorReason::InvalidBoolean,
            "{bad}"
        );
    }
}

#[test]
fn floats() {
    assert_eq!(float("1"), 1.0);
    assert_eq!(float("1.5"), 1.5);
    assert_eq!(float("-1.5e10"), -1.5e10);
    assert_eq!(float(".5"), 0.5);
    assert_eq!(float("5."), 5.0);
    assert_eq!(float("-.5"), -0.5);
    assert_eq!(float("1E5"), 1e5);
    assert_eq!(float("1e+5"), 1e5);
    assert_eq!(float("1.e5"), 1e5);
    assert_eq!(float("2.5E-3"), 2.5e-3);
    assert_eq!(float("01"), 1.0);
    assert_eq!(float("007.50"), 7.5);
    // as InfluxDB 1.6 does: underflow is not an error.
    assert_eq!(float("1e-400"), 0.0);
    assert!(float("-0").is_sign_negative());
    assert_eq!(float("1.7976931348623157e308"), f64::MAX);
    assert_eq!(float("123456789012345678"), 123456789012345678.0);
    assert_eq!(float("0.1"), 0.1);
    assert_eq!(float(&"9".repeat(30)), 1e30);
}

#[test]
fn integers_and_unsigned() {
    assert_eq!(value("0i"), FieldValue::Integer(0));
    assert_eq!(value("-0i"), FieldValue::Integer(0));
    assert_eq!(value("-42i"), FieldValue::Integer(-42));
    assert_eq!(value("9223372036854775807i"), FieldValue::Integer(i64::MAX));
    assert_eq!(
        value("-9223372036854775808i"),
        FieldValue::Integer(i64::MIN)
    );
    assert_eq!(
        value("0009223372036854775807i"),
        FieldValue::Integer(i64::MAX)
    );
    assert_eq!(value("0u"), FieldValue::Unsigned(0));
    assert_eq!(
        value("18446744073709551615u"),
        FieldValue::Unsigned(u64::MAX)
    );
}

#[test]
fn strings() {
    assert_eq!(value("\"\""), FieldValue::String("".into()));
    assert_eq!(
        value(r#""a \"q\" \\ b""#),
        FieldValue::String(r#"a "q" \ b"#.into())
    );
    // Other backslashes are literal.
    assert_eq!(
        value(r#""c:\dir\n""#),
        FieldValue::String(r"c:\dir\n".into())
    );
    assert_eq!(value(r#""\\\\""#), FieldValue::String(r"\\".into()));
    assert_eq!(value(r#""a,b c=d""#), FieldValue::String("a,b c=d".into()));
    assert_eq!(value("\"héllo ✓\""), FieldValue::String("héllo ✓".into()));
    // as InfluxDB 1.6 does: a quoted newline belongs to the string.
    assert_eq!(value("\"x\ny\""), FieldValue::String("x\ny".into()));
    let l = parse_one(r#"m s="plain",e="a\"b""#);
    assert!(matches!(
        &l.fields[0].1,
        FieldValue::String(Cow::Borrowed(_))
    ));
    assert!(matches!(&l.fields[1].1, FieldValue::String(Cow::Owned(_))));
}

#[test]
fn string_length_limit() {
    let ok = format!("m s=\"{}\"", "x".repeat(MAX_STRING_FIELD_BYTES));
    assert!(matches!(parse_one(&ok).fields[0].1, FieldValue::String(_)));
    let long = format!("m s=\"{}\"", "x".repeat(MAX_STRING_FIELD_BYTES + 1));
    assert_eq!(reason(&long), ErrorReason::StringTooLong);
    // The limit applies after unescaping: 65536 quotes written as `\"`.
    let escaped = format!("m s=\"{}\"", r#"\""#.repeat(MAX_STRING_FIELD_BYTES));
    match &parse_one(&escaped).fields[0].1 {
        FieldValue::String(s) => assert_eq!(s.len(), MAX_STRING_FIELD_BYTES),
        other => panic!("{other:?}"),
    }
    let escaped = format!("m s=\"{}\"", r#"\""#.repeat(MAX_STRING_FIELD_BYTES + 1));
    assert_eq!(reason(&escaped), ErrorReason::StringTooLong);
}

#[test]
fn measurement_escapes() {
    assert_eq!(parse_one(r"c\,p\ u v=1").measurement, "c,p u");
    // as InfluxDB 1.6 does: `\=` and `\"` are unescaped in measurements too
    // (`m\=1\"x\,y\ z\a` became `m=1"x,y z\a`).
    assert_eq!(
        parse_one(r#"m\=1\"x\,y\ z\a v=1"#).measurement,
        r#"m=1"x,y z\a"#
    );
    // Unescaped `=` and `"` are plain characters in a measurement.
    assert_eq!(parse_one(r#"a=b"c v=1"#).measurement, r#"a=b"c"#);
    // A backslash before anything else is literal.
    assert_eq!(parse_one(r"c\pu v=1").measurement, r"c\pu");
    // The byte before a delimiter decides: `\\,` is a literal backslash and
    // an escaped comma.
    assert_eq!(parse_one(r"a\\,b v=1").measurement, r"a\,b");
    // as InfluxDB 1.6 does: `cpu\\,t=a b=1` is one measurement.
    assert_eq!(parse_one(r"cpu\\,t=a b=1").measurement, r"cpu\,t=a");
    assert!(borrowed(&parse_one(r"c\pu v=1").measurement));
    assert!(!borrowed(&parse_one(r"c\ u v=1").measurement));
    // A tab is part of the name, not a separator (as InfluxDB 1.6 does).
    assert_eq!(parse_one("cpu\tb a=1").measurement, "cpu\tb");
}

#[test]
fn tag_escapes() {
    let l = parse_one(r"m,k\,\=\ ey=v\,\=\ al v=1");
    assert_eq!(l.tag("k,= ey"), Some("v,= al"));
    // as InfluxDB 1.6 does: `\"` and `\a` stay as they are in tags
    // (`t\"k\=\,\ \a` became `t\"k=, \a`).
    let l = parse_one(r#"m,t\"k\=\,\ \a=v\"\=\,\ \a v=1"#);
    assert_eq!(l.tags[0], (r#"t\"k=, \a"#.into(), r#"v\"=, \a"#.into()));
    // as InfluxDB 1.6 does: `cpu,t=a\\ b=1` is an invalid tag format (the
    // space is escaped, so `b=1` is still part of the value).
    assert_eq!(reason(r"cpu,t=a\\ b=1"), ErrorReason::InvalidTagFormat);
    assert_eq!(parse_one(r"m,t=a\\ b v=1").tag("t"), Some(r"a\ b"));
}

#[test]
fn field_key_escapes() {
    let l = parse_one(r#"m f\"k\=\,\ \a=1"#);
    // as InfluxDB 1.6 does: field keys also unescape `\"`.
    assert_eq!(l.fields[0].0, r#"f"k=, \a"#);
    // Quotes are not special in keys.
    assert_eq!(parse_one(r#"m "k"=1,a"b=2"#).fields[1].0, "a\"b");
    assert!(borrowed(&parse_one(r"m f\x=1").fields[0].0));
}

#[test]
fn whitespace() {
    // as InfluxDB 1.6 does: leading spaces/tabs, several spaces before the
    // fields or the timestamp, a tab before the timestamp, trailing spaces.
    let l = parse_one(" \t cpu  \t a=1 \t 5   ");
    assert_eq!(l.measurement, "cpu");
    assert_eq!(l.timestamp, Some(5));
    assert_eq!(parse_one("cpu a=1 ").timestamp, None);
    assert_eq!(parse_one("cpu a=1 \t").timestamp, None);
    assert_eq!(parse_one("\0cpu a=1").measurement, "cpu");
}

#[test]
fn crlf_comments_blank_lines() {
    let input =
        "# header\r\n\r\ncpu a=1 1\r\n   # indented comment\n\t\n\ncpu a=2 2\r\ncpu a=\"x\" 3\r";
    let lines: Vec<_> = parse_lines(input).map(Result::unwrap).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0].line_number, 3);
    assert_eq!(lines[1].line_number, 7);
    assert_eq!(lines[1].timestamp, Some(2));
    assert_eq!(lines[2].line_number, 8);
    assert_eq!(lines[2].field("a"), Some(&FieldValue::String("x".into())));
    assert!(parse_lines("").next().is_none());
    assert!(parse_lines("\n\n#x\n  \n").next().is_none());
    // `#` only starts a comment at the start of a line.
    assert_eq!(parse_one("c#pu a=1").measurement, "c#pu");
}

#[test]
fn line_numbers_count_quoted_newlines() {
    let input = "a s=\"1\n2\n3\" 1\nb v=1\nb v=\n";
    let res: Vec<_> = parse_lines(input).collect();
    assert_eq!(res[0].as_ref().unwrap().line_number, 1);
    assert_eq!(res[1].as_ref().unwrap().line_number, 4);
    assert_eq!(res[2].as_ref().unwrap_err().line_number, 5);
}

#[test]
fn backslash_newline_joins_lines() {
    // as InfluxDB 1.6 does: `h2,t=a\` + newline + `h2 b=2 10` is one line
    // whose tag value is "a\\\nh2".
    let res: Vec<_> = parse_lines("h2,t=a\\\nh2 b=2 10\nh2 c=3 10\n").collect();
    assert_eq!(res.len(), 2);
    let l = res[0].as_ref().unwrap();
    assert_eq!(l.tag("t"), Some("a\\\nh2"));
    assert_eq!(res[1].as_ref().unwrap().line_number, 3);
}

#[test]
fn unbalanced_quote_swallows_the_rest() {
    // as InfluxDB 1.6 does: the error names the whole rest of the body.
    let res: Vec<_> = parse_lines("h3 a=\"open 10\nh3 b=2 10\nh3 c=3 10\n").collect();
    assert_eq!(res.len(), 1);
    let e = res[0].as_ref().unwrap_err();
    assert_eq!(e.reason, ErrorReason::UnbalancedQuotes);
    assert_eq!(
        e.to_string(),
        "unable to parse 'h3 a=\"open 10\nh3 b=2 10\nh3 c=3 10': unbalanced quotes (line 1)"
    );
}

#[test]
fn quote_after_timestamp_swallows_lines() {
    // as InfluxDB 1.6 does: a quote in the timestamp position opens a
    // "string" for the line splitter.
    let res: Vec<_> = parse_lines("h5 a=1 10 \"\nh5 b=2 20\nh5 c=3 \"30\nh5 d=1 1\n").collect();
    assert_eq!(res.len(), 2);
    assert_eq!(
        res[0].as_ref().unwrap_err().reason,
        ErrorReason::TrailingGarbage
    );
    assert_eq!(res[1].as_ref().unwrap().line_number, 4);
}

#[test]
fn timestamps() {
    assert_eq!(parse_one("m v=1 -5").timestamp, Some(-5));
    assert_eq!(parse_one("m v=1 0").timestamp, Some(0));
    assert_eq!(parse_one("m v=1 007").timestamp, Some(7));
    assert_eq!(
        parse_one("m v=1 9223372036854775807").timestamp,
        Some(i64::MAX)
    );
    assert_eq!(
        parse_one("m v=1 -9223372036854775808").timestamp,
        Some(i64::MIN)
    );
    assert_eq!(
        reason("m v=1 9223372036854775808"),
        ErrorReason::TimestampOutOfRange
    );
}

#[test]
fn time_field_and_tag() {
    // as InfluxDB 1.6 does: a `time` field is dropped when other fields
    // remain, and the point is refused when it was the only one.
    let l = parse_one("cpu time=1,v=2");
    assert_eq!(l.fields, vec![("v".into(), FieldValue::Float(2.0))]);
    assert_eq!(reason("cpu time=1"), ErrorReason::InvalidFieldKey);
    assert_eq!(reason("cpu time=1,time=2i"), ErrorReason::InvalidFieldKey);
    assert_eq!(reason("cpu,time=a v=1"), ErrorReason::InvalidTagKey);
    // Only the exact name: `Time` and `time ` are ordinary.
    assert_eq!(parse_one("cpu,Time=a Time=1").tag("Time"), Some("a"));
    // Syntax errors come first.
    assert_eq!(reason("cpu,time=a v=x"), ErrorReason::InvalidBoolean);
}

#[test]
fn repeated_field() {
    // as InfluxDB 1.6 does: `d1 a=1,a=2` stores a=2.
    let l = parse_one("m a=1,b=2i,a=3");
    assert_eq!(
        l.fields,
        vec![
            ("a".into(), FieldValue::Float(3.0)),
            ("b".into(), FieldValue::Integer(2))
        ]
    );
    // as InfluxDB 1.6 does: `a=1i,a="x"` is a field type conflict.
    assert_eq!(reason("m a=1i,a=\"x\""), ErrorReason::FieldTypeConflict);
    // Many fields, some repeated: the bitmask prefilter must not lose any.
    let mut s = String::from("m ");
    for i in 0..200 {
        s.push_str(&format!("f{}={}i,", i % 70, i));
    }
    s.pop();
    let l = parse_one(&s);
    assert_eq!(l.fields.len(), 70);
    assert_eq!(l.field("f0"), Some(&FieldValue::Integer(140)));
    assert_eq!(l.field("f69"), Some(&FieldValue::Integer(139)));
    assert_eq!(l.fields[5].0, "f5");
}

#[test]
fn max_key_length() {
    let ok = format!("{} v=1", "m".repeat(MAX_KEY_LENGTH - 5));
    assert!(parse_lines(&ok).next().unwrap().is_ok());
    let long = format!("{} v=1", "m".repeat(MAX_KEY_LENGTH + 1));
    assert_eq!(reason(&long), ErrorReason::MaxKeyLengthExceeded);
    let ok_field = format!("m,t=x {}=1", "f".repeat(MAX_KEY_LENGTH - 9));
    assert!(parse_lines(&ok_field).next().unwrap().is_ok());
    let long_field = format!("m,t=x {}=1", "f".repeat(MAX_KEY_LENGTH - 8));
    assert_eq!(reason(&long_field), ErrorReason::MaxKeyLengthExceeded);
}

#[test]
fn bytes_input() {
    let mut input = b"cpu v=1 1\ncpu,h=".to_vec();
    input.extend_from_slice(&[0xff, 0xfe]);
    input.extend_from_slice(b" v=2 2\ncpu v=3 3\n");
    let res: Vec<_> = parse_lines_bytes(&input).collect();
    assert_eq!(res.len(), 3);
    assert_eq!(res[0].as_ref().unwrap().timestamp, Some(1));
    let e = res[1].as_ref().unwrap_err();
    assert_eq!((e.line_number, e.reason), (2, ErrorReason::InvalidUtf8));
    assert_eq!(e.line, "cpu,h=\u{fffd}\u{fffd} v=2 2");
    assert_eq!(res[2].as_ref().unwrap().timestamp, Some(3));
    // Valid UTF-8 gives exactly what the str entry gives.
    let s = "m,t=é v=\"ü\" 1\nbad\n";
    assert_eq!(
        parse_lines_bytes(s.as_bytes()).collect::<Vec<_>>(),
        parse_lines(s).collect::<Vec<_>>()
    );
}

#[test]
fn error_display_and_truncation() {
    let e = parse_lines("a v=1\n\ncpu value=x")
        .nth(1)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "unable to parse 'cpu value=x': invalid boolean (line 3)"
    );
    let long = format!("m v={}", "é".repeat(2000));
    let e = parse_lines(&long).next().unwrap().unwrap_err();
    assert!(e.line.ends_with("..."));
    assert!(e.line.len() <= MAX_ERROR_LINE_BYTES + 3);
    assert!(!e.line.contains('\u{fffd}'));
    assert!(e.line.starts_with("m v=éé"));
}

#[test]
fn lazy_iteration() {
    // Only as much as is consumed is parsed; errors do not stop iteration.
    let mut it = parse_lines("a v=1\nbad\nc v=3\n");
    assert!(it.next().unwrap().is_ok());
    assert!(it.next().unwrap().is_err());
    assert_eq!(it.next().unwrap().unwrap().measurement, "c");
    assert!(it.next().is_none());
    assert!(it.next().is_none());
}

#[test]
fn into_owned_outlives_input() {
    let owned = {
        let input = String::from(r#"m\ x,t=v\,w s="a\"b" 5"#);
        parse_one(&input).into_owned()
    };
    assert_eq!(owned.measurement, "m x");
    assert_eq!(owned.tag("t"), Some("v,w"));
    assert_eq!(owned.field("s"), Some(&FieldValue::String("a\"b".into())));
}

// ---------------------------------------------------------------- errors

/// One bad line, its reason, and InfluxDB 1.6's error text for it when ours
/// is the same (as InfluxDB 1.6 does); `None` where InfluxDB differs (see
/// the crate docs) or words it with Go internals.
const MALFORMED: &[(&str, ErrorReason, Option<&str>)] = {
    use ErrorReason::*;
    &[
        ("cpu", MissingFields, Some("missing fields")),
        ("cpu,host=a", MissingFields, Some("missing fields")),
        ("cpu,host=a\\ ", MissingFields, None),
        (",cpu v=1", MissingMeasurement, Some("missing measurement")),
        ("cpu,=a v=1", MissingTagKey, Some("missing tag key")),
        ("cpu, v=1", MissingTagKey, Some("missing tag key")),
        ("cpu,a=1, v=1", MissingTagKey, None),
        ("cpu,host v=1", MissingTagValue, Some("missing tag value")),
        ("cpu,host= v=1", MissingTagValue, Some("missing tag value")),
        ("cpu,host=,a=b v=1", MissingTagValue, None),
        (
            "cpu,a=b=c v=1",
            InvalidTagFormat,
            Some("invalid tag format"),
        ),
        ("cpu,a=1,a=2 v=1", DuplicateTags, Some("duplicate tags")),
        ("cpu,b=1,a=1,b=2 v=1", DuplicateTags, Some("duplicate tags")),
        ("cpu,time=x v=1", InvalidTagKey, None),
        ("cpu =1", MissingFieldKey, Some("missing field key")),
        ("cpu a=1,=2", MissingFieldKey, Some("missing field key")),
        ("cpu a=", MissingFieldValue, Some("missing field value")),
        ("cpu a=,b=1", MissingFieldValue, Some("missing field value")),
        ("cpu a= 1", MissingFieldValue, Some("missing field value")),
        ("cpu a=1,", InvalidFieldFormat, Some("invalid field format")),
        (
            "cpu a=1,b",
            InvalidFieldFormat,
            Some("invalid field format"),
        ),
        ("cpu a", InvalidFieldFormat, Some("invalid field format")),
        ("cpu ", InvalidFieldFormat, Some("invalid field format")),
        (
            "cpu a=1,,b=2",
            InvalidFieldFormat,
            Some("invalid field format"),
        ),
        (
            "cpu a=1, b=2",
            InvalidFieldFormat,
            Some("invalid field format"),
        ),
        // InfluxDB 1.6 accepts this and stores `x"`.
        ("cpu a=\"x\"y", InvalidFieldFormat, None),
        ("cpu a=\"x\"\"y\"", InvalidFieldFormat, None),
        ("cpu time=1", InvalidFieldKey, None),
        ("cpu a=1i,a=\"x\"", FieldTypeConflict, None),
        ("cpu a=1.2.3", InvalidNumber, Some("invalid number")),
        ("cpu a=1i2", InvalidNumber, Some("invalid number")),
        ("cpu a=1ii", InvalidNumber, Some("invalid number")),
        ("cpu a=1.5i", InvalidNumber, Some("invalid number")),
        ("cpu a=1.5u", InvalidNumber, None),
        ("cpu a=NaN", InvalidNumber, Some("invalid number")),
        ("cpu a=nan", InvalidNumber, Some("invalid number")),
        ("cpu a=-Inf", InvalidNumber, Some("invalid number")),
        ("cpu a=0x10", InvalidNumber, Some("invalid number")),
        ("cpu a=1_000", InvalidNumber, Some("invalid number")),
        ("cpu a=-", InvalidNumber, Some("invalid number")),
        ("cpu a=.", InvalidNumber, Some("invalid number")),
        ("cpu a=-.", InvalidNumber, Some("invalid number")),
        ("cpu a=-i", InvalidNumber, Some("invalid number")),
        ("cpu a=1\t", InvalidNumber, Some("invalid number")),
        ("cpu a=1e", InvalidFloat, Some("invalid float")),
        ("cpu a=1e+", InvalidFloat, None),
        ("cpu a=1e400", InvalidFloat, Some("invalid float")),
        ("cpu a=-1e400", InvalidFloat, None),
        ("cpu a=1e5e5", InvalidFloat, Some("invalid float")),
        ("cpu a=-e5", InvalidFloat, Some("invalid float")),
        ("cpu a=9223372036854775808i", IntegerOverflow, None),
        ("cpu a=-9223372036854775809i", IntegerOverflow, None),
        ("cpu a=18446744073709551616u", UnsignedOverflow, None),
        ("cpu a=-1u", NegativeUnsigned, None),
        ("cpu a=tRUE", InvalidBoolean, Some("invalid boolean")),
        ("cpu a=Inf", InvalidBoolean, Some("invalid boolean")),
        ("cpu a=inf", InvalidBoolean, Some("invalid boolean")),
        ("cpu a=+1", InvalidBoolean, Some("invalid boolean")),
        ("cpu a=yes", InvalidBoolean, Some("invalid boolean")),
        ("cpu a=i", InvalidBoolean, Some("invalid boolean")),
        ("cpu a=1 12a", BadTimestamp, Some("bad timestamp")),
        ("cpu a=1 1.5", BadTimestamp, Some("bad timestamp")),
        ("cpu a=1 --1", BadTimestamp, Some("bad timestamp")),
        ("cpu a=1 +1", BadTimestamp, Some("bad timestamp")),
        ("cpu a=1 0x10", BadTimestamp, Some("bad timestamp")),
        ("cpu a=1 123\t", BadTimestamp, Some("bad timestamp")),
        ("cpu a=1 ,b=2", BadTimestamp, Some("bad timestamp")),
        ("cpu a=1 -", BadTimestamp, None),
        ("cpu a=1 99999999999999999999", TimestampOutOfRange, None),
        ("cpu a=1 123 x", TrailingGarbage, Some("point is invalid")),
        ("cpu a=1 123 \t", TrailingGarbage, Some("point is invalid")),
        ("cpu a=1 123 456", TrailingGarbage, Some("point is invalid")),
    ]
};

fn check_between_good_lines(bad: &str, expected: ErrorReason, influx: Option<&str>) {
    let input = format!("good v=1i 1\n{bad}\ngood v=2i 2\n");
    let res: Vec<_> = parse_lines(&input).collect();
    assert_eq!(res.len(), 3, "{bad:?}: {res:?}");
    let e = res[1].as_ref().expect_err(bad);
    assert_eq!(e.reason, expected, "{bad:?}");
    assert_eq!(e.line_number, 2, "{bad:?}");
    if bad.len() <= MAX_ERROR_LINE_BYTES {
        assert_eq!(e.line, bad.trim_start(), "{bad:?}");
    } else {
        assert_eq!(e.line, format!("{}...", &bad[..MAX_ERROR_LINE_BYTES]));
    }
    if let Some(text) = influx {
        assert_eq!(
            e.to_string(),
            format!("unable to parse '{bad}': {text} (line 2)")
        );
    }
    for (i, r) in [(0, 1), (2, 2)] {
        let l = res[i].as_ref().unwrap_or_else(|e| panic!("{bad:?}: {e}"));
        assert_eq!(l.field("v"), Some(&FieldValue::Integer(r)), "{bad:?}");
        assert_eq!(l.line_number, if r == 1 { 1 } else { 3 });
    }
    // The batch path reports the same.
    let batch = parse_batch(&input, Precision::Nanoseconds, 0);
    assert_eq!(batch.points.len(), 2, "{bad:?}");
    assert_eq!(batch.errors, vec![e.clone()]);
}

#[test]
fn malformed_lines_table() {
    assert!(MALFORMED.len() >= 30);
    for &(bad, expected, influx) in MALFORMED {
        check_between_good_lines(bad, expected, influx);
    }
}

#[test]
fn malformed_constructed_lines() {
    use ErrorReason::*;
    let long_string = format!("cpu s=\"{}\"", "x".repeat(MAX_STRING_FIELD_BYTES + 1));
    check_between_good_lines(&long_string, StringTooLong, None);
    let long_key = format!("{} v=1", "m".repeat(MAX_KEY_LENGTH + 1));
    check_between_good_lines(&long_key, MaxKeyLengthExceeded, None);
    // A quote in a tag opens no string.
    check_between_good_lines("cpu,t=\"x v=yes", InvalidBoolean, None);
}

#[test]
fn malformed_unterminated_strings() {
    // as InfluxDB 1.6 does: an open quote takes the rest of the body.
    for bad in ["cpu a=\"x", "cpu a=\"x\\\"", "cpu a=\"x\\"] {
        let input = format!("good v=1i 1\n{bad}\ngood v=2i 2\n");
        let res: Vec<_> = parse_lines(&input).collect();
        assert_eq!(res.len(), 2, "{bad:?}");
        assert!(res[0].is_ok());
        let e = res[1].as_ref().unwrap_err();
        assert_eq!(
            (e.line_number, e.reason),
            (2, ErrorReason::UnbalancedQuotes),
            "{bad:?}"
        );
        assert_eq!(e.line, format!("{bad}\ngood v=2i 2"));
    }
}

#[test]
fn malformed_invalid_utf8_between_good_lines() {
    let input = b"good v=1i 1\ncpu v=\"\xc3\x28\"\ngood v=2i 2\n";
    let batch = parse_batch_bytes(input, Precision::Nanoseconds, 0);
    assert_eq!(batch.points.len(), 2);
    assert_eq!(batch.errors.len(), 1);
    assert_eq!(batch.errors[0].reason, ErrorReason::InvalidUtf8);
    assert_eq!(batch.errors[0].line_number, 2);
}

// ---------------------------------------------------------------- precision

#[test]
fn precision_parsing() {
    for (s, p) in [
        ("", Precision::Nanoseconds),
        ("n", Precision::Nanoseconds),
        ("ns", Precision::Nanoseconds),
        ("u", Precision::Microseconds),
        ("us", Precision::Microseconds),
        ("ms", Precision::Milliseconds),
        ("s", Precision::Seconds),
        ("m", Precision::Minutes),
        ("h", Precision::Hours),
    ] {
        assert_eq!(s.parse::<Precision>(), Ok(p), "{s:?}");
    }
    assert!("xyz".parse::<Precision>().is_err());
    assert!("NS".parse::<Precision>().is_err());
    assert_eq!(
        "d".parse::<Precision>().unwrap_err().to_string(),
        "invalid precision \"d\" (use n, ns, u, us, ms, s, m or h)"
    );
    assert_eq!(Precision::default(), Precision::Nanoseconds);
    assert_eq!(Precision::Minutes.to_string(), "m");
}

#[test]
fn each_precision_scales_timestamps() {
    // as InfluxDB 1.6 does: `g5 a=1 1` with precision n/u/ms/s/m/h was
    // stored at 1ns, 1µs, 1ms, 1s, 1m and 1h.
    for (p, ns) in [
        (Precision::Nanoseconds, 1),
        (Precision::Microseconds, 1_000),
        (Precision::Milliseconds, 1_000_000),
        (Precision::Seconds, 1_000_000_000),
        (Precision::Minutes, 60_000_000_000),
        (Precision::Hours, 3_600_000_000_000),
    ] {
        let batch = parse_batch("g5 a=1 1\ng5 a=1 -2", p, 0);
        assert!(batch.errors.is_empty());
        assert_eq!(batch.points[0].timestamp_ns, ns, "{p:?}");
        assert_eq!(batch.points[1].timestamp_ns, -2 * ns, "{p:?}");
        assert_eq!(p.nanos_per_unit(), ns);
    }
}

#[test]
fn precision_overflow_and_range() {
    use ErrorReason::TimestampOutOfRange;
    // as InfluxDB 1.6 does: MaxInt64 and MinInt64 are outside the range,
    // -9223372036854775806 is the first valid nanosecond.
    assert_eq!(
        Precision::Nanoseconds.to_nanos(i64::MAX),
        Err(TimestampOutOfRange)
    );
    assert_eq!(
        Precision::Nanoseconds.to_nanos(i64::MIN),
        Err(TimestampOutOfRange)
    );
    assert_eq!(
        Precision::Nanoseconds.to_nanos(i64::MIN + 1),
        Err(TimestampOutOfRange)
    );
    assert_eq!(
        Precision::Nanoseconds.to_nanos(MIN_NANO_TIME),
        Ok(MIN_NANO_TIME)
    );
    assert_eq!(
        Precision::Nanoseconds.to_nanos(MAX_NANO_TIME),
        Ok(MAX_NANO_TIME)
    );
    let max_s = i64::MAX / 1_000_000_000;
    assert_eq!(
        Precision::Seconds.to_nanos(max_s),
        Ok(max_s * 1_000_000_000)
    );
    assert_eq!(
        Precision::Seconds.to_nanos(max_s + 1),
        Err(TimestampOutOfRange)
    );
    assert_eq!(
        Precision::Hours.to_nanos(-3_000_000),
        Err(TimestampOutOfRange)
    );

    let batch = parse_batch(
        "a v=1 1\nb v=1 9223372036854776\nc v=1 3\n",
        Precision::Milliseconds,
        0,
    );
    assert_eq!(batch.points.len(), 2);
    assert_eq!(batch.errors.len(), 1);
    let e = &batch.errors[0];
    assert_eq!((e.line_number, e.reason), (2, TimestampOutOfRange));
    assert_eq!(
        e.to_string(),
        "unable to parse 'b v=1 9223372036854776': time outside range \
         -9223372036854775806 - 9223372036854775806 (line 2)"
    );
}

#[test]
fn default_time_is_truncated_to_precision() {
    let now = 1_700_000_123_456_789_012;
    let cases = [
        (Precision::Nanoseconds, now),
        (Precision::Microseconds, 1_700_000_123_456_789_000),
        (Precision::Milliseconds, 1_700_000_123_456_000_000),
        (Precision::Seconds, 1_700_000_123_000_000_000),
        (Precision::Minutes, 1_700_000_100_000_000_000),
        (Precision::Hours, 1_699_999_200_000_000_000),
    ];
    for (p, expected) in cases {
        let batch = parse_batch("m v=1", p, now);
        assert_eq!(batch.points[0].timestamp_ns, expected, "{p:?}");
    }
    assert_eq!(Precision::Seconds.truncate(-1), -1_000_000_000);
    assert_eq!(Precision::Hours.truncate(i64::MIN), i64::MIN);
    assert_eq!(
        Precision::Hours.truncate(i64::MAX),
        9_223_369_200_000_000_000
    );
}

// ---------------------------------------------------------------- batch

#[test]
fn batch_merges_same_series_and_time() {
    let body = "cpu,host=a,dc=x user=1i,sys=1i 10\n\
                mem,host=a free=1i 10\n\
                cpu,dc=x,host=a user=2i,idle=3i 10\n\
                cpu,host=a,dc=x user=9i 11\n\
                cpu,host=b,dc=x user=9i 10\n";
    let batch = parse_batch(body, Precision::Nanoseconds, 0);
    assert!(batch.errors.is_empty());
    let summary: Vec<(&str, Option<&str>, i64, usize)> = batch
        .points
        .iter()
        .map(|p| {
            (
                p.measurement.as_ref(),
                p.tag("host"),
                p.timestamp_ns,
                p.line_number,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("cpu", Some("a"), 10, 1),
            ("mem", Some("a"), 10, 2),
            ("cpu", Some("a"), 11, 4),
            ("cpu", Some("b"), 10, 5)
        ]
    );
    assert_eq!(
        batch.points[0].fields,
        vec![
            ("user".into(), FieldValue::Integer(2)),
            ("sys".into(), FieldValue::Integer(1)),
            ("idle".into(), FieldValue::Integer(3)),
        ]
    );
}

#[test]
fn batch_merges_points_without_timestamp() {
    // Both get the default time, so they are the same point.
    let batch = parse_batch("m a=1\nm b=2\nm a=3 5", Precision::Seconds, 7_500_000_000);
    assert_eq!(batch.points.len(), 2);
    assert_eq!(batch.points[0].timestamp_ns, 7_000_000_000);
    assert_eq!(batch.points[0].fields.len(), 2);
    assert_eq!(batch.points[1].timestamp_ns, 5_000_000_000);
}

#[test]
fn batch_merge_is_by_final_timestamp() {
    // 1s and 1000ms only coincide after scaling; same precision for both,
    // so compare 1000 ms against 1000 ms written differently.
    let batch = parse_batch("m a=1 1000\nm b=2 01000", Precision::Milliseconds, 0);
    assert_eq!(batch.points.len(), 1);
}

#[test]
fn batch_does_not_merge_type_conflicts() {
    // InfluxDB would reject the second line with a field type conflict;
    // keeping it separate lets schema validation do the same.
    let batch = parse_batch(
        "m a=1i 1\nm a=\"x\",b=1 1\nm a=2i,c=1 1\n",
        Precision::Nanoseconds,
        0,
    );
    assert_eq!(batch.points.len(), 2);
    assert_eq!(batch.points[0].field("a"), Some(&FieldValue::Integer(2)));
    assert_eq!(batch.points[0].field("c"), Some(&FieldValue::Float(1.0)));
    assert_eq!(batch.points[0].field("b"), None);
    assert_eq!(batch.points[1].line_number, 2);
    assert_eq!(batch.points[1].fields.len(), 2);
}

#[test]
fn batch_merges_many_fields() {
    // Exercises the hashed field lookup for wide points.
    let wide_a: Vec<String> = (0..100).map(|i| format!("f{i}={i}i")).collect();
    let wide_b: Vec<String> = (50..150).map(|i| format!("f{i}={}i", -i)).collect();
    let body = format!("m {} 1\nm {} 1\n", wide_a.join(","), wide_b.join(","));
    let batch = parse_batch(&body, Precision::Nanoseconds, 0);
    assert_eq!(batch.points.len(), 1);
    let p = &batch.points[0];
    assert_eq!(p.fields.len(), 150);
    assert_eq!(p.field("f10"), Some(&FieldValue::Integer(10)));
    assert_eq!(p.field("f60"), Some(&FieldValue::Integer(-60)));
    assert_eq!(p.fields[60].0, "f60");
    assert_eq!(p.fields[120].0, "f120");
}

#[test]
fn batch_distinguishes_escaped_names() {
    let batch = parse_batch(
        "m,t=a\\,b v=1 1\nm,t=a,b=x v=2 1\nm\\,t=a v=3 1\n",
        Precision::Nanoseconds,
        0,
    );
    assert_eq!(batch.points.len(), 3);
}

// ---------------------------------------------------------------- writer

#[test]
fn display_round_trips() {
    let cases = [
        r#"cpu,host=a,region=us\ west v=1.5,i=-3i,u=4u,b=true,s="a \"q\" \\ z" 123"#,
        r"m\,x\ y,k\=1=v\,\=\  f\,\=\ k=1",
        r#"m\"\=x v=1"#,
        r"a\\,b,t=x\\\,y v=1",
        "m s=\"line\nbreak\" -5",
        "m v=1e300,w=-0.0,x=1e-300,y=123456.789",
    ];
    for input in cases {
        let l = parse_one(input);
        let printed = l.to_string();
        assert_eq!(parse_one(&printed), l, "{input:?} -> {printed:?}");
    }
    assert_eq!(
        parse_one("cpu,b=2,a=1 v=1i,s=\"x\" 5").to_string(),
        "cpu,a=1,b=2 v=1i,s=\"x\" 5"
    );
    let batch = parse_batch("m v=1 5", Precision::Seconds, 0);
    assert_eq!(batch.points[0].to_string(), "m v=1.0 5000000000");
}

#[test]
fn fuzz_regressions() {
    // Field key `\,` (a backslash, then an escaped comma) miscounts a comma
    // for InfluxDB's line splitter, which then sees no string: the string's
    // backslash-newline must be written back unescaped to stay one line.
    let input = "\u{2} \\\\,=\"\\\n\"";
    let line = parse_one(input);
    assert_eq!(
        line.fields,
        vec![("\\,".into(), FieldValue::String("\\\n".into()))]
    );
    assert_eq!(parse_one(&line.to_string()), line);
}

// ---------------------------------------------------------------- proptest

mod property {
    use super::*;
    use proptest::prelude::*;

    /// Characters that stress the escaping rules, plus some ordinary ones.
    fn name_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => prop::sample::select(vec![',', '=', ' ', '\\', '"', '#', '\t', 'é', '✓', '\n']),
            6 => prop::char::range('a', 'z'),
            1 => any::<char>(),
        ]
    }

    /// Whether a name can be written as line protocol at all (see `Point`'s
    /// Display docs): no trailing backslash, no newline, no leading tab/NUL,
    /// and no backslash right before an escapable byte, which InfluxDB's
    /// line splitter and name parser read differently.
    fn writable_name(s: &str) -> bool {
        let b = s.as_bytes();
        !s.is_empty()
            && !s.ends_with('\\')
            && !s.contains('\n')
            && !s.starts_with(['\t', '\0'])
            && !b
                .windows(2)
                .any(|w| w[0] == b'\\' && matches!(w[1], b',' | b'=' | b' ' | b'"'))
    }

    fn name() -> impl Strategy<Value = String> {
        prop::collection::vec(name_char(), 1..8)
            .prop_map(|v| v.into_iter().collect::<String>())
            .prop_filter("writable", |s| writable_name(s) && s != "time")
    }

    fn measurement() -> impl Strategy<Value = String> {
        name().prop_filter("not a comment", |s| !s.starts_with('#'))
    }

    fn field_value() -> impl Strategy<Value = FieldValue<'static>> {
        prop_oneof![
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(FieldValue::Float),
            any::<i64>().prop_map(FieldValue::Integer),
            any::<u64>().prop_map(FieldValue::Unsigned),
            any::<bool>().prop_map(FieldValue::Boolean),
            prop::collection::vec(
                prop_oneof![
                    3 => prop::sample::select(vec!['"', '\\', ' ', ',', '=', '\n', 'é']),
                    3 => prop::char::range('a', 'z'),
                    1 => any::<char>(),
                ],
                0..12
            )
            .prop_map(|v| FieldValue::String(Cow::Owned(v.into_iter().collect()))),
        ]
    }

    prop_compose! {
        fn point()(
            measurement in measurement(),
            tags in prop::collection::btree_map(name(), name(), 0..5),
            fields in prop::collection::vec((name(), field_value()), 1..6),
            timestamp in prop::option::of(MIN_NANO_TIME..=MAX_NANO_TIME),
        ) -> ParsedLine<'static> {
            // Unique field keys, first position; the parser keeps the last
            // value of a repeated key only when types agree, so drop
            // repeats instead.
            let mut uniq: Vec<(Cow<'static, str>, FieldValue<'static>)> = Vec::new();
            for (k, v) in fields {
                if !uniq.iter().any(|(u, _)| *u == k) {
                    uniq.push((Cow::Owned(k), v));
                }
            }
            // A leading tab/NUL is only a problem for the first field key,
            // which `writable_name` already excludes.
            ParsedLine {
                measurement: Cow::Owned(measurement),
                tags: tags.into_iter().map(|(k, v)| (Cow::Owned(k), Cow::Owned(v))).collect(),
                fields: uniq,
                timestamp,
                line_number: 1,
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn written_points_parse_back(p in point()) {
            let text = p.to_string();
            let parsed: Vec<_> = parse_lines(&text).collect();
            prop_assert_eq!(parsed.len(), 1, "{:?}", text);
            let got = parsed[0].as_ref().map_err(|e| format!("{text:?}: {e}"));
            prop_assert_eq!(got, Ok(&p), "{:?}", text);
        }

        #[test]
        fn written_batches_parse_back(
            points in prop::collection::vec(point(), 1..8),
            crlf in any::<bool>(),
        ) {
            let sep = if crlf { "\r\n" } else { "\n" };
            let mut text = String::new();
            let mut expected = Vec::new();
            let mut line = 1;
            for p in &points {
                text.push_str(&p.to_string());
                text.push_str(sep);
                let mut p = p.clone();
                p.line_number = line;
                line += 1 + p.to_string().matches('\n').count();
                expected.push(p);
            }
            let got: Result<Vec<_>, _> = parse_lines(&text).collect();
            prop_assert_eq!(got.map_err(|e| e.to_string()), Ok(expected), "{:?}", text);
        }

        #[test]
        fn parsed_lines_print_and_parse_back(input in "[a-z\\\\,= \"\n#\t0-9.ietuf-]{0,60}") {
            for line in parse_lines(&input).flatten() {
                // See `Point`'s Display for these limits of the format: a
                // leading tab is whitespace, and a newline may be read as a
                // line break (giving several lines, never one wrong line).
                if line.fields[0].0.starts_with(['\t', '\0']) {
                    continue;
                }
                let text = line.to_string();
                let reparsed: Vec<_> = parse_lines(&text).collect();
                if !matches!(reparsed.as_slice(), [Ok(_)]) {
                    prop_assert!(text.contains('\n'), "{:?} -> {:?}", input, text);
                    continue;
                }
                let mut expected = line.clone();
                expected.line_number = 1;
                prop_assert_eq!(reparsed[0].as_ref().unwrap(), &expected, "{:?} -> {:?}", input, text);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..200)) {
            let physical_lines = input.iter().filter(|&&b| b == b'\n').count() + 1;
            for r in parse_lines_bytes(&input) {
                match r {
                    Ok(l) => prop_assert!(l.line_number <= physical_lines),
                    Err(e) => prop_assert!(e.line_number <= physical_lines),
                }
            }
            for p in [Precision::Nanoseconds, Precision::Hours] {
                let b = parse_batch_bytes(&input, p, 0);
                prop_assert!(b.errors.iter().all(|e| e.line_number <= physical_lines));
            }
        }

        #[test]
        fn line_protocol_like_input_never_panics(
            input in "[a-z\\\\,= \"\r\n#\t0-9.ietuf+-]{0,120}",
        ) {
            let physical_lines = input.matches('\n').count() + 1;
            let lines: Vec<_> = parse_lines(&input).collect();
            let bytes: Vec<_> = parse_lines_bytes(input.as_bytes()).collect();
            prop_assert_eq!(&lines, &bytes);
            for r in &lines {
                let n = match r { Ok(l) => l.line_number, Err(e) => e.line_number };
                prop_assert!((1..=physical_lines).contains(&n));
            }
            let b = parse_batch(&input, Precision::Seconds, 1_000_000_000);
            prop_assert!(b.points.len() <= lines.iter().filter(|r| r.is_ok()).count());
        }
    }
}
