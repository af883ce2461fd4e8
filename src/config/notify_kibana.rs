//! Kibana actions and connectors kept as code in detection-rules' TOML formats, read as
//! connectors and routes (`[notify] kibana_files = [...]`): `action_connectors/` files
//! (`[[action_connectors]]` saved objects: `attributes.actionTypeId` `.webhook`, `.slack`,
//! `.teams`, `.pagerduty`, `.email`, `.index` with `attributes.config`) and `actions/` files
//! (`[metadata] rule_id` and `[[actions]]` with the connector `id`, `params` templates and
//! `frequency`). Each action becomes one connector (the Kibana connector with the action's
//! templates) and one route for the rule ids of the file. Exported connectors carry no secrets:
//! those come from `[notify.kibana_secrets."<connector id>"]`.

use super::ConfigError;
use super::notify::{Place, RawConnector, RawRoute, RawSecretValue};
use super::raw::DurationText;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How deep folders of Kibana files are read.
const MAX_DEPTH: usize = 4;
/// The longest id made for an imported connector.
const MAX_ID_CHARS: usize = 48;

/// The secrets of one imported connector.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKibanaSecrets {
    #[serde(default)]
    pub url: RawSecretValue,
    #[serde(default)]
    pub routing_key: RawSecretValue,
    pub username: Option<String>,
    #[serde(default)]
    pub password: RawSecretValue,
}

/// What the Kibana files give.
pub(super) struct Imported {
    pub connectors: Vec<RawConnector>,
    pub routes: Vec<RawRoute>,
    /// The Kibana connector ids the actions use.
    pub used: Vec<String>,
}

/// The connectors and routes of the Kibana files at `paths` (files or folders).
pub(super) fn read(
    paths: &[PathBuf],
    secrets: &BTreeMap<String, RawKibanaSecrets>,
    place: &Place<'_>,
) -> Result<Imported, ConfigError> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, 0, &mut files).map_err(|e| invalid(place, path, e))?;
    }
    let mut kibana_connectors: BTreeMap<String, Value> = BTreeMap::new();
    let mut actions: Vec<(Vec<String>, Value, PathBuf)> = Vec::new();
    for file in &files {
        let text =
            std::fs::read_to_string(file).map_err(|e| invalid(place, file, e.to_string()))?;
        let doc: Value = toml::from_str(&text)
            .map_err(|e| invalid(place, file, format!("not TOML: {}", e.message())))?;
        for connector in doc["action_connectors"].as_array().into_iter().flatten() {
            if let Some(id) = connector["id"].as_str() {
                kibana_connectors.insert(id.to_string(), connector["attributes"].clone());
            }
        }
        let rule_ids = rule_ids(&doc["metadata"]);
        for action in doc["actions"].as_array().into_iter().flatten() {
            actions.push((rule_ids.clone(), action.clone(), file.clone()));
        }
    }
    let mut connectors = Vec::new();
    let mut routes = Vec::new();
    let mut used = Vec::new();
    for (rule_ids, action, file) in actions {
        let Some(id) = action["id"].as_str() else {
            return Err(invalid(
                place,
                &file,
                "an action has no connector `id`".into(),
            ));
        };
        let attributes = kibana_connectors.get(id).ok_or_else(|| {
            invalid(
                place,
                &file,
                format!("action connector {id:?} is in no action_connectors file"),
            )
        })?;
        let own_id = unique_id(attributes["name"].as_str().unwrap_or(id), &connectors);
        let secrets = secrets.get(id).cloned().unwrap_or_default();
        used.push(id.to_string());
        let connector = connector(&own_id, attributes, &action["params"], secrets)
            .map_err(|m| invalid(place, &file, format!("action connector {id:?}: {m}")))?;
        connectors.push(connector);
        routes.push(route(&own_id, rule_ids, &action["frequency"]));
    }
    Ok(Imported {
        connectors,
        routes,
        used,
    })
}

fn invalid(place: &Place<'_>, path: &Path, message: String) -> ConfigError {
    ConfigError::Invalid {
        origin: place.origin.to_string(),
        key: format!("notify.kibana_files ({})", path.display()),
        message,
    }
}

/// The `.toml` files under `path`, in name order.
fn collect(path: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for entry in names {
        if entry.is_dir() && depth < MAX_DEPTH {
            collect(&entry, depth + 1, out)?;
        } else if entry.extension().is_some_and(|e| e == "toml") {
            out.push(entry);
        }
    }
    Ok(())
}

