//! What of a parsed query lookout's own evaluation cannot run, each with its reason: regular
//! expressions outside the Lucene syntax lookout translates (its `~`, `&` and `<n-m>`
//! operators) or that the `regex` crate refuses. Everything else of the grammar runs: samples and
//! the `head`/`tail` pipes too.

use super::ast::{Expr, Query};
use super::pattern;

/// The reasons lookout's evaluation cannot run parts of the query (empty when it runs all).
pub fn unsupported(query: &Query) -> Vec<String> {
    let mut reasons = Vec::new();
    for (i, filter) in query.filters().into_iter().enumerate() {
        filter.condition.walk(&mut |e| {
            let Expr::Match {
                kind, patterns, ..
            } = e
            else {
                return;
            };
            if !kind.is_regex() {
                return;
            }
            for p in patterns {
                if let Some(reason) = regex_problem(p, kind.insensitive()) {
                    reasons.push(format!(
                        "stage {}: the regular expression {p:?} cannot be evaluated by lookout: {reason}",
                        i + 1
                    ));
                }
            }
        });
    }
    reasons
}

fn regex_problem(pattern: &str, insensitive: bool) -> Option<String> {
    let translated = match pattern::to_rust_regex(pattern, insensitive) {
        Ok(translated) => translated,
        Err(reason) => return Some(reason),
    };
    regex::RegexBuilder::new(&translated)
        .size_limit(1 << 22)
        .build()
        .err()
        .map(|e| {
            e.to_string()
                .lines()
                .last()
                .unwrap_or("refused")
                .to_string()
        })
}
