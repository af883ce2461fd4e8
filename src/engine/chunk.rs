//! One chunk of an execution: search one window (a single search when the hits fit in one page
//! or its new hits alone exceed `max_signals`, else page by page inside a point-in-time when the
//! server has one), drop the hits already alerted, and write the new alerts, at most
//! `max_signals` of them, as JSON text built from the hits' source text. Returns counts; the
//! caller decides what is covered.
//!
//! When `max_signals` cuts new alerts off, the chunk still counts as covered and the rest is
//! dropped with the warning [`super::MAX_SIGNALS_WARNING`]: ENGINE.md section 4 allows at most
//! `max_signals` new alerts per execution (per chunk when catching up), which is also what
//! Kibana does. Searching the window again would only find the same hits and hit the cap again.

use super::ExecutionError;
use super::plan::{self, Tiebreaker};
use crate::alert::{self, AlertContext};
use crate::es::{BulkDocument, Client, Hit, JsonText, RawSource};
use crate::rule::Rule;
use crate::schedule::Window;
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How long the server keeps a point-in-time open between two pages.
pub const PIT_KEEP_ALIVE: &str = "1m";

/// Everything a chunk needs that does not change between chunks of one execution.
pub(super) struct ChunkContext<'a> {
    pub client: &'a Client,
    pub rule: &'a Rule,
    pub query: &'a Value,
    pub alerts_index: &'a str,
    /// The pattern behind which every alerts index lies (rolled-over ones included).
    pub alerts_pattern: &'a str,
    pub alert: AlertContext<'a>,
}

/// What one chunk did.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ChunkOutcome {
    pub hits: u64,
    pub created: u64,
    pub duplicates: u64,
    /// More new alerts existed than the chunk's `max_signals` budget.
    pub limit_reached: bool,
    pub search: Duration,
    pub write: Duration,
}

/// Searches `window` and writes its new alerts, then makes them searchable.
pub(super) async fn run(
    context: &ChunkContext<'_>,
    window: &Window,
) -> Result<ChunkOutcome, ExecutionError> {
    let mut shard_failures = Vec::new();
    let mut outcome = match single_page(context, window, &mut shard_failures).await? {
        Some(outcome) => outcome,
        None => paged(context, window, &mut shard_failures).await?,
    };
    refresh_alerts(context, &mut outcome).await?;
    fail_on_shard_failures(context, window, &shard_failures)?;
    Ok(outcome)
}

/// Adds a page's shard failures to those of the chunk, each once.
fn collect_shard_failures(all: &mut Vec<String>, page: Vec<String>) {
    for failure in page {
        if !all.contains(&failure) {
            all.push(failure);
        }
    }
}

/// Searches the window once without a point-in-time, asking for one hit more than a page.
/// When the window holds at most a page of hits, that answer holds all of them (the same hits
/// a point-in-time's only page would), so the point-in-time's open and close round trips are
/// saved: most executions of most rules find less than a page. When it holds more, the answer
/// still settles the chunk if its new hits alone exceed the `max_signals` budget: the first
/// `max_signals` of them are written and the rest could not be anyway (a loud rule's usual
/// case, one search instead of three). Otherwise it is dropped unwritten (`None`) and the
/// window is searched again page by page inside a point-in-time.
async fn single_page(
    context: &ChunkContext<'_>,
    window: &Window,
    shard_failures: &mut Vec<String>,
) -> Result<Option<ChunkOutcome>, ExecutionError> {
    let rule = context.rule;
    let page_size = plan::page_size(rule) as usize;
    let mut body = plan::search_body(rule, context.query, window, Tiebreaker::Doc, None);
    body["size"] = Value::from(page_size + 1);
    let started = Instant::now();
    let page = context
        .client
        .search(&rule.index, None, body)
        .await
        .map_err(|error| ExecutionError::es(rule, error))?;
    let search = started.elapsed();
    let hits = page.hits;
    let mut outcome = ChunkOutcome {
        hits: hits.len() as u64,
        search,
        ..ChunkOutcome::default()
    };
    if hits.is_empty() {
        collect_shard_failures(shard_failures, page.shard_failures);
        return Ok(Some(outcome));
    }
    let started = Instant::now();
    let fresh = lookup_fresh(context, &hits).await?;
    let fresh_count = fresh.iter().filter(|&&is_fresh| is_fresh).count();
    if hits.len() > page_size && fresh_count <= budget(context, &outcome) {
        return Ok(None);
    }
    collect_shard_failures(shard_failures, page.shard_failures);
    write_new(context, hits, &fresh, &mut outcome).await?;
    outcome.write += started.elapsed();
    Ok(Some(outcome))
}

