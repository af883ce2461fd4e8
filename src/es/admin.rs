//! Read-only questions an operator asks about lookout's footprint on the server: does an index
//! template exist, and a raw search answer (for counts and aggregations) over an index that may
//! not exist yet, and the total of such an answer. Used by `lookout status`.

use super::search::encode_path_segment;
use super::{Client, EsError, Request};
use elasticsearch::http::Method;
use serde_json::Value;

impl Client {
    /// Whether the composable index template `name` is installed.
    pub async fn index_template_exists(&self, name: &str) -> Result<bool, EsError> {
        let path = format!("/_index_template/{}", encode_path_segment(name));
        let reply = self
            .send(Request::new("get index template", name, Method::Get, path))
            .await?;
        if reply.status == 404 {
            return Ok(false);
        }
        reply.ok("get index template", name).map(|_| true)
    }

    /// The whole search answer (hits, `hits.total`, `aggregations`) of `body` over `index`; a
    /// missing index answers like an empty one.
    pub async fn search_raw(&self, index: &str, body: Value) -> Result<Value, EsError> {
        let path = format!("/{}/_search", encode_path_segment(index));
        let request = Request::new("search", index, Method::Post, path)
            .query("ignore_unavailable", "true")
            .query("allow_no_indices", "true")
            .json(body);
        self.send_ok(request).await
    }

    /// [`Client::search_raw`] asking the server to answer only the parts named in
    /// `filter_path` (a server that ignores it answers the whole; callers read either).
    pub async fn search_filtered(
        &self,
        index: &str,
        body: Value,
        filter_path: &str,
    ) -> Result<Value, EsError> {
        let path = format!("/{}/_search", encode_path_segment(index));
        let request = Request::new("search", index, Method::Post, path)
            .query("ignore_unavailable", "true")
            .query("allow_no_indices", "true")
            .query("filter_path", filter_path)
            .json(body);
        self.send_ok(request).await
    }
}

/// `hits.total.value` of a search answer (or the plain number older servers answer with);
/// `None` when the answer has no total.
pub fn total_hits(answer: &Value) -> Option<u64> {
    let total = &answer["hits"]["total"];
    total["value"].as_u64().or_else(|| total.as_u64())
}
