//! Turns one stage (category + condition) into a query DSL filter and a residual condition, so
//! that a document matches the stage exactly when the DSL selects it and the residual (checked
//! by the evaluator on the fetched document) accepts it. Each part of the condition becomes the
//! query Elasticsearch itself would run for it when the field's mapped type makes that query
//! select exactly what the evaluator accepts; otherwise it becomes a looser query (`exists`, or
//! everything) and goes to the residual. No I/O; DSL is built as `serde_json::Value`.

use super::ast::*;
use super::dsl::{Dsl, Scalar, TextQuery};
use super::eval::{Condition, Node, Regexes, classify, constant_number, constant_text, in_values};
use super::pattern;
use super::value::{FieldType, Value, in_cidr, parse_ip};
use crate::kql::FieldMap;
use serde_json::Value as Json;

/// The field that holds an event's category unless the rule overrides it
/// (`event_category_override`).
pub const DEFAULT_CATEGORY_FIELD: &str = "event.category";

/// The DSL and residual of one stage.
#[derive(Debug, Clone)]
pub struct StageFilter {
    /// A query DSL filter (serializes to one JSON query object).
    pub dsl: Dsl,
    /// What the DSL cannot express, checked on each selected document; `None` when the DSL is
    /// exact.
    pub residual: Option<Condition>,
}

impl StageFilter {
    /// True when a document the DSL selected matches the stage.
    pub fn accepts(&self, doc: &Json, fields: Option<&FieldMap>) -> bool {
        self.residual
            .as_ref()
            .is_none_or(|residual| residual.matches(doc, fields))
    }
}

/// The whole condition of a stage: its category test (on `category_field`) and its condition.
pub fn stage_condition(filter: &EventFilter, category_field: &str) -> Expr {
    match &filter.category {
        Category::Any => filter.condition.clone(),
        Category::Named(name) => Expr::And(vec![
            category_test(category_field, name),
            filter.condition.clone(),
        ]),
    }
}

/// Translates a stage, with field types from `fields` when known (without them every field
/// condition is loosened to `exists` and checked by the residual).
pub fn translate_stage(
    filter: &EventFilter,
    category_field: &str,
    fields: Option<&FieldMap>,
) -> StageFilter {
    let translator = Translator {
        fields,
        regexes: Regexes::new(),
    };
    let category = match &filter.category {
        Category::Any => None,
        Category::Named(name) => Some(category_test(category_field, name)),
    };
    let mut conjuncts = Vec::new();
    conjuncts.extend(category.as_ref());
    flatten_and(&filter.condition, &mut conjuncts);
    let mut queries = Vec::with_capacity(conjuncts.len());
    let mut residual = Vec::new();
    for conjunct in conjuncts {
        let part = translator.part(conjunct);
        if !part.exact {
            residual.push(conjunct.clone());
        }
        queries.push(part.dsl);
    }
    let dsl = match queries.len() {
        1 => queries.pop().expect("one query"),
        _ => Dsl::Filter(queries),
    };
    let residual = match residual.len() {
        0 => None,
        1 => residual.pop().map(Condition::new),
        _ => Some(Condition::new(Expr::And(residual))),
    };
    StageFilter { dsl, residual }
}

/// `category_field == "name"`.
fn category_test(category_field: &str, name: &str) -> Expr {
    Expr::Compare {
        op: CompareOp::Eq,
        left: Box::new(Expr::Field(Field {
            name: category_field.to_string(),
            optional: false,
        })),
        right: Box::new(Expr::Literal(Literal::String(name.to_string()))),
    }
}

/// The conjuncts of nested `and`s, in order.
fn flatten_and<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
    match expr {
        Expr::And(children) => children.iter().for_each(|c| flatten_and(c, out)),
        other => out.push(other),
    }
}

/// A translated part: its DSL and whether the DSL is exact.
struct Part {
    dsl: Dsl,
    exact: bool,
}

fn exact(dsl: Dsl) -> Part {
    Part { dsl, exact: true }
}

fn loose(dsl: Dsl) -> Part {
    Part { dsl, exact: false }
}

fn exists(field: &str) -> Dsl {
    Dsl::Exists(field.to_string())
}

fn must_not(query: Dsl) -> Dsl {
    Dsl::MustNot(Box::new(query))
}

fn should(queries: Vec<Dsl>) -> Dsl {
    if queries.is_empty() {
        return Dsl::MatchNone;
    }
    Dsl::Should(queries)
}

fn term(field: &str, value: Scalar, case_insensitive: bool) -> Dsl {
    Dsl::Term {
        field: field.to_string(),
        value,
        case_insensitive,
    }
}

fn string_query(kind: TextQuery, field: &str, value: String, case_insensitive: bool) -> Dsl {
    Dsl::Text {
        kind,
        field: field.to_string(),
        value,
        case_insensitive,
    }
}

