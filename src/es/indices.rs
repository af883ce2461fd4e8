//! Indices and aliases over their lifetime: what a name is (a write alias, a concrete index,
//! nothing), creating an index, rolling an alias over, Elasticsearch's ILM policies, and
//! deleting old documents by query. Used by `lookout setup`, the daemon's start-up and its
//! housekeeping (alerts rollover, execution record retention).

use super::search::encode_path_segment;
use super::{CLUSTER, Client, EsError, Request};
use chrono::{DateTime, Utc};
use elasticsearch::http::Method;
use serde_json::Value;

/// What a name stands for on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexName {
    /// An alias; `write_index` is the index writes through it go to (`None`: no write index
    /// marked, so writes fail unless the alias has one index).
    Alias {
        indices: Vec<String>,
        write_index: Option<String>,
    },
    /// A concrete index of that name.
    Index,
    /// Neither.
    Missing,
}

/// One index behind an alias as `GET /<alias>` describes it: whether it takes the writes and
/// the two settings `lookout status` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFacts {
    pub name: String,
    /// Writes through the alias go to this index (`is_write_index`, or the alias's only index).
    pub is_write_index: bool,
    /// `index.lifecycle.name`: the ILM policy that manages the index, if any.
    pub lifecycle: Option<String>,
    /// `index.creation_date`.
    pub created: Option<DateTime<Utc>>,
}

/// What a name is, with the facts of each index behind it when it is an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameFacts {
    /// An alias over these indices (sorted by name).
    Alias(Vec<IndexFacts>),
    /// A concrete index of that name.
    Index,
    /// Neither.
    Missing,
}

/// What a rollover request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollover {
    /// A new write index was created (`new_index`), the old one stays readable.
    RolledOver {
        old_index: String,
        new_index: String,
    },
    /// No condition was met: nothing changed.
    NotNeeded,
    /// The server has no `_rollover` API (no handler for the URL).
    Unsupported,
}

/// Whether an error answer says that the server has no such API ("no handler found for uri"):
/// 400, 404 or 405 with that text, or without an Elasticsearch error object at all.
fn no_handler(status: u16, body: &Value) -> bool {
    if !matches!(status, 400 | 404 | 405) {
        return false;
    }
    let text = body.to_string();
    text.contains("no handler found") || text.contains("unrecognized parameter")
}

impl Client {
    /// What `name` is: an alias (with its indices and write index), a concrete index, or
    /// nothing; [`Client::describe_name`]'s one request, without the settings.
    pub async fn resolve_name(&self, name: &str) -> Result<IndexName, EsError> {
        Ok(match self.describe_name(name).await? {
            NameFacts::Alias(indices) => IndexName::Alias {
                write_index: (indices.iter())
                    .find(|index| index.is_write_index)
                    .map(|index| index.name.clone()),
                indices: indices.into_iter().map(|index| index.name).collect(),
            },
            NameFacts::Index => IndexName::Index,
            NameFacts::Missing => IndexName::Missing,
        })
    }

    /// What `name` is and, when an alias, each index behind it with its write flag, ILM policy
    /// and creation date: one request (`GET /<name>` filtered to aliases and two settings).
    pub async fn describe_name(&self, name: &str) -> Result<NameFacts, EsError> {
        let op = "describe alias";
        let path = format!("/{}", encode_path_segment(name));
        let request = Request::new(op, name, Method::Get, path).query(
            "filter_path",
            "*.aliases,*.settings.index.lifecycle.name,*.settings.index.creation_date",
        );
        let reply = self.send(request).await?;
        if reply.status == 404 {
            return Ok(NameFacts::Missing);
        }
        let body = reply.ok(op, name)?;
        Ok(name_facts(name, &body))
    }

    /// The ILM state of `index` (`GET /<index>/_ilm/explain`: its entry, with `managed`,
    /// `policy`, `phase`, `action`, `step`, `failed_step`, `step_info`); `None` when the server
    /// has no ILM API.
    pub async fn ilm_explain(&self, index: &str) -> Result<Option<Value>, EsError> {
        let op = "explain ILM";
        let path = format!("/{}/_ilm/explain", encode_path_segment(index));
        let reply = self
            .send(Request::new(op, index, Method::Get, path))
            .await?;
        if no_handler(reply.status, &reply.body) {
            return Ok(None);
        }
        let body = reply.ok(op, index)?;
        Ok(Some(body["indices"][index].clone()))
    }

