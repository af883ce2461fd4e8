//! Conditional partial updates of documents: `_bulk` with `update` actions carrying
//! `if_seq_no` / `if_primary_term`, so that a document changed since it was read is left alone
//! (409, a conflict) instead of overwritten. Used by the notification outbox on alerts and by
//! alert suppression (the open alert of a group takes further events).

use super::bulk::BULK_MAX_ACTIONS;
use super::bulk::ItemFailure;
use super::error::error_reason;
use super::{Body, Client, EsError, Request};
use elasticsearch::http::Method;
use serde_json::{Value, json};

/// One partial update of a document read at (`seq_no`, `primary_term`).
#[derive(Debug, Clone, PartialEq)]
pub struct DocUpdate {
    pub index: String,
    pub id: String,
    pub seq_no: u64,
    pub primary_term: u64,
    /// The fields to set (top-level keys replace what the document holds).
    pub doc: Value,
}

/// What a batch of updates did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateOutcome {
    pub updated: usize,
    /// The ids of documents changed since they were read (or gone): not updated.
    pub conflicts: Vec<String>,
    pub failed: Vec<ItemFailure>,
}

impl Client {
    /// Applies the updates, each only if its document is unchanged since it was read.
    pub async fn bulk_update(&self, updates: &[DocUpdate]) -> Result<UpdateOutcome, EsError> {
        let mut outcome = UpdateOutcome::default();
        for part in updates.chunks(BULK_MAX_ACTIONS) {
            let mut request =
                Request::new("bulk update", "alerts", Method::Post, "/_bulk".to_string());
            request.body = Some(Body::Ndjson(update_body(part)));
            let answer = self.send_ok(request).await?;
            count_items(&answer, part, &mut outcome).map_err(|message| EsError::BadAnswer {
                op: "bulk update",
                index: "alerts".to_string(),
                message,
            })?;
        }
        Ok(outcome)
    }
}

/// A document as stored now, with the sequence number and primary term to update it by.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub source: Value,
    pub seq_no: u64,
    pub primary_term: u64,
}

impl Client {
    /// The document's current `_source` and version (a real-time read), `None` when absent.
    pub async fn get_versioned(&self, index: &str, id: &str) -> Result<Option<Versioned>, EsError> {
        let path = format!(
            "/{}/_doc/{}",
            super::search::encode_path_segment(index),
            super::search::encode_path_segment(id)
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
        Ok(Some(Versioned {
            source: body["_source"].clone(),
            seq_no: body["_seq_no"].as_u64().unwrap_or(0),
            primary_term: body["_primary_term"].as_u64().unwrap_or(1),
        }))
    }
}

/// One whole document to write only over the version read: `expected` = (`seq_no`,
/// `primary_term`), or `None` for "only if there is none" (`create`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionalPut {
    pub id: String,
    pub doc: Value,
    pub expected: Option<(u64, u64)>,
}

/// What became of one [`ConditionalPut`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Written; its new (`seq_no`, `primary_term`).
    Written(u64, u64),
    /// The document changed (or appeared) since it was read: not written.
    Conflict,
    Failed(ItemFailure),
}

impl Client {
    /// Writes whole documents into `index`, each only over the version read (a `_bulk` of
    /// `index` actions with `if_seq_no` / `if_primary_term`, or `create` actions). The outcomes
    /// come in the order of `puts`. `refresh`: returns once they are searchable.
    pub async fn bulk_put_if(
        &self,
        index: &str,
        puts: &[ConditionalPut],
        refresh: bool,
    ) -> Result<Vec<PutOutcome>, EsError> {
        let puts: Vec<(&str, &ConditionalPut)> = puts.iter().map(|put| (index, put)).collect();
        self.bulk_put_if_into(index, &puts, refresh).await
    }

