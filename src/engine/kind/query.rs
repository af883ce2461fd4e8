//! Query rules: every matching event of the window is an alert. The window is searched once when
//! its hits fit in one page (or its new hits alone exceed the `max_signals` budget), else page by
//! page inside a point-in-time; each page's new hits become alerts written as JSON text built
//! from the hits' source text.

use super::{Chunk, PlannedSearch};
use crate::alert;
use crate::engine::ExecutionError;
use crate::engine::plan;
use crate::engine::sink::AlertSink;
use crate::es::{Flow, Hit, JsonText, Paging, RawSource};
use crate::rule::Rule;
use crate::schedule::Window;
use serde_json::Value;

/// Searches the window and writes its new alerts; returns the number of hits.
pub(super) async fn run(
    chunk: &Chunk<'_>,
    sink: &mut AlertSink<'_>,
) -> Result<u64, ExecutionError> {
    if let Some(hits) = single_page(chunk, sink).await? {
        return Ok(hits);
    }
    let search = &chunk.rule.search;
    let paging = Paging {
        index: &search.index,
        page_size: plan::page_size(chunk.rule.max_signals),
        point_in_time: true,
    };
    let body = plan::events_body(search, chunk.query, &chunk.window);
    let mut hits = 0;
    chunk
        .search
        .pages(paging, body, async |page: Vec<Hit<RawSource>>| {
            hits += page.len() as u64;
            write_page(chunk, sink, page).await?;
            Ok(match sink.written().limit_reached {
                true => Flow::Stop,
                false => Flow::More,
            })
        })
        .await?;
    Ok(hits)
}

/// Searches the window once without a point-in-time, asking for one hit more than a page.
/// When the window holds at most a page of hits, that answer holds all of them (the same hits
/// a point-in-time's only page would), so the point-in-time's open and close round trips are
/// saved: most executions of most rules find less than a page. When it holds more, the answer
/// still settles the window if its new hits alone exceed the `max_signals` budget: the first
/// `max_signals` of them are written and the rest could not be anyway (a loud rule's usual
/// case, one search instead of three). Otherwise it is dropped unwritten (`None`) and the
/// window is searched again page by page.
async fn single_page(
    chunk: &Chunk<'_>,
    sink: &mut AlertSink<'_>,
) -> Result<Option<u64>, ExecutionError> {
    let search = &chunk.rule.search;
    let page_size = plan::page_size(chunk.rule.max_signals);
    let mut body = plan::events_body(search, chunk.query, &chunk.window);
    body["size"] = (page_size + 1).into();
    let page = chunk.search.page::<RawSource>(&search.index, body).await?;
    let count = page.hits.len();
    if count > 0 {
        let ids = alert_ids(chunk, &page.hits);
        let known = sink.known(&ids).await?;
        if count > page_size && sink.fresh_count(&ids, &known) <= sink.room() {
            return Ok(None);
        }
        let flags = sink.select(&ids, &known);
        sink.create(alerts(chunk, page.hits, &flags)).await?;
    }
    chunk
        .search
        .fail_on_shard_failures(&search.index, page.shard_failures)?;
    Ok(Some(count as u64))
}

/// Looks the page's alert ids up, then writes the new ones within the budget.
async fn write_page(
    chunk: &Chunk<'_>,
    sink: &mut AlertSink<'_>,
    hits: Vec<Hit<RawSource>>,
) -> Result<(), ExecutionError> {
    let ids = alert_ids(chunk, &hits);
    let known = sink.known(&ids).await?;
    let flags = sink.select(&ids, &known);
    sink.create(alerts(chunk, hits, &flags)).await
}

fn alert_ids(chunk: &Chunk<'_>, hits: &[Hit<RawSource>]) -> Vec<String> {
    let namespace = chunk.alert.namespace;
    let rule_id = &chunk.rule.rule_id;
    hits.iter()
        .map(|hit| alert::alert_id(&hit.index, &hit.id, namespace, rule_id))
        .collect()
}

/// The alerts of the selected hits, as JSON text built from the sources' text.
fn alerts(
    chunk: &Chunk<'_>,
    hits: Vec<Hit<RawSource>>,
    selected: &[bool],
) -> Vec<(String, JsonText)> {
    let shared = alert::SharedFields::new(chunk.alert);
    hits.into_iter()
        .zip(selected)
        .filter(|(_, selected)| **selected)
        .map(|(hit, _)| {
            let (id, text) =
                alert::alert_json(&hit.index, &hit.id, &hit.source, chunk.alert, &shared);
            (id, JsonText::new(text))
        })
        .collect()
}

/// The search of the window's events.
pub(super) fn planned(rule: &Rule, query: &Value, window: Window) -> Vec<PlannedSearch> {
    let mut body = plan::events_body(&rule.search, query, &window);
    body["size"] = plan::page_size(rule.max_signals).into();
    vec![PlannedSearch {
        purpose: "the window's events",
        index: rule.search.index.clone(),
        body,
    }]
}
