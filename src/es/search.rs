//! Reading: point-in-time open/close (Elasticsearch and OpenSearch flavours), one page of a
//! search, field capabilities and id lookups. Request bodies and answers are built and read by
//! small pure functions next to the async calls.

use super::{CLUSTER, Client, Distribution, EsError, Request};
use elasticsearch::http::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::collections::HashSet;

/// How many ids one `existing_ids` request looks up.
pub const EXISTING_IDS_CHUNK: usize = 1000;
/// How many hits one `existing_ids` request may return: an id can exist in several indices
/// behind the pattern (after a rollover), so this is larger than [`EXISTING_IDS_CHUNK`]; it is
/// the default `index.max_result_window`.
pub const EXISTING_IDS_MAX_HITS: usize = 10_000;

/// An open point-in-time and the keep-alive each search must renew it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PitId {
    pub id: String,
    pub keep_alive: String,
}

/// One page of search hits, each `_source` read as `S`: a JSON [`Value`], or the unread text
/// ([`RawSource`]) when it is only passed on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchPage<S = Value> {
    pub hits: Vec<Hit<S>>,
    /// The point-in-time id the answer carries (it may differ from the one sent; use the newest).
    pub pit_id: Option<String>,
    /// `hits.total.value` when the server counted.
    pub total: Option<u64>,
    /// Reasons of shard failures: the page may be missing documents when this is not empty.
    pub shard_failures: Vec<String>,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<S = Value> {
    pub index: String,
    pub id: String,
    /// `_source` (JSON `null` when the search did not ask for it).
    pub source: S,
    /// The sort values, for `search_after`.
    pub sort: Vec<Value>,
}

/// A hit's `_source` as the server sent it, unread (serde_json checked that it is JSON).
pub type RawSource = Box<RawValue>;

/// What a hit's `_source` can be read as.
pub trait SourceDocument: DeserializeOwned {
    /// The source of a hit that has none (`_source: false`).
    fn absent() -> Self;
}

impl SourceDocument for Value {
    fn absent() -> Self {
        Value::Null
    }
}

impl SourceDocument for RawSource {
    fn absent() -> Self {
        serde_json::value::to_raw_value(&()).expect("null serializes")
    }
}

impl Client {
    /// Field capabilities of every field in the given indices (`_field_caps?fields=*`).
    pub async fn field_caps(&self, index: &[String]) -> Result<Value, EsError> {
        if index.is_empty() {
            return Err(no_index("field caps"));
        }
        let target = index_path(index);
        let request = Request::new(
            "field caps",
            &target,
            Method::Get,
            format!("/{}/_field_caps", encode_path_segment(&target)),
        )
        .query("fields", "*")
        .query("ignore_unavailable", "true")
        .query("allow_no_indices", "true");
        self.send_ok(request).await
    }

    /// Opens a point-in-time over the indices. `None` when the server has no point-in-time API
    /// or no index matches (the caller then searches without one). A concrete index that does
    /// not exist is left out of it (the server refuses a point-in-time naming one), so that the
    /// others are still paged inside one.
    pub async fn open_pit(
        &self,
        index: &[String],
        keep_alive: &str,
    ) -> Result<Option<PitId>, EsError> {
        if index.is_empty() {
            return Err(no_index("open point-in-time"));
        }
        match self.open_pit_over(index, keep_alive).await? {
            PitOpened::Missing => {}
            PitOpened::Done(pit) => return Ok(pit),
        }
        let mut present = Vec::new();
        for name in index {
            if !is_concrete(name) || self.index_exists(name).await? {
                present.push(name.clone());
            }
        }
        if present.is_empty() || present.len() == index.len() {
            return Ok(None);
        }
        match self.open_pit_over(&present, keep_alive).await? {
            PitOpened::Missing => Ok(None),
            PitOpened::Done(pit) => Ok(pit),
        }
    }

    /// Whether an index (or alias) exists.
    async fn index_exists(&self, name: &str) -> Result<bool, EsError> {
        let path = format!("/{}", encode_path_segment(name));
        let reply = (self.send(Request::new("index exists", name, Method::Head, path))).await?;
        match reply.status {
            404 => Ok(false),
            _ => reply.ok("index exists", name).map(|_| true),
        }
    }

