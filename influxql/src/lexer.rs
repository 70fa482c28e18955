//! Tokenizer.
//!
//! InfluxDB reports error positions that depend on how its scanner reads
//! ahead (the end of input, once read, moves the column by one; a peek at the
//! end of input is not undone). Clients and tests compare those texts, so this
//! scanner keeps the same read-ahead model: a rune reader with a three-slot
//! unread buffer, and a token buffer the parser can push back into.

use crate::error::Pos;

/// Sentinel for end of input, as in the reference scanner (a NUL in the input
/// also ends it).
pub(crate) const EOF_CH: char = '\0';

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Tok {
    Illegal,
    Eof,
    Ws,
    Comment,
    Ident,
    BoundParam,
    Number,
    Integer,
    DurationVal,
    Str,
    BadString,
    BadEscape,
    True,
    False,
    Regex,
    BadRegex,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitwiseAnd,
    BitwiseOr,
    BitwiseXor,
    And,
    Or,
    Eq,
    Neq,
    EqRegex,
    NeqRegex,
    Lt,
    Lte,
    Gt,
    Gte,
    LParen,
    RParen,
    Comma,
    Colon,
    DoubleColon,
    Semicolon,
    Dot,
    // keywords
    All,
    Alter,
    Analyze,
    Any,
    As,
    Asc,
    Begin,
    By,
    Cardinality,
    Create,
    Continuous,
    Database,
    Databases,
    Default,
    Delete,
    Desc,
    Destinations,
    Diagnostics,
    Distinct,
    Drop,
    Duration,
    End,
    Every,
    Exact,
    Explain,
    Field,
    For,
    From,
    Grant,
    Grants,
    Group,
    Groups,
    In,
    Inf,
    Insert,
    Into,
    Key,
    Keys,
    Kill,
    Limit,
    Measurement,
    Measurements,
    Name,
    Offset,
    On,
    Order,
    Password,
    Policy,
    Policies,
    Privileges,
    Queries,
    Query,
    Read,
    Replication,
    Resample,
    Retention,
    Revoke,
    Select,
    Series,
    Set,
    Show,
    Shard,
    Shards,
    Slimit,
    Soffset,
    Stats,
    Subscription,
    Subscriptions,
    Tag,
    To,
    User,
    Users,
    Values,
    Where,
    With,
    Write,
}

