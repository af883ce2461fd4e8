//! A rule's query as Elasticsearch query DSL: KQL translated with the field types of the rule's
//! index patterns (from `_field_caps`, cached per pattern set), Lucene as `query_string`.
//! When the field types cannot be fetched, KQL is translated untyped and a warning says so.

use crate::es::Client;
use crate::kql::{self, FieldMap};
use crate::rule::{Language, Rule};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long fetched field types are reused before `_field_caps` is asked again, so that fields
/// and indices created after start-up are picked up.
pub const FIELD_CAPS_TTL: Duration = Duration::from_secs(300);

/// Why a rule's query cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("rule {rule_id} ({path}): query {line}:{column}: {message}")]
    Kql {
        rule_id: String,
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("rule {rule_id}: language {language} cannot run as a query rule")]
    Language { rule_id: String, language: String },
}

/// The query DSL of one rule and what happened while building it.
#[derive(Debug, Clone)]
pub struct Translated {
    pub dsl: Value,
    /// True when no index behind the rule's patterns exists.
    pub no_index_matches: bool,
    pub warnings: Vec<String>,
}

/// Field types per index-pattern set, fetched once and reused for [`FIELD_CAPS_TTL`].
#[derive(Debug, Default)]
pub struct FieldCapsCache {
    entries: Mutex<HashMap<Vec<String>, CacheEntry>>,
}

/// When a pattern set's field types were fetched, and what they are.
type CacheEntry = (Instant, Arc<FieldInfo>);

/// What `_field_caps` told about a pattern set.
#[derive(Debug)]
struct FieldInfo {
    fields: FieldMap,
    indices: usize,
}

impl FieldCapsCache {
    /// Builds the query DSL of `rule`.
    pub async fn translate(&self, client: &Client, rule: &Rule) -> Result<Translated, QueryError> {
        let mut warnings = Vec::new();
        let info = match self.field_info(client, &rule.index).await {
            Ok(info) => Some(info),
            Err(error) => {
                warnings.push(format!(
                    "field types of {} unavailable ({error}); the query is translated untyped",
                    rule.index.join(",")
                ));
                None
            }
        };
        let no_index_matches = info.as_ref().is_some_and(|info| info.indices == 0);
        let dsl = rule_dsl(rule, info.as_ref().map(|info| &info.fields))?;
        Ok(Translated {
            dsl,
            no_index_matches,
            warnings,
        })
    }

    async fn field_info(
        &self,
        client: &Client,
        index: &[String],
    ) -> Result<Arc<FieldInfo>, crate::es::EsError> {
        if let Some(info) = self.cached(index) {
            return Ok(info);
        }
        let response = client.field_caps(index).await?;
        let indices = response["indices"].as_array().map_or(0, Vec::len);
        let info = Arc::new(FieldInfo {
            fields: FieldMap::from_field_caps(&response),
            indices,
        });
        if indices > 0 {
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

/// The rule's query as DSL with the given field types (untyped when `None`). KQL parsed when
/// the rule loaded (`Rule::kql`) is used as is; otherwise the text is parsed here.
pub fn rule_dsl(rule: &Rule, fields: Option<&FieldMap>) -> Result<Value, QueryError> {
    if let (Language::Kuery, Some(query)) = (rule.language, &rule.kql) {
        return Ok(kql::to_dsl(query, fields));
    }
    let text = rule.query.as_deref().unwrap_or("").trim();
    match rule.language {
        _ if text.is_empty() => Ok(json!({ "match_all": {} })),
        Language::Kuery => {
            let query = kql::parse(text).map_err(|error| QueryError::Kql {
                rule_id: rule.rule_id.clone(),
                path: rule.path.display().to_string(),
                line: error.line,
                column: error.column,
                message: error.message,
            })?;
            Ok(kql::to_dsl(&query, fields))
        }
        Language::Lucene => Ok(kql::lucene_to_dsl(text)),
        other => Err(QueryError::Language {
            rule_id: rule.rule_id.clone(),
            language: other.as_str().to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_rule;

    #[test]
    fn kuery_is_translated_untyped_without_field_types() {
        let mut rule = test_rule("r");
        let expected = kql::to_dsl(&kql::parse("event.action: AddUserToGroup").unwrap(), None);
        assert!(rule.kql.is_some(), "the loader parses KQL");
        assert_eq!(rule_dsl(&rule, None).unwrap(), expected);
        rule.kql = None;
        assert_eq!(
            rule_dsl(&rule, None).unwrap(),
            expected,
            "or the engine does"
        );
    }

    #[test]
    fn lucene_becomes_query_string_and_no_query_matches_all() {
        let mut rule = test_rule("r");
        rule.language = Language::Lucene;
        rule.query = Some("event.action:AddUserToGroup".into());
        assert_eq!(
            rule_dsl(&rule, None).unwrap(),
            kql::lucene_to_dsl("event.action:AddUserToGroup")
        );
        rule.query = Some("  ".into());
        assert_eq!(rule_dsl(&rule, None).unwrap(), json!({"match_all": {}}));
    }

    #[test]
    fn a_kql_syntax_error_names_rule_file_and_position() {
        let mut rule = test_rule("bad-rule");
        rule.query = Some("event.action: (AddUserToGroup".into());
        rule.kql = None;
        let error = rule_dsl(&rule, None).unwrap_err().to_string();
        assert!(
            error.contains("bad-rule") && error.contains("rules/bad-rule.toml"),
            "{error}"
        );
        assert!(error.contains("query 1:"), "{error}");
    }

    #[test]
    fn eql_cannot_run_as_a_query_rule() {
        let mut rule = test_rule("r");
        rule.language = Language::Eql;
        rule.query = Some("process where true".into());
        assert!(matches!(
            rule_dsl(&rule, None),
            Err(QueryError::Language { .. })
        ));
    }
}
