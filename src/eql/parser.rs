//! The grammar of EQL as Elasticsearch defines it, as recursive descent over the lexer's tokens.
//! Input: the tokens of one query; output: a [`Query`] or the first error with its byte offset.
//! Precedence, loosest first: `or`, `and`, `not`, comparisons (not chained), `+ -`, `* / %`,
//! unary `-`, then a value with its predicate (`in`, `:`, `like`, `regex`).

use super::MAX_NESTING_DEPTH;
use super::MAX_RUNS;
use super::ast::*;
use super::error::Failure;
use super::lexer::{Kind, LexError, Lexer, Symbol, Token};

/// True for the words that are keywords of the grammar: they cannot name a field or category
/// unquoted.
fn is_keyword(name: &str) -> bool {
    matches!(
        name,
        "and"
            | "any"
            | "by"
            | "false"
            | "in"
            | "join"
            | "like"
            | "maxspan"
            | "not"
            | "null"
            | "or"
            | "regex"
            | "sample"
            | "sequence"
            | "true"
            | "until"
            | "where"
            | "with"
    )
}

/// The parse state: the query text, the lexer, the current token and the one after it, the first lexical
/// error met, and the nesting depth.
pub struct Parser<'a> {
    text: &'a str,
    lexer: Lexer<'a>,
    current: Token<'a>,
    ahead: Token<'a>,
    lex_error: Option<LexError>,
    depth: usize,
}

type Parsed<T> = Result<T, Failure>;

impl<'a> Parser<'a> {
    pub fn new(text: &'a str) -> Parser<'a> {
        let end = Token {
            kind: Kind::End,
            start: 0,
            end: 0,
        };
        let mut parser = Parser {
            text,
            lexer: Lexer::new(text),
            current: end.clone(),
            ahead: end,
            lex_error: None,
            depth: 0,
        };
        parser.current = parser.pull();
        parser.ahead = parser.pull();
        parser
    }

    /// The next token from the lexer; after a lexical error, the end (the error is kept and
    /// reported whatever the parse finds).
    fn pull(&mut self) -> Token<'a> {
        if let Some(error) = &self.lex_error {
            let at = error.at;
            return Token {
                kind: Kind::End,
                start: at,
                end: at,
            };
        }
        match self.lexer.next_token() {
            Ok(token) => token,
            Err(error) => {
                let at = error.at;
                self.lex_error = Some(error);
                Token {
                    kind: Kind::End,
                    start: at,
                    end: at,
                }
            }
        }
    }

    /// Parses the text; a lexical error anywhere the parser read wins over the parse's own.
    pub fn parse(mut self) -> Parsed<Query> {
        let parsed = self.query();
        match self.lex_error.take() {
            Some(error) => Err(Failure {
                at: error.at,
                message: error.message,
                opened_at: error.opened_at,
            }),
            None => parsed,
        }
    }

    /// `query pipe* END`.
    fn query(&mut self) -> Parsed<Query> {
        let body = self.body()?;
        let mut pipes = Vec::new();
        while self.eat_symbol(Symbol::Pipe) {
            pipes.push(self.pipe()?);
        }
        if !matches!(self.kind(), Kind::End) {
            let message = match body {
                Body::Event(_) => "expected 'and', 'or', '|' or the end of the query",
                _ => "expected a stage '[', '|' or the end of the query",
            };
            return Err(self.unexpected(message));
        }
        Ok(Query { body, pipes })
    }

    // ---- tokens ----