    async fn open_pit_over(
        &self,
        index: &[String],
        keep_alive: &str,
    ) -> Result<PitOpened, EsError> {
        let target = index_path(index);
        let server = self.server_info().await?;
        if !server.supports_pit() {
            return Ok(PitOpened::Done(None));
        }
        let distribution = server.distribution;
        let path = match distribution {
            Distribution::Elasticsearch => format!("/{}/_pit", encode_path_segment(&target)),
            Distribution::OpenSearch => {
                format!("/{}/_search/point_in_time", encode_path_segment(&target))
            }
        };
        let request = Request::new("open point-in-time", &target, Method::Post, path)
            .query("keep_alive", keep_alive);
        let reply = self.send(request).await?;
        if reply.status == 404 && reply_names_missing_index(&reply.body) {
            return Ok(PitOpened::Missing);
        }
        if matches!(reply.status, 404 | 405) {
            return Ok(PitOpened::Done(None));
        }
        // OpenSearch answers 400 (not 404) when a pattern matches no index.
        if reply.status == 400 && self.matches_no_index(&target).await? {
            return Ok(PitOpened::Done(None));
        }
        let body = reply.ok("open point-in-time", &target)?;
        let id = pit_id_of(&body, distribution).ok_or_else(|| EsError::BadAnswer {
            op: "open point-in-time",
            index: target.clone(),
            message: format!(
                "no point-in-time id in {}",
                super::error::truncate(&body.to_string(), 200)
            ),
        })?;
        Ok(PitOpened::Done(Some(PitId {
            id,
            keep_alive: keep_alive.to_string(),
        })))
    }

    /// Whether the indices (or patterns) resolve to no shard at all.
    async fn matches_no_index(&self, target: &str) -> Result<bool, EsError> {
        let request = tolerant_search(target, json!({"size": 0, "track_total_hits": false}))
            .with_op("resolve indices");
        let answer = self.send_ok(request).await?;
        Ok(answer["_shards"]["total"].as_u64() == Some(0))
    }

    /// Closes a point-in-time; one that already expired is fine.
    pub async fn close_pit(&self, pit: PitId) -> Result<(), EsError> {
        let distribution = self.server_info().await?.distribution;
        let (path, body) = close_pit_request(&pit, distribution);
        let request = Request::new("close point-in-time", CLUSTER, Method::Delete, path).json(body);
        let reply = self.send(request).await?;
        if reply.status == 404 {
            return Ok(());
        }
        reply.ok("close point-in-time", CLUSTER).map(|_| ())
    }

    /// One page of a search: through the point-in-time when given, else over the indices with
    /// missing indices ignored.
    pub async fn search<S: SourceDocument>(
        &self,
        index: &[String],
        pit: Option<&PitId>,
        body: Value,
    ) -> Result<SearchPage<S>, EsError> {
        let target = index_path(index);
        let request = match pit {
            Some(pit) => Request::new("search", &target, Method::Post, "/_search".to_string())
                .json(with_pit(body, pit)),
            None => {
                if index.is_empty() {
                    return Err(no_index("search"));
                }
                tolerant_search(&target, body)
            }
        };
        let reply = self.send_raw(request).await?;
        reply.ok_as("search", &target, parse_page)
    }

    /// One search whose whole answer (aggregations included) is returned, missing indices
    /// ignored. Shard failures fail it ([`EsError::ShardFailures`]): a partial aggregation would
    /// miss terms or events.
    pub async fn aggregate(&self, index: &[String], body: Value) -> Result<Value, EsError> {
        if index.is_empty() {
            return Err(no_index("search"));
        }
        let target = index_path(index);
        let answer = self.send_ok(tolerant_search(&target, body)).await?;
        let failures = answer["_shards"]["failures"]
            .as_array()
            .map(|failures| {
                (failures.iter())
                    .map(|f| super::error::error_reason(&json!({"error": f["reason"]})))
                    .collect()
            })
            .unwrap_or_default();
        super::paging::shard_failures_error("search", index, failures)?;
        Ok(answer)
    }

    /// The subset of `ids` that exist in any index behind `index_pattern` (missing index: none).
    pub async fn existing_ids(
        &self,
        index_pattern: &str,
        ids: &[String],
    ) -> Result<HashSet<String>, EsError> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(EXISTING_IDS_CHUNK) {
            let request =
                tolerant_search(index_pattern, ids_query(chunk)).with_op("look up existing ids");
            let reply = self.send_raw(request).await?;
            if reply.status == 404 {
                return Ok(found);
            }
            let page: SearchPage =
                reply.ok_as("look up existing ids", index_pattern, parse_page)?;
            found.extend(page.hits.into_iter().map(|hit| hit.id));
        }
        Ok(found)
    }

    /// A plain search of one index or pattern, all hits of the first page; missing index: none.
    pub async fn search_docs(&self, index: &str, body: Value) -> Result<Vec<Hit>, EsError> {
        let reply = self.send_raw(tolerant_search(index, body)).await?;
        if reply.status == 404 {
            return Ok(Vec::new());
        }
        let page: SearchPage = reply.ok_as("search", index, parse_page)?;
        Ok(page.hits)
    }
}

impl Request<'_> {
    fn with_op(mut self, op: &'static str) -> Self {
        self.op = op;
        self
    }
}

fn no_index(op: &'static str) -> EsError {
    EsError::InvalidRequest {
        op,
        index: CLUSTER.to_string(),
        message: "no index given".to_string(),
    }
}

/// What one attempt to open a point-in-time came to.
enum PitOpened {
    /// Opened, or the server has none (`None`).
    Done(Option<PitId>),
    /// Refused because a named index does not exist.
    Missing,
}

