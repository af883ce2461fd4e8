//! A rule's `[[rule.exceptions_list]]` references resolved, at load time, to the exception
//! lists of the catalog (docs/exceptions.md). A reference that does not resolve is an error at
//! the reference, naming the rule and the list: the rule does not load, so it never runs
//! without its exceptions.

use super::diagnostic::FileProblems;
use super::fields::{Need, Table};
use super::sections::ExceptionListRef;
use crate::exceptions::{Catalog, Exceptions};
use std::ops::Range;
use toml::de::DeValue;

/// The lists of `references`, or `None` when one does not resolve (each such reference is
/// recorded as an error).
pub(super) fn resolve(
    rule: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
    catalog: &Catalog,
    rule_id: &str,
    references: &[ExceptionListRef],
) -> Option<Exceptions> {
    let mut lists = Vec::with_capacity(references.len());
    let mut spans: Option<Vec<Range<usize>>> = None;
    for (n, reference) in references.iter().enumerate() {
        match catalog.list(&reference.list_id) {
            Ok(list) => lists.push(list),
            Err(why) => {
                let spans = spans.get_or_insert_with(|| reference_spans(rule, p));
                let span = spans.get(n).cloned().unwrap_or_else(|| rule.span());
                let message = format!(
                    "rule {rule_id:?} cannot run: {}; a rule never runs without its exceptions \
                     (docs/exceptions.md)",
                    why.0
                );
                p.error(&span, message);
            }
        }
    }
    (lists.len() == references.len()).then(|| Exceptions::new(lists))
}

/// Where each `[[rule.exceptions_list]]` entry starts (read already: no new diagnostics).
fn reference_spans(rule: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Vec<Range<usize>> {
    match rule
        .get(p, "exceptions_list", Need::Optional)
        .map(|v| v.get_ref())
    {
        Some(DeValue::Array(entries)) => entries.iter().map(|entry| entry.span()).collect(),
        _ => Vec::new(),
    }
}
