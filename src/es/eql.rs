//! Elasticsearch's EQL search API: whether the server has it (one probe, cached per client) and
//! one `_eql/search` request whose answer body is returned unread (the `eql` module reads it).
//! OpenSearch, and servers that only answer as Elasticsearch, have no `_eql/search`.

use super::search::{encode_path_segment, index_path};
use super::{Client, Distribution, EsError, Request};
use elasticsearch::http::Method;
use serde_json::{Value, json};

/// The index pattern the probe searches: it matches nothing, and `allow_no_indices` makes that
/// an empty answer on a server with EQL.
const PROBE_PATTERN: &str = "lookout-eql-probe-*";

impl Client {
    /// Whether the server answers `_eql/search`, asked once and then cached. OpenSearch has no
    /// EQL; an Elasticsearch-like server has it when an EQL search of a pattern that matches
    /// nothing gets an answer or an error of Elasticsearch's own (an object with a `type`), not
    /// "no handler found" (an endpoint the server does not know). An unreachable server is an
    /// error, not an answer, and is asked again next time.
    pub async fn has_eql(&self) -> Result<bool, EsError> {
        let known = self
            .inner
            .eql
            .get_or_try_init(|| async {
                if self.server_info().await?.distribution == Distribution::OpenSearch {
                    return Ok::<bool, EsError>(false);
                }
                let path = format!("/{PROBE_PATTERN}/_eql/search");
                let request = Request::new("EQL probe", PROBE_PATTERN, Method::Post, path)
                    .query("allow_no_indices", "true")
                    .json(json!({ "query": "any where false", "size": 1 }));
                let reply = self.send(request).await?;
                Ok(eql_answered(reply.status, &reply.body))
            })
            .await?;
        Ok(*known)
    }

    /// One `_eql/search` over the index patterns with `query_parameters`; the 2xx answer's
    /// body, unread. Any other status is an [`EsError::Status`] with the server's reason.
    pub async fn eql_search(
        &self,
        index: &[String],
        query_parameters: &[(&'static str, &'static str)],
        body: Value,
    ) -> Result<Vec<u8>, EsError> {
        let target = index_path(index);
        let path = format!("/{}/_eql/search", encode_path_segment(&target));
        let mut request = Request::new("EQL search", &target, Method::Post, path).json(body);
        for (key, value) in query_parameters {
            request = request.query(key, *value);
        }
        let reply = self.send_raw(request).await?;
        reply.ok_as("EQL search", &target, |bytes| Ok(bytes.to_vec()))
    }
}

/// True when an answer to the probe comes from an EQL search API: a 2xx, or an error object of
/// Elasticsearch's (`{"error": {"type": ..}}`, such as a verification error), not a plain-text
/// "no handler found" or a 404/405 of an unknown endpoint.
fn eql_answered(status: u16, body: &Value) -> bool {
    if (200..300).contains(&status) {
        return true;
    }
    if status == 404 || status == 405 {
        return false;
    }
    body["error"]["type"].as_str().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_or_an_elasticsearch_error_means_eql_and_no_handler_means_none() {
        assert!(eql_answered(200, &json!({"hits": {"events": []}})));
        let verification = json!({"error": {"type": "verification_exception", "reason": "x"}});
        assert!(eql_answered(400, &verification));
        let no_handler =
            json!({"error": "no handler found for uri [/x/_eql/search] and method [POST]"});
        assert!(!eql_answered(400, &no_handler));
        assert!(!eql_answered(404, &json!({"error": {"type": "x"}})));
        assert!(!eql_answered(405, &Value::Null));
    }
}
