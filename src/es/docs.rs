//! Single documents and index templates: what the state store and start-up need.

use super::search::encode_path_segment;
use super::{Client, EsError, Request};
use elasticsearch::http::Method;
use serde_json::Value;

impl Client {
    /// Installs (or replaces) a composable index template (`PUT /_index_template/<name>`).
    pub async fn put_index_template(&self, name: &str, body: &Value) -> Result<(), EsError> {
        let path = format!("/_index_template/{}", encode_path_segment(name));
        let request =
            Request::new("put index template", name, Method::Put, path).json(body.clone());
        self.send_ok(request).await.map(|_| ())
    }

    /// Writes a document under its id, replacing any previous version. With `refresh`, returns
    /// once the document is searchable (`refresh=wait_for`).
    pub async fn put_doc(
        &self,
        index: &str,
        id: &str,
        doc: &Value,
        refresh: bool,
    ) -> Result<(), EsError> {
        let path = format!(
            "/{}/_doc/{}",
            encode_path_segment(index),
            encode_path_segment(id)
        );
        let mut request = Request::new("put document", index, Method::Put, path).json(doc.clone());
        if refresh {
            request = request.query("refresh", "wait_for");
        }
        self.send_ok(request).await.map(|_| ())
    }

    /// Writes a document only if it is still the version read: at (`seq_no`, `primary_term`)
    /// with `Some`, absent with `None` (`op_type=create`). Returns the new version, or `None`
    /// when the document changed (or appeared) since: a 409, which the caller resolves.
    pub async fn put_doc_if(
        &self,
        index: &str,
        id: &str,
        doc: &Value,
        expected: Option<(u64, u64)>,
    ) -> Result<Option<(u64, u64)>, EsError> {
        let path = format!(
            "/{}/_doc/{}",
            encode_path_segment(index),
            encode_path_segment(id)
        );
        let mut request = Request::new("put document", index, Method::Put, path).json(doc.clone());
        request = match expected {
            Some((seq_no, primary_term)) => request
                .query("if_seq_no", seq_no.to_string())
                .query("if_primary_term", primary_term.to_string()),
            None => request.query("op_type", "create"),
        };
        let reply = self.send(request).await?;
        if reply.status == 409 {
            return Ok(None);
        }
        let body = reply.ok("put document", index)?;
        match (body["_seq_no"].as_u64(), body["_primary_term"].as_u64()) {
            (Some(seq_no), Some(primary_term)) => Ok(Some((seq_no, primary_term))),
            _ => Err(EsError::BadAnswer {
                op: "put document",
                index: index.to_string(),
                message: format!("document {id}: the answer has no _seq_no or _primary_term"),
            }),
        }
    }

    /// The `_source` of a document, `None` when it (or its index) does not exist. Reads are
    /// real-time: a document is found right after `put_doc`, refreshed or not.
    pub async fn get_doc(&self, index: &str, id: &str) -> Result<Option<Value>, EsError> {
        let path = format!(
            "/{}/_doc/{}",
            encode_path_segment(index),
            encode_path_segment(id)
        );
        let reply = self
            .send(Request::new("get document", index, Method::Get, path))
            .await?;
        if reply.status == 404 {
            return Ok(None);
        }
        let body = reply.ok("get document", index)?;
        if body["found"] == Value::Bool(false) {
            return Ok(None);
        }
        Ok(Some(body["_source"].clone()))
    }

    /// Deletes a document; one that does not exist is fine. Returns once the deletion is
    /// searchable (`refresh=wait_for`).
    pub async fn delete_doc(&self, index: &str, id: &str) -> Result<(), EsError> {
        let path = format!(
            "/{}/_doc/{}",
            encode_path_segment(index),
            encode_path_segment(id)
        );
        let request = Request::new("delete document", index, Method::Delete, path)
            .query("refresh", "wait_for");
        let reply = self.send(request).await?;
        if reply.status == 404 {
            return Ok(());
        }
        reply.ok("delete document", index).map(|_| ())
    }

    /// Makes everything written to the index (or pattern) searchable; a missing index is fine.
    pub async fn refresh(&self, index: &str) -> Result<(), EsError> {
        let path = format!("/{}/_refresh", encode_path_segment(index));
        let request = Request::new("refresh", index, Method::Post, path)
            .query("ignore_unavailable", "true")
            .query("allow_no_indices", "true");
        self.send_ok(request).await.map(|_| ())
    }
}
