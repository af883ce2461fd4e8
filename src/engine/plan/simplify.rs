//! The smallest equivalent form of a query in filter context, pure: the same documents, fewer
//! clauses. Kibana's translation wraps every KQL value in a `bool` of one `should` clause inside
//! another `bool`; the engine's request nests the rule's query inside its own `bool.filter`. This
//! rewrites such a tree bottom-up: one-clause wrappers collapse, nested conjunctions splice into
//! their parent in place (so the time range the plan puts first stays first), `not not x` becomes
//! `x`, `not (a or b)` becomes `not a, not b`, and `minimum_should_match` is written only where
//! Elasticsearch's default would differ. Scores are not kept (the engine sorts on timestamps and
//! never reads them); anything it does not know (a query type, a `bool` key, a percentage
//! `minimum_should_match`) is kept as it is.
//!
//! It works on `serde_json::Value`, not on `kql::Dsl`: the request also holds what no KQL
//! translation builds (the time range with its `@timestamp` fallback, the rule's Kibana filters,
//! which are any DSL a rule file holds, Lucene's `query_string`, indicator-match clauses), and the
//! engine already embeds the query as a `Value`.
//!
//! The meaning of a `bool` (Elasticsearch's query DSL reference, "Boolean query" and
//! `minimum_should_match`), which [`Conjunction::read`] turns into explicit terms:
//! - every `filter` and `must` clause matches (in filter context `must` is `filter`);
//! - no `must_not` clause matches (a `bool` of `must_not` alone matches everything else);
//! - at least `minimum_should_match` of the `should` clauses match. Its default is 1 when the
//!   `bool` has `should` clauses and no `must` or `filter`, else 0; with no `must` or `filter` at
//!   least one `should` must match whatever the value (Lucene's pure disjunction). A value above
//!   the number of `should` clauses is not capped (Elasticsearch's `calculateMinShouldMatch`):
//!   nothing matches, except that a `bool` of `must_not` clauses alone drops the value and one of
//!   no clauses matches everything. Such a `bool` is kept as it is.
//! - a `bool` with no clauses matches every document.

use serde_json::{Map, Value, json};

/// `query` in its smallest equivalent form, as a filter (the same documents; no scores).
pub fn simplify(query: Value) -> Value {
    match Conjunction::read(query) {
        Ok(conjunction) => conjunction.simplified().write(),
        Err(other) => simplify_inside(other),
    }
}

/// `query` simplified and kept in filter context: a `bool` at the top, so that no clause is
/// scored (a lone leaf is wrapped in `bool.filter`).
pub fn simplify_filter(query: Value) -> Value {
    let simplified = simplify(query);
    if is_bool(&simplified) {
        return simplified;
    }
    json!({ "bool": { "filter": [simplified] } })
}

/// A `bool` query by its meaning: every `all` clause matches, no `none` clause matches, and at
/// least `at_least` of the `any` clauses match (`at_least` is the effective count, at most
/// `any.len()`, and at least 1 when `any` is not empty and `all` is).
#[derive(Debug, Default)]
struct Conjunction {
    all: Vec<Value>,
    none: Vec<Value>,
    any: Vec<Value>,
    at_least: usize,
}

impl Conjunction {
    /// The meaning of a `bool` query whose keys are all known, else the query unchanged.
    fn read(query: Value) -> Result<Self, Value> {
        if !Self::is_plain_bool(&query) {
            return Err(query);
        }
        let Value::Object(mut outer) = query else {
            unreachable!("is_plain_bool checked the object")
        };
        let Some(Value::Object(mut body)) = outer.remove("bool") else {
            unreachable!("is_plain_bool checked the bool body")
        };
        let msm = body.remove("minimum_should_match").and_then(|m| count(&m));
        let mut all = clauses(body.remove("filter"));
        all.extend(clauses(body.remove("must")));
        let none = clauses(body.remove("must_not"));
        let any = clauses(body.remove("should"));
        let default = usize::from(!any.is_empty() && all.is_empty());
        let mut at_least = msm.unwrap_or(default);
        if at_least > any.len() {
            // Matches nothing, or (no clauses, `must_not` alone) ignores the value: kept.
            return Err(Self::unread(all, none, any, msm));
        }
        if all.is_empty() && !any.is_empty() {
            at_least = at_least.max(1);
        }
        Ok(Self {
            all,
            none,
            any,
            at_least,
        })
    }

    /// The `bool` query [`read`](Self::read) took apart, as it was written (`filter` and `must`
    /// merged into `filter`: the same in filter context). Its clauses are left as they are
    /// (`simplify` simplifies them once, in `simplify_inside`).
    fn unread(all: Vec<Value>, none: Vec<Value>, any: Vec<Value>, msm: Option<usize>) -> Value {
        let mut body = Map::new();
        for (key, list) in [("filter", all), ("must_not", none), ("should", any)] {
            if !list.is_empty() {
                body.insert(key.into(), Value::Array(list));
            }
        }
        if let Some(msm) = msm {
            body.insert("minimum_should_match".into(), msm.into());
        }
        json!({ "bool": body })
    }

    /// True for `{"bool": {..}}` with only clause lists and a whole-number
    /// `minimum_should_match` (no `boost`, `_name`, `adjust_pure_negative` or percentages).
    fn is_plain_bool(query: &Value) -> bool {
        let Some(Value::Object(body)) = single_key(query, "bool") else {
            return false;
        };
        body.iter().all(|(key, value)| match key.as_str() {
            "filter" | "must" | "must_not" | "should" => value.is_array() || value.is_object(),
            "minimum_should_match" => count(value).is_some(),
            _ => false,
        })
    }