    /// [`Client::bulk_put_if`] with each document going into its own index (`label` names them
    /// in errors): one request for writes that belong together.
    pub async fn bulk_put_if_into(
        &self,
        label: &str,
        puts: &[(&str, &ConditionalPut)],
        refresh: bool,
    ) -> Result<Vec<PutOutcome>, EsError> {
        let mut outcomes = Vec::with_capacity(puts.len());
        for part in puts.chunks(BULK_MAX_ACTIONS) {
            let mut request = Request::new("bulk put", label, Method::Post, "/_bulk".to_string());
            if refresh {
                request = request.query("refresh", "wait_for");
            }
            request.body = Some(Body::Ndjson(put_body(part)));
            let answer = self.send_ok(request).await?;
            let items = answer["items"].as_array().filter(|i| i.len() == part.len());
            let Some(items) = items else {
                return Err(EsError::BadAnswer {
                    op: "bulk put",
                    index: label.to_string(),
                    message: format!("the bulk answer does not have {} items", part.len()),
                });
            };
            outcomes.extend(
                items
                    .iter()
                    .zip(part)
                    .map(|(item, (_, put))| put_outcome(item, &put.id)),
            );
        }
        Ok(outcomes)
    }
}

impl Client {
    /// Deletes documents of `index`, each only at the version read: (`_id`, (`seq_no`,
    /// `primary_term`)). The outcomes come in the order given: `Written` for a deletion (with
    /// the deletion's own version), `Conflict` when the document changed or is gone.
    pub async fn bulk_delete_if(
        &self,
        index: &str,
        deletes: &[(String, (u64, u64))],
    ) -> Result<Vec<PutOutcome>, EsError> {
        let mut outcomes = Vec::with_capacity(deletes.len());
        for part in deletes.chunks(BULK_MAX_ACTIONS) {
            let mut body = String::new();
            for (id, (seq_no, primary_term)) in part {
                let action = json!({"delete": {
                    "_index": index, "_id": id,
                    "if_seq_no": seq_no, "if_primary_term": primary_term,
                }});
                body.push_str(&action.to_string());
                body.push('\n');
            }
            let mut request =
                Request::new("bulk delete", index, Method::Post, "/_bulk".to_string());
            request.body = Some(Body::Ndjson(body));
            let answer = self.send_ok(request).await?;
            let items = answer["items"].as_array().filter(|i| i.len() == part.len());
            let Some(items) = items else {
                return Err(EsError::BadAnswer {
                    op: "bulk delete",
                    index: index.to_string(),
                    message: format!("the bulk answer does not have {} items", part.len()),
                });
            };
            outcomes.extend((items.iter().zip(part)).map(|(item, (id, _))| put_outcome(item, id)));
        }
        Ok(outcomes)
    }
}

fn put_body(puts: &[(&str, &ConditionalPut)]) -> String {
    let mut body = String::new();
    for (index, put) in puts {
        let action = match put.expected {
            Some((seq_no, primary_term)) => json!({"index": {
                "_index": index, "_id": put.id,
                "if_seq_no": seq_no, "if_primary_term": primary_term,
            }}),
            None => json!({"create": {"_index": index, "_id": put.id}}),
        };
        body.push_str(&action.to_string());
        body.push('\n');
        body.push_str(&put.doc.to_string());
        body.push('\n');
    }
    body
}

fn put_outcome(item: &Value, id: &str) -> PutOutcome {
    let result = item
        .as_object()
        .and_then(|o| o.values().next())
        .unwrap_or(&Value::Null);
    match result["status"].as_u64().unwrap_or(0) {
        200..=299 => match (result["_seq_no"].as_u64(), result["_primary_term"].as_u64()) {
            (Some(seq_no), Some(term)) => PutOutcome::Written(seq_no, term),
            _ => PutOutcome::Failed(ItemFailure {
                id: id.to_string(),
                status: 0,
                reason: "the answer has no _seq_no or _primary_term".to_string(),
            }),
        },
        409 => PutOutcome::Conflict,
        status => PutOutcome::Failed(ItemFailure {
            id: id.to_string(),
            status: u16::try_from(status).unwrap_or(0),
            reason: error_reason(&json!({"error": result["error"]})),
        }),
    }
}