/// The field types, and an empty regex cache: constant parts (no field, so no regex on a field)
/// compile theirs when folded.
struct Translator<'f> {
    fields: Option<&'f FieldMap>,
    regexes: Regexes,
}

impl Translator<'_> {
    fn part(&self, expr: &Expr) -> Part {
        match classify(expr, self.fields, &self.regexes) {
            Node::And(children) => {
                let parts: Vec<Part> = children.iter().map(|c| self.part(c)).collect();
                let exact = parts.iter().all(|p| p.exact);
                let dsl = Dsl::Filter(parts.into_iter().map(|p| p.dsl).collect());
                Part { dsl, exact }
            }
            Node::Or(children) => {
                let parts: Vec<Part> = children.iter().map(|c| self.part(c)).collect();
                let exact = parts.iter().all(|p| p.exact);
                let dsl = should(parts.into_iter().map(|p| p.dsl).collect());
                Part { dsl, exact }
            }
            Node::Not(inner) => {
                let part = self.part(inner);
                if part.exact
                    && !matches!(classify(inner, self.fields, &self.regexes), Node::Script(_))
                {
                    return exact(must_not(part.dsl));
                }
                loose(Dsl::MatchAll)
            }
            Node::Constant(true) => exact(Dsl::MatchAll),
            Node::Constant(false) => exact(Dsl::MatchNone),
            Node::Script(_) => loose(Dsl::MatchAll),
            leaf => self.leaf(leaf),
        }
    }

    /// A field leaf; its strings move into the DSL.
    fn leaf(&self, node: Node<'_>) -> Part {
        if let Node::Exists { field, exists: e } = node {
            let query = exists(&field.name);
            return exact(if e { query } else { must_not(query) });
        }
        let field = leaf_field(&node);
        let not_equal = matches!(
            node,
            Node::Compare {
                op: CompareOp::NotEq,
                ..
            }
        );
        let kind = FieldType::of(self.fields, &field.name);
        let name = match kind {
            FieldType::Date | FieldType::Unknown => None,
            _ => self.exact_name(&field.name, kind),
        };
        let fields = self.fields;
        let typed = name.as_deref().and_then(|name| match kind {
            FieldType::Keyword => Some(keyword_leaf(node, name, fields)),
            FieldType::Integer | FieldType::Float => Some(number_leaf(node, name, fields)),
            FieldType::Boolean => boolean_leaf(node, name, fields),
            FieldType::Ip => ip_leaf(node, name, fields),
            FieldType::Date | FieldType::Unknown => None,
        });
        typed.unwrap_or_else(|| loose(loose_leaf(not_equal, &field.name)))
    }

    /// The name to query for exact values: the field itself, or the keyword sub-field of a
    /// `text` field (as Elasticsearch does); `None` when no exact form is known.
    fn exact_name(&self, name: &str, kind: FieldType) -> Option<String> {
        let info = self.fields?.get(name)?;
        if kind != FieldType::Keyword || !info.types.iter().any(|t| t.contains("text")) {
            return Some(name.to_string());
        }
        let map = self.fields?;
        let prefix = format!("{name}.");
        map.iter_prefixed(&prefix)
            .find(|(sub, sub_info)| {
                !sub[prefix.len()..].contains('.') && sub_info.is_keyword_only()
            })
            .map(|(sub, _)| sub.to_string())
    }
}

fn leaf_field<'e>(node: &Node<'e>) -> &'e Field {
    match node {
        Node::Compare { field, .. }
        | Node::Exists { field, .. }
        | Node::In { field, .. }
        | Node::Wildcard { field, .. }
        | Node::Prefix { field, .. }
        | Node::Regex { field, .. }
        | Node::Cidr { field, .. } => field,
        Node::And(_) | Node::Or(_) | Node::Not(_) | Node::Constant(_) | Node::Script(_) => {
            unreachable!("leaf_field is called on field leaves only")
        }
    }
}

/// The looser query of a leaf that is not exact: `exists` when the leaf needs a value (every
/// leaf but `!=`, which also matches documents without the field), else everything.
fn loose_leaf(not_equal: bool, name: &str) -> Dsl {
    if not_equal {
        return Dsl::MatchAll;
    }
    exists(name)
}

fn compare_query(name: &str, op: CompareOp, value: Scalar) -> Dsl {
    match op {
        CompareOp::Eq => term(name, value, false),
        CompareOp::NotEq => must_not(term(name, value, false)),
        _ => Dsl::Range {
            field: name.to_string(),
            op,
            value,
        },
    }
}

/// An unmatchable constant: `==` and ranges select nothing, `!=` everything.
fn never(op: CompareOp) -> Part {
    exact(if op == CompareOp::NotEq {
        Dsl::MatchAll
    } else {
        Dsl::MatchNone
    })
}