impl Tok {
    /// The name used in "found X, expected Y" messages.
    pub(crate) fn as_str(self) -> &'static str {
        use Tok::*;
        match self {
            Illegal => "ILLEGAL",
            Eof => "EOF",
            Ws => "WS",
            Comment => "COMMENT",
            Ident => "IDENT",
            BoundParam => "BOUNDPARAM",
            Number => "NUMBER",
            Integer => "INTEGER",
            DurationVal => "DURATIONVAL",
            Str => "STRING",
            BadString => "BADSTRING",
            BadEscape => "BADESCAPE",
            True => "TRUE",
            False => "FALSE",
            Regex => "REGEX",
            BadRegex => "BADREGEX",
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
            BitwiseAnd => "&",
            BitwiseOr => "|",
            BitwiseXor => "^",
            And => "AND",
            Or => "OR",
            Eq => "=",
            Neq => "!=",
            EqRegex => "=~",
            NeqRegex => "!~",
            Lt => "<",
            Lte => "<=",
            Gt => ">",
            Gte => ">=",
            LParen => "(",
            RParen => ")",
            Comma => ",",
            Colon => ":",
            DoubleColon => "::",
            Semicolon => ";",
            Dot => ".",
            All => "ALL",
            Alter => "ALTER",
            Analyze => "ANALYZE",
            Any => "ANY",
            As => "AS",
            Asc => "ASC",
            Begin => "BEGIN",
            By => "BY",
            Cardinality => "CARDINALITY",
            Create => "CREATE",
            Continuous => "CONTINUOUS",
            Database => "DATABASE",
            Databases => "DATABASES",
            Default => "DEFAULT",
            Delete => "DELETE",
            Desc => "DESC",
            Destinations => "DESTINATIONS",
            Diagnostics => "DIAGNOSTICS",
            Distinct => "DISTINCT",
            Drop => "DROP",
            Duration => "DURATION",
            End => "END",
            Every => "EVERY",
            Exact => "EXACT",
            Explain => "EXPLAIN",
            Field => "FIELD",
            For => "FOR",
            From => "FROM",
            Grant => "GRANT",
            Grants => "GRANTS",
            Group => "GROUP",
            Groups => "GROUPS",
            In => "IN",
            Inf => "INF",
            Insert => "INSERT",
            Into => "INTO",
            Key => "KEY",
            Keys => "KEYS",
            Kill => "KILL",
            Limit => "LIMIT",
            Measurement => "MEASUREMENT",
            Measurements => "MEASUREMENTS",
            Name => "NAME",
            Offset => "OFFSET",
            On => "ON",
            Order => "ORDER",
            Password => "PASSWORD",
            Policy => "POLICY",
            Policies => "POLICIES",
            Privileges => "PRIVILEGES",
            Queries => "QUERIES",
            Query => "QUERY",
            Read => "READ",
            Replication => "REPLICATION",
            Resample => "RESAMPLE",
            Retention => "RETENTION",
            Revoke => "REVOKE",
            Select => "SELECT",
            Series => "SERIES",
            Set => "SET",
            Show => "SHOW",
            Shard => "SHARD",
            Shards => "SHARDS",
            Slimit => "SLIMIT",
            Soffset => "SOFFSET",
            Stats => "STATS",
            Subscription => "SUBSCRIPTION",
            Subscriptions => "SUBSCRIPTIONS",
            Tag => "TAG",
            To => "TO",
            User => "USER",
            Users => "USERS",
            Values => "VALUES",
            Where => "WHERE",
            With => "WITH",
            Write => "WRITE",
        }
    }

    pub(crate) fn is_operator(self) -> bool {
        use Tok::*;
        matches!(
            self,
            Add | Sub
                | Mul
                | Div
                | Mod
                | BitwiseAnd
                | BitwiseOr
                | BitwiseXor
                | And
                | Or
                | Eq
                | Neq
                | EqRegex
                | NeqRegex
                | Lt
                | Lte
                | Gt
                | Gte
        )
    }
}

/// Keyword lookup, case-insensitive. `true`/`false`/`and`/`or` included.
pub(crate) fn lookup(ident: &str) -> Tok {
    use Tok::*;
    if ident.len() > 13 {
        return Ident;
    }
    let lower = ident.to_ascii_lowercase();
    match lower.as_str() {
        "all" => All,
        "alter" => Alter,
        "analyze" => Analyze,
        "any" => Any,
        "as" => As,
        "asc" => Asc,
        "begin" => Begin,
        "by" => By,
        "cardinality" => Cardinality,
        "create" => Create,
        "continuous" => Continuous,
        "database" => Database,
        "databases" => Databases,
        "default" => Default,
        "delete" => Delete,
        "desc" => Desc,
        "destinations" => Destinations,
        "diagnostics" => Diagnostics,
        "distinct" => Distinct,
        "drop" => Drop,
        "duration" => Duration,
        "end" => End,
        "every" => Every,
        "exact" => Exact,
        "explain" => Explain,
        "field" => Field,
        "for" => For,
        "from" => From,
        "grant" => Grant,
        "grants" => Grants,
        "group" => Group,
        "groups" => Groups,
        "in" => In,
        "inf" => Inf,
        "insert" => Insert,
        "into" => Into,
        "key" => Key,
        "keys" => Keys,
        "kill" => Kill,
        "limit" => Limit,
        "measurement" => Measurement,
        "measurements" => Measurements,
        "name" => Name,
        "offset" => Offset,
        "on" => On,
        "order" => Order,
        "password" => Password,
        "policy" => Policy,
        "policies" => Policies,
        "privileges" => Privileges,
        "queries" => Queries,
        "query" => Query,
        "read" => Read,
        "replication" => Replication,
        "resample" => Resample,
        "retention" => Retention,
        "revoke" => Revoke,
        "select" => Select,
        "series" => Series,
        "set" => Set,
        "show" => Show,
        "shard" => Shard,
        "shards" => Shards,
        "slimit" => Slimit,
        "soffset" => Soffset,
        "stats" => Stats,
        "subscription" => Subscription,
        "subscriptions" => Subscriptions,
        "tag" => Tag,
        "to" => To,
        "user" => User,
        "users" => Users,
        "values" => Values,
        "where" => Where,
        "with" => With,
        "write" => Write,
        "and" => And,
        "or" => Or,
        "true" => True,
        "false" => False,
        _ => Ident,
    }
}