/// Searches `window` page by page (inside a point-in-time when the server has one) and writes
/// its new alerts.
async fn paged(
    context: &ChunkContext<'_>,
    window: &Window,
    shard_failures: &mut Vec<String>,
) -> Result<ChunkOutcome, ExecutionError> {
    let client = context.client;
    let pit = client
        .open_pit(&context.rule.index, PIT_KEEP_ALIVE)
        .await
        .map_err(|error| ExecutionError::es(context.rule, error))?;
    let tiebreaker = match pit {
        Some(_) => Tiebreaker::ShardDoc,
        None => Tiebreaker::Doc,
    };
    let mut cursor = pit;
    let result = pages(context, window, tiebreaker, &mut cursor, shard_failures).await;
    if let Some(pit) = cursor {
        // A PIT left open expires by itself after PIT_KEEP_ALIVE; failing to close it early
        // loses nothing, so the error only gets logged.
        if let Err(error) = client.close_pit(pit).await {
            tracing::debug!(rule_id = %context.rule.rule_id, %error, "closing a point-in-time failed");
        }
    }
    result
}

/// Some shards did not answer: the hits that came back are alerted (written alerts are never
/// wrong), but hits may be missing, so the chunk fails and its window stays uncovered; the
/// next execution searches it again and its id lookups drop the alerts already written.
fn fail_on_shard_failures(
    context: &ChunkContext<'_>,
    window: &Window,
    shard_failures: &[String],
) -> Result<(), ExecutionError> {
    if shard_failures.is_empty() {
        return Ok(());
    }
    let rule = context.rule;
    Err(ExecutionError::Search {
        rule_id: rule.rule_id.clone(),
        message: format!(
            "search of {} in {window} failed on some shards: {}",
            rule.index.join(","),
            shard_failures.join("; ")
        ),
    })
}

async fn pages(
    context: &ChunkContext<'_>,
    window: &Window,
    tiebreaker: Tiebreaker,
    pit: &mut Option<crate::es::PitId>,
    shard_failures: &mut Vec<String>,
) -> Result<ChunkOutcome, ExecutionError> {
    let rule = context.rule;
    let page_size = plan::page_size(rule) as usize;
    let mut outcome = ChunkOutcome::default();
    let mut after: Option<Vec<Value>> = None;
    loop {
        let body = plan::search_body(rule, context.query, window, tiebreaker, after.as_deref());
        let started = Instant::now();
        let page = context
            .client
            .search(&rule.index, pit.as_ref(), body)
            .await
            .map_err(|error| ExecutionError::es(rule, error))?;
        outcome.search += started.elapsed();
        if let (Some(current), Some(renewed)) = (pit.as_mut(), page.pit_id) {
            current.id = renewed;
        }
        collect_shard_failures(shard_failures, page.shard_failures);
        outcome.hits += page.hits.len() as u64;
        let Some(last) = page.hits.last() else {
            return Ok(outcome);
        };
        after = Some(last.sort.clone());
        let count = page.hits.len();
        write_page(context, page.hits, &mut outcome).await?;
        if outcome.limit_reached || count < page_size {
            return Ok(outcome);
        }
    }
}

/// Looks the page's alert ids up, then writes the new ones within the `max_signals` budget.
async fn write_page(
    context: &ChunkContext<'_>,
    hits: Vec<Hit<RawSource>>,
    outcome: &mut ChunkOutcome,
) -> Result<(), ExecutionError> {
    let started = Instant::now();
    let fresh = lookup_fresh(context, &hits).await?;
    write_new(context, hits, &fresh, outcome).await?;
    outcome.write += started.elapsed();
    Ok(())
}

