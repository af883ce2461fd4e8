//! Writing the alerts of one chunk of a threshold, new terms or indicator match rule, as the
//! engine writes query-rule alerts (ENGINE.md section 5): ids looked up across the alerts
//! pattern first, then `create` actions within the `max_signals` budget, a 409 counted as a
//! duplicate, and one refresh at the end so the next chunk sees them. Also the raw search the
//! aggregations need (the es client's `search` reads hits only).

use super::execute::{TypeContext, TypeOutcome};
use crate::alert::Alert;
use crate::engine::ExecutionError;
use crate::es::{EsError, Request};
use elasticsearch::http::Method;
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
        bulk(context, docs, outcome).await?;
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

async fn bulk(
    context: &TypeContext<'_>,
    docs: Vec<(String, Value)>,
    outcome: &mut TypeOutcome,
) -> Result<(), ExecutionError> {
    let written = context
        .client
        .bulk_create(context.alerts_index, docs, false)
        .await
        .map_err(|source| es_error(context, source))?;
    outcome.created += written.created.len() as u64;
    outcome.duplicates += written.duplicates.len() as u64;
    match written.failed.first() {
        None => Ok(()),
        Some(first) => Err(ExecutionError::WriteFailed {
            rule_id: context.rule.rule_id.clone(),
            index: context.alerts_index.to_string(),
            failed: written.failed.len(),
            status: first.status,
            reason: first.reason.clone(),
        }),
    }
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
    let request = Request::new(
        "aggregate",
        &target,
        Method::Post,
        format!("/{}/_search", encode_index(&target)),
    )
    .query("ignore_unavailable", "true")
    .query("allow_no_indices", "true")
    .json(body);
    let answer = context
        .client
        .send_ok(request)
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

/// Percent-encodes an index list for a URL path (letters, digits and `- _ . * , : + ! ~` stay).
fn encode_index(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.*,:+!~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub(super) fn es_error(context: &TypeContext<'_>, source: EsError) -> ExecutionError {
    ExecutionError::Es {
        rule_id: context.rule.rule_id.clone(),
        source,
    }
}
