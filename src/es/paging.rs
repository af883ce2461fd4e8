//! Paging through every hit of a search, written once for every caller: a point-in-time over the
//! indices when the server has one (opened, renewed from each answer, closed at the end), a
//! tiebreaker that makes the sort total, `search_after` the last hit's sort values, and the shard
//! failures of every page. The caller gives the query and sort and sees the hits page by page;
//! it never handles a cursor.

use super::search::{PitId, SearchPage, SourceDocument, index_path};
use super::{Client, EsError, Hit};
use serde_json::{Value, json};

/// How long the server keeps a point-in-time open between two pages.
pub const PIT_KEEP_ALIVE: &str = "1m";

/// What the caller wants after seeing a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The next page, if there is one.
    More,
    /// No more pages.
    Stop,
}

/// Which indices to page through, and how.
#[derive(Debug, Clone, Copy)]
pub struct Paging<'a> {
    pub index: &'a [String],
    /// Hits per page; a shorter page is the last.
    pub page_size: usize,
    /// Search inside a point-in-time when the server has one, so that many pages see one
    /// consistent view of the indices. Without it (or without a server that has one), plain
    /// searches sorted last by `_doc`.
    pub point_in_time: bool,
}

/// Why paging stopped early: the server failed, or the caller's visit did.
#[derive(Debug)]
pub enum PagingError<E> {
    Es(EsError),
    Visit(E),
}

/// The last sort key, which makes the sort total so `search_after` never skips or repeats a hit.
///
/// With a point-in-time, `_shard_doc` (the documented point-in-time tiebreaker of Elasticsearch
/// and OpenSearch). Without one, `_doc`: Elasticsearch 8 refuses to sort on `_id` by default
/// (`indices.id_field_data.enabled` is false), and `_doc` is total within a shard; a merge
/// during paging could reorder hits, which is the accepted cost of no point-in-time (a hit seen
/// twice is dropped by its alert id).
fn tiebreaker(pit: Option<&PitId>) -> &'static str {
    match pit {
        Some(_) => "_shard_doc",
        None => "_doc",
    }
}

impl Client {
    /// Searches `body` (its `query` and `sort`; size, tiebreaker and cursor are added here) page
    /// by page, calling `visit` with each non-empty page until a page is short or `visit` says
    /// [`Flow::Stop`]. Every page's hits reach `visit` before shard failures are reported: when
    /// any shard failed, the result is [`EsError::ShardFailures`] (the hits seen may be
    /// incomplete). The point-in-time is closed whatever happens.
    pub async fn for_each_page<S: SourceDocument, E>(
        &self,
        paging: Paging<'_>,
        body: Value,
        mut visit: impl AsyncFnMut(Vec<Hit<S>>) -> Result<Flow, E>,
    ) -> Result<(), PagingError<E>> {
        let pit = match paging.point_in_time {
            true => self
                .open_pit(paging.index, PIT_KEEP_ALIVE)
                .await
                .map_err(PagingError::Es)?,
            false => None,
        };
        let mut cursor = Cursor {
            pit,
            after: None,
            shard_failures: Vec::new(),
        };
        let result = self
            .visit_pages(&paging, &body, &mut cursor, &mut visit)
            .await;
        if let Some(pit) = cursor.pit.take()
            && let Err(error) = self.close_pit(pit).await
        {
            // A point-in-time left open expires by itself after PIT_KEEP_ALIVE; failing to
            // close it early loses nothing, so the error is only logged.
            tracing::debug!(%error, "closing a point-in-time failed");
        }
        result?;
        shard_failures_error("search", paging.index, cursor.shard_failures).map_err(PagingError::Es)
    }

    async fn visit_pages<S: SourceDocument, E>(
        &self,
        paging: &Paging<'_>,
        body: &Value,
        cursor: &mut Cursor,
        visit: &mut impl AsyncFnMut(Vec<Hit<S>>) -> Result<Flow, E>,
    ) -> Result<(), PagingError<E>> {
        loop {
            let request = cursor.page_body(body, paging.page_size);
            let page: SearchPage<S> = self
                .search(paging.index, cursor.pit.as_ref(), request)
                .await
                .map_err(PagingError::Es)?;
            cursor.read(&page);
            let count = page.hits.len();
            if count == 0 {
                return Ok(());
            }
            let flow = visit(page.hits).await.map_err(PagingError::Visit)?;
            if flow == Flow::Stop || count < paging.page_size {
                return Ok(());
            }
        }
    }
}

