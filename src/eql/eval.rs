//! Evaluates a stage's condition on one JSON document with Elasticsearch's EQL semantics.
//!
//! Elasticsearch runs an event condition as a search: `and`, `or` and `not` become `bool`
//! queries, and each other part becomes a query when its left side is a field and its right
//! side a constant (a `term`, `range`, `terms`, `wildcard`, `prefix`, `regexp` or `exists`
//! query), else a script. A query matches when any value of a multi-valued field does; a script
//! is run for every combination of the values of the field references in it (a missing field
//! is `null`) and matches when one gives `true`. [`Node`] is that decision, shared with the
//! translation so that both always agree; `docs/eql.md` lists the sources.

use super::ast::*;
use super::functions;
use super::pattern;
use super::value::{FieldType, Value, date_millis, field_values, in_cidr, parse_ip};
use crate::kql::FieldMap;
use regex::Regex;
use serde_json::Value as Json;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The most value combinations one script part of a condition tries on one document (the
/// product of the value counts of its field references); past it the part does not match.
pub const MAX_SCRIPT_COMBINATIONS: usize = 100_000;

/// A condition ready to evaluate: the expression and its compiled regular expressions.
#[derive(Debug, Clone)]
pub struct Condition {
    expr: Expr,
    regexes: Regexes,
}

/// Regular expressions by (Lucene pattern, case-insensitive), compiled on first use; `None`
/// for a pattern lookout cannot evaluate (it then matches nothing, and `unsupported` names it).
pub type Regexes = HashMap<(String, bool), OnceLock<Option<Regex>>>;

impl Condition {
    pub fn new(expr: Expr) -> Condition {
        let mut regexes = Regexes::new();
        expr.walk(&mut |e| {
            if let Expr::Match { kind, patterns, .. } = e
                && kind.is_regex()
            {
                for p in patterns {
                    regexes.entry((p.clone(), kind.insensitive())).or_default();
                }
            }
        });
        Condition { expr, regexes }
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// True when the document matches, with field types from `fields` when known.
    pub fn matches(&self, doc: &Json, fields: Option<&FieldMap>) -> bool {
        let ctx = Ctx {
            doc,
            fields,
            regexes: &self.regexes,
        };
        ctx.query(&self.expr)
    }
}

fn compile(pattern: &str, insensitive: bool) -> Option<Regex> {
    let translated = pattern::to_rust_regex(pattern, insensitive).ok()?;
    regex::RegexBuilder::new(&translated)
        .size_limit(1 << 22)
        .build()
        .ok()
}

/// Evaluates a condition once (compiling its regular expressions each time: for many
/// documents, build a [`Condition`]).
pub fn evaluate(expr: &Expr, doc: &Json, fields: Option<&FieldMap>) -> bool {
    Condition::new(expr.clone()).matches(doc, fields)
}

/// How Elasticsearch runs one part of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'e> {
    And(&'e [Expr]),
    Or(&'e [Expr]),
    Not(&'e Expr),
    /// A part with no field: always or never.
    Constant(bool),
    /// `field op constant` (`term` or `range`; `!=` is `not` of `==`).
    Compare {
        field: &'e Field,
        op: CompareOp,
        value: Value,
    },
    /// `field == null` (no value) or `field != null` (`exists`).
    Exists {
        field: &'e Field,
        exists: bool,
    },
    /// `field in (constants)` (`terms`, or case-insensitive `term`s for `in~`); the items are
    /// constant expressions, folded by [`in_values`] when needed.
    In {
        field: &'e Field,
        list: &'e [Expr],
        insensitive: bool,
    },
    /// Lucene wildcard patterns (`*`, `?`, `\` escapes): `:`, `like`, `endsWith`,
    /// `stringContains` on a field.
    Wildcard {
        field: &'e Field,
        patterns: Vec<String>,
        insensitive: bool,
    },
    /// `startsWith(field, "p")` (`prefix`).
    Prefix {
        field: &'e Field,
        prefix: String,
        insensitive: bool,
    },
    /// `field regex "p"` (`regexp`).
    Regex {
        field: &'e Field,
        patterns: &'e [String],
        insensitive: bool,
    },
    /// `cidrMatch(field, blocks)` (`terms` on an `ip` field).
    Cidr {
        field: &'e Field,
        blocks: Vec<String>,
    },
    /// Anything else: a script over the values of its field references.
    Script(&'e Expr),
}

/// True when a field reference reads as `null` for every document: an optional field that no
/// searched index maps (known only with a field map).
pub fn is_absent(field: &Field, fields: Option<&FieldMap>) -> bool {
    field.optional && fields.is_some_and(|map| map.get(&field.name).is_none())
}

/// True when the expression reads no field (absent optional fields are `null` constants).
pub fn is_constant(expr: &Expr, fields: Option<&FieldMap>) -> bool {
    let mut constant = true;
    expr.walk(&mut |e| {
        if let Expr::Field(field) = e
            && !is_absent(field, fields)
        {
            constant = false;
        }
    });
    constant
}

/// The field of an expression that is a (present) field reference.
fn as_field<'e>(expr: &'e Expr, fields: Option<&FieldMap>) -> Option<&'e Field> {
    match expr {
        Expr::Field(field) if !is_absent(field, fields) => Some(field),
        _ => None,
    }
}

/// Decides how Elasticsearch runs `expr` (the planner's choice, after its rewrites: literals
/// moved to the right of comparisons, `== null` as `exists`, a bare field as `field == true`).
pub fn classify<'e>(expr: &'e Expr, fields: Option<&FieldMap>, regexes: &Regexes) -> Node<'e> {
    match expr {
        Expr::And(children) => return Node::And(children),
        Expr::Or(children) => return Node::Or(children),
        Expr::Not(inner) => return Node::Not(inner),
        _ => {}
    }
    if is_constant(expr, fields) {
        let empty = Json::Null;
        let ctx = Ctx {
            doc: &empty,
            fields,
            regexes,
        };
        return Node::Constant(ctx.script(expr));
    }
    classify_leaf(expr, fields).unwrap_or(Node::Script(expr))
}

fn classify_leaf<'e>(expr: &'e Expr, fields: Option<&FieldMap>) -> Option<Node<'e>> {
    let constant = |e: &Expr| is_constant(e, fields).then(|| fold(e, fields));
    match expr {
        Expr::Field(field) => Some(Node::Compare {
            field,
            op: CompareOp::Eq,
            value: Value::Bool(true),
        }),
        Expr::Compare { op, left, right } => {
            let (field, op, value) = match (as_field(left, fields), as_field(right, fields)) {
                (Some(field), None) => (field, *op, constant(right)?),
                (None, Some(field)) => (field, flip(*op), constant(left)?),
                _ => return None,
            };
            Some(compare_node(field, op, value))
        }
        Expr::Match {
            kind,
            value,
            patterns,
        } => {
            let field = as_field(value, fields)?;
            if kind.is_regex() {
                return Some(Node::Regex {
                    field,
                    patterns,
                    insensitive: kind.insensitive(),
                });
            }
            let patterns = patterns
                .iter()
                .map(|p| pattern::lucene_wildcard(p))
                .collect();
            Some(Node::Wildcard {
                field,
                patterns,
                insensitive: kind.insensitive(),
            })
        }
        Expr::In {
            value,
            list,
            insensitive,
            negated: false,
        } => {
            let field = as_field(value, fields)?;
            if !list.iter().all(|item| is_constant(item, fields)) {
                return None;
            }
            Some(Node::In {
                field,
                list,
                insensitive: *insensitive,
            })
        }
        Expr::Call {
            function,
            insensitive,
            args,
        } => classify_call(*function, *insensitive, args, fields),
        _ => None,
    }
}

