//! The closed syntax tree of a KQL query, the shape Kibana's grammar builds (`or`, `and`, `not`,
//! `nested`, `is`, `range`), and a printer that writes a tree back as KQL text that parses to the
//! same tree. No parsing and no translation here.

use std::fmt;

/// A parsed KQL query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// The empty query (only whitespace): Kibana turns it into `match_all`.
    MatchAll,
    /// `a or b or c`: two or more children.
    Or(Vec<Query>),
    /// `a and b and c`: two or more children.
    And(Vec<Query>),
    /// `not a`.
    Not(Box<Query>),
    /// `path: { query }`: field names inside are relative to `path`.
    Nested { path: Field, query: Box<Query> },
    /// `field: value`, `field: *` (exists) or a bare value (`field` is `None`: free text).
    Is { field: Option<Field>, value: Value },
    /// `field < value`, `<=`, `>`, `>=`.
    Range {
        field: Field,
        op: RangeOp,
        value: Value,
    },
}

/// A field name as written: a literal name, or a pattern with unescaped `*` wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Name(String),
    /// The literal pieces between the wildcards (`a*b` is `["a", "b"]`).
    Pattern(Vec<String>),
}

/// A value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A quoted string: a phrase; `*` inside is literal.
    Phrase(String),
    /// An unquoted literal without wildcards. Numbers stay text (`4624` is `"4624"`).
    Text(String),
    /// Unquoted `true` or `false`.
    Bool(bool),
    /// Unquoted `null`.
    Null,
    /// An unquoted literal with unescaped `*`: the literal pieces between the wildcards.
    Wildcard(Vec<String>),
}

/// A range operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

impl RangeOp {
    /// The key of the operator in a `range` query (`lt`, `lte`, `gt`, `gte`).
    pub fn dsl_key(self) -> &'static str {
        match self {
            RangeOp::Lt => "lt",
            RangeOp::Lte => "lte",
            RangeOp::Gt => "gt",
            RangeOp::Gte => "gte",
        }
    }

    /// The operator as written in KQL.
    pub fn symbol(self) -> &'static str {
        match self {
            RangeOp::Lt => "<",
            RangeOp::Lte => "<=",
            RangeOp::Gt => ">",
            RangeOp::Gte => ">=",
        }
    }
}

impl Value {
    /// True for a value that is exactly one `*` (Kibana: an exists query).
    pub fn is_lone_wildcard(&self) -> bool {
        matches!(self, Value::Wildcard(parts) if parts.len() == 2 && parts.iter().all(String::is_empty))
    }

    /// True for a quoted value.
    pub fn is_quoted(&self) -> bool {
        matches!(self, Value::Phrase(_))
    }
}

impl Query {
    /// The field names the query names literally, as documents hold them (a name inside
    /// `path: { ... }` with the path in front), each once, in order of appearance. Field-name
    /// patterns and free text name no field and are left out.
    pub fn field_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        self.collect_field_names("", &mut names);
        names
    }

    fn collect_field_names(&self, prefix: &str, names: &mut Vec<String>) {
        let mut add = |field: &Field| {
            if let Field::Name(name) = field {
                let full = format!("{prefix}{name}");
                if !names.contains(&full) {
                    names.push(full);
                }
            }
        };
        match self {
            Query::MatchAll | Query::Is { field: None, .. } => {}
            Query::Or(children) | Query::And(children) => {
                for child in children {
                    child.collect_field_names(prefix, names);
                }
            }
            Query::Not(inner) => inner.collect_field_names(prefix, names),
            Query::Nested { path, query } => {
                add(path);
                let inner = format!("{prefix}{}.", path.raw_name());
                query.collect_field_names(&inner, names);
            }
            Query::Is {
                field: Some(field), ..
            }
            | Query::Range { field, .. } => add(field),
        }
    }
}

impl Field {
    /// The name with wildcards written as `*` (how Kibana sends an unmatched name).
    pub fn raw_name(&self) -> String {
        match self {
            Field::Name(name) => name.clone(),
            Field::Pattern(parts) => parts.join("*"),
        }
    }

    /// True for the field pattern `*` alone.
    pub fn is_lone_wildcard(&self) -> bool {
        matches!(self, Field::Pattern(parts) if parts.len() == 2 && parts.iter().all(String::is_empty))
    }
}