    /// Creates an index with `body` (settings, mappings, aliases); `false` when it exists
    /// already (another instance, or `lookout setup`, was first).
    pub async fn create_index(&self, name: &str, body: &Value) -> Result<bool, EsError> {
        let op = "create index";
        let path = format!("/{}", encode_path_segment(name));
        let request = Request::new(op, name, Method::Put, path).json(body.clone());
        let reply = self.send(request).await?;
        if reply.status == 400 && reply.body.to_string().contains("already_exists") {
            return Ok(false);
        }
        reply.ok(op, name).map(|_| true)
    }

    /// `POST /<alias>/_rollover` with `conditions` (`max_age`, `max_size`, `max_docs`): the
    /// server creates the next index (`<name>-000002`, ...) and moves the write index to it
    /// when one condition is met.
    pub async fn rollover(&self, alias: &str, conditions: &Value) -> Result<Rollover, EsError> {
        let op = "roll over";
        let path = format!("/{}/_rollover", encode_path_segment(alias));
        let body = serde_json::json!({"conditions": conditions});
        let reply = self
            .send(Request::new(op, alias, Method::Post, path).json(body))
            .await?;
        if no_handler(reply.status, &reply.body) {
            return Ok(Rollover::Unsupported);
        }
        let body = reply.ok(op, alias)?;
        if body["rolled_over"] != Value::Bool(true) {
            return Ok(Rollover::NotNeeded);
        }
        let text = |key: &str| body[key].as_str().unwrap_or_default().to_string();
        Ok(Rollover::RolledOver {
            old_index: text("old_index"),
            new_index: text("new_index"),
        })
    }

    /// Installs (or replaces) an ILM policy; `false` when the server has no ILM API
    /// (OpenSearch, emulators).
    pub async fn put_ilm_policy(&self, name: &str, body: &Value) -> Result<bool, EsError> {
        let op = "put ILM policy";
        let path = format!("/_ilm/policy/{}", encode_path_segment(name));
        let reply = self
            .send(Request::new(op, CLUSTER, Method::Put, path).json(body.clone()))
            .await?;
        if no_handler(reply.status, &reply.body) {
            return Ok(false);
        }
        reply.ok(op, name).map(|_| true)
    }

    /// The value of one setting of `index` (`index.lifecycle.name`), `None` when unset.
    pub async fn index_setting(&self, index: &str, name: &str) -> Result<Option<String>, EsError> {
        let op = "get index settings";
        let path = format!("/{}/_settings", encode_path_segment(index));
        let request = Request::new(op, index, Method::Get, path).query("flat_settings", "true");
        let body = self.send_ok(request).await?;
        let settings = &body[index]["settings"];
        let mut value = &settings[name];
        if value.is_null() {
            // A server that ignores `flat_settings` nests them.
            value = name.split('.').fold(settings, |node, part| &node[part]);
        }
        Ok(value.as_str().map(str::to_string))
    }

    /// The documents and bytes of `index`'s primary shards (`_stats/docs,store`).
    pub async fn index_size(&self, index: &str) -> Result<(u64, u64), EsError> {
        let op = "index stats";
        let path = format!("/{}/_stats/docs,store", encode_path_segment(index));
        let body = self
            .send_ok(Request::new(op, index, Method::Get, path))
            .await?;
        let primaries = &body["_all"]["primaries"];
        let docs = primaries["docs"]["count"].as_u64();
        let bytes = primaries["store"]["size_in_bytes"].as_u64();
        match (docs, bytes) {
            (Some(docs), Some(bytes)) => Ok((docs, bytes)),
            _ => Err(EsError::BadAnswer {
                op,
                index: index.to_string(),
                message: "no _all.primaries docs.count and store.size_in_bytes".to_string(),
            }),
        }
    }

    /// Moves the write index of `alias` from `old` to `new` in one atomic `_aliases` request
    /// (`old` stays behind the alias for reading).
    pub async fn move_write_index(&self, alias: &str, old: &str, new: &str) -> Result<(), EsError> {
        let op = "move write index";
        let body = serde_json::json!({"actions": [
            {"add": {"index": old, "alias": alias, "is_write_index": false}},
            {"add": {"index": new, "alias": alias, "is_write_index": true}},
        ]});
        let request = Request::new(op, alias, Method::Post, "/_aliases".to_string()).json(body);
        self.send_ok(request).await.map(|_| ())
    }