pub(crate) fn is_whitespace(ch: char) -> bool {
    ch == ' ' || ch == '\t' || ch == '\n'
}

pub(crate) fn is_letter(ch: char) -> bool {
    ch.is_ascii_alphabetic()
}

pub(crate) fn is_digit(ch: char) -> bool {
    ch.is_ascii_digit()
}

pub(crate) fn is_ident_char(ch: char) -> bool {
    is_letter(ch) || is_digit(ch) || ch == '_'
}

pub(crate) fn is_ident_first_char(ch: char) -> bool {
    is_letter(ch) || ch == '_'
}

/// Rune reader with position tracking and a three-slot unread buffer.
struct Reader<'a> {
    chars: std::str::Chars<'a>,
    i: usize,
    n: usize,
    pos: Pos,
    buf: [(char, Pos); 3],
    eof: bool,
}

impl<'a> Reader<'a> {
    fn new(src: &'a str) -> Self {
        Reader {
            chars: src.chars(),
            i: 0,
            n: 0,
            pos: Pos::default(),
            buf: [(EOF_CH, Pos::default()); 3],
            eof: false,
        }
    }

    fn read(&mut self) -> (char, Pos) {
        if self.n > 0 {
            self.n -= 1;
            return self.curr();
        }
        let mut ch = self.chars.next().unwrap_or(EOF_CH);
        if ch == '\r' {
            let mut look = self.chars.clone();
            if look.next() == Some('\n') {
                self.chars = look;
            }
            ch = '\n';
        }
        self.i = (self.i + 1) % 3;
        self.buf[self.i] = (ch, self.pos);
        if ch == '\n' {
            self.pos.line += 1;
            self.pos.char = 0;
        } else if !self.eof {
            self.pos.char += 1;
        }
        if ch == EOF_CH {
            self.eof = true;
        }
        self.curr()
    }

    fn unread(&mut self) {
        self.n += 1;
    }

    fn curr(&self) -> (char, Pos) {
        self.buf[(self.i + 3 - self.n) % 3]
    }

    /// `ReadRune`-like: `None` at end of input.
    fn read_rune(&mut self) -> Option<char> {
        let (ch, _) = self.read();
        if ch == EOF_CH {
            None
        } else {
            Some(ch)
        }
    }
}

/// A scanned token: kind, position of its first character, literal text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: Pos,
    pub lit: String,
}

impl Token {
    /// Text shown after "found" in errors: the literal if any, else the
    /// token's name.
    pub(crate) fn found(&self) -> String {
        if self.lit.is_empty() {
            self.tok.as_str().to_owned()
        } else {
            self.lit.clone()
        }
    }
}

enum StrErr {
    BadString,
    BadEscape,
}