fn classify_call<'e>(
    function: Function,
    insensitive: bool,
    args: &'e [Expr],
    fields: Option<&FieldMap>,
) -> Option<Node<'e>> {
    let field = as_field(args.first()?, fields)?;
    let rest = &args[1..];
    if !rest.iter().all(|a| is_constant(a, fields)) {
        return None;
    }
    let texts: Option<Vec<String>> = rest
        .iter()
        .map(|a| match fold(a, fields) {
            Value::Str(s) => Some(s),
            _ => None,
        })
        .collect();
    let mut texts = texts?;
    match function {
        Function::CidrMatch => Some(Node::Cidr {
            field,
            blocks: texts,
        }),
        Function::StartsWith => Some(Node::Prefix {
            field,
            prefix: texts.pop()?,
            insensitive,
        }),
        // Elasticsearch sends the substring inside a wildcard query without escaping it, so its
        // `*`, `?` and `\` act as wildcard syntax there.
        Function::EndsWith => Some(Node::Wildcard {
            field,
            patterns: vec![format!("*{}", texts.pop()?)],
            insensitive,
        }),
        Function::StringContains => Some(Node::Wildcard {
            field,
            patterns: vec![format!("*{}*", texts.pop()?)],
            insensitive,
        }),
        _ => None,
    }
}