/// Which hits of a page are new: not alerted yet (their alert id is not in `existing`) and not
/// an earlier hit of the same page.
fn fresh_flags(ids: &[String], existing: &HashSet<String>) -> Vec<bool> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter()
        .map(|id| !existing.contains(id) && seen.insert(id.as_str()))
        .collect()
}

/// Looks the page's alert ids up: which hits are new ([`fresh_flags`]).
async fn lookup_fresh(
    context: &ChunkContext<'_>,
    hits: &[Hit<RawSource>],
) -> Result<Vec<bool>, ExecutionError> {
    let ids = alert_ids(context, hits);
    let existing = context
        .client
        .existing_ids(context.alerts_pattern, &ids)
        .await
        .map_err(|error| ExecutionError::es(context.rule, error))?;
    Ok(fresh_flags(&ids, &existing))
}

/// What is left of the chunk's `max_signals` budget.
fn budget(context: &ChunkContext<'_>, outcome: &ChunkOutcome) -> usize {
    let left = u64::from(context.rule.max_signals).saturating_sub(outcome.created);
    usize::try_from(left).unwrap_or(usize::MAX)
}

/// Writes the alerts of the page's new hits within the budget.
async fn write_new(
    context: &ChunkContext<'_>,
    hits: Vec<Hit<RawSource>>,
    fresh: &[bool],
    outcome: &mut ChunkOutcome,
) -> Result<(), ExecutionError> {
    let docs = new_alerts(context, hits, fresh, outcome);
    if !docs.is_empty() {
        let written = create_alerts(context.client, context.rule, context.alerts_index, docs).await;
        outcome.created += written.created;
        outcome.duplicates += written.duplicates;
        written.result?;
    }
    Ok(())
}

fn alert_ids(context: &ChunkContext<'_>, hits: &[Hit<RawSource>]) -> Vec<String> {
    let namespace = context.alert.namespace;
    let rule_id = &context.rule.rule_id;
    hits.iter()
        .map(|hit| alert::alert_id(&hit.index, &hit.id, namespace, rule_id))
        .collect()
}

/// The alerts of the hits not alerted yet, at most what is left of the `max_signals` budget,
/// as JSON text built from the sources' text. Counts the rest as duplicates and notes when the
/// budget cut new alerts off.
fn new_alerts(
    context: &ChunkContext<'_>,
    hits: Vec<Hit<RawSource>>,
    flags: &[bool],
    outcome: &mut ChunkOutcome,
) -> Vec<(String, JsonText)> {
    let total = hits.len();
    let mut fresh: Vec<Hit<RawSource>> = hits
        .into_iter()
        .zip(flags)
        .filter_map(|(hit, &is_fresh)| is_fresh.then_some(hit))
        .collect();
    outcome.duplicates += (total - fresh.len()) as u64;
    let budget = budget(context, outcome);
    if fresh.len() > budget {
        outcome.limit_reached = true;
        fresh.truncate(budget);
    }
    let shared = alert::SharedFields::new(context.alert);
    fresh
        .into_iter()
        .map(|hit| {
            let (id, text) =
                alert::alert_json(&hit.index, &hit.id, &hit.source, context.alert, &shared);
            (id, JsonText::new(text))
        })
        .collect()
}

/// Makes the chunk's alerts searchable, so the next chunk's and execution's id lookups see
/// them. One refresh per chunk instead of `refresh=wait_for` per page: a page waiting for the
/// next scheduled refresh costs up to a second, and correctness does not depend on it (a
/// `create` of an id already written answers 409, counted as a duplicate, refreshed or not).
async fn refresh_alerts(
    context: &ChunkContext<'_>,
    outcome: &mut ChunkOutcome,
) -> Result<(), ExecutionError> {
    if outcome.created == 0 {
        return Ok(());
    }
    let started = Instant::now();
    context
        .client
        .refresh(context.alerts_index)
        .await
        .map_err(|error| ExecutionError::es(context.rule, error))?;
    outcome.write += started.elapsed();
    Ok(())
}

