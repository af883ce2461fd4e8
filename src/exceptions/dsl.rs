//! The query clauses of exception items, in the shape Kibana's exception filter gives them
//! (`@kbn/securitysolution-list-utils`, `build_exception_filter`): an item is one clause (its
//! entries ANDed), or, with `os_types`, one clause per operating system and per OS field; an
//! `excluded` entry is its `included` clause under `must_not`. Pure.

use super::{Entry, Item, OsType};
use serde_json::{Value, json};

/// The ECS field of the operating system, and the one Elastic Endpoint writes.
const OS_FIELDS: [&str; 2] = ["host.os.type", "host.os.name.caseless"];

/// The clauses of one item (several with `os_types`), any of which excepts an event.
pub fn item_clauses(item: &Item) -> Vec<Value> {
    if item.os_types.is_empty() {
        return vec![and(&item.entries, None)];
    }
    let mut clauses = Vec::with_capacity(item.os_types.len() * OS_FIELDS.len());
    for os_field in OS_FIELDS {
        for os in &item.os_types {
            let mut entries = vec![os_entry(os_field, *os)];
            entries.extend(item.entries.iter().cloned());
            clauses.push(json!({"bool": {"filter": clauses_of(&entries, None)}}));
        }
    }
    clauses
}

fn os_entry(field: &str, os: OsType) -> Entry {
    Entry::Match {
        field: field.to_string(),
        value: os.as_str().to_string(),
        excluded: false,
    }
}

/// Entries ANDed: the clause itself for one entry, else a `bool.filter` of their clauses.
fn and(entries: &[Entry], parent: Option<&str>) -> Value {
    match entries {
        [entry] => clause(entry, parent),
        _ => json!({"bool": {"filter": clauses_of(entries, parent)}}),
    }
}

fn clauses_of(entries: &[Entry], parent: Option<&str>) -> Vec<Value> {
    entries.iter().map(|entry| clause(entry, parent)).collect()
}

/// The clause of one entry; `parent` prefixes the field inside a nested entry.
fn clause(entry: &Entry, parent: Option<&str>) -> Value {
    let full = |field: &str| match parent {
        Some(parent) => format!("{parent}.{field}"),
        None => field.to_string(),
    };
    match entry {
        Entry::Match {
            field,
            value,
            excluded,
        } => negated(phrase(&full(field), value), *excluded),
        Entry::MatchAny {
            field,
            values,
            excluded,
        } => negated(any_phrase(&full(field), values), *excluded),
        Entry::Wildcard {
            field,
            value,
            excluded,
        } => {
            let wildcard = json!({"bool": {"filter": {"wildcard": {full(field): value}}}});
            negated(wildcard, *excluded)
        }
        Entry::Exists { field, excluded } => {
            let exists = json!({"bool": {"minimum_should_match": 1, "should": [{"exists": {"field": full(field)}}]}});
            negated(exists, *excluded)
        }
        Entry::List {
            field,
            values,
            excluded,
            ..
        } => {
            let occurrence = if *excluded { "must_not" } else { "filter" };
            json!({"bool": {occurrence: {"terms": {full(field): values.as_slice()}}}})
        }
        Entry::Nested { field, entries } => json!({"nested": {
            "path": field,
            "query": and(entries, Some(field)),
            "score_mode": "none",
        }}),
    }
}

/// `{"bool": {"minimum_should_match": 1, "should": [{"match_phrase": {field: value}}]}}`.
fn phrase(field: &str, value: &str) -> Value {
    json!({"bool": {"minimum_should_match": 1, "should": [{"match_phrase": {field: value}}]}})
}

/// One value is a phrase clause; several are a `should` of phrase clauses.
fn any_phrase(field: &str, values: &[String]) -> Value {
    if let [value] = values {
        return phrase(field, value);
    }
    let should: Vec<Value> = values.iter().map(|value| phrase(field, value)).collect();
    json!({"bool": {"minimum_should_match": 1, "should": should}})
}

/// The clause under `must_not` when the entry is `excluded`.
fn negated(clause: Value, excluded: bool) -> Value {
    match excluded {
        true => json!({"bool": {"must_not": clause}}),
        false => clause,
    }
}
