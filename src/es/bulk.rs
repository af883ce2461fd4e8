//! Writing alerts: `_bulk` with `create` actions and explicit ids. 201 = created, 409 =
//! duplicate (already written), 429/5xx = retried for those items only with exponential
//! back-off, anything else = failed. The retry loop takes its sender and sleeper as arguments,
//! so it is tested without a server or a clock.

use super::error::{error_reason, is_retryable_status};
use super::{Body, Client, EsError, Request};
use elasticsearch::http::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// How many times one batch (or its retryable items) is sent before giving up.
pub const BULK_MAX_ATTEMPTS: u32 = 5;
/// The pause before the first retry; it doubles for each further one.
pub const BULK_RETRY_BASE_DELAY: Duration = Duration::from_millis(250);
/// The longest pause between two attempts.
pub const BULK_RETRY_MAX_DELAY: Duration = Duration::from_secs(10);
/// How many documents one `_bulk` request carries at most; larger batches are split.
pub const BULK_MAX_ACTIONS: usize = 1000;

/// A document `bulk_create` can write: it puts its JSON text into the request body.
pub trait BulkDocument {
    fn write_json(&self, out: &mut Vec<u8>);
}

impl<D: BulkDocument + ?Sized> BulkDocument for &D {
    fn write_json(&self, out: &mut Vec<u8>) {
        (**self).write_json(out);
    }
}

impl BulkDocument for Value {
    fn write_json(&self, out: &mut Vec<u8>) {
        // serde_json's writer, not `Display`: formatting through `fmt::Write` made serializing
        // a page of alerts several times slower.
        serde_json::to_writer(out, self).expect("a JSON value serializes into memory");
    }
}

/// A document already serialized as one JSON object (by serde_json), written as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// Wraps JSON text. It must be one JSON object on one line (serde_json's compact output);
    /// the server refuses the `_bulk` item otherwise.
    pub fn new(text: String) -> Self {
        JsonText(text)
    }
}

impl BulkDocument for JsonText {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0.as_bytes());
    }
}

/// What happened to each document of a `bulk_create`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkOutcome {
    pub created: Vec<String>,
    /// Ids that already existed (409): written before, not an error.
    pub duplicates: Vec<String>,
    pub failed: Vec<ItemFailure>,
}

/// A document that could not be written, with the server's status and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFailure {
    pub id: String,
    /// The HTTP status of the item (0 when the whole request failed without an answer).
    pub status: u16,
    pub reason: String,
}

impl Client {
    /// Creates each document under its id in `index`. With `refresh`, the call returns once
    /// the documents are searchable (`refresh=wait_for`). Whole-request failures (no answer,
    /// 429, 5xx) are retried like item failures; when they persist, the call fails if nothing
    /// was written yet, else the unwritten documents are reported as failed.
    pub async fn bulk_create<D: BulkDocument>(
        &self,
        index: &str,
        docs: Vec<(String, D)>,
        refresh: bool,
    ) -> Result<BulkOutcome, EsError> {
        let mut outcome = BulkOutcome::default();
        let mut docs = docs;
        while !docs.is_empty() {
            let rest = docs.split_off(docs.len().min(BULK_MAX_ACTIONS));
            let send = async |body: String| self.send_bulk(index, body, refresh).await;
            let sleep = async |delay: Duration| tokio::time::sleep(delay).await;
            let part = create_with_retries(index, docs, send, sleep).await?;
            outcome.created.extend(part.created);
            outcome.duplicates.extend(part.duplicates);
            outcome.failed.extend(part.failed);
            docs = rest;
        }
        Ok(outcome)
    }

    async fn send_bulk(&self, index: &str, body: String, refresh: bool) -> Result<Value, EsError> {
        let mut request = Request::new("bulk create", index, Method::Post, "/_bulk".to_string());
        request.body = Some(Body::Ndjson(body));
        if refresh {
            request = request.query("refresh", "wait_for");
        }
        self.send_ok(request).await
    }
}

/// The pause after the `attempt`-th failed attempt (1-based): base * 2^(attempt-1), capped.
pub(crate) fn retry_delay(attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    BULK_RETRY_BASE_DELAY
        .saturating_mul(factor)
        .min(BULK_RETRY_MAX_DELAY)
}