/// Writes alerts with `create` actions (durable when the call returns; searchable after
/// [`refresh_alerts`]).
/// What a bulk write of alerts did: the counts hold even when some items failed.
pub struct AlertWrite {
    pub created: u64,
    pub duplicates: u64,
    /// An error when any alert could not be written (after the client's retries).
    pub result: Result<(), ExecutionError>,
}

/// Writes alert documents with `create` actions: 409s count as duplicates, and any item still
/// failing after the client's retries makes the write fail, so its window is not covered.
pub async fn create_alerts<D: BulkDocument>(
    client: &Client,
    rule: &Rule,
    alerts_index: &str,
    docs: Vec<(String, D)>,
) -> AlertWrite {
    let written = match client.bulk_create(alerts_index, docs, false).await {
        Ok(written) => written,
        Err(error) => {
            return AlertWrite {
                created: 0,
                duplicates: 0,
                result: Err(ExecutionError::es(rule, error)),
            };
        }
    };
    let result = match written.failed.first() {
        None => Ok(()),
        Some(first) => Err(ExecutionError::WriteFailed {
            rule_id: rule.rule_id.clone(),
            index: alerts_index.to_string(),
            failed: written.failed.len(),
            status: first.status,
            reason: first.reason.clone(),
        }),
    };
    AlertWrite {
        created: written.created.len() as u64,
        duplicates: written.duplicates.len() as u64,
        result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_rule;
    use chrono::{TimeZone, Utc};

    fn hit(id: &str) -> Hit<RawSource> {
        let source = serde_json::json!({"event": {"action": "AddUserToGroup"}});
        Hit {
            index: "logs".into(),
            id: id.into(),
            source: serde_json::value::to_raw_value(&source).unwrap(),
            sort: Vec::new(),
        }
    }

    /// Runs `new_alerts` for hits `ids` with `existing` already written and `max_signals`.
    fn select(ids: &[&str], existing: &[&str], max_signals: u32) -> (Vec<String>, ChunkOutcome) {
        let client = Client::new(&crate::config::ElasticsearchConfig::default()).unwrap();
        let mut rule = test_rule("r");
        rule.max_signals = max_signals;
        let context = ChunkContext {
            client: &client,
            rule: &rule,
            query: &Value::Null,
            alerts_index: "alerts",
            alerts_pattern: "alerts*",
            alert: AlertContext {
                rule: &rule,
                namespace: "default",
                execution_uuid: "e",
                created_at: Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap(),
                notify: &[],
            },
        };
        let hits: Vec<Hit<RawSource>> = ids.iter().map(|id| hit(id)).collect();
        let written: HashSet<String> = existing
            .iter()
            .map(|id| alert::alert_id("logs", id, "default", "r"))
            .collect();
        let flags = fresh_flags(&alert_ids(&context, &hits), &written);
        let mut outcome = ChunkOutcome::default();
        let docs = new_alerts(&context, hits, &flags, &mut outcome);
        let sources = docs
            .iter()
            .map(|(_, doc)| {
                let doc: Value = serde_json::from_str(doc.as_str()).unwrap();
                doc["kibana.alert.ancestors"][0]["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        (sources, outcome)
    }

    #[test]
    fn already_written_alerts_are_duplicates_not_candidates() {
        let (new, outcome) = select(&["a", "b", "c"], &["b"], 100);
        assert_eq!(new, vec!["a", "c"]);
        assert_eq!(outcome.duplicates, 1);
        assert!(!outcome.limit_reached);
    }

    #[test]
    fn new_alerts_beyond_max_signals_are_cut_and_flagged() {
        let (new, outcome) = select(&["a", "b", "c", "d", "e"], &["a"], 3);
        assert_eq!(new, vec!["b", "c", "d"]);
        assert!(outcome.limit_reached);
    }

    #[test]
    fn exactly_max_signals_new_alerts_is_not_flagged() {
        let (new, outcome) = select(&["a", "b", "c"], &[], 3);
        assert_eq!(new.len(), 3);
        assert!(!outcome.limit_reached);
    }

    #[test]
    fn the_same_event_twice_in_a_page_gives_one_alert() {
        let (new, outcome) = select(&["a", "a"], &[], 100);
        assert_eq!(new, vec!["a"]);
        assert_eq!(outcome.duplicates, 1);
    }
}
