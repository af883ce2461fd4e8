//! The grammar of KQL as Kibana defines it (a PEG: ordered choice with backtracking), written as
//! recursive descent over the query's text (byte offsets, always on character boundaries).
//! Input: the query text; output: a [`Query`] or the furthest point the parse reached with what
//! was expected there (turned into a message by the `error` module). Precedence: `or` < `and` <
//! `not`.

use super::MAX_NESTING_DEPTH;
use super::ast::{Field, Query, RangeOp, Value};
use super::error::{Expected, Failure};
use super::lexer;

/// The parse state: the text, the position, and the furthest failure seen so far.
pub struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
    failure: Failure,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str) -> Self {
        Parser {
            text,
            pos: 0,
            depth: 0,
            failure: Failure::default(),
        }
    }

    /// `start = Space* OrQuery? Space*` followed by the end of the text.
    pub fn parse(mut self) -> Result<Query, Failure> {
        self.pos = lexer::skip_spaces(self.text, 0);
        let start = self.pos;
        let query = self.or_query();
        if query.is_none() {
            self.pos = start;
        }
        self.pos = lexer::skip_spaces(self.text, self.pos);
        if self.failure.fatal.is_none() && self.pos == self.text.len() {
            return Ok(query.unwrap_or(Query::MatchAll));
        }
        let expected = if query.is_some() {
            Expected::End
        } else {
            Expected::Query
        };
        self.expect(self.pos, expected);
        Err(self.failure)
    }

    /// Records what was expected at `pos` when nothing there matched.
    fn expect(&mut self, pos: usize, expected: Expected) {
        self.failure.record(pos, expected);
    }

    fn peek(&self) -> Option<u8> {
        self.byte_at(self.pos)
    }

    fn byte_at(&self, pos: usize) -> Option<u8> {
        self.text.as_bytes().get(pos).copied()
    }

    fn skip_spaces(&mut self) {
        self.pos = lexer::skip_spaces(self.text, self.pos);
    }

    /// Enters a parenthesis or brace; false (and a fatal error) beyond [`MAX_NESTING_DEPTH`].
    fn enter(&mut self, open: usize) -> bool {
        if self.failure.fatal.is_some() {
            return false;
        }
        if self.depth >= MAX_NESTING_DEPTH {
            self.failure.fatal = Some(open);
            return false;
        }
        self.depth += 1;
        true
    }

    /// `head (Space+ word Space+ item)*`: two or more items become `combine(items)`.
    fn binary(
        &mut self,
        word: &'static str,
        expected_after: Expected,
        item: &mut dyn FnMut(&mut Self) -> Option<Query>,
        combine: fn(Vec<Query>) -> Query,
    ) -> Option<Query> {
        let head = item(self)?;
        // Most items stand alone: the list is only allocated for an operator.
        let mut rest = Vec::new();
        while let Some(after) = lexer::binary_operator(self.text, self.pos, word) {
            let before = self.pos;
            self.pos = after;
            match item(self) {
                Some(next) => rest.push(next),
                None => {
                    self.expect(after, expected_after);
                    self.pos = before;
                    break;
                }
            }
        }
        if rest.is_empty() {
            return Some(head);
        }
        rest.insert(0, head);
        Some(combine(rest))
    }

    fn or_query(&mut self) -> Option<Query> {
        self.binary(
            "or",
            Expected::QueryAfter("or"),
            &mut Self::and_query,
            Query::Or,
        )
    }

    fn and_query(&mut self) -> Option<Query> {
        self.binary(
            "and",
            Expected::QueryAfter("and"),
            &mut Self::not_query,
            Query::And,
        )
    }

    /// `not SubQuery / SubQuery`.
    fn not_query(&mut self) -> Option<Query> {
        if let Some(after) = lexer::not_operator(self.text, self.pos) {
            let start = self.pos;
            self.pos = after;
            if let Some(query) = self.sub_query() {
                return Some(Query::Not(Box::new(query)));
            }
            self.expect(after, Expected::QueryAfter("not"));
            self.pos = start;
        }
        self.sub_query()
    }

    /// `'(' OrQuery ')' / NestedQuery`.
    fn sub_query(&mut self) -> Option<Query> {
        if self.peek() != Some(b'(') {
            return self.nested_query();
        }
        let open = self.pos;
        let query = self.enclosed(open, ')', &mut Self::or_query, Expected::QueryAfter("("));
        if query.is_none() {
            self.pos = open;
        }
        query
    }

    /// After an opening character at `open`: `Space* inner Space* close`. On failure the
    /// caller restores the position.
    fn enclosed(
        &mut self,
        open: usize,
        close: char,
        inner: &mut dyn FnMut(&mut Self) -> Option<Query>,
        expected_inner: Expected,
    ) -> Option<Query> {
        if !self.enter(open) {
            return None;
        }
        self.pos = lexer::skip_spaces(self.text, open + 1);
        let result = match inner(self) {
            Some(query) => {
                self.skip_spaces();
                if self.peek().map(char::from) == Some(close) {
                    self.pos += 1;
                    Some(query)
                } else {
                    self.expect(self.pos, Expected::Close { close, open });
                    None
                }
            }
            None => {
                self.expect(self.pos, expected_inner);
                None
            }
        };
        self.depth -= 1;
        result
    }

    /// Reads a literal at the position, recording an unterminated quote.
    fn literal(&mut self) -> Option<Value> {
        match lexer::literal(self.text, self.pos) {
            Ok(Some((value, end))) => {
                self.pos = end;
                Some(value)
            }
            Ok(None) => None,
            Err(lexer::Unterminated) => {
                self.expect(self.text.len(), Expected::CloseQuote { open: self.pos });
                None
            }
        }
    }

    /// `NestedQuery / Expression`, where `Expression` is `FieldRangeExpression /
    /// FieldValueExpression / ValueExpression`. Every alternative starts with the same literal,
    /// so it is read once and what follows it picks the alternative, in the grammar's order.
    fn nested_query(&mut self) -> Option<Query> {
        let start = self.pos;
        let Some(mut literal) = self.literal() else {
            self.expect(start, Expected::Query);
            return None;
        };
        let literal_end = self.pos;
        let after = lexer::skip_spaces(self.text, literal_end);
        if self.byte_at(after) == Some(b':') {
            let value_start = lexer::skip_spaces(self.text, after + 1);
            if let Some(query) = self.nested_body(&literal, value_start) {
                return Some(query);
            }
            match self.field_value(literal, value_start) {
                Ok(query) => return Some(query),
                Err(unused) => literal = unused,
            }
        } else if let Some((op, op_end)) = lexer::range_operator(self.text, after)
            && let Some(query) = self.range(&literal, op, op_end)
        {
            return Some(query);
        }
        self.pos = literal_end;
        Some(Query::Is {
            field: None,
            value: literal,
        })
    }

    /// `'{' OrQuery '}'` after `field:`.
    fn nested_body(&mut self, field: &Value, open: usize) -> Option<Query> {
        if self.byte_at(open) != Some(b'{') {
            return None;
        }
        let query = self.enclosed(open, '}', &mut Self::or_query, Expected::QueryAfter("{"))?;
        Some(Query::Nested {
            path: to_named_field(field),
            query: Box::new(query),
        })
    }

    /// `RangeOperator Space* Literal` after the field.
    fn range(&mut self, field: &Value, op: RangeOp, op_end: usize) -> Option<Query> {
        self.pos = lexer::skip_spaces(self.text, op_end);
        let Some(value) = self.literal() else {
            self.expect(self.pos, Expected::ValueAfterRange(op));
            return None;
        };
        Some(Query::Range {
            field: to_named_field(field),
            op,
            value,
        })
    }

    /// `ListOfValues` after `field:`; the field's literal back when there is none.
    fn field_value(&mut self, field: Value, value_start: usize) -> Result<Query, Value> {
        self.pos = value_start;
        // A single value takes the literal as its field; a list clones it into each value.
        let query = if self.peek() == Some(b'(') {
            self.list_of_values(&to_field(field.clone()))
        } else if let Some(value) = self.literal() {
            return Ok(Query::Is {
                field: to_field(field),
                value,
            });
        } else {
            None
        };
        query.ok_or_else(|| {
            self.expect(value_start, Expected::ValueAfterColon);
            field
        })
    }

    /// `'(' OrListOfValues ')' / Value`.
    fn list_of_values(&mut self, field: &Option<Field>) -> Option<Query> {
        if self.peek() != Some(b'(') {
            let value = self.literal()?;
            return Some(Query::Is {
                field: field.clone(),
                value,
            });
        }
        let open = self.pos;
        let mut inner = |parser: &mut Self| parser.or_list(field);
        let query = self.enclosed(open, ')', &mut inner, Expected::ValueAfterParen);
        if query.is_none() {
            self.pos = open;
        }
        query
    }

    fn or_list(&mut self, field: &Option<Field>) -> Option<Query> {
        let mut item = |parser: &mut Self| parser.and_list(field);
        self.binary("or", Expected::ValueAfter("or"), &mut item, Query::Or)
    }

    fn and_list(&mut self, field: &Option<Field>) -> Option<Query> {
        let mut item = |parser: &mut Self| parser.not_list(field);
        self.binary("and", Expected::ValueAfter("and"), &mut item, Query::And)
    }

    /// `not ListOfValues / ListOfValues`.
    fn not_list(&mut self, field: &Option<Field>) -> Option<Query> {
        if let Some(after) = lexer::not_operator(self.text, self.pos) {
            let start = self.pos;
            self.pos = after;
            if let Some(query) = self.list_of_values(field) {
                return Some(Query::Not(Box::new(query)));
            }
            self.expect(after, Expected::ValueAfter("not"));
            self.pos = start;
        }
        self.list_of_values(field)
    }
}

/// A literal read as the field of a range or the path of a nested query, where unquoted `null`
/// is just a name.
fn to_named_field(literal: &Value) -> Field {
    to_field(literal.clone()).unwrap_or_else(|| Field::Name("null".into()))
}

/// A literal read as a field name: unquoted `null` means no field (Kibana then searches all
/// fields, as for a bare value); `true` and `false` are names; `*` makes a pattern.
fn to_field(literal: Value) -> Option<Field> {
    match literal {
        Value::Null => None,
        Value::Bool(b) => Some(Field::Name(b.to_string())),
        Value::Phrase(name) | Value::Text(name) => Some(Field::Name(name)),
        Value::Wildcard(parts) => Some(Field::Pattern(parts)),
    }
}
