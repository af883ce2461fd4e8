//! Paging through every hit of a search, written once for every caller: a point-in-time over the
//! indices when the server has one (opened, renewed from each answer, closed at the end), a
//! tiebreaker that makes the sort total, `search_after` the last hit's sort values, and the shard
//! failures of every page. Without a point-in-time there is no total tiebreaker (`_doc` is
//! unique only within a shard), so a page ends before its last run of equal sort values, which
//! the next page starts with (see [`Ties`]). The caller gives the query and sort and sees the
//! hits page by page; it never handles a cursor.

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

/// The most hits one page may ask for while a run of equal sort values is longer than a page
/// (Elasticsearch's default `index.max_result_window`).
pub const MAX_RUN_PAGE: usize = 10_000;

/// How paging keeps hits with equal sort values from being skipped at a page boundary.
///
/// With a point-in-time, the tiebreaker `_shard_doc` (the documented point-in-time tiebreaker of
/// Elasticsearch and OpenSearch) makes the sort total, and `search_after` continues after the
/// last hit. Without one, no sortable field is unique across indices and shards: `_doc` is
/// unique only within a shard (two indices each have a document 0), and Elasticsearch 8 refuses
/// to sort on `_id` by default (`indices.id_field_data.enabled` is false); `search_after
/// [ts, _doc]` then skips every hit of another shard with the same timestamp and a `_doc` not
/// above the last one's. So the caller's sort is used alone, and a full page ends before its
/// last run of equal sort values: its hits up to the value before that run are visited (all of
/// them: any hit with a smaller value sorts before the run), and the next page continues after
/// that value, so it starts with the whole run. A page that is one run only is asked again with
/// twice the size, up to [`MAX_RUN_PAGE`]; a run longer than that is paged with `_doc` after
/// all, with a warning (hits of that run can then be skipped). A page repeats at most its last
/// run; a merge during paging can still reorder hits, the accepted cost of no point-in-time (a
/// hit seen twice is dropped by its alert id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ties {
    /// `_shard_doc` inside a point-in-time.
    ShardDoc,
    /// The caller's sort alone; pages end before their last run.
    Runs,
    /// `_doc`: a search without a sort of its own, or a run longer than [`MAX_RUN_PAGE`].
    Doc,
}

impl Ties {
    fn tiebreaker(self) -> Option<&'static str> {
        match self {
            Ties::ShardDoc => Some("_shard_doc"),
            Ties::Runs => None,
            Ties::Doc => Some("_doc"),
        }
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
        let has_sort = body
            .get("sort")
            .and_then(Value::as_array)
            .is_some_and(|sort| !sort.is_empty());
        let ties = match (&pit, has_sort) {
            (Some(_), _) => Ties::ShardDoc,
            (None, true) => Ties::Runs,
            (None, false) => Ties::Doc,
        };
        let mut cursor = Cursor {
            pit,
            ties,
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
        let page_size = paging.page_size.max(1);
        let mut size = page_size;
        loop {
            let request = cursor.page_body(body, size);
            let page: SearchPage<S> = self
                .search(paging.index, cursor.pit.as_ref(), request)
                .await
                .map_err(PagingError::Es)?;
            cursor.read(&page);
            let full = page.hits.len() >= size;
            let mut hits = match cursor.keep(page.hits, full) {
                Kept::Hits(hits) => hits,
                Kept::Again => {
                    size = (size * 2).min(MAX_RUN_PAGE);
                    continue;
                }
                Kept::AgainWithDoc => {
                    tracing::warn!(
                        index = %index_path(paging.index),
                        run = MAX_RUN_PAGE,
                        "more hits share one sort value than a page can hold, without a \
                         point-in-time: paging them by _doc, which can skip hits of different \
                         shards"
                    );
                    size = page_size;
                    continue;
                }
            };
            size = page_size;
            if hits.is_empty() {
                return Ok(());
            }
            while !hits.is_empty() {
                let rest = hits.split_off(hits.len().min(page_size));
                let flow = visit(hits).await.map_err(PagingError::Visit)?;
                if flow == Flow::Stop {
                    return Ok(());
                }
                hits = rest;
            }
            if !full {
                return Ok(());
            }
        }
    }
}

/// What a page gives to visit.
enum Kept<S> {
    /// These hits, in order (the page's, or those before its last run).
    Hits(Vec<Hit<S>>),
    /// The page is one run of equal sort values: ask again with a bigger page.
    Again,
    /// ... and it is as big as a page may be: ask again, paging by `_doc`.
    AgainWithDoc,
}

/// Where paging is: the point-in-time, how ties are kept, the sort values to continue after,
/// the failures so far.
struct Cursor {
    pit: Option<PitId>,
    ties: Ties,
    after: Option<Vec<Value>>,
    shard_failures: Vec<String>,
}

impl Cursor {
    /// The body of the next page: size, the tiebreaker after the caller's sort, the cursor.
    fn page_body(&self, body: &Value, page_size: usize) -> Value {
        let mut body = body.clone();
        body["size"] = json!(page_size);
        if let Some(tiebreaker) = self.ties.tiebreaker() {
            let tiebreaker = json!({ tiebreaker: {"order": "asc"} });
            match body.get_mut("sort").and_then(Value::as_array_mut) {
                Some(sort) => sort.push(tiebreaker),
                None => body["sort"] = json!([tiebreaker]),
            }
        }
        if let Some(after) = &self.after {
            body["search_after"] = json!(after);
        }
        body
    }