fn keyword_leaf(node: Node<'_>, name: &str, fields: Option<&FieldMap>) -> Part {
    match node {
        Node::Compare { op, value, .. } => match into_text(value) {
            Some(text) => exact(compare_query(name, op, Scalar::Str(text))),
            None => never(op),
        },
        Node::In {
            list,
            insensitive: false,
            ..
        } => {
            let texts = in_values(list, fields).filter_map(|v| into_text(v).map(Scalar::Str));
            exact(terms(name, texts.collect()))
        }
        Node::In { list, .. } => {
            let terms = in_values(list, fields)
                .filter_map(into_text)
                .map(|t| term(name, Scalar::Str(t), true))
                .collect();
            exact(should(terms))
        }
        Node::Wildcard {
            patterns,
            insensitive,
            ..
        } => exact(should(
            patterns
                .into_iter()
                .map(|p| string_query(TextQuery::Wildcard, name, p, insensitive))
                .collect(),
        )),
        Node::Prefix {
            prefix,
            insensitive,
            ..
        } => exact(string_query(TextQuery::Prefix, name, prefix, insensitive)),
        Node::Regex {
            patterns,
            insensitive,
            ..
        } => {
            let supported = patterns.iter().all(|p| pattern::check_regex(p).is_ok());
            let dsl = should(
                patterns
                    .iter()
                    .map(|p| string_query(TextQuery::Regexp, name, p.clone(), insensitive))
                    .collect(),
            );
            Part {
                dsl,
                exact: supported,
            }
        }
        // A CIDR block is not a keyword: lookout checks the addresses itself.
        _ => loose(exists(name)),
    }
}

/// A constant as the text a keyword query holds, moving a string's text.
fn into_text(value: Value) -> Option<String> {
    match value {
        Value::Str(text) => Some(text),
        other => constant_text(&other),
    }
}

fn number_json(value: &Value) -> Option<Scalar> {
    let x = constant_number(value)?;
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        return Some(Scalar::Int(x as i64));
    }
    Some(Scalar::Float(x))
}

fn terms(name: &str, values: Vec<Scalar>) -> Dsl {
    Dsl::Terms {
        field: name.to_string(),
        values,
    }
}

fn number_leaf(node: Node<'_>, name: &str, fields: Option<&FieldMap>) -> Part {
    match node {
        Node::Compare { op, value, .. } => match number_json(&value) {
            Some(number) => exact(compare_query(name, op, number)),
            None => never(op),
        },
        Node::In { list, .. } => {
            let numbers = in_values(list, fields).filter_map(|v| number_json(&v));
            exact(terms(name, numbers.collect()))
        }
        // String queries see no text in a numeric field.
        _ => exact(Dsl::MatchNone),
    }
}

fn boolean_json(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Str(s) if s == "true" => Some(true),
        Value::Str(s) if s == "false" => Some(false),
        _ => None,
    }
}

fn boolean_leaf(node: Node<'_>, name: &str, fields: Option<&FieldMap>) -> Option<Part> {
    match node {
        Node::Compare {
            op: op @ (CompareOp::Eq | CompareOp::NotEq),
            value,
            ..
        } => Some(match boolean_json(&value) {
            Some(b) => exact(compare_query(name, op, Scalar::Bool(b))),
            None => never(op),
        }),
        Node::In { list, .. } => {
            let bools = in_values(list, fields)
                .filter_map(|v| boolean_json(&v))
                .map(Scalar::Bool);
            Some(exact(terms(name, bools.collect())))
        }
        Node::Compare { .. } => None,
        _ => Some(exact(Dsl::MatchNone)),
    }
}

fn ip_leaf(node: Node<'_>, name: &str, fields: Option<&FieldMap>) -> Option<Part> {
    let valid = |value: &Value| match value {
        Value::Str(s) if s.contains('/') => parse_ip("0.0.0.0")
            .and_then(|probe| in_cidr(probe, s))
            .map(|_| s.clone()),
        Value::Str(s) => parse_ip(s).map(|_| s.clone()),
        _ => None,
    };
    match node {
        Node::Compare { op, value, .. } => {
            let is_range = !matches!(op, CompareOp::Eq | CompareOp::NotEq);
            Some(match valid(&value) {
                Some(text) if is_range && text.contains('/') => return None,
                Some(text) => exact(compare_query(name, op, Scalar::Str(text))),
                None => never(op),
            })
        }
        Node::In {
            list,
            insensitive: false,
            ..
        } => {
            let texts = in_values(list, fields)
                .filter_map(|v| valid(&v))
                .map(Scalar::Str);
            Some(exact(terms(name, texts.collect())))
        }
        Node::Cidr { blocks, .. } => {
            let texts = blocks
                .iter()
                .filter_map(|b| valid(&Value::Str(b.clone())))
                .map(Scalar::Str);
            Some(exact(terms(name, texts.collect())))
        }
        _ => None,
    }
}
