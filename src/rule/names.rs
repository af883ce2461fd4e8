//! What a `rule_id` and an index pattern may be, checked when the file loads so that a bad one
//! fails there (`path:line:col`) instead of at every execution. A `rule_id` becomes a document
//! id and a URL path segment (the rule's state document); an index pattern becomes part of the
//! search path, where an empty name or `.`/`..` would search every index or another API.

use super::diagnostic::FileProblems;
use super::fields::{Need, Table};
use toml::de::DeValue;

/// The longest `rule_id`, in bytes: Elasticsearch's limit for a document id.
pub const MAX_RULE_ID_BYTES: usize = 512;

/// Characters an index name cannot hold (Elasticsearch's list, plus `,` and whitespace, which
/// would split or break the comma-separated index list of the search path).
const NOT_IN_INDEX_NAMES: &[char] = &['\\', '/', '?', '"', '<', '>', '|', ',', '#'];

/// Why `rule_id` cannot be used, if it cannot.
pub fn rule_id_problem(rule_id: &str) -> Option<String> {
    if rule_id.trim().is_empty() {
        return Some("it is empty".to_string());
    }
    if rule_id == "." || rule_id == ".." {
        return Some("`.` and `..` cannot be a document id or a path segment".to_string());
    }
    if rule_id.len() > MAX_RULE_ID_BYTES {
        return Some(format!("it is longer than {MAX_RULE_ID_BYTES} bytes"));
    }
    if rule_id
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Some("it holds a control character, `/` or `\\`".to_string());
    }
    if rule_id.trim() != rule_id {
        return Some("it starts or ends with whitespace".to_string());
    }
    None
}

/// Why `pattern` cannot be an index pattern, if it cannot.
pub fn index_pattern_problem(pattern: &str) -> Option<String> {
    if pattern.trim().is_empty() {
        return Some("an empty index pattern would search every index".to_string());
    }
    let name = pattern.strip_prefix('-').unwrap_or(pattern);
    if name == "." || name == ".." {
        return Some("`.` and `..` are not index names".to_string());
    }
    if let Some(c) = pattern
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || NOT_IN_INDEX_NAMES.contains(c))
    {
        return Some(format!("an index pattern cannot hold {c:?}"));
    }
    None
}

/// Reports every entry of the string array `key` that is not a usable index pattern, at the
/// entry itself; true when all are usable.
pub fn check_index_patterns(table: &Table<'_, '_>, p: &mut FileProblems<'_>, key: &str) -> bool {
    let Some(value) = table.get(p, key, Need::Optional) else {
        return true;
    };
    let DeValue::Array(items) = value.get_ref() else {
        return true;
    };
    let mut usable = true;
    for item in items {
        let DeValue::String(text) = item.get_ref() else {
            continue;
        };
        if let Some(why) = index_pattern_problem(text) {
            let name = table.key_name(key);
            p.error(
                &item.span(),
                format!("bad entry {text:?} in `{name}`: {why}"),
            );
            usable = false;
        }
    }
    usable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_cannot_be_a_document_id_or_path_segment_are_refused() {
        for bad in [
            "",
            " ",
            ".",
            "..",
            "a/b",
            "a\\b",
            "x\u{1b}",
            " padded",
            &"x".repeat(513),
        ] {
            assert!(rule_id_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn corpus_style_ids_are_accepted() {
        for good in [
            "333de828-8190-4cf5-8d7c-7575846f6fe0",
            "new-terms-test",
            "a.b",
            "...",
        ] {
            assert_eq!(rule_id_problem(good), None, "{good:?}");
        }
    }

    #[test]
    fn empty_dot_and_separator_patterns_are_refused() {
        for bad in [
            "",
            " ",
            ".",
            "..",
            "-..",
            "logs,other",
            "a b",
            "a/b",
            "a#b",
            "x\u{0}",
        ] {
            assert!(index_pattern_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn corpus_style_patterns_are_accepted() {
        let good = [
            "logs-*",
            "-*elastic-cloud-logs-*",
            ".alerts-security.*",
            "*:logs-*",
            "*",
        ];
        for pattern in good {
            assert_eq!(index_pattern_problem(pattern), None, "{pattern:?}");
        }
    }
}