fn compare_node(field: &Field, op: CompareOp, value: Value) -> Node<'_> {
    match (op, value.is_null()) {
        (CompareOp::Eq, true) => Node::Exists {
            field,
            exists: false,
        },
        (CompareOp::NotEq, true) => Node::Exists {
            field,
            exists: true,
        },
        (_, true) => Node::Constant(false),
        _ => Node::Compare { field, op, value },
    }
}

fn flip(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::Lte => CompareOp::Gte,
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::Gte => CompareOp::Lte,
        same => same,
    }
}

/// The values of an `in` list of constants, without `null`s (a `terms` query ignores them).
pub fn in_values<'e>(
    list: &'e [Expr],
    fields: Option<&'e FieldMap>,
) -> impl Iterator<Item = Value> + 'e {
    list.iter()
        .map(move |item| match item {
            Expr::Literal(literal) => literal_value(literal),
            other => fold(other, fields),
        })
        .filter(|v| !v.is_null())
}

/// The value of a constant expression.
pub fn fold(expr: &Expr, fields: Option<&FieldMap>) -> Value {
    let empty = Json::Null;
    let regexes = Regexes::new();
    let ctx = Ctx {
        doc: &empty,
        fields,
        regexes: &regexes,
    };
    ctx.value(expr, &mut Vec::new().into_iter())
}

/// One evaluation: the document, the field types and the compiled regular expressions.
pub struct Ctx<'a> {
    pub doc: &'a Json,
    pub fields: Option<&'a FieldMap>,
    pub regexes: &'a Regexes,
}