/// Where paging is: the point-in-time, the sort values to continue after, the failures so far.
struct Cursor {
    pit: Option<PitId>,
    after: Option<Vec<Value>>,
    shard_failures: Vec<String>,
}

impl Cursor {
    /// The body of the next page: size, the tiebreaker after the caller's sort, the cursor.
    fn page_body(&self, body: &Value, page_size: usize) -> Value {
        let mut body = body.clone();
        body["size"] = json!(page_size);
        let tiebreaker = json!({ tiebreaker(self.pit.as_ref()): {"order": "asc"} });
        match body.get_mut("sort").and_then(Value::as_array_mut) {
            Some(sort) => sort.push(tiebreaker),
            None => body["sort"] = json!([tiebreaker]),
        }
        if let Some(after) = &self.after {
            body["search_after"] = json!(after);
        }
        body
    }

    /// Takes the renewed point-in-time id, the last hit's sort values and the shard failures.
    fn read<S>(&mut self, page: &SearchPage<S>) {
        if let (Some(pit), Some(renewed)) = (self.pit.as_mut(), &page.pit_id) {
            pit.id.clone_from(renewed);
        }
        if let Some(last) = page.hits.last() {
            self.after = Some(last.sort.clone());
        }
        for failure in &page.shard_failures {
            if !self.shard_failures.contains(failure) {
                self.shard_failures.push(failure.clone());
            }
        }
    }
}

/// `Ok` when no shard failed, else [`EsError::ShardFailures`] naming the indices.
pub fn shard_failures_error(
    op: &'static str,
    index: &[String],
    failures: Vec<String>,
) -> Result<(), EsError> {
    if failures.is_empty() {
        return Ok(());
    }
    Err(EsError::ShardFailures {
        op,
        index: index_path(index),
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pit() -> PitId {
        PitId {
            id: "p1".into(),
            keep_alive: PIT_KEEP_ALIVE.into(),
        }
    }

    #[test]
    fn a_page_body_sorts_last_by_the_tiebreaker_of_its_kind_of_search() {
        let body = json!({"query": {"match_all": {}}, "sort": [{"@timestamp": {"order": "asc"}}]});
        let mut cursor = Cursor {
            pit: None,
            after: None,
            shard_failures: Vec::new(),
        };
        let plain = cursor.page_body(&body, 100);
        assert_eq!(plain["size"], json!(100));
        assert_eq!(plain["sort"][1], json!({"_doc": {"order": "asc"}}));
        assert!(plain.get("search_after").is_none());
        cursor.pit = Some(pit());
        cursor.after = Some(vec![json!(1), json!(7)]);
        let paged = cursor.page_body(&body, 10);
        assert_eq!(paged["sort"][1], json!({"_shard_doc": {"order": "asc"}}));
        assert_eq!(paged["search_after"], json!([1, 7]));
    }

    #[test]
    fn reading_a_page_renews_the_pit_moves_the_cursor_and_keeps_each_failure_once() {
        let mut cursor = Cursor {
            pit: Some(pit()),
            after: None,
            shard_failures: Vec::new(),
        };
        let page = SearchPage::<Value> {
            hits: vec![Hit {
                index: "i".into(),
                id: "1".into(),
                source: Value::Null,
                sort: vec![json!(5)],
            }],
            pit_id: Some("p2".into()),
            total: None,
            shard_failures: vec!["boom".into()],
        };
        cursor.read(&page);
        cursor.read(&page);
        assert_eq!(cursor.pit.as_ref().map(|p| p.id.as_str()), Some("p2"));
        assert_eq!(cursor.after, Some(vec![json!(5)]));
        assert_eq!(cursor.shard_failures, vec!["boom".to_string()]);
    }

    #[test]
    fn shard_failures_name_the_indices_and_every_reason() {
        let index = vec!["logs-a".to_string(), "logs-b".to_string()];
        assert!(shard_failures_error("search", &index, Vec::new()).is_ok());
        let error = shard_failures_error("search", &index, vec!["r1".into(), "r2".into()])
            .unwrap_err()
            .to_string();
        assert!(error.contains("logs-a,logs-b"), "{error}");
        assert!(
            error.contains("shards") && error.contains("r1; r2"),
            "{error}"
        );
    }
}