pub(crate) struct Scanner<'a> {
    r: Reader<'a>,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Scanner {
            r: Reader::new(src),
        }
    }

    fn tok(tok: Tok, pos: Pos, lit: impl Into<String>) -> Token {
        Token {
            tok,
            pos,
            lit: lit.into(),
        }
    }

    /// Next rune without consuming it. At end of input the end is consumed,
    /// as in the reference parser (this moves later EOF positions).
    pub(crate) fn peek_rune(&mut self) -> char {
        let (ch, _) = self.r.read();
        if ch != EOF_CH {
            self.r.unread();
        }
        ch
    }

    pub(crate) fn scan(&mut self) -> Token {
        let (ch0, pos) = self.r.read();
        if is_whitespace(ch0) {
            return self.scan_whitespace();
        } else if is_letter(ch0) || ch0 == '_' {
            self.r.unread();
            return self.scan_ident(true);
        } else if is_digit(ch0) {
            return self.scan_number();
        }
        match ch0 {
            EOF_CH => Self::tok(Tok::Eof, pos, ""),
            '"' => {
                self.r.unread();
                self.scan_ident(true)
            }
            '\'' => self.scan_string(),
            '.' => {
                let (ch1, _) = self.r.read();
                self.r.unread();
                if is_digit(ch1) {
                    return self.scan_number();
                }
                Self::tok(Tok::Dot, pos, "")
            }
            '$' => {
                let t = self.scan_ident(false);
                if t.tok != Tok::Ident {
                    return Self::tok(t.tok, pos, format!("${}", t.lit));
                }
                Self::tok(Tok::BoundParam, pos, format!("${}", t.lit))
            }
            '+' => Self::tok(Tok::Add, pos, ""),
            '-' => {
                let (ch1, _) = self.r.read();
                if ch1 == '-' {
                    self.skip_until_newline();
                    return Self::tok(Tok::Comment, pos, "");
                }
                self.r.unread();
                Self::tok(Tok::Sub, pos, "")
            }
            '*' => Self::tok(Tok::Mul, pos, ""),
            '/' => {
                let (ch1, _) = self.r.read();
                if ch1 == '*' {
                    if !self.skip_until_end_comment() {
                        return Self::tok(Tok::Illegal, pos, "");
                    }
                    return Self::tok(Tok::Comment, pos, "");
                }
                self.r.unread();
                Self::tok(Tok::Div, pos, "")
            }
            '%' => Self::tok(Tok::Mod, pos, ""),
            '&' => Self::tok(Tok::BitwiseAnd, pos, ""),
            '|' => Self::tok(Tok::BitwiseOr, pos, ""),
            '^' => Self::tok(Tok::BitwiseXor, pos, ""),
            '=' => {
                let (ch1, _) = self.r.read();
                if ch1 == '~' {
                    return Self::tok(Tok::EqRegex, pos, "");
                }
                self.r.unread();
                Self::tok(Tok::Eq, pos, "")
            }
            '!' => {
                let (ch1, _) = self.r.read();
                if ch1 == '=' {
                    return Self::tok(Tok::Neq, pos, "");
                } else if ch1 == '~' {
                    return Self::tok(Tok::NeqRegex, pos, "");
                }
                self.r.unread();
                Self::tok(Tok::Illegal, pos, "!")
            }
            '>' => {
                let (ch1, _) = self.r.read();
                if ch1 == '=' {
                    return Self::tok(Tok::Gte, pos, "");
                }
                self.r.unread();
                Self::tok(Tok::Gt, pos, "")
            }
            '<' => {
                let (ch1, _) = self.r.read();
                if ch1 == '=' {
                    return Self::tok(Tok::Lte, pos, "");
                } else if ch1 == '>' {
                    return Self::tok(Tok::Neq, pos, "");
                }
                self.r.unread();
                Self::tok(Tok::Lt, pos, "")
            }
            '(' => Self::tok(Tok::LParen, pos, ""),
            ')' => Self::tok(Tok::RParen, pos, ""),
            ',' => Self::tok(Tok::Comma, pos, ""),
            ';' => Self::tok(Tok::Semicolon, pos, ""),
            ':' => {
                let (ch1, _) = self.r.read();
                if ch1 == ':' {
                    return Self::tok(Tok::DoubleColon, pos, "");
                }
                self.r.unread();
                Self::tok(Tok::Colon, pos, "")
            }
            other => Self::tok(Tok::Illegal, pos, other.to_string()),
        }
    }

    fn scan_whitespace(&mut self) -> Token {
        let (ch, pos) = self.r.curr();
        let mut buf = String::new();
        buf.push(ch);
        loop {
            let (ch, _) = self.r.read();
            if ch == EOF_CH {
                break;
            } else if !is_whitespace(ch) {
                self.r.unread();
                break;
            }
            buf.push(ch);
        }
        Self::tok(Tok::Ws, pos, buf)
    }

    fn skip_until_newline(&mut self) {
        loop {
            let (ch, _) = self.r.read();
            if ch == '\n' || ch == EOF_CH {
                return;
            }
        }
    }

    fn skip_until_end_comment(&mut self) -> bool {
        loop {
            let (ch1, _) = self.r.read();
            if ch1 == '*' {
                loop {
                    let (ch2, _) = self.r.read();
                    if ch2 == '/' {
                        return true;
                    } else if ch2 == '*' {
                        continue;
                    } else if ch2 == EOF_CH {
                        return false;
                    }
                    break;
                }
            } else if ch1 == EOF_CH {
                return false;
            }
        }
    }

    fn scan_ident(&mut self, lookup_keywords: bool) -> Token {
        let (_, pos) = self.r.read();
        self.r.unread();
        let mut buf = String::new();
        loop {
            let (ch, _) = self.r.read();
            if ch == EOF_CH {
                break;
            } else if ch == '"' {
                let t = self.scan_string();
                if t.tok == Tok::BadString || t.tok == Tok::BadEscape {
                    return t;
                }
                return Self::tok(Tok::Ident, pos, t.lit);
            } else if is_ident_char(ch) {
                buf.push(ch);
                loop {
                    let (c, _) = self.r.read();
                    if c != EOF_CH && is_ident_char(c) {
                        buf.push(c);
                    } else {
                        if c != EOF_CH {
                            self.r.unread();
                        }
                        break;
                    }
                }
            } else {
                self.r.unread();
                break;
            }
        }
        if lookup_keywords {
            let t = lookup(&buf);
            if t != Tok::Ident {
                return Self::tok(t, pos, "");
            }
        }
        Self::tok(Tok::Ident, pos, buf)
    }

    fn scan_string(&mut self) -> Token {
        self.r.unread();
        let (_, pos) = self.r.curr();
        match self.read_quoted() {
            Ok(s) => Self::tok(Tok::Str, pos, s),
            Err((StrErr::BadString, s)) => Self::tok(Tok::BadString, pos, s),
            Err((StrErr::BadEscape, s)) => {
                let (_, pos) = self.r.curr();
                Self::tok(Tok::BadEscape, pos, s)
            }
        }
    }

    /// Reads a string delimited by the next rune (`'` or `"`), with `\n`,
    /// `\\`, `\'` and `\"` escapes.
    fn read_quoted(&mut self) -> Result<String, (StrErr, String)> {
        let Some(ending) = self.r.read_rune() else {
            return Err((StrErr::BadString, String::new()));
        };
        let mut buf = String::new();
        loop {
            let ch0 = self.r.read_rune();
            match ch0 {
                Some(c) if c == ending => return Ok(buf),
                None | Some('\n') => return Err((StrErr::BadString, buf)),
                Some('\\') => {
                    let ch1 = self.r.read_rune();
                    match ch1 {
                        Some('n') => buf.push('\n'),
                        Some('\\') => buf.push('\\'),
                        Some('"') => buf.push('"'),
                        Some('\'') => buf.push('\''),
                        other => {
                            let mut s = String::from("\\");
                            s.push(other.unwrap_or(EOF_CH));
                            return Err((StrErr::BadEscape, s));
                        }
                    }
                }
                Some(c) => buf.push(c),
            }
        }
    }

    /// Scans `/.../` at the current position; `\/` stands for `/`, other
    /// escapes are kept for the regex engine.
    pub(crate) fn scan_regex(&mut self) -> Token {
        let (_, pos) = self.r.curr();
        match self.read_delimited() {
            Ok(s) => Self::tok(Tok::Regex, pos, s),
            Err(()) => Self::tok(Tok::BadRegex, pos, ""),
        }
    }

    fn read_delimited(&mut self) -> Result<String, ()> {
        match self.r.read_rune() {
            Some('/') => {}
            _ => return Err(()),
        }
        let mut buf = String::new();
        loop {
            let (ch0, _) = self.r.read();
            if ch0 == '/' {
                return Ok(buf);
            } else if ch0 == EOF_CH || ch0 == '\n' {
                return Err(());
            } else if ch0 == '\\' {
                let (ch1, _) = self.r.read();
                if ch1 == EOF_CH {
                    return Err(());
                }
                if ch1 == '/' {
                    buf.push('/');
                } else {
                    self.r.unread();
                    buf.push('\\');
                }
            } else {
                buf.push(ch0);
            }
        }
    }

    fn scan_number(&mut self) -> Token {
        let mut buf = String::new();
        let (ch, pos) = self.r.curr();
        if ch == '.' {
            let (ch1, _) = self.r.read();
            self.r.unread();
            if !is_digit(ch1) {
                return Self::tok(Tok::Illegal, pos, ".");
            }
            self.r.unread();
        } else {
            self.r.unread();
        }
        self.scan_digits(&mut buf);

        let mut is_decimal = false;
        let (ch0, _) = self.r.read();
        if ch0 == '.' {
            is_decimal = true;
            let (ch1, _) = self.r.read();
            if is_digit(ch1) {
                buf.push(ch0);
                buf.push(ch1);
                self.scan_digits(&mut buf);
            } else {
                self.r.unread();
            }
        } else {
            self.r.unread();
        }

        if !is_decimal {
            let (ch0, _) = self.r.read();
            if is_letter(ch0) || ch0 == 'µ' {
                buf.push(ch0);
                loop {
                    let (ch1, _) = self.r.read();
                    if !is_letter(ch1) && ch1 != 'µ' {
                        self.r.unread();
                        break;
                    }
                    buf.push(ch1);
                }
                loop {
                    let (c, _) = self.r.read();
                    if is_letter(c) || c == 'µ' || is_digit(c) {
                        buf.push(c);
                    } else {
                        self.r.unread();
                        break;
                    }
                }
                return Self::tok(Tok::DurationVal, pos, buf);
            }
            self.r.unread();
            return Self::tok(Tok::Integer, pos, buf);
        }
        Self::tok(Tok::Number, pos, buf)
    }

    fn scan_digits(&mut self, buf: &mut String) {
        loop {
            let (ch, _) = self.r.read();
            if !is_digit(ch) {
                self.r.unread();
                break;
            }
            buf.push(ch);
        }
    }
}

