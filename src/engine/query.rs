//! A rule's query as Elasticsearch query DSL: KQL translated with the field types of the indices
//! it searches (from `_field_caps`, cached per index set and shared by every rule kind), Lucene as
//! `query_string`. When the field types cannot be fetched, KQL is translated untyped and a
//! warning says so.

use crate::es::{Client, EsError};
use crate::kql::{self, FieldMap};
use crate::rule::{Query, Rule};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long fetched field types are reused before `_field_caps` is asked again, so that fields
/// and indices created after start-up are picked up.
pub const FIELD_CAPS_TTL: Duration = Duration::from_secs(300);

/// The query DSL of one rule and what happened while building it.
#[derive(Debug, Clone)]
pub struct Translated {
    pub dsl: Value,
    /// True when no index behind the rule's patterns exists.
    pub no_index_matches: bool,
    pub warnings: Vec<String>,
    /// The field types it was translated with (`None`: untyped, they were unavailable).
    pub fields: Option<Arc<FieldInfo>>,
}

/// Field types per index-pattern set, fetched once and reused for [`FIELD_CAPS_TTL`].
#[derive(Debug, Default)]
pub struct FieldCapsCache {
    entries: Mutex<HashMap<Vec<String>, CacheEntry>>,
    /// Keep answers that found no index too (see [`FieldCapsCache::for_one_command`]).
    keep_no_index: bool,
}

/// When a pattern set's field types were fetched, and what they are.
type CacheEntry = (Instant, Arc<FieldInfo>);

/// What `_field_caps` told about an index set.
#[derive(Debug)]
pub struct FieldInfo {
    pub fields: FieldMap,
    /// No index exists behind the patterns (a server that leaves `indices` out of its answer
    /// is taken to have found some).
    pub no_index: bool,
}

impl FieldCapsCache {
    /// A cache for a command that looks at the server once (`lookout test`, `validate
    /// --es-url`): it keeps every answer, also one that found no index, so that a rule whose
    /// patterns match nothing costs one `_field_caps` request, not one per step. The daemon's
    /// cache (`default`) asks again for such patterns, so that an index created later is seen.
    pub fn for_one_command() -> Self {
        FieldCapsCache {
            keep_no_index: true,
            ..Self::default()
        }
    }

    /// Builds the query DSL of `rule`.
    pub async fn translate(&self, client: &Client, rule: &Rule) -> Translated {
        let index = &rule.search.index;
        let mut warnings = Vec::new();
        let info = match self.field_info(client, index).await {
            Ok(info) => Some(info),
            Err(error) => {
                warnings.push(format!(
                    "field types of {} unavailable ({error}); the query is translated untyped",
                    index.join(",")
                ));
                None
            }
        };
        let no_index_matches = info.as_ref().is_some_and(|info| info.no_index);
        let dsl = query_dsl(rule.kind.query(), info.as_ref().map(|info| &info.fields));
        Translated {
            dsl,
            no_index_matches,
            warnings,
            fields: info,
        }
    }

    /// The field types of some indices, fetched once per [`FIELD_CAPS_TTL`].
    pub async fn field_info(
        &self,
        client: &Client,
        index: &[String],
    ) -> Result<Arc<FieldInfo>, EsError> {
        if let Some(info) = self.cached(index) {
            return Ok(info);
        }
        let response = client.field_caps(index).await?;
        let no_index = no_index(&response);
        let info = Arc::new(FieldInfo {
            fields: FieldMap::from_field_caps(&response),
            no_index,
        });
        if !no_index || self.keep_no_index {
            let mut entries = self
                .entries
                .lock()
                .expect("the cache lock is never poisoned");
            entries.insert(index.to_vec(), (Instant::now(), Arc::clone(&info)));
        }
        Ok(info)
    }

    fn cached(&self, index: &[String]) -> Option<Arc<FieldInfo>> {
        let entries = self
            .entries
            .lock()
            .expect("the cache lock is never poisoned");
        let (fetched, info) = entries.get(index)?;
        (fetched.elapsed() < FIELD_CAPS_TTL).then(|| Arc::clone(info))
    }
}

/// Whether a `_field_caps` answer names no index (a server that leaves `indices` out: it
/// found some).
fn no_index(answer: &Value) -> bool {
    (answer["indices"].as_array()).is_some_and(Vec::is_empty)
}

/// A query as DSL with the given field types (untyped when `None`); an empty query matches
/// every document.
pub fn query_dsl(query: &Query, fields: Option<&FieldMap>) -> Value {
    match query {
        _ if query.text().trim().is_empty() => json!({ "match_all": {} }),
        Query::Kql { tree, .. } => kql::to_dsl(tree, fields),
        Query::Lucene { text } => kql::lucene_to_dsl(text.trim()),
        // EQL is searched stage by stage by its kind (engine::kind::eql), not as one query.
        Query::Eql { .. } => json!({ "match_all": {} }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::test_rule;

    #[test]
    fn kuery_parsed_at_load_is_translated_untyped_without_field_types() {
        let rule = test_rule("r");
        let expected = kql::to_dsl(&kql::parse("event.action: AddUserToGroup").unwrap(), None);
        assert_eq!(query_dsl(rule.kind.query(), None), expected);
    }

    #[test]
    fn an_answer_without_an_index_list_is_taken_as_matching() {
        assert!(!no_index(&json!({"fields": {}})));
        assert!(no_index(&json!({"fields": {}, "indices": []})));
        assert!(!no_index(&json!({"fields": {}, "indices": ["logs-1"]})));
    }

    #[test]
    fn lucene_becomes_query_string_and_no_query_matches_all() {
        let lucene = Query::Lucene {
            text: "event.action:AddUserToGroup".into(),
        };
        assert_eq!(
            query_dsl(&lucene, None),
            kql::lucene_to_dsl("event.action:AddUserToGroup")
        );
        let blank = Query::Lucene { text: "  ".into() };
        assert_eq!(query_dsl(&blank, None), json!({"match_all": {}}));
        let empty_kql = Query::Kql {
            text: String::new(),
            tree: kql::parse("").unwrap(),
        };
        assert_eq!(query_dsl(&empty_kql, None), json!({"match_all": {}}));
    }
}