    fn token(&self) -> &Token<'a> {
        &self.current
    }

    fn kind(&self) -> &Kind<'a> {
        &self.current.kind
    }

    /// The kind of the token after the current one.
    fn next_kind(&self) -> &Kind<'a> {
        &self.ahead.kind
    }

    fn start(&self) -> usize {
        self.token().start
    }

    fn advance(&mut self) {
        if matches!(self.current.kind, Kind::End) {
            return;
        }
        let next = self.pull_after_ahead();
        self.current = std::mem::replace(&mut self.ahead, next);
    }

    fn pull_after_ahead(&mut self) -> Token<'a> {
        if matches!(self.ahead.kind, Kind::End) {
            return self.ahead.clone();
        }
        self.pull()
    }

    fn is_symbol(&self, symbol: Symbol) -> bool {
        matches!(self.kind(), Kind::Symbol(s) if *s == symbol)
    }

    fn eat_symbol(&mut self, symbol: Symbol) -> bool {
        let found = self.is_symbol(symbol);
        if found {
            self.advance();
        }
        found
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.kind(), Kind::Name(name) if *name == word)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let found = self.is_word(word);
        if found {
            self.advance();
        }
        found
    }

    /// An error at the current token: `message, found <token>`.
    fn unexpected(&self, message: &str) -> Failure {
        Failure::new(
            self.start(),
            format!("{message}, found {}", describe(self.kind())),
        )
    }

    fn expect_symbol(&mut self, symbol: Symbol, message: &str) -> Parsed<()> {
        if self.eat_symbol(symbol) {
            return Ok(());
        }
        Err(self.unexpected(message))
    }

    /// Expects the closing symbol of the bracket or parenthesis opened at `open`.
    fn close(&mut self, symbol: Symbol, open: usize) -> Parsed<()> {
        if self.eat_symbol(symbol) {
            return Ok(());
        }
        let what = if symbol == Symbol::RParen {
            "parenthesis"
        } else {
            "bracket"
        };
        let mut failure = Failure::new(
            self.start(),
            format!(
                "expected '{}' before {}, to close the {what}",
                symbol.text(),
                describe(self.kind())
            ),
        );
        failure.opened_at = Some(open);
        Err(failure)
    }

    /// Enters one level of nesting; an error beyond [`MAX_NESTING_DEPTH`].
    fn enter(&mut self) -> Parsed<()> {
        if self.depth >= MAX_NESTING_DEPTH {
            return Err(Failure::new(
                self.start(),
                format!("nesting deeper than {MAX_NESTING_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ---- query structure ----

    fn body(&mut self) -> Parsed<Body> {
        if self.eat_word("sequence") {
            return Ok(Body::Sequence(self.sequence()?));
        }
        if self.eat_word("sample") {
            return Ok(Body::Sample(self.sample()?));
        }
        if self.is_word("join") {
            return Err(Failure::new(
                self.start(),
                "joins are not supported by Elasticsearch's EQL; use a sequence",
            ));
        }
        Ok(Body::Event(self.event_filter()?))
    }

    /// `(any | name | "string") where condition`.
    fn event_filter(&mut self) -> Parsed<EventFilter> {
        let category = match self.kind() {
            Kind::Name(name) if *name == "any" => {
                self.advance();
                Category::Any
            }
            Kind::Name(name) if !is_keyword(name) => Category::Named(self.take_text()),
            Kind::Str(_) => Category::Named(self.take_text()),
            _ => {
                return Err(self
                    .unexpected("expected an event category ('any', a name or a quoted string)"));
            }
        };
        if !self.eat_word("where") {
            return Err(self.unexpected("expected 'where' after the event category"));
        }
        let condition = self.expression()?;
        Ok(EventFilter {
            category,
            condition,
        })
    }

    fn sequence(&mut self) -> Parsed<Sequence> {
        let by = self.join_keys()?;
        let mut maxspan = None;
        if self.eat_word("with") {
            maxspan = Some(self.maxspan()?);
            if self.is_word("by") {
                return Err(Failure::new(
                    self.start(),
                    "'by' must come before 'with maxspan' in a sequence",
                ));
            }
        }
        let mut stages = Vec::new();
        while self.is_symbol(Symbol::LBracket) || self.is_symbol(Symbol::MissingOpen) {
            stages.push(self.sequence_stage()?);
        }
        // `with runs=N` counts N stages.
        let count: u64 = stages.iter().map(|s| u64::from(s.runs.unwrap_or(1))).sum();
        if count < 2 {
            return Err(self.unexpected(
                "a sequence needs at least two stages '[...]' (or one 'with runs' of 2 or more)",
            ));
        }
        let mut until = None;
        if self.eat_word("until") {
            if self.is_symbol(Symbol::MissingOpen) {
                return Err(Failure::new(
                    self.start(),
                    "the 'until' stage cannot be a missing event",
                ));
            }
            until = Some(self.sequence_stage()?);
        }
        Ok(Sequence {
            by,
            maxspan,
            stages,
            until,
        })
    }

    /// `maxspan = INTEGER unit`, after `with`.
    fn maxspan(&mut self) -> Parsed<TimeSpan> {
        if !self.eat_word("maxspan") {
            return Err(self.unexpected("expected 'maxspan' after 'with'"));
        }
        self.expect_symbol(Symbol::Assign, "expected '=' after 'maxspan'")?;
        let value =
            self.positive_integer("expected a whole number of time units after 'maxspan='")?;
        let unit = match self.kind() {
            Kind::Name(unit) => TimeUnit::from_symbol(unit),
            _ => None,
        };
        let Some(unit) = unit else {
            return Err(self.unexpected("expected a time unit (ms, s, m, h or d) after the number"));
        };
        self.advance();
        Ok(TimeSpan { value, unit })
    }

    /// An integer token that is 1 or more.
    fn positive_integer(&mut self, message: &str) -> Parsed<u64> {
        let at = self.start();
        let Kind::Integer(digits) = self.kind() else {
            return Err(self.unexpected(message));
        };
        let value = digits
            .parse::<u64>()
            .ok()
            .filter(|&v| v > 0 && v <= i64::MAX as u64)
            .ok_or_else(|| Failure::new(at, format!("{message} (1 to {})", i64::MAX)))?;
        self.advance();
        Ok(value)
    }

    /// `[filter] [by keys] [with runs=N]` or `![filter] [by keys]`.
    fn sequence_stage(&mut self) -> Parsed<SequenceStage> {
        let missing = self.is_symbol(Symbol::MissingOpen);
        let filter = self.bracketed_filter()?;
        let by = self.join_keys()?;
        let mut runs = None;
        if self.eat_word("with") {
            if !self.eat_word("runs") {
                return Err(self.unexpected("expected 'runs' after 'with' in a stage"));
            }
            self.expect_symbol(Symbol::Assign, "expected '=' after 'runs'")?;
            let at = self.start();
            let count = self.positive_integer("expected the number of runs")?;
            if count > u64::from(MAX_RUNS) {
                return Err(Failure::new(
                    at,
                    format!("runs must be between 1 and {MAX_RUNS}, found {count}"),
                ));
            }
            runs = Some(count as u32);
        }
        Ok(SequenceStage {
            filter,
            by,
            missing,
            runs,
        })
    }

    /// `[` or `![`, an event filter, `]`.
    fn bracketed_filter(&mut self) -> Parsed<EventFilter> {
        let open = self.start();
        if !self.eat_symbol(Symbol::LBracket) && !self.eat_symbol(Symbol::MissingOpen) {
            return Err(self.unexpected("expected a stage '['"));
        }
        let filter = self.event_filter()?;
        self.close(Symbol::RBracket, open)?;
        Ok(filter)
    }

    fn sample(&mut self) -> Parsed<Sample> {
        let by = self.join_keys()?;
        let mut stages = Vec::new();
        while self.is_symbol(Symbol::LBracket) || self.is_symbol(Symbol::MissingOpen) {
            if self.is_symbol(Symbol::MissingOpen) {
                return Err(Failure::new(
                    self.start(),
                    "missing events '![...]' are only allowed in sequences",
                ));
            }
            let filter = self.bracketed_filter()?;
            let by = self.join_keys()?;
            stages.push(SampleStage { filter, by });
        }
        if stages.is_empty() {
            return Err(self.unexpected("expected a stage '[' in the sample"));
        }
        Ok(Sample { by, stages })
    }

    /// `by expr (, expr)*`, or nothing.
    fn join_keys(&mut self) -> Parsed<Vec<Expr>> {
        if !self.eat_word("by") {
            return Ok(Vec::new());
        }
        let mut keys = vec![self.expression()?];
        while self.eat_symbol(Symbol::Comma) {
            keys.push(self.expression()?);
        }
        Ok(keys)
    }

    /// `| head N` or `| tail N`.
    fn pipe(&mut self) -> Parsed<Pipe> {
        let at = self.start();
        let name = match self.kind() {
            Kind::Name(name) => name.to_string(),
            _ => return Err(self.unexpected("expected a pipe name after '|'")),
        };
        let make: fn(u64) -> Pipe = match name.as_str() {
            "head" => Pipe::Head,
            "tail" => Pipe::Tail,
            _ => {
                return Err(Failure::new(
                    at,
                    format!("unknown pipe '{name}' (Elasticsearch's EQL has 'head' and 'tail')"),
                ));
            }
        };
        self.advance();
        let count =
            self.positive_integer(&format!("expected the number of results after '{name}'"))?;
        Ok(make(count))
    }

    // ---- conditions ----

    pub fn expression(&mut self) -> Parsed<Expr> {
        self.or_expr()
    }

    fn or_expr(&mut self) -> Parsed<Expr> {
        let first = self.and_expr()?;
        if !self.is_word("or") {
            return Ok(first);
        }
        let mut children = vec![first];
        while self.eat_word("or") {
            children.push(self.and_expr()?);
        }
        Ok(Expr::Or(children))
    }

    fn and_expr(&mut self) -> Parsed<Expr> {
        let first = self.not_expr()?;
        if !self.is_word("and") {
            return Ok(first);
        }
        let mut children = vec![first];
        while self.eat_word("and") {
            children.push(self.not_expr()?);
        }
        Ok(Expr::And(children))
    }

    fn not_expr(&mut self) -> Parsed<Expr> {
        if !self.eat_word("not") {
            return self.comparison();
        }
        self.enter()?;
        let inner = self.not_expr();
        self.leave();
        Ok(Expr::Not(Box::new(inner?)))
    }

    fn comparison(&mut self) -> Parsed<Expr> {
        let left = self.additive()?;
        let Some(op) = self.compare_op() else {
            return Ok(left);
        };
        self.advance();
        let right = self.additive()?;
        if self.compare_op().is_some() {
            return Err(Failure::new(
                self.start(),
                "comparisons cannot be chained; join them with 'and'",
            ));
        }
        Ok(Expr::Compare {
            op,
            left: Box::new(left),
            right: Box::new(right),
        })
    }

    fn compare_op(&self) -> Option<CompareOp> {
        let Kind::Symbol(symbol) = self.kind() else {
            return None;
        };
        match symbol {
            Symbol::EqEq => Some(CompareOp::Eq),
            Symbol::NotEq => Some(CompareOp::NotEq),
            Symbol::Lt => Some(CompareOp::Lt),
            Symbol::Lte => Some(CompareOp::Lte),
            Symbol::Gt => Some(CompareOp::Gt),
            Symbol::Gte => Some(CompareOp::Gte),
            _ => None,
        }
    }

    fn additive(&mut self) -> Parsed<Expr> {
        let mut left = self.multiplicative()?;
        loop {
            let op = if self.is_symbol(Symbol::Plus) {
                ArithmeticOp::Add
            } else if self.is_symbol(Symbol::Minus) {
                ArithmeticOp::Subtract
            } else {
                return Ok(left);
            };
            self.advance();
            let right = self.multiplicative()?;
            left = arithmetic(op, left, right);
        }
    }

    fn multiplicative(&mut self) -> Parsed<Expr> {
        let mut left = self.unary()?;
        loop {
            let op = if self.is_symbol(Symbol::Star) {
                ArithmeticOp::Multiply
            } else if self.is_symbol(Symbol::Slash) {
                ArithmeticOp::Divide
            } else if self.is_symbol(Symbol::Percent) {
                ArithmeticOp::Modulo
            } else {
                return Ok(left);
            };
            self.advance();
            let right = self.unary()?;
            left = arithmetic(op, left, right);
        }
    }

    fn unary(&mut self) -> Parsed<Expr> {
        let negate = self.is_symbol(Symbol::Minus);
        if !negate && !self.is_symbol(Symbol::Plus) {
            return self.predicated();
        }
        self.advance();
        self.enter()?;
        let inner = self.unary();
        self.leave();
        let inner = inner?;
        Ok(if negate {
            Expr::Negate(Box::new(inner))
        } else {
            inner
        })
    }

    /// A primary value and its predicate, if any.
    fn predicated(&mut self) -> Parsed<Expr> {
        let value = self.primary()?;
        if self.is_word("not")
            && matches!(self.next_kind(), Kind::Name(n) | Kind::TildeName(n) if *n == "in")
        {
            self.advance();
            return self.in_list(value, true);
        }
        match self.kind() {
            Kind::Name(word) | Kind::TildeName(word) if *word == "in" => self.in_list(value, false),
            Kind::Symbol(Symbol::Colon) => self.pattern(value, MatchKind::Colon),
            Kind::Name(word) if *word == "like" => self.pattern(value, MatchKind::Like),
            Kind::TildeName(word) if *word == "like" => {
                self.pattern(value, MatchKind::LikeInsensitive)
            }
            Kind::Name(word) if *word == "regex" => self.pattern(value, MatchKind::Regex),
            Kind::TildeName(word) if *word == "regex" => {
                self.pattern(value, MatchKind::RegexInsensitive)
            }
            _ => Ok(value),
        }
    }

    /// `in (e, ...)` or `in~ (e, ...)` after the value (and `not`).
    fn in_list(&mut self, value: Expr, negated: bool) -> Parsed<Expr> {
        let insensitive = matches!(self.kind(), Kind::TildeName(_));
        let operator = if insensitive { "in~" } else { "in" };
        self.advance();
        let open = self.start();
        self.expect_symbol(Symbol::LParen, &format!("expected '(' after '{operator}'"))?;
        self.enter()?;
        let list = self.list_items(open);
        self.leave();
        Ok(Expr::In {
            value: Box::new(value),
            list: list?,
            insensitive,
            negated,
        })
    }

    fn list_items(&mut self, open: usize) -> Parsed<Vec<Expr>> {
        let mut list = vec![self.expression()?];
        while self.eat_symbol(Symbol::Comma) {
            list.push(self.expression()?);
        }
        self.close(Symbol::RParen, open)?;
        Ok(list)
    }

    /// One string or a parenthesized list of strings after `:`, `like`, `regex` (and `~`).
    fn pattern(&mut self, value: Expr, kind: MatchKind) -> Parsed<Expr> {
        self.advance();
        let mut patterns = Vec::new();
        if self.is_symbol(Symbol::LParen) {
            let open = self.start();
            self.advance();
            patterns.push(self.pattern_string(kind)?);
            while self.eat_symbol(Symbol::Comma) {
                patterns.push(self.pattern_string(kind)?);
            }
            self.close(Symbol::RParen, open)?;
        } else {
            patterns.push(self.pattern_string(kind)?);
        }
        if kind.is_regex() {
            for (i, pattern) in patterns.iter().enumerate() {
                if let Err(reason) = super::pattern::check_regex(pattern) {
                    return Err(Failure::new(
                        self.start(),
                        format!(
                            "pattern {} of '{}' is not a valid regular expression: {reason}",
                            i + 1,
                            kind.symbol()
                        ),
                    ));
                }
            }
        }
        Ok(Expr::Match {
            kind,
            value: Box::new(value),
            patterns,
        })
    }

    fn pattern_string(&mut self, kind: MatchKind) -> Parsed<String> {
        if !matches!(self.kind(), Kind::Str(_)) {
            return Err(self.unexpected(&format!("expected a string after '{}'", kind.symbol())));
        }
        Ok(self.take_text())
    }

    fn primary(&mut self) -> Parsed<Expr> {
        let next_is_paren = matches!(self.next_kind(), Kind::Symbol(Symbol::LParen));
        match self.kind() {
            Kind::Str(_) => {
                let text = self.take_text();
                Ok(Expr::Literal(Literal::String(text)))
            }
            Kind::Integer(digits) => {
                let at = self.start();
                let parsed = digits.parse::<i64>();
                let message = format!("the number {digits} is too large");
                self.advance();
                parsed
                    .map(|n| Expr::Literal(Literal::Integer(n)))
                    .map_err(|_| Failure::new(at, message))
            }
            Kind::Decimal(value) => {
                let value = *value;
                self.advance();
                Ok(Expr::Literal(Literal::Float(value)))
            }
            Kind::Name(name) if *name == "null" => self.literal(Literal::Null),
            Kind::Name(name) if *name == "true" => self.literal(Literal::Bool(true)),
            Kind::Name(name) if *name == "false" => self.literal(Literal::Bool(false)),
            Kind::Name(_) if next_is_paren => self.call(false),
            Kind::TildeName(_) => self.call(true),
            Kind::Name(name) if !is_keyword(name) => self.field(false),
            Kind::Quoted(_) => self.field(false),
            Kind::Symbol(Symbol::Question) => {
                self.advance();
                self.field(true)
            }
            Kind::Symbol(Symbol::LParen) => self.parenthesized(),
            _ => Err(self.unexpected("expected a value, a field, a function call or '('")),
        }
    }

    /// Takes the text of the current name, string or quoted token and advances past it (each
    /// token is read once, so its text is moved, not copied).
    fn take_text(&mut self) -> String {
        let text = match &mut self.current.kind {
            Kind::Name(text) | Kind::TildeName(text) => text.to_string(),
            Kind::Quoted(text) | Kind::Str(text) => std::mem::take(text).into_owned(),
            _ => String::new(),
        };
        self.advance();
        text
    }

    fn literal(&mut self, literal: Literal) -> Parsed<Expr> {
        self.advance();
        Ok(Expr::Literal(literal))
    }

    fn parenthesized(&mut self) -> Parsed<Expr> {
        let open = self.start();
        self.advance();
        self.enter()?;
        let inner = self.expression();
        self.leave();
        let inner = inner?;
        self.close(Symbol::RParen, open)?;
        Ok(inner)
    }

    /// A field name: `a.b.c`, `` `a b`.c ``; after `?` for an optional field. A name written
    /// as one run of text (`a.b.c`: no blanks, no backquotes) is copied from the query text
    /// once at the end; otherwise it is built part by part.
    fn field(&mut self, optional: bool) -> Parsed<Expr> {
        let text = self.text;
        let start = self.start();
        let mut built = match self.kind() {
            Kind::Name(name) if !is_keyword(name) => None,
            Kind::Quoted(name) => Some(name.to_string()),
            _ => return Err(self.unexpected("expected a field name after '?'")),
        };
        let mut end = self.token().end;
        self.advance();
        while self.is_symbol(Symbol::Dot) {
            let dot = self.start();
            self.advance();
            let run = built.is_none() && dot == end && self.start() == dot + 1;
            match self.kind() {
                // Keywords are fine after a dot (`event.sequence`).
                Kind::Name(_) if run => {}
                Kind::Name(part) => add_part(&mut built, &text[start..end], part),
                Kind::Quoted(part) => add_part(&mut built, &text[start..end], part),
                _ => return Err(self.unexpected("expected a field name after '.'")),
            }
            end = self.token().end;
            self.advance();
        }
        let name = built.unwrap_or_else(|| text[start..end].to_string());
        if self.is_symbol(Symbol::LBracket) && matches!(self.next_kind(), Kind::Integer(_)) {
            return Err(Failure::new(
                self.start(),
                "array indexes are not supported by Elasticsearch's EQL",
            ));
        }
        Ok(Expr::Field(Field { name, optional }))
    }

    /// `name(args)` or `name~(args)`.
    fn call(&mut self, insensitive: bool) -> Parsed<Expr> {
        let at = self.start();
        let name = self.take_text();
        let Some(function) = Function::from_name(&name) else {
            return Err(Failure::new(at, format!("unknown function '{name}'")));
        };
        if insensitive && !function.has_insensitive_form() {
            return Err(Failure::new(
                at,
                format!("'{}' has no case-insensitive '~' form", function.name()),
            ));
        }
        let open = self.start();
        self.expect_symbol(Symbol::LParen, &format!("expected '(' after '{name}~'"))?;
        self.enter()?;
        let args = if self.eat_symbol(Symbol::RParen) {
            Ok(Vec::new())
        } else {
            self.list_items(open)
        };
        self.leave();
        let args = args?;
        check_arity(function, args.len(), at)?;
        Ok(Expr::Call {
            function,
            insensitive,
            args,
        })
    }
}

fn check_arity(function: Function, count: usize, at: usize) -> Parsed<()> {
    let (least, most) = function.arity();
    if count >= least && most.is_none_or(|most| count <= most) {
        return Ok(());
    }
    let expected = match most {
        Some(most) if most == least => format!("{least}"),
        Some(most) => format!("{least} to {most}"),
        None => format!("at least {least}"),
    };
    Err(Failure::new(
        at,
        format!(
            "'{}' takes {expected} arguments, found {count}",
            function.name()
        ),
    ))
}

/// Appends `.part` to a field name; `so_far` is the name's text when nothing was built yet.
fn add_part(built: &mut Option<String>, so_far: &str, part: &str) {
    let name = built.get_or_insert_with(|| so_far.to_string());
    name.push('.');
    name.push_str(part);
}

fn arithmetic(op: ArithmeticOp, left: Expr, right: Expr) -> Expr {
    Expr::Arithmetic {
        op,
        left: Box::new(left),
        right: Box::new(right),
    }
}

/// A token as a message names it.
fn describe(kind: &Kind<'_>) -> String {
    match kind {
        Kind::Name(name) => format!("'{name}'"),
        Kind::Quoted(name) => format!("`{name}`"),
        Kind::TildeName(name) => format!("'{name}~'"),
        Kind::Str(_) => "a string".to_string(),
        Kind::Integer(digits) => format!("the number {digits}"),
        Kind::Decimal(value) => format!("the number {value}"),
        Kind::Symbol(symbol) => format!("'{}'", symbol.text()),
        Kind::End => "the end of the query".to_string(),
    }
}
