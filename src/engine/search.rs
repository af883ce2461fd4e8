//! The search service every rule kind uses for one execution: paged searches (through
//! `es::Client::for_each_page`, which owns the point-in-time, tiebreaker, cursor and shard
//! failures), single searches, aggregations, and the cached field types of any index set. Errors
//! name the rule; the time spent searching is added up for the execution record.

use super::ExecutionError;
use super::query::{FieldCapsCache, FieldInfo};
use crate::es::{
    Client, EsError, Flow, Hit, Paging, PagingError, SearchPage, ServerInfo, SourceDocument,
};
use crate::rule::Rule;
use serde_json::Value;
use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Searches for one execution of one rule.
pub(super) struct Searcher<'a> {
    client: &'a Client,
    rule: &'a Rule,
    field_caps: &'a FieldCapsCache,
    /// Time spent waiting for searches (not for the caller's work between pages).
    elapsed: Cell<Duration>,
}

impl<'a> Searcher<'a> {
    pub fn new(client: &'a Client, rule: &'a Rule, field_caps: &'a FieldCapsCache) -> Self {
        Self {
            client,
            rule,
            field_caps,
            elapsed: Cell::new(Duration::ZERO),
        }
    }

    /// Time spent searching so far.
    pub fn elapsed(&self) -> Duration {
        self.elapsed.get()
    }

    fn error(&self, error: EsError) -> ExecutionError {
        ExecutionError::es(self.rule, error)
    }

    fn add_time(&self, time: Duration) {
        self.elapsed.set(self.elapsed.get() + time);
    }

    /// Every page of a search (see `es::Client::for_each_page`); `visit`'s own time is not
    /// counted as search time. Shard failures fail the search after every page was visited.
    pub async fn pages<S: SourceDocument>(
        &self,
        paging: Paging<'_>,
        body: Value,
        mut visit: impl AsyncFnMut(Vec<Hit<S>>) -> Result<Flow, ExecutionError>,
    ) -> Result<(), ExecutionError> {
        let started = Instant::now();
        let mut visiting = Duration::ZERO;
        let result = self
            .client
            .for_each_page(paging, body, async |hits| {
                let visit_started = Instant::now();
                let flow = visit(hits).await;
                visiting += visit_started.elapsed();
                flow
            })
            .await;
        self.add_time(started.elapsed().saturating_sub(visiting));
        result.map_err(|error| match error {
            PagingError::Es(error) => self.error(error),
            PagingError::Visit(error) => error,
        })
    }

    /// One page of a search without a point-in-time. Its shard failures are returned with it,
    /// for [`fail_on_shard_failures`](Self::fail_on_shard_failures) once its hits are used.
    pub async fn page<S: SourceDocument>(
        &self,
        index: &[String],
        body: Value,
    ) -> Result<SearchPage<S>, ExecutionError> {
        let started = Instant::now();
        let page = self.client.search(index, None, body).await;
        self.add_time(started.elapsed());
        page.map_err(|error| self.error(error))
    }

    /// An error when a search of `index` had shard failures: the hits that came back are
    /// used (written alerts are never wrong), but hits may be missing, so the chunk fails and
    /// its window is searched again.
    pub fn fail_on_shard_failures(
        &self,
        index: &[String],
        failures: Vec<String>,
    ) -> Result<(), ExecutionError> {
        crate::es::shard_failures_error("search", index, failures).map_err(|e| self.error(e))
    }

    /// The whole answer of one search (aggregations); shard failures fail it.
    pub async fn aggregate(&self, index: &[String], body: Value) -> Result<Value, ExecutionError> {
        let started = Instant::now();
        let answer = self.client.aggregate(index, body).await;
        self.add_time(started.elapsed());
        answer.map_err(|error| self.error(error))
    }

    /// The hits of the first page of a plain search of one index or pattern.
    pub async fn docs(&self, index: &str, body: Value) -> Result<Vec<Hit>, ExecutionError> {
        let started = Instant::now();
        let hits = self.client.search_docs(index, body).await;
        self.add_time(started.elapsed());
        hits.map_err(|error| self.error(error))
    }

    /// Whether the server answers `_eql/search` (probed once per client).
    pub async fn has_eql(&self) -> Result<bool, ExecutionError> {
        let started = Instant::now();
        let answer = self.client.has_eql().await;
        self.add_time(started.elapsed());
        answer.map_err(|error| self.error(error))
    }

    /// What the server is (cached by the client).
    pub async fn server_info(&self) -> Result<ServerInfo, ExecutionError> {
        self.client
            .server_info()
            .await
            .map_err(|error| self.error(error))
    }

    /// One `_eql/search`; the answer's body, unread.
    pub async fn eql(
        &self,
        index: &[String],
        query_parameters: &[(&'static str, &'static str)],
        body: Value,
    ) -> Result<Vec<u8>, ExecutionError> {
        let started = Instant::now();
        let answer = self.client.eql_search(index, query_parameters, body).await;
        self.add_time(started.elapsed());
        answer.map_err(|error| self.error(error))
    }

    /// An execution error of this rule with a message.
    pub fn failure(&self, message: impl Into<String>) -> ExecutionError {
        ExecutionError::Search {
            rule_id: self.rule.rule_id.clone(),
            message: message.into(),
        }
    }

    /// The field types of some indices (cached for every rule and kind); `None` when they
    /// cannot be fetched (the caller then works untyped).
    pub async fn field_info(&self, index: &[String]) -> Option<Arc<FieldInfo>> {
        let started = Instant::now();
        let info = self.field_caps.field_info(self.client, index).await;
        self.add_time(started.elapsed());
        info.ok()
    }
}