/// Sends the documents, then only the retryable failures again, up to [`BULK_MAX_ATTEMPTS`].
pub(crate) async fn create_with_retries<D: BulkDocument>(
    index: &str,
    docs: Vec<(String, D)>,
    mut send: impl AsyncFnMut(String) -> Result<Value, EsError>,
    mut sleep: impl AsyncFnMut(Duration),
) -> Result<BulkOutcome, EsError> {
    let mut outcome = BulkOutcome::default();
    let mut pending = docs;
    for attempt in 1..=BULK_MAX_ATTEMPTS {
        let last = attempt == BULK_MAX_ATTEMPTS;
        let answer = match send(bulk_body(index, &pending)).await {
            Ok(answer) => answer,
            Err(error) if error.is_retryable() && !last => {
                sleep(retry_delay(attempt)).await;
                continue;
            }
            Err(error) => return give_up(outcome, pending, error),
        };
        let ids: Vec<&str> = pending.iter().map(|(id, _)| id.as_str()).collect();
        let items = classify(&answer, &ids).map_err(|message| EsError::BadAnswer {
            op: "bulk create",
            index: index.to_string(),
            message,
        })?;
        outcome.created.extend(items.created);
        outcome.duplicates.extend(items.duplicates);
        outcome.failed.extend(items.failed);
        if items.retry.is_empty() {
            return Ok(outcome);
        }
        if last {
            outcome.failed.extend(items.retry);
            return Ok(outcome);
        }
        pending = keep_ids(pending, &items.retry);
        sleep(retry_delay(attempt)).await;
    }
    Ok(outcome)
}

/// After the last attempt failed as a whole: an error if nothing was written, else the
/// unwritten documents become failures.
fn give_up<D>(
    mut outcome: BulkOutcome,
    pending: Vec<(String, D)>,
    error: EsError,
) -> Result<BulkOutcome, EsError> {
    if outcome == BulkOutcome::default() {
        return Err(error);
    }
    let reason = error.to_string();
    let status = error.status().unwrap_or(0);
    outcome
        .failed
        .extend(pending.into_iter().map(|(id, _)| ItemFailure {
            id,
            status,
            reason: reason.clone(),
        }));
    Ok(outcome)
}

fn keep_ids<D>(pending: Vec<(String, D)>, retry: &[ItemFailure]) -> Vec<(String, D)> {
    let wanted: std::collections::HashSet<&str> = retry.iter().map(|f| f.id.as_str()).collect();
    pending
        .into_iter()
        .filter(|(id, _)| wanted.contains(id.as_str()))
        .collect()
}

/// The NDJSON body: a `create` action with `_index` and `_id`, then the document, per line.
pub(crate) fn bulk_body<D: BulkDocument>(index: &str, docs: &[(String, D)]) -> String {
    let mut body = Vec::new();
    for (id, doc) in docs {
        json!({"create": {"_index": index, "_id": id}}).write_json(&mut body);
        body.push(b'\n');
        doc.write_json(&mut body);
        body.push(b'\n');
    }
    String::from_utf8(body).expect("documents are written as UTF-8 JSON")
}

/// The items of a bulk answer, sorted by what to do with them.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Classified {
    pub created: Vec<String>,
    pub duplicates: Vec<String>,
    pub retry: Vec<ItemFailure>,
    pub failed: Vec<ItemFailure>,
}

/// Sorts a `_bulk` answer's items (in the order the ids were sent) into created, duplicates,
/// retryable and failed.
pub(crate) fn classify(answer: &Value, ids: &[&str]) -> Result<Classified, String> {
    let items = answer["items"]
        .as_array()
        .ok_or("the bulk answer has no items array")?;
    if items.len() != ids.len() {
        return Err(format!(
            "the bulk answer has {} items for {} documents",
            items.len(),
            ids.len()
        ));
    }
    let mut classified = Classified::default();
    for (item, id) in items.iter().zip(ids) {
        let result = item
            .as_object()
            .and_then(|o| o.values().next())
            .ok_or("a bulk item is not an object")?;
        let status = result["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .ok_or("a bulk item has no status")?;
        let id = id.to_string();
        match status {
            200..=299 => classified.created.push(id),
            409 => classified.duplicates.push(id),
            _ => {
                let reason = match &result["error"] {
                    Value::Null => format!("status {status} without a reason"),
                    error => error_reason(&json!({"error": error})),
                };
                let failure = ItemFailure { id, status, reason };
                if is_retryable_status(status) {
                    classified.retry.push(failure);
                } else {
                    classified.failed.push(failure);
                }
            }
        }
    }
    Ok(classified)
}
