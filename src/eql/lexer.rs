//! The character level of EQL: splits the query text into tokens (names, strings, numbers,
//! operators) with their byte offsets, skipping whitespace and `//` and `/* */` comments.
//! Strings are decoded here (escapes, `\u{XXXX}`, raw `"""` strings). The parser decides what
//! the tokens mean; this module never panics on any input.

use std::borrow::Cow;

/// What a token is. Text is borrowed from the query where it can be (names, strings without
/// escapes), so most tokens allocate nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind<'a> {
    /// A name: `process`, `where`, `@timestamp` (keywords are names the parser recognizes).
    Name(&'a str),
    /// A backquoted name: `` `my field` `` (never a keyword).
    Quoted(Cow<'a, str>),
    /// A name written with `~` right after it: `like~`, `endsWith~`.
    TildeName(&'a str),
    /// A string literal, decoded.
    Str(Cow<'a, str>),
    /// An integer literal as written (digits only).
    Integer(&'a str),
    /// A decimal literal, parsed.
    Decimal(f64),
    /// Punctuation and operators.
    Symbol(Symbol),
    End,
}

/// Punctuation and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symbol {
    EqEq,
    NotEq,
    Lt,
    Lte,
    Gt,
    Gte,
    Assign,
    Colon,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Dot,
    Comma,
    LBracket,
    RBracket,
    /// `![`: a missing-event stage.
    MissingOpen,
    LParen,
    RParen,
    Pipe,
    Question,
}

impl Symbol {
    pub fn text(self) -> &'static str {
        match self {
            Symbol::EqEq => "==",
            Symbol::NotEq => "!=",
            Symbol::Lt => "<",
            Symbol::Lte => "<=",
            Symbol::Gt => ">",
            Symbol::Gte => ">=",
            Symbol::Assign => "=",
            Symbol::Colon => ":",
            Symbol::Plus => "+",
            Symbol::Minus => "-",
            Symbol::Star => "*",
            Symbol::Slash => "/",
            Symbol::Percent => "%",
            Symbol::Dot => ".",
            Symbol::Comma => ",",
            Symbol::LBracket => "[",
            Symbol::RBracket => "]",
            Symbol::MissingOpen => "![",
            Symbol::LParen => "(",
            Symbol::RParen => ")",
            Symbol::Pipe => "|",
            Symbol::Question => "?",
        }
    }
}

/// A token and where it starts and ends (byte offsets into the query text).
#[derive(Debug, Clone, PartialEq)]
pub struct Token<'a> {
    pub kind: Kind<'a>,
    pub start: usize,
    pub end: usize,
}

/// A lexical error: where (byte offset) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub at: usize,
    pub message: String,
    /// Where the unterminated string or comment opened, when that is the error.
    pub opened_at: Option<usize>,
}

/// Reads tokens one at a time from the query text (the parser pulls them as it goes, so no
/// list of every token is built).
pub struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Lexer<'a> {
        Lexer { text, pos: 0 }
    }

    /// The next token; [`Kind::End`] at the end of the text (and after it).
    pub fn next_token(&mut self) -> Result<Token<'a>, LexError> {
        self.skip_blank()?;
        let start = self.pos;
        let kind = self.next_kind()?;
        Ok(Token {
            kind,
            start,
            end: self.pos,
        })
    }
}

fn error(at: usize, message: impl Into<String>) -> LexError {
    LexError {
        at,
        message: message.into(),
        opened_at: None,
    }
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'@'
}

/// The bytes that continue a name: ASCII letters, digits and `_` (a table: names are most of
/// a query's tokens).
const NAME_PART: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_';
        b += 1;
    }
    table
};