impl Ctx<'_> {
    /// The query-level truth of a condition.
    pub fn query(&self, expr: &Expr) -> bool {
        match classify(expr, self.fields, self.regexes) {
            Node::And(children) => children.iter().all(|c| self.query(c)),
            Node::Or(children) => children.iter().any(|c| self.query(c)),
            Node::Not(inner) => match classify(inner, self.fields, self.regexes) {
                // A `not` over a script is one script.
                Node::Script(_) => self.script(expr),
                _ => !self.query(inner),
            },
            Node::Script(expr) => self.script(expr),
            leaf => self.leaf(&leaf),
        }
    }

    fn values(&self, field: &Field) -> Vec<Value> {
        field_values(self.doc, &field.name, self.kind(field))
    }

    pub fn kind(&self, field: &Field) -> FieldType {
        FieldType::of(self.fields, &field.name)
    }

    /// A query leaf: true when any value of the field matches.
    fn leaf(&self, node: &Node<'_>) -> bool {
        match node {
            Node::Constant(b) => *b,
            Node::Exists { field, exists } => self.values(field).is_empty() != *exists,
            Node::Compare {
                field,
                op: CompareOp::NotEq,
                value,
            } => {
                let kind = self.kind(field);
                !self
                    .values(field)
                    .iter()
                    .any(|v| term_compare(kind, v, value) == Some(Ordering::Equal))
            }
            Node::Compare { field, op, value } => {
                let kind = self.kind(field);
                self.values(field)
                    .iter()
                    .any(|v| term_compare(kind, v, value).is_some_and(|o| op_holds(*op, o)))
            }
            Node::In {
                field,
                list,
                insensitive,
            } => {
                let kind = self.kind(field);
                let values: Vec<Value> = in_values(list, self.fields).collect();
                self.values(field).iter().any(|v| {
                    values.iter().any(|c| {
                        if *insensitive {
                            insensitive_term(kind, v, c)
                        } else {
                            term_compare(kind, v, c) == Some(Ordering::Equal)
                        }
                    })
                })
            }
            Node::Wildcard {
                field,
                patterns,
                insensitive,
            } => self.strings(field).iter().any(|s| {
                patterns
                    .iter()
                    .any(|p| pattern::lucene_wildcard_matches(p, s, *insensitive))
            }),
            Node::Prefix {
                field,
                prefix,
                insensitive,
            } => self
                .strings(field)
                .iter()
                .any(|s| pattern::starts_with(s, prefix, *insensitive)),
            Node::Regex {
                field,
                patterns,
                insensitive,
            } => self.strings(field).iter().any(|s| {
                patterns
                    .iter()
                    .any(|p| self.regex_matches(p, *insensitive, s))
            }),
            Node::Cidr { field, blocks } => self.strings(field).iter().any(|s| {
                parse_ip(s).is_some_and(|ip| blocks.iter().any(|b| in_cidr(ip, b) == Some(true)))
            }),
            Node::And(_) | Node::Or(_) | Node::Not(_) | Node::Script(_) => false,
        }
    }

    /// The string values of a field (what string queries see; numbers and booleans are strings
    /// only in keyword fields, where they are indexed as text).
    fn strings(&self, field: &Field) -> Vec<String> {
        self.values(field)
            .into_iter()
            .filter_map(|v| match v {
                Value::Str(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    pub fn regex_matches(&self, pattern: &str, insensitive: bool, text: &str) -> bool {
        let key = (pattern.to_string(), insensitive);
        match self.regexes.get(&key) {
            Some(cell) => cell
                .get_or_init(|| compile(pattern, insensitive))
                .as_ref()
                .is_some_and(|r| r.is_match(text)),
            None => compile(pattern, insensitive).is_some_and(|r| r.is_match(text)),
        }
    }

    /// The script-level truth: some combination of the field references' values gives `true`.
    pub fn script(&self, expr: &Expr) -> bool {
        let mut references: Vec<Vec<Value>> = Vec::new();
        expr.walk(&mut |e| {
            if let Expr::Field(field) = e {
                let values = if is_absent(field, self.fields) {
                    Vec::new()
                } else {
                    self.values(field)
                };
                references.push(if values.is_empty() {
                    vec![Value::Null]
                } else {
                    values
                });
            }
        });
        let combinations = references
            .iter()
            .try_fold(1usize, |acc, v| acc.checked_mul(v.len()))
            .unwrap_or(usize::MAX);
        if combinations > MAX_SCRIPT_COMBINATIONS {
            return false;
        }
        let mut choice = vec![0usize; references.len()];
        loop {
            let mut assigned = choice
                .iter()
                .zip(&references)
                .map(|(&i, values)| values[i].clone())
                .collect::<Vec<_>>()
                .into_iter();
            if self.value(expr, &mut assigned) == Value::Bool(true) {
                return true;
            }
            if !next_choice(&mut choice, &references) {
                return false;
            }
        }
    }

    /// The value of an expression in a script, field references taking the next assigned
    /// values (in the order `walk` visits them).
    pub fn value(&self, expr: &Expr, assigned: &mut std::vec::IntoIter<Value>) -> Value {
        match expr {
            Expr::Literal(literal) => literal_value(literal),
            Expr::Field(_) => assigned.next().unwrap_or(Value::Null),
            Expr::Not(inner) => match self.value(inner, assigned) {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            },
            Expr::And(children) => self.logic(children, assigned, false),
            Expr::Or(children) => self.logic(children, assigned, true),
            Expr::Compare { op, left, right } => {
                let null_on_right = is_null_literal(right);
                let null_check = null_on_right || is_null_literal(left);
                let left = self.value(left, assigned);
                let right = self.value(right, assigned);
                // Elasticsearch rewrites `x == null` to `x IS NULL` (and `!=` to `IS NOT NULL`).
                if null_check && matches!(op, CompareOp::Eq | CompareOp::NotEq) {
                    let checked = if null_on_right { &left } else { &right };
                    return Value::Bool(checked.is_null() == (*op == CompareOp::Eq));
                }
                match left.compare(&right) {
                    Some(order) => Value::Bool(op_holds(*op, order)),
                    None => Value::Null,
                }
            }
            Expr::Match {
                kind,
                value,
                patterns,
            } => {
                let value = self.value(value, assigned);
                functions::match_value(self, *kind, &value, patterns)
            }
            Expr::In {
                value,
                list,
                insensitive,
                negated,
            } => {
                let value = self.value(value, assigned);
                let items: Vec<Value> = list.iter().map(|e| self.value(e, assigned)).collect();
                let found = functions::in_list(&value, &items, *insensitive);
                match (found, negated) {
                    (Value::Bool(b), true) => Value::Bool(!b),
                    (other, _) => other,
                }
            }
            Expr::Arithmetic { op, left, right } => {
                let left = self.value(left, assigned);
                let right = self.value(right, assigned);
                functions::arithmetic(*op, &left, &right)
            }
            Expr::Negate(inner) => match self.value(inner, assigned) {
                Value::Int(i) => i.checked_neg().map_or(Value::Null, Value::Int),
                Value::Float(x) => Value::Float(-x),
                _ => Value::Null,
            },
            Expr::Call {
                function,
                insensitive,
                args,
            } => {
                let args: Vec<Value> = args.iter().map(|a| self.value(a, assigned)).collect();
                functions::call(*function, *insensitive, &args)
            }
        }
    }

    /// Three-valued `and` (`any` false) / `or` (`any` true), evaluating every child so that the
    /// assigned values stay in order.
    fn logic(
        &self,
        children: &[Expr],
        assigned: &mut std::vec::IntoIter<Value>,
        or: bool,
    ) -> Value {
        let results: Vec<Value> = children.iter().map(|c| self.value(c, assigned)).collect();
        if results.contains(&Value::Bool(or)) {
            return Value::Bool(or);
        }
        if results.iter().all(|r| *r == Value::Bool(!or)) {
            return Value::Bool(!or);
        }
        Value::Null
    }
}

/// Advances a mixed-radix counter; false when every combination was seen.
fn next_choice(choice: &mut [usize], references: &[Vec<Value>]) -> bool {
    for (digit, values) in choice.iter_mut().zip(references) {
        *digit += 1;
        if *digit < values.len() {
            return true;
        }
        *digit = 0;
    }
    false
}

fn is_null_literal(expr: &Expr) -> bool {
    matches!(expr, Expr::Literal(Literal::Null))
}

pub fn literal_value(literal: &Literal) -> Value {
    match literal {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Integer(i) => Value::Int(*i),
        Literal::Float(x) => Value::Float(*x),
        Literal::String(s) => Value::Str(s.clone()),
    }
}

pub fn op_holds(op: CompareOp, order: Ordering) -> bool {
    match op {
        CompareOp::Eq => order == Ordering::Equal,
        CompareOp::NotEq => order != Ordering::Equal,
        CompareOp::Lt => order == Ordering::Less,
        CompareOp::Lte => order != Ordering::Greater,
        CompareOp::Gt => order == Ordering::Greater,
        CompareOp::Gte => order != Ordering::Less,
    }
}

/// How a `term` or `range` query compares an indexed value with the query's constant, by the
/// field's type: keyword fields compare text (the constant as text), numeric fields numbers
/// (a text constant read as a number), `ip` and `date` fields parsed addresses and instants.
pub fn term_compare(kind: FieldType, indexed: &Value, constant: &Value) -> Option<Ordering> {
    match kind {
        FieldType::Keyword => {
            let Value::Str(text) = indexed else {
                return None;
            };
            Some(text.as_str().cmp(constant_text(constant)?.as_str()))
        }
        FieldType::Integer | FieldType::Float => {
            indexed.as_f64()?.partial_cmp(&constant_number(constant)?)
        }
        FieldType::Boolean => {
            let Value::Bool(b) = indexed else {
                return None;
            };
            let c = match constant {
                Value::Bool(c) => *c,
                Value::Str(s) if s == "true" => true,
                Value::Str(s) if s == "false" => false,
                _ => return None,
            };
            Some(b.cmp(&c))
        }
        FieldType::Ip => ip_compare(indexed, constant),
        FieldType::Date => Some(date_millis(indexed)?.cmp(&date_millis(constant)?)),
        FieldType::Unknown => match indexed {
            Value::Str(text) => Some(text.as_str().cmp(constant_text(constant)?.as_str())),
            Value::Int(_) | Value::Float(_) => {
                indexed.as_f64()?.partial_cmp(&constant_number(constant)?)
            }
            _ => term_compare(FieldType::Boolean, indexed, constant),
        },
    }
}

fn ip_compare(indexed: &Value, constant: &Value) -> Option<Ordering> {
    let (Value::Str(a), Value::Str(b)) = (indexed, constant) else {
        return None;
    };
    let ip = parse_ip(a)?;
    // A term on an `ip` field may be a CIDR block.
    if b.contains('/') {
        return in_cidr(ip, b)?
            .then_some(Ordering::Equal)
            .or(Some(Ordering::Less));
    }
    let other = parse_ip(b)?;
    Some(ip_key(ip).cmp(&ip_key(other)))
}

/// IPs ordered as Elasticsearch orders them (every address as IPv6, IPv4 mapped).
fn ip_key(ip: std::net::IpAddr) -> u128 {
    match ip {
        std::net::IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        std::net::IpAddr::V6(v6) => u128::from(v6),
    }
}

/// A constant as the text a keyword query holds.
pub fn constant_text(constant: &Value) -> Option<String> {
    match constant {
        Value::Null => None,
        other => other.to_text().map(|t| match other {
            // A JSON number 5.0 is sent as `5.0` and indexed keyword text compares with that.
            Value::Float(x) => format!("{x:?}"),
            _ => t,
        }),
    }
}

/// A constant as the number a numeric query holds.
pub fn constant_number(constant: &Value) -> Option<f64> {
    match constant {
        Value::Int(_) | Value::Float(_) => constant.as_f64(),
        Value::Str(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

/// `in~` on a field: a case-insensitive `term` per constant (numbers compare as numbers).
fn insensitive_term(kind: FieldType, indexed: &Value, constant: &Value) -> bool {
    match (indexed, constant_text(constant)) {
        (Value::Str(text), Some(c)) if matches!(kind, FieldType::Keyword | FieldType::Unknown) => {
            pattern::strings_equal(text, &c, true)
        }
        _ => term_compare(kind, indexed, constant) == Some(Ordering::Equal),
    }
}