/// The NDJSON body: an `update` action with the sequence number check, then `{"doc": ...}`.
fn update_body(updates: &[DocUpdate]) -> String {
    let mut body = String::new();
    for update in updates {
        let action = json!({"update": {
            "_index": update.index,
            "_id": update.id,
            "if_seq_no": update.seq_no,
            "if_primary_term": update.primary_term,
        }});
        body.push_str(&action.to_string());
        body.push('\n');
        body.push_str(&json!({"doc": update.doc}).to_string());
        body.push('\n');
    }
    body
}

fn count_items(
    answer: &Value,
    sent: &[DocUpdate],
    outcome: &mut UpdateOutcome,
) -> Result<(), String> {
    let items = answer["items"]
        .as_array()
        .ok_or("the bulk answer has no items array")?;
    if items.len() != sent.len() {
        return Err(format!(
            "the bulk answer has {} items for {} updates",
            items.len(),
            sent.len()
        ));
    }
    for (item, update) in items.iter().zip(sent) {
        let result = item
            .as_object()
            .and_then(|o| o.values().next())
            .unwrap_or(&Value::Null);
        match result["status"].as_u64().unwrap_or(0) {
            200..=299 => outcome.updated += 1,
            404 | 409 => outcome.conflicts.push(update.id.clone()),
            status => outcome.failed.push(ItemFailure {
                id: update.id.clone(),
                status: u16::try_from(status).unwrap_or(0),
                reason: error_reason(&json!({"error": result["error"]})),
            }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(id: &str) -> DocUpdate {
        DocUpdate {
            index: "alerts-1".into(),
            id: id.into(),
            seq_no: 7,
            primary_term: 2,
            doc: json!({"lookout.notify.pending": []}),
        }
    }

    #[test]
    fn each_update_carries_its_sequence_number_check() {
        let body = update_body(&[update("a")]);
        let lines: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["update"]["if_seq_no"], 7);
        assert_eq!(lines[0]["update"]["if_primary_term"], 2);
        assert_eq!(lines[1]["doc"]["lookout.notify.pending"], json!([]));
    }

    #[test]
    fn a_conditional_put_is_an_index_with_its_version_or_a_create() {
        let puts = [
            ConditionalPut {
                id: "a".into(),
                doc: json!({"x": 1}),
                expected: Some((3, 1)),
            },
            ConditionalPut {
                id: "b".into(),
                doc: json!({"x": 2}),
                expected: None,
            },
        ];
        let lines: Vec<Value> = put_body(&[("leases", &puts[0]), ("executions", &puts[1])])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["index"]["if_seq_no"], 3);
        assert_eq!(lines[0]["index"]["_index"], "leases");
        assert_eq!(lines[2]["create"]["_id"], "b");
        assert_eq!(lines[2]["create"]["_index"], "executions");
        assert_eq!(lines[3]["x"], 2);
        let written = json!({"index": {"status": 200, "_seq_no": 4, "_primary_term": 1}});
        assert_eq!(
            put_outcome(&written, &puts[0].id),
            PutOutcome::Written(4, 1)
        );
        let conflict = json!({"create": {"status": 409}});
        assert_eq!(put_outcome(&conflict, &puts[1].id), PutOutcome::Conflict);
    }

    #[test]
    fn conflicts_are_counted_apart_from_failures() {
        let answer = json!({"items": [
            {"update": {"status": 200}}, {"update": {"status": 409}},
            {"update": {"status": 503, "error": {"type": "x", "reason": "busy"}}},
        ]});
        let mut outcome = UpdateOutcome::default();
        count_items(
            &answer,
            &[update("a"), update("b"), update("c")],
            &mut outcome,
        )
        .unwrap();
        assert_eq!((outcome.updated, outcome.conflicts.len()), (1, 1));
        assert_eq!(outcome.failed[0].status, 503);
    }
}
