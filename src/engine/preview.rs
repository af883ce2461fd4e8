//! What a rule finds over a window without writing anything (`lookout test`): the events its
//! query matches, searched exactly as an execution searches them (the same translation with the
//! same field types, the same request, the same paging), up to a limit, and which of them
//! already have an alert.

use super::query::FieldCapsCache;
use super::{ExecutionError, Settings, plan};
use crate::alert;
use crate::es::{Client, Flow, Hit, Paging};
use crate::rule::Rule;
use crate::schedule::Window;
use std::collections::HashSet;

/// The events a rule's query matches in a window, and what an execution would make of them.
#[derive(Debug)]
pub struct Preview {
    /// The matching events, oldest first, at most the limit asked for.
    pub events: Vec<Hit>,
    /// The limit was reached: more events may match.
    pub more: bool,
    /// The alert id of each event, in the same order.
    pub alert_ids: Vec<String>,
    /// The ids among `alert_ids` already written.
    pub existing: HashSet<String>,
    /// What the translation said (field types unavailable, no index behind the patterns).
    pub warnings: Vec<String>,
}

impl Preview {
    /// How many of the events would become new alerts (before the `max_signals` budget).
    pub fn new_alerts(&self) -> usize {
        let mut seen = HashSet::new();
        (self.alert_ids.iter())
            .filter(|id| !self.existing.contains(*id) && seen.insert(*id))
            .count()
    }
}

/// Searches `window` for the events `rule`'s query matches, at most `limit` of them.
pub async fn preview(
    client: &Client,
    settings: &Settings,
    rule: &Rule,
    window: Window,
    limit: usize,
) -> Result<Preview, ExecutionError> {
    let translated = FieldCapsCache::default().translate(client, rule).await;
    let mut warnings = translated.warnings;
    if translated.no_index_matches {
        let patterns = rule.search.index.join(",");
        warnings.push(format!("index pattern {patterns} matches no index"));
    }
    let paging = Paging {
        index: &rule.search.index,
        page_size: plan::page_size(rule.max_signals),
        point_in_time: true,
    };
    let body = plan::events_body(&rule.search, &translated.dsl, &window);
    let mut events: Vec<Hit> = Vec::new();
    let mut more = false;
    let paged = client
        .for_each_page(paging, body, async |page: Vec<Hit>| {
            events.extend(page);
            if events.len() < limit {
                return Ok::<_, ExecutionError>(Flow::More);
            }
            more = true;
            events.truncate(limit);
            Ok(Flow::Stop)
        })
        .await;
    paged.map_err(|error| match error {
        crate::es::PagingError::Es(error) => ExecutionError::es(rule, error),
        crate::es::PagingError::Visit(error) => error,
    })?;
    let alert_ids: Vec<String> = (events.iter())
        .map(|hit| alert::alert_id(&hit.index, &hit.id, &settings.namespace, &rule.rule_id))
        .collect();
    let existing = client
        .existing_ids(&settings.alerts_pattern(), &alert_ids)
        .await
        .map_err(|error| ExecutionError::es(rule, error))?;
    Ok(Preview {
        events,
        more,
        alert_ids,
        existing,
        warnings,
    })
}