    /// Deletes the documents of `index` that `query` selects (`_delete_by_query`, conflicts
    /// counted, not fatal; refreshed after); returns how many were deleted. A missing index
    /// deletes nothing.
    pub async fn delete_by_query(&self, index: &str, query: Value) -> Result<u64, EsError> {
        let op = "delete by query";
        let path = format!("/{}/_delete_by_query", encode_path_segment(index));
        let request = Request::new(op, index, Method::Post, path)
            .query("conflicts", "proceed")
            .query("refresh", "true")
            .query("ignore_unavailable", "true")
            .query("allow_no_indices", "true")
            .json(serde_json::json!({"query": query}));
        let body = self.send_ok(request).await?;
        Ok(body["deleted"].as_u64().unwrap_or(0))
    }
}

/// [`NameFacts`] from the answer of `GET /<name>` (settings nested, or flat from a server that
/// flattens them).
fn name_facts(name: &str, body: &Value) -> NameFacts {
    let entries = body.as_object().into_iter().flatten();
    let mut indices: Vec<IndexFacts> = Vec::new();
    for (index, entry) in entries {
        if index == name {
            return NameFacts::Index;
        }
        let alias = &entry["aliases"][name];
        let settings = &entry["settings"];
        let setting = |dotted: &str| {
            let nested = dotted.split('.').fold(settings, |node, part| &node[part]);
            let value = if nested.is_null() {
                &settings[dotted]
            } else {
                nested
            };
            value.as_str().map(str::to_string)
        };
        indices.push(IndexFacts {
            name: index.clone(),
            is_write_index: alias["is_write_index"] == Value::Bool(true),
            lifecycle: setting("index.lifecycle.name"),
            created: setting("index.creation_date")
                .and_then(|millis| millis.parse::<i64>().ok())
                .and_then(DateTime::from_timestamp_millis),
        });
    }
    if indices.is_empty() {
        return NameFacts::Missing;
    }
    indices.sort_by(|a, b| a.name.cmp(&b.name));
    if let [only] = indices.as_mut_slice() {
        only.is_write_index = true;
    }
    NameFacts::Alias(indices)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_alias_is_described_by_its_indices_and_a_concrete_index_by_its_name() {
        let answer = json!({
            "a-000002": {"aliases": {"a": {"is_write_index": true}},
                "settings": {"index": {"creation_date": "1700000000000",
                    "lifecycle": {"name": "a-policy"}}}},
            "a-000001": {"aliases": {"a": {"is_write_index": false}},
                "settings": {"index.creation_date": "1600000000000"}},
        });
        let NameFacts::Alias(indices) = name_facts("a", &answer) else {
            panic!("an alias");
        };
        let names: Vec<&str> = indices.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a-000001", "a-000002"]);
        assert!(!indices[0].is_write_index && indices[1].is_write_index);
        assert_eq!(indices[1].lifecycle.as_deref(), Some("a-policy"));
        assert_eq!(indices[0].lifecycle, None);
        assert_eq!(
            indices[0].created,
            DateTime::from_timestamp_millis(1_600_000_000_000)
        );
        let only = json!({"a-000001": {"aliases": {"a": {}}}});
        let NameFacts::Alias(indices) = name_facts("a", &only) else {
            panic!("an alias");
        };
        assert!(
            indices[0].is_write_index,
            "an alias's only index takes the writes"
        );
        assert_eq!(
            name_facts("a", &json!({"a": {"settings": {}}})),
            NameFacts::Index
        );
        assert_eq!(name_facts("a", &json!({})), NameFacts::Missing);
    }

    #[test]
    fn a_missing_api_is_told_from_a_refused_request() {
        let missing = json!({"error": "no handler found for uri [/a/_rollover] and method [POST]"});
        assert!(no_handler(400, &missing));
        assert!(no_handler(405, &missing));
        let refused = json!({"error": {"type": "illegal_argument_exception", "reason": "bad"}});
        assert!(!no_handler(400, &refused));
        assert!(!no_handler(403, &missing));
    }
}