/// `rule_id` (one or a list), or the older `rule_ids`.
fn rule_ids(metadata: &Value) -> Vec<String> {
    let value = if metadata["rule_id"].is_null() {
        &metadata["rule_ids"]
    } else {
        &metadata["rule_id"]
    };
    match value {
        Value::String(one) => vec![one.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// A connector id from the Kibana connector's name, unique among `taken`.
fn unique_id(name: &str, taken: &[RawConnector]) -> String {
    let mut slug: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(MAX_ID_CHARS)
        .collect();
    if slug.trim_matches('-').is_empty() {
        slug = "kibana".to_string();
    }
    let used = |id: &str| taken.iter().any(|c| c.id() == id);
    let mut candidate = slug.clone();
    let mut n = 2;
    while used(&candidate) {
        candidate = format!("{slug}-{n}");
        n += 1;
    }
    candidate
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(String::from)
}

/// The lookout connector for a Kibana connector's attributes and an action's `params`.
fn connector(
    id: &str,
    attributes: &Value,
    params: &Value,
    secrets: RawKibanaSecrets,
) -> Result<RawConnector, String> {
    let config = &attributes["config"];
    let id = id.to_string();
    let kind = attributes["actionTypeId"].as_str().unwrap_or("");
    Ok(match kind {
        ".webhook" => {
            let url = match secrets.url {
                RawSecretValue::Absent => {
                    RawSecretValue::Inline(text(&config["url"]).ok_or("`config.url` is missing")?)
                }
                given => given,
            };
            let headers = config["headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .filter_map(|(k, v)| {
                            Some((k.clone(), RawSecretValue::Inline(v.as_str()?.to_string())))
                        })
                        .collect()
                })
                .unwrap_or_default();
            RawConnector::Webhook {
                id,
                url,
                method: text(&config["method"]),
                headers,
                body: text(&params["body"]),
                mode: None,
                timeout: None,
                max_per_second: None,
            }
        }
        ".slack" => RawConnector::Slack {
            id,
            url: secrets.url,
            message: text(&params["message"]),
            mode: None,
            timeout: None,
            max_per_second: None,
        },
        ".teams" => RawConnector::Teams {
            id,
            url: secrets.url,
            message: text(&params["message"]),
            mode: None,
            timeout: None,
            max_per_second: None,
        },
        ".pagerduty" => RawConnector::PagerDuty {
            id,
            routing_key: secrets.routing_key,
            url: text(&config["apiUrl"]),
            summary: text(&params["summary"]),
            source: text(&params["source"]),
            mode: None,
            timeout: None,
            max_per_second: None,
        },
        ".email" => {
            let to = match &params["to"] {
                Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            };
            RawConnector::Email {
                id,
                host: text(&config["host"]).ok_or("`config.host` is missing")?,
                port: config["port"].as_u64().and_then(|p| u16::try_from(p).ok()),
                security: Some(
                    if config["secure"] == Value::Bool(true) {
                        "tls"
                    } else {
                        "starttls"
                    }
                    .to_string(),
                ),
                username: secrets.username,
                password: secrets.password,
                ca_file: None,
                from: text(&config["from"]).ok_or("`config.from` is missing")?,
                to,
                cc: Vec::new(),
                subject: text(&params["subject"]),
                message: text(&params["message"]),
                mode: None,
                timeout: None,
                max_per_second: None,
            }
        }
        ".index" => RawConnector::Index {
            id,
            index: text(&config["index"]).ok_or("`config.index` is missing")?,
            mode: None,
            max_per_second: None,
        },
        other => {
            return Err(format!(
                "connector type {other:?} is not supported (webhook, slack, teams, pagerduty, email, index are)"
            ));
        }
    })
}

/// The route of one action: its connector, the file's rules, the action's frequency (Kibana's
/// security rule actions are summaries unless `frequency.summary` is false).
fn route(connector: &str, rule_ids: Vec<String>, frequency: &Value) -> RawRoute {
    let summary = frequency["summary"].as_bool().unwrap_or(true);
    RawRoute {
        connectors: vec![connector.to_string()],
        mode: Some(if summary { "summary" } else { "per_alert" }.to_string()),
        throttle: frequency["throttle"]
            .as_str()
            .and_then(|t| DurationText::parse(t).ok()),
        rule_id: rule_ids,
        ..RawRoute::default()
    }
}