/// A name that is one index or alias: no wildcard, no exclusion, no remote cluster.
fn is_concrete(name: &str) -> bool {
    !name.contains(['*', '?', ':']) && !name.starts_with('-')
}

/// Whether a refusal says that an index does not exist.
fn reply_names_missing_index(body: &Value) -> bool {
    body.to_string().contains("index_not_found_exception")
}

/// `POST /<target>/_search?ignore_unavailable=true&allow_no_indices=true`.
fn tolerant_search(target: &str, body: Value) -> Request<'_> {
    Request::new(
        "search",
        target,
        Method::Post,
        format!("/{}/_search", encode_path_segment(target)),
    )
    .query("ignore_unavailable", "true")
    .query("allow_no_indices", "true")
    .json(body)
}

/// Index names joined with commas (encode with [`encode_path_segment`] for a path).
pub(crate) fn index_path(index: &[String]) -> String {
    index.join(",")
}

/// Percent-encodes everything but letters, digits and `- _ . * , : + ! ~`.
pub(crate) fn encode_path_segment(text: &str) -> String {
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

/// The body with `pit: {id, keep_alive}` set.
pub(crate) fn with_pit(mut body: Value, pit: &PitId) -> Value {
    if let Some(object) = body.as_object_mut() {
        object.insert(
            "pit".to_string(),
            json!({"id": pit.id, "keep_alive": pit.keep_alive}),
        );
    }
    body
}

/// `DELETE` path and body closing a point-in-time.
pub(crate) fn close_pit_request(pit: &PitId, distribution: Distribution) -> (String, Value) {
    match distribution {
        Distribution::Elasticsearch => ("/_pit".to_string(), json!({"id": pit.id})),
        Distribution::OpenSearch => (
            "/_search/point_in_time".to_string(),
            json!({"pit_id": [pit.id]}),
        ),
    }
}

/// The id of a newly opened point-in-time: `id` (Elasticsearch) or `pit_id` (OpenSearch).
fn pit_id_of(body: &Value, distribution: Distribution) -> Option<String> {
    let key = match distribution {
        Distribution::Elasticsearch => "id",
        Distribution::OpenSearch => "pit_id",
    };
    body[key].as_str().map(str::to_string)
}

/// An `ids` query for a chunk of ids, without sources.
pub(crate) fn ids_query(ids: &[String]) -> Value {
    json!({
        "size": (ids.len() * 10).min(EXISTING_IDS_MAX_HITS),
        "_source": false,
        "track_total_hits": false,
        "query": {"ids": {"values": ids}},
    })
}

/// A search answer, as far as lookout reads it.
#[derive(Deserialize)]
struct Answer<S> {
    hits: Option<AnswerHits<S>>,
    pit_id: Option<String>,
    #[serde(rename = "_shards")]
    shards: Option<Shards>,
}

#[derive(Deserialize)]
struct AnswerHits<S> {
    hits: Option<Vec<AnswerHit<S>>>,
    total: Option<Value>,
}

#[derive(Deserialize)]
struct AnswerHit<S> {
    #[serde(rename = "_index")]
    index: Option<String>,
    #[serde(rename = "_id")]
    id: Option<String>,
    #[serde(rename = "_source")]
    source: Option<S>,
    sort: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct Shards {
    #[serde(default)]
    failures: Vec<ShardFailure>,
}

#[derive(Deserialize)]
struct ShardFailure {
    #[serde(default)]
    reason: Value,
}

/// Reads one page of a search answer straight from its bytes into hits (no intermediate JSON
/// tree: a page of 100 CloudTrail events is ~250 KB, and building and copying a tree of it was
/// the largest part of lookout's CPU when writing alerts).
pub(crate) fn parse_page<S: SourceDocument>(bytes: &[u8]) -> Result<SearchPage<S>, String> {
    let answer: Answer<S> =
        serde_json::from_slice(bytes).map_err(|e| format!("unreadable search answer: {e}"))?;
    let hits = answer.hits.ok_or("the answer has no hits.hits array")?;
    let total = match &hits.total {
        Some(Value::Number(n)) => n.as_u64(),
        Some(total) => total["value"].as_u64(),
        None => None,
    };
    let hits = hits
        .hits
        .ok_or("the answer has no hits.hits array")?
        .into_iter()
        .map(|hit| {
            Ok(Hit {
                index: hit.index.ok_or("a hit has no _index")?,
                id: hit.id.ok_or("a hit has no _id")?,
                source: hit.source.unwrap_or_else(S::absent),
                sort: hit.sort.unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>, &str>>()?;
    let shard_failures = answer
        .shards
        .map(|shards| {
            (shards.failures.iter())
                .map(|f| super::error::error_reason(&json!({"error": f.reason})))
                .collect()
        })
        .unwrap_or_default();
    Ok(SearchPage {
        hits,
        pit_id: answer.pit_id,
        total,
        shard_failures,
    })
}