    /// The same meaning in the fewest clauses.
    fn simplified(self) -> Self {
        let mut result = Self {
            at_least: self.at_least,
            ..Self::default()
        };
        let mut required: Vec<Value> = self.all.into_iter().map(simplify).collect();
        for clause in self.none.into_iter().map(simplify) {
            result.exclude(clause, &mut required);
        }
        let any: Vec<Value> = self.any.into_iter().map(simplify).collect();
        result.offer_any(any, &mut required);
        for clause in required {
            result.require(clause);
        }
        result
    }

    /// Adds a `must_not` clause: `not (not x)` is `x` (required), `not (a or b)` is `not a` and
    /// `not b`.
    fn exclude(&mut self, clause: Value, required: &mut Vec<Value>) {
        let clause = match Self::read(clause) {
            Ok(inner) if inner.all.is_empty() && inner.any.is_empty() && inner.none.len() == 1 => {
                required.extend(inner.none);
                return;
            }
            Ok(inner) if inner.all.is_empty() && inner.none.is_empty() && inner.at_least == 1 => {
                // Each disjunct is excluded in turn: one that is itself a negation is required.
                for clause in inner.any {
                    self.exclude(clause, required);
                }
                return;
            }
            Ok(inner) => inner.write(),
            Err(other) => other,
        };
        self.none.push(clause);
    }

    /// Sets the `should` clauses (already simplified): none needed drops them, all needed makes
    /// them required, and with one needed a nested disjunction splices in and a `match_all`
    /// satisfies them.
    fn offer_any(&mut self, any: Vec<Value>, required: &mut Vec<Value>) {
        if self.at_least == 1 {
            for clause in any {
                match Self::read(clause) {
                    Ok(inner)
                        if inner.all.is_empty() && inner.none.is_empty() && inner.at_least == 1 =>
                    {
                        self.any.extend(inner.any)
                    }
                    Ok(inner) => self.any.push(inner.write()),
                    Err(other) => self.any.push(other),
                }
            }
        } else {
            self.any = any;
        }
        if self.any.iter().any(is_match_all) && self.at_least == 1 {
            self.any.clear();
        }
        if self.at_least == 0 || self.any.is_empty() {
            self.any.clear();
            self.at_least = 0;
        } else if self.at_least >= self.any.len() {
            required.append(&mut self.any);
            self.at_least = 0;
        }
    }

    /// Adds a required clause: a `match_all` adds nothing, a conjunction splices its clauses in
    /// (in place, keeping their order).
    fn require(&mut self, clause: Value) {
        if is_match_all(&clause) {
            return;
        }
        match Self::read(clause) {
            Ok(inner) if inner.any.is_empty() => {
                for clause in inner.all {
                    self.require(clause);
                }
                self.none.extend(inner.none);
            }
            Ok(inner) => self.all.push(inner.write()),
            Err(other) => self.all.push(other),
        }
    }

    /// The query DSL of this meaning: a lone required clause as itself, no clauses as
    /// `match_all`, else a `bool` with `minimum_should_match` only where the default differs.
    fn write(self) -> Value {
        if self.none.is_empty() && self.any.is_empty() {
            match self.all.len() {
                0 => return json!({ "match_all": {} }),
                1 => return self.all.into_iter().next().expect("one clause"),
                _ => {}
            }
        }
        let default = usize::from(!self.any.is_empty() && self.all.is_empty());
        let mut body = Map::new();
        if !self.all.is_empty() {
            body.insert("filter".into(), Value::Array(self.all));
        }
        if !self.none.is_empty() {
            body.insert("must_not".into(), Value::Array(self.none));
        }
        if !self.any.is_empty() {
            body.insert("should".into(), Value::Array(self.any));
            if self.at_least != default {
                body.insert("minimum_should_match".into(), self.at_least.into());
            }
        }
        json!({ "bool": body })
    }
}

/// A query that is not a plain `bool`: a `nested` query's inner query is simplified, a `bool`
/// with keys of its own keeps them and gets its clauses simplified, anything else is a leaf.
fn simplify_inside(mut query: Value) -> Value {
    if let Some(Value::Object(nested)) = query.get_mut("nested")
        && let Some(inner) = nested.get_mut("query")
    {
        *inner = simplify(inner.take());
    }
    if let Some(Value::Object(body)) = query.get_mut("bool") {
        for key in ["filter", "must", "must_not", "should"] {
            match body.get_mut(key) {
                Some(Value::Array(list)) => {
                    for clause in list {
                        *clause = simplify(clause.take());
                    }
                }
                Some(clause @ Value::Object(_)) => *clause = simplify(clause.take()),
                _ => {}
            }
        }
    }
    query
}

/// A clause list as Elasticsearch reads it: an array, or one query object.
fn clauses(list: Option<Value>) -> Vec<Value> {
    match list {
        Some(Value::Array(list)) => list,
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

/// A whole-number `minimum_should_match` (`1` or `"1"`); `None` for any other form (negative
/// numbers, percentages, combinations), which this module leaves as it is.
fn count(value: &Value) -> Option<usize> {
    match value {
        Value::Number(number) => number.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            text.parse().ok()
        }
        _ => None,
    }
}

/// The value of `query`'s only key when that key is `key`.
fn single_key<'q>(query: &'q Value, key: &str) -> Option<&'q Value> {
    let object = query.as_object()?;
    if object.len() != 1 {
        return None;
    }
    object.get(key)
}

fn is_bool(query: &Value) -> bool {
    single_key(query, "bool").is_some()
}

/// `{"match_all": {}}` (a `boost` changes only scores).
fn is_match_all(query: &Value) -> bool {
    single_key(query, "match_all").is_some_and(|body| {
        body.as_object()
            .is_some_and(|b| b.keys().all(|k| k == "boost"))
    })
}