    /// The hits of a page to visit, and where the next page starts. `full`: the page has as
    /// many hits as were asked for, so more may follow.
    fn keep<S>(&mut self, mut hits: Vec<Hit<S>>, full: bool) -> Kept<S> {
        let Some(last) = hits.last() else {
            return Kept::Hits(hits);
        };
        if !full || self.ties != Ties::Runs {
            self.after = Some(last.sort.clone());
            return Kept::Hits(hits);
        }
        let run = (hits.iter())
            .position(|hit| hit.sort == last.sort)
            .unwrap_or(0);
        if run > 0 {
            hits.truncate(run);
            self.after = hits.last().map(|hit| hit.sort.clone());
            return Kept::Hits(hits);
        }
        if hits.len() < MAX_RUN_PAGE {
            return Kept::Again;
        }
        // Everything after the value before the run, by `_doc` (a Lucene document number, an
        // `int`): `[.., i32::MAX]` passes every document of that value and none after it.
        self.ties = Ties::Doc;
        if let Some(after) = self.after.as_mut() {
            after.push(json!(i32::MAX));
        }
        Kept::AgainWithDoc
    }

    /// Takes the renewed point-in-time id and the shard failures.
    fn read<S>(&mut self, page: &SearchPage<S>) {
        if let (Some(pit), Some(renewed)) = (self.pit.as_mut(), &page.pit_id) {
            pit.id.clone_from(renewed);
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

    fn cursor(pit: Option<PitId>, ties: Ties) -> Cursor {
        Cursor {
            pit,
            ties,
            after: None,
            shard_failures: Vec::new(),
        }
    }

    fn hits(sorts: &[i64]) -> Vec<Hit<Value>> {
        (sorts.iter().enumerate())
            .map(|(n, sort)| Hit {
                index: "i".into(),
                id: n.to_string(),
                source: Value::Null,
                sort: vec![json!(sort)],
            })
            .collect()
    }

    fn ids(kept: Kept<Value>) -> Vec<String> {
        match kept {
            Kept::Hits(hits) => hits.into_iter().map(|hit| hit.id).collect(),
            Kept::Again => vec!["again".into()],
            Kept::AgainWithDoc => vec!["again with _doc".into()],
        }
    }

    #[test]
    fn a_page_body_sorts_last_by_the_tiebreaker_of_its_kind_of_search() {
        let body = json!({"query": {"match_all": {}}, "sort": [{"@timestamp": {"order": "asc"}}]});
        let plain = cursor(None, Ties::Runs).page_body(&body, 100);
        assert_eq!(plain["size"], json!(100));
        assert_eq!(plain["sort"], body["sort"], "no tiebreaker without a pit");
        assert!(plain.get("search_after").is_none());
        let unsorted = cursor(None, Ties::Doc).page_body(&json!({}), 5);
        assert_eq!(unsorted["sort"], json!([{"_doc": {"order": "asc"}}]));
        let mut inside = cursor(Some(pit()), Ties::ShardDoc);
        inside.after = Some(vec![json!(1), json!(7)]);
        let paged = inside.page_body(&body, 10);
        assert_eq!(paged["sort"][1], json!({"_shard_doc": {"order": "asc"}}));
        assert_eq!(paged["search_after"], json!([1, 7]));
    }

    #[test]
    fn without_a_pit_a_full_page_ends_before_its_last_run_of_equal_values() {
        let mut runs = cursor(None, Ties::Runs);
        // The run of 7s may go on in the next page: it is left to it.
        assert_eq!(
            ids(runs.keep(hits(&[3, 5, 5, 7, 7]), true)),
            ["0", "1", "2"]
        );
        assert_eq!(runs.after, Some(vec![json!(5)]));
        // A page that is one run is asked again, bigger; the cursor stays.
        assert_eq!(ids(runs.keep(hits(&[7, 7, 7]), true)), ["again"]);
        assert_eq!(runs.after, Some(vec![json!(5)]));
        // The last page is visited whole.
        assert_eq!(
            ids(runs.keep(hits(&[7, 7, 7, 9]), false)),
            ["0", "1", "2", "3"]
        );
        assert_eq!(runs.after, Some(vec![json!(9)]));
        // Inside a point-in-time the tiebreaker is total: continue after the last hit.
        let mut inside = cursor(Some(pit()), Ties::ShardDoc);
        assert_eq!(ids(inside.keep(hits(&[3, 7, 7]), true)), ["0", "1", "2"]);
        assert_eq!(inside.after, Some(vec![json!(7)]));
    }

    #[test]
    fn a_run_longer_than_the_largest_page_is_paged_by_doc_after_the_value_before_it() {
        let mut runs = cursor(None, Ties::Runs);
        runs.after = Some(vec![json!(5)]);
        let run = vec![7; MAX_RUN_PAGE];
        assert_eq!(ids(runs.keep(hits(&run), true)), ["again with _doc"]);
        assert_eq!(runs.ties, Ties::Doc);
        assert_eq!(runs.after, Some(vec![json!(5), json!(i32::MAX)]));
        let body = json!({"sort": [{"@timestamp": "asc"}]});
        assert_eq!(
            runs.page_body(&body, 10)["sort"][1],
            json!({"_doc": {"order": "asc"}})
        );
    }

    #[test]
    fn reading_a_page_renews_the_pit_and_keeps_each_failure_once() {
        let mut cursor = cursor(Some(pit()), Ties::ShardDoc);
        let page = SearchPage::<Value> {
            hits: hits(&[5]),
            pit_id: Some("p2".into()),
            total: None,
            shard_failures: vec!["boom".into()],
        };
        cursor.read(&page);
        cursor.read(&page);
        assert_eq!(cursor.pit.as_ref().map(|p| p.id.as_str()), Some("p2"));
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
