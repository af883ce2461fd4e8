//! Writing the alerts of one chunk of a threshold, new terms or indicator match rule, as the
//! engine writes query-rule alerts (ENGINE.md section 5): ids looked up across the alerts
//! pattern first, then `create` actions within the `max_signals` budget, a 409 counted as a
//! duplicate, and one refresh at the end so the next chunk sees them. Also the raw search the
//! aggregations need (the es client's `search` reads hits only).

use super::execute::{TypeContext, TypeOutcome};
use crate::alert::Alert;
use crate::engine::ExecutionError;
use crate::es::EsError;
use serde_json::Value;
use std::collections::HashSet;
use std::time::Instant;

/// Writes the alerts not written yet, at most what is left of the budget.
pub(super) async fn write_alerts(
    context: &TypeContext<'_>,
    alerts: Vec<Alert>,
    outcome: &mut TypeOutcome,
) -> Result<(), ExecutionError> {
    if alerts.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let ids: Vec<String> = alerts.iter().map(|alert| alert.id.clone()).collect();
    let existing = existing_ids(context, &ids).await?;
    let docs = fresh(context, alerts, &existing, outcome);
    if !docs.is_empty() {
        let written =
            crate::engine::create_alerts(context.client, context.rule, context.alerts_index, docs)
                .await;
        outcome.created += written.created;
        outcome.duplicates += written.duplicates;
        written.result?;
    }
    outcome.write += started.elapsed();
    Ok(())
}

/// The ids among `ids` already written behind the alerts pattern.
pub(super) async fn existing_ids(
    context: &TypeContext<'_>,
    ids: &[String],
) -> Result<HashSet<String>, ExecutionError> {
    context
        .client
        .existing_ids(context.alerts_pattern, ids)
        .await
        .map_err(|source| es_error(context, source))
}

/// The documents to create: new ids, once each, within the budget.
fn fresh(
    context: &TypeContext<'_>,
    alerts: Vec<Alert>,
    existing: &HashSet<String>,
    outcome: &mut TypeOutcome,
) -> Vec<(String, Value)> {
    let total = alerts.len();
    let mut seen = HashSet::new();
    let mut docs: Vec<(String, Value)> = alerts
        .into_iter()
        .filter(|alert| !existing.contains(&alert.id) && seen.insert(alert.id.clone()))
        .map(|alert| (alert.id, alert.document))
        .collect();
    outcome.duplicates += (total - docs.len()) as u64;
    let left = u64::from(context.rule.max_signals).saturating_sub(outcome.created);
    let budget = usize::try_from(left).unwrap_or(usize::MAX);
    if docs.len() > budget {
        outcome.limit_reached = true;
        docs.truncate(budget);
    }
    docs
}

/// Makes the alerts indices searchable (the next chunk's history and id lookups see them).
pub(super) async fn refresh_alerts(context: &TypeContext<'_>) -> Result<(), ExecutionError> {
    context
        .client
        .refresh(context.alerts_pattern)
        .await
        .map_err(|source| es_error(context, source))
}

/// One search whose whole answer (aggregations included) is returned; missing indices are
/// ignored. Shard failures fail the search: a partial aggregation would miss terms or events.
pub(super) async fn search_raw(
    context: &TypeContext<'_>,
    index: &[String],
    body: Value,
) -> Result<Value, ExecutionError> {
    let target = index.join(",");
    let answer = context
        .client
        .search_raw(&target, body)
        .await
        .map_err(|source| es_error(context, source))?;
    if let Some(failures) = answer["_shards"]["failures"]
        .as_array()
        .filter(|f| !f.is_empty())
    {
        return Err(ExecutionError::Search {
            rule_id: context.rule.rule_id.clone(),
            message: format!(
                "search of {target} failed on some shards: {}",
                Value::from(failures.clone())
            ),
        });
    }
    Ok(answer)
}

pub(super) fn es_error(context: &TypeContext<'_>, source: EsError) -> ExecutionError {
    ExecutionError::Es {
        rule_id: context.rule.rule_id.clone(),
        source,
    }
}