/// Token stream with a three-token push-back buffer.
pub(crate) struct TokenBuffer<'a> {
    pub(crate) s: Scanner<'a>,
    i: usize,
    n: usize,
    buf: [Option<Token>; 3],
}

impl<'a> TokenBuffer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        TokenBuffer {
            s: Scanner::new(src),
            i: 0,
            n: 0,
            buf: [None, None, None],
        }
    }

    pub(crate) fn scan(&mut self) -> Token {
        self.scan_with(|s| s.scan())
    }

    pub(crate) fn scan_regex(&mut self) -> Token {
        self.scan_with(|s| s.scan_regex())
    }

    fn scan_with(&mut self, f: impl FnOnce(&mut Scanner<'a>) -> Token) -> Token {
        if self.n > 0 {
            self.n -= 1;
            return self.curr();
        }
        self.i = (self.i + 1) % 3;
        self.buf[self.i] = Some(f(&mut self.s));
        self.curr()
    }

    pub(crate) fn unscan(&mut self) {
        self.n += 1;
    }

    fn curr(&self) -> Token {
        self.buf[(self.i + 3 - self.n) % 3]
            .clone()
            .unwrap_or(Token {
                tok: Tok::Eof,
                pos: Pos::default(),
                lit: String::new(),
            })
    }
}
