//! Fields a rule's KQL query names that the indices it searches do not map (`event.actoin`), and
//! rules whose index patterns match no index: the mistakes that make a rule never fire while
//! every check of the file passes. Needs the server (`_field_caps`, at most one request per
//! distinct list of index patterns, through the engine's field-type cache: the daemon's first
//! executions reuse what the check at start fetched); says nothing about Lucene queries, whose
//! field names are not parsed.

use crate::engine::{Engine, FieldCapsCache, FieldInfo};
use crate::es::{Client, EsError};
use crate::kql::FieldMap;
use crate::rule::{Query, Rule};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// What one rule names that its indices cannot hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmappedFields {
    pub rule_id: String,
    pub name: String,
    pub path: PathBuf,
    /// Line and column of the rule's `rule_id` in its file.
    pub position: (usize, usize),
    /// The rule's index patterns.
    pub indices: Vec<String>,
    /// The query's field names that no index maps, in order of appearance.
    pub fields: Vec<String>,
    /// The patterns match no index at all (then `fields` is empty).
    pub no_index: bool,
}

impl UnmappedFields {
    /// What is wrong, without the file: `rule ID (NAME): not in the mapping of ...`.
    pub fn message(&self) -> String {
        let indices = self.indices.join(",");
        let rule = format!("rule {} ({})", self.rule_id, self.name);
        if self.no_index {
            return format!("{rule}: its index patterns {indices} match no index");
        }
        format!(
            "{rule}: not in the mapping of {indices}: {} (the query cannot match on them)",
            self.fields.join(", ")
        )
    }
}

impl fmt::Display for UnmappedFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message())
    }
}

/// The rules among `rules` whose query names a field their indices do not map, or whose
/// indices do not exist; field types come through `caps` (a fresh one for a one-off check).
pub async fn unmapped_fields(
    client: &Client,
    caps: &FieldCapsCache,
    rules: &[Rule],
) -> Result<Vec<UnmappedFields>, EsError> {
    // The cache keeps no answer that found no index; this keeps every answer of this check.
    let mut seen: HashMap<&[String], Arc<FieldInfo>> = HashMap::new();
    let mut found = Vec::new();
    for rule in rules {
        let Query::Kql { tree, .. } = rule.kind.query() else {
            continue;
        };
        let indices = rule.search.index.as_slice();
        let info = match seen.get(indices) {
            Some(info) => Arc::clone(info),
            None => {
                let info = caps.field_info(client, indices).await?;
                seen.insert(indices, Arc::clone(&info));
                info
            }
        };
        if let Some(problem) = check(rule, &tree.field_names(), &info.fields, !info.no_index) {
            found.push(problem);
        }
    }
    Ok(found)
}

/// Logs (warning) each rule whose query names a field its indices do not map, or whose indices
/// do not exist: what the daemon and `run --once` say at start. A failed check is logged too and
/// stops nothing.
pub async fn warn_unmapped_fields(engine: &Engine, rules: &[Rule]) {
    match unmapped_fields(engine.client(), engine.field_caps(), rules).await {
        Ok(problems) => {
            for problem in problems {
                tracing::warn!(rule_id = %problem.rule_id, rule_name = %problem.name, "{problem}");
            }
        }
        Err(error) => {
            tracing::warn!(%error, "could not check the rules' fields against the mappings")
        }
    }
}

/// The problem of one rule, given its query's field names and what its indices map.
pub fn check(
    rule: &Rule,
    names: &[String],
    map: &FieldMap,
    exists: bool,
) -> Option<UnmappedFields> {
    let fields: Vec<String> = names
        .iter()
        .filter(|name| !map.can_hold(name))
        .cloned()
        .collect();
    if exists && fields.is_empty() {
        return None;
    }
    Some(UnmappedFields {
        rule_id: rule.rule_id.clone(),
        name: rule.name.clone(),
        path: rule.path.clone(),
        position: rule.rule_id_position,
        indices: rule.search.index.clone(),
        fields: if exists { fields } else { Vec::new() },
        no_index: !exists,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::test_rule;

    #[test]
    fn a_field_no_index_maps_is_named_with_the_rule_and_its_indices() {
        let rule = test_rule("r");
        let mut map = FieldMap::default();
        map.insert("event.action", &["keyword"], None);
        let names = ["event.actoin".to_string(), "event.action".to_string()];
        let problem = check(&rule, &names, &map, true).expect("a problem");
        assert_eq!(problem.fields, ["event.actoin"]);
        let line = problem.to_string();
        assert!(line.contains("rule r ("), "{line}");
        assert!(line.contains("not in the mapping of "), "{line}");
        assert!(
            line.ends_with("event.actoin (the query cannot match on them)"),
            "{line}"
        );
        assert_eq!(check(&rule, &names[1..], &map, true), None);
    }

    #[test]
    fn patterns_that_match_no_index_say_so_instead_of_listing_every_field() {
        let rule = test_rule("r");
        let names = ["event.action".to_string()];
        let problem = check(&rule, &names, &FieldMap::default(), false).expect("a problem");
        assert!(problem.no_index);
        assert!(problem.fields.is_empty());
        assert!(problem.to_string().contains("match no index"), "{problem}");
    }
}