fn is_name_part(b: u8) -> bool {
    NAME_PART[usize::from(b)]
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.text.as_bytes().get(self.pos + offset).copied()
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    /// Skips whitespace and comments.
    fn skip_blank(&mut self) -> Result<(), LexError> {
        loop {
            let blanks = self.text.as_bytes()[self.pos..]
                .iter()
                .take_while(|&&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                .count();
            self.pos += blanks;
            match self.peek() {
                Some(b'/') if self.peek_at(1) == Some(b'/') => {
                    let line = self.rest().find('\n').unwrap_or(self.rest().len());
                    self.pos += line;
                }
                Some(b'/') if self.peek_at(1) == Some(b'*') => self.skip_block_comment()?,
                _ => return Ok(()),
            }
        }
    }

    /// Skips a `/* */` comment; comments nest, as in Elasticsearch's grammar.
    fn skip_block_comment(&mut self) -> Result<(), LexError> {
        let open = self.pos;
        let mut depth = 0usize;
        while self.pos < self.text.len() {
            if self.rest().starts_with("/*") {
                depth += 1;
                self.pos += 2;
            } else if self.rest().starts_with("*/") {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    return Ok(());
                }
            } else {
                self.pos += self.rest().chars().next().map_or(1, char::len_utf8);
            }
        }
        Err(LexError {
            at: self.text.len(),
            message: "unterminated comment".to_string(),
            opened_at: Some(open),
        })
    }

    fn next_kind(&mut self) -> Result<Kind<'a>, LexError> {
        let Some(b) = self.peek() else {
            return Ok(Kind::End);
        };
        if is_name_start(b) {
            return Ok(self.name());
        }
        if b.is_ascii_digit() || (b == b'.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit()))
        {
            return self.number();
        }
        match b {
            b'"' => self.string(),
            b'`' => self.quoted_name(),
            b'\'' => Err(error(
                self.pos,
                "single-quoted strings are not supported; use double quotes",
            )),
            _ => self.symbol(),
        }
    }

    fn name(&mut self) -> Kind<'a> {
        let start = self.pos;
        let after = &self.text.as_bytes()[start + 1..];
        let length = after.iter().position(|&b| !is_name_part(b));
        self.pos = start + 1 + length.unwrap_or(after.len());
        let name = &self.text[start..self.pos];
        if self.peek() == Some(b'~') {
            self.pos += 1;
            return Kind::TildeName(name);
        }
        Kind::Name(name)
    }

    /// `` `name` ``, with ` `` ` standing for one backquote.
    fn quoted_name(&mut self) -> Result<Kind<'a>, LexError> {
        let open = self.pos;
        self.pos += 1;
        let mut name = String::new();
        loop {
            let Some(at) = self.rest().find('`') else {
                return Err(LexError {
                    at: self.text.len(),
                    message: "unterminated backquoted name".to_string(),
                    opened_at: Some(open),
                });
            };
            name.push_str(&self.rest()[..at]);
            self.pos += at + 1;
            if self.peek() == Some(b'`') {
                name.push('`');
                self.pos += 1;
                continue;
            }
            if name.is_empty() {
                return Err(error(open, "empty backquoted name"));
            }
            return Ok(Kind::Quoted(Cow::Owned(name)));
        }
    }

    fn number(&mut self) -> Result<Kind<'a>, LexError> {
        let start = self.pos;
        let digits = |lexer: &mut Self| {
            while lexer.peek().is_some_and(|d| d.is_ascii_digit()) {
                lexer.pos += 1;
            }
        };
        digits(self);
        let mut decimal = false;
        if self.peek() == Some(b'.') && !self.peek_at(1).is_some_and(is_name_start) {
            decimal = true;
            self.pos += 1;
            digits(self);
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(self.peek_at(1), Some(b'+' | b'-')));
            if self.peek_at(1 + sign).is_some_and(|d| d.is_ascii_digit()) {
                decimal = true;
                self.pos += 1 + sign;
                digits(self);
            }
        }
        let text = &self.text[start..self.pos];
        if !decimal {
            return Ok(Kind::Integer(text));
        }
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Kind::Decimal(value)),
            _ => Err(error(start, format!("the number {text} is out of range"))),
        }
    }

    fn string(&mut self) -> Result<Kind<'a>, LexError> {
        if self.rest().starts_with("\"\"\"") {
            return self.raw_string();
        }
        let open = self.pos;
        self.pos += 1;
        // Most strings have no escape: they are borrowed whole.
        let end = string_stop(self.rest());
        if let Some(at) = end
            && self.rest().as_bytes()[at] == b'"'
        {
            let body = &self.rest()[..at];
            self.pos += at + 1;
            return Ok(Kind::Str(Cow::Borrowed(body)));
        }
        // Room for the text before the first escape and a little more (escaped strings are
        // mostly short Windows paths), so that the text rarely moves while it is decoded.
        let mut decoded = String::with_capacity(end.unwrap_or(0) + 32);
        loop {
            let Some(at) = string_stop(self.rest()) else {
                return Err(unterminated(self.text.len(), open));
            };
            decoded.push_str(&self.rest()[..at]);
            self.pos += at;
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Kind::Str(Cow::Owned(decoded)));
                }
                Some(b'\\') => decoded.push(self.escape()?),
                _ => return Err(unterminated(self.pos, open)),
            }
        }
    }

    /// `"""..."""`: everything up to the next three quotes is itself.
    fn raw_string(&mut self) -> Result<Kind<'a>, LexError> {
        let open = self.pos;
        self.pos += 3;
        let Some(at) = self.rest().find("\"\"\"") else {
            return Err(unterminated(self.text.len(), open));
        };
        let start = self.pos;
        self.pos += at + 3;
        // `""""a""""`: quotes right before the closing three belong to the string.
        let mut extra = 0;
        while self.peek() == Some(b'"') {
            extra += 1;
            self.pos += 1;
        }
        let body = &self.text[start..start + at];
        if extra == 0 {
            return Ok(Kind::Str(Cow::Borrowed(body)));
        }
        Ok(Kind::Str(Cow::Owned(format!(
            "{body}{}",
            "\"".repeat(extra)
        ))))
    }

    /// Decodes the escape at the position (a backslash).
    fn escape(&mut self) -> Result<char, LexError> {
        let at = self.pos;
        let decoded = match self.peek_at(1) {
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'"') => '"',
            Some(b'\'') => '\'',
            Some(b'\\') => '\\',
            Some(b'u') => return self.unicode_escape(),
            _ => {
                return Err(error(
                    at,
                    "unknown escape sequence (use \\n \\r \\t \\b \\f \\\" \\' \\\\ or \\u{XXXX})",
                ));
            }
        };
        self.pos += 2;
        Ok(decoded)
    }

    /// `\u{X}` to `\u{XXXXXXXX}`: 2 to 8 hex digits naming a character.
    fn unicode_escape(&mut self) -> Result<char, LexError> {
        let at = self.pos;
        let bad = || {
            error(
                at,
                "a unicode escape is \\u{XXXX} with 2 to 8 hex digits naming a character",
            )
        };
        let rest = &self.rest()[2..];
        let body = rest.strip_prefix('{').ok_or_else(bad)?;
        let close = body.find('}').ok_or_else(bad)?;
        let digits = &body[..close];
        if !(2..=8).contains(&digits.len()) || !digits.bytes().all(|d| d.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let code = u32::from_str_radix(digits, 16).map_err(|_| bad())?;
        let decoded = char::from_u32(code).ok_or_else(bad)?;
        self.pos += 2 + 1 + close + 1;
        Ok(decoded)
    }

    fn symbol(&mut self) -> Result<Kind<'a>, LexError> {
        let two = self.text.as_bytes().get(self.pos..self.pos + 2);
        let double = match two {
            Some(b"==") => Some(Symbol::EqEq),
            Some(b"!=") => Some(Symbol::NotEq),
            Some(b"<=") => Some(Symbol::Lte),
            Some(b">=") => Some(Symbol::Gte),
            Some(b"![") => Some(Symbol::MissingOpen),
            _ => None,
        };
        if let Some(symbol) = double {
            self.pos += 2;
            return Ok(Kind::Symbol(symbol));
        }
        let single = match self.peek() {
            Some(b'<') => Symbol::Lt,
            Some(b'>') => Symbol::Gt,
            Some(b'=') => Symbol::Assign,
            Some(b':') => Symbol::Colon,
            Some(b'+') => Symbol::Plus,
            Some(b'-') => Symbol::Minus,
            Some(b'*') => Symbol::Star,
            Some(b'/') => Symbol::Slash,
            Some(b'%') => Symbol::Percent,
            Some(b'.') => Symbol::Dot,
            Some(b',') => Symbol::Comma,
            Some(b'[') => Symbol::LBracket,
            Some(b']') => Symbol::RBracket,
            Some(b'(') => Symbol::LParen,
            Some(b')') => Symbol::RParen,
            Some(b'|') => Symbol::Pipe,
            Some(b'?') => Symbol::Question,
            _ => {
                let c = self.rest().chars().next().unwrap_or('\u{fffd}');
                return Err(error(self.pos, format!("unexpected character {c:?}")));
            }
        };
        self.pos += 1;
        Ok(Kind::Symbol(single))
    }
}

/// The offset of the first byte that stops a plain run inside a string: a quote, a backslash or
/// a line break (all ASCII, so the offset is a character boundary).
fn string_stop(text: &str) -> Option<usize> {
    text.bytes()
        .position(|b| matches!(b, b'"' | b'\\' | b'\n' | b'\r'))
}

fn unterminated(at: usize, open: usize) -> LexError {
    LexError {
        at,
        message: "unterminated string".to_string(),
        opened_at: Some(open),
    }
}