/// Keywords that end a literal when the printer writes a space after it (`a*not > x`).
const KEYWORDS: &[&str] = &["not", "and", "or"];

/// Where a keyword ends `text` (case-insensitively), as a character index, if one does.
fn trailing_keyword(text: &str) -> Option<usize> {
    let keyword = KEYWORDS.iter().find(|k| {
        text.len() >= k.len()
            && text.is_char_boundary(text.len() - k.len())
            && text[text.len() - k.len()..].eq_ignore_ascii_case(k)
    })?;
    Some(text.chars().count() - keyword.len())
}

/// Writes literal text so that it reads back as the same characters in an unquoted literal.
/// Whitespace and every non-ASCII character are written as `\uXXXX`, so no keyword (which needs
/// raw whitespace around it) can appear. A keyword at the end gets its first letter as
/// `\uXXXX` too, since what the printer writes next may be a space, and `not ` would then read
/// as the operator.
fn write_unquoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    let keyword_at = trailing_keyword(text);
    for (i, c) in text.chars().enumerate() {
        if Some(i) == keyword_at {
            write_unicode_escape(f, c)?;
        } else if super::lexer::is_special(c) {
            write!(f, "\\{c}")?;
        } else if c.is_whitespace() || c.is_control() || !c.is_ascii() {
            write_unicode_escape(f, c)?;
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

/// Writes a character as one or two `\uXXXX` escapes (UTF-16, as KQL reads them).
fn write_unicode_escape(f: &mut fmt::Formatter<'_>, c: char) -> fmt::Result {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        write!(f, "\\u{unit:04x}")?;
    }
    Ok(())
}

/// Writes text as a quoted KQL string that reads back as the same characters.
fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    write!(f, "\"")?;
    for c in text.chars() {
        match c {
            '"' => write!(f, "\\\"")?,
            '\\' => write!(f, "\\\\")?,
            _ if c.is_control() => write_unicode_escape(f, c)?,
            _ => write!(f, "{c}")?,
        }
    }
    write!(f, "\"")
}

/// Writes pieces joined by unescaped `*`. The stars delimit the pieces, so an empty piece is
/// written as nothing (an escaped space would read back as a space between two stars).
fn write_pattern(f: &mut fmt::Formatter<'_>, parts: &[String]) -> fmt::Result {
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            write!(f, "*")?;
        }
        write_unquoted(f, part)?;
    }
    Ok(())
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Quoted, so that names such as `true` or `null` stay names.
            Field::Name(name) => write_quoted(f, name),
            Field::Pattern(parts) => write_pattern(f, parts),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Phrase(text) => write_quoted(f, text),
            // An escaped space trims to nothing: the only unquoted spelling of empty text.
            Value::Text(text) if text.is_empty() => write!(f, "\\u0020"),
            Value::Text(text) => write_unquoted(f, text),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => write!(f, "null"),
            Value::Wildcard(parts) => write_pattern(f, parts),
        }
    }
}

/// Writes a child of `and` / `or` / `not`, in parentheses.
fn write_child(f: &mut fmt::Formatter<'_>, query: &Query) -> fmt::Result {
    match query {
        Query::MatchAll => write!(f, "(*: *)"),
        _ => write!(f, "({query})"),
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, children: &[Query], keyword: &str) -> fmt::Result {
    for (i, child) in children.iter().enumerate() {
        if i > 0 {
            write!(f, " {keyword} ")?;
        }
        write_child(f, child)?;
    }
    Ok(())
}

/// Prints the query as KQL; parsing the text gives back an equal tree (for the trees the parser
/// builds).
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::MatchAll => Ok(()),
            Query::Or(children) => write_joined(f, children, "or"),
            Query::And(children) => write_joined(f, children, "and"),
            Query::Not(child) => {
                write!(f, "not ")?;
                write_child(f, child)
            }
            Query::Nested { path, query } => {
                write!(f, "{path}: {{")?;
                write_child(f, query)?;
                write!(f, "}}")
            }
            Query::Is { field: None, value } => write!(f, "{value}"),
            Query::Is {
                field: Some(field),
                value,
            } => write!(f, "{field}: {value}"),
            // No whitespace right after a literal: `not` followed by whitespace is a keyword.
            Query::Range { field, op, value } => write!(f, "{field}{} {value}", op.symbol()),
        }
    }
}
