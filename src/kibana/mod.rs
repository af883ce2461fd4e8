//! The Kibana saved objects lookout offers: a data view over the alerts index and one over the
//! execution records, and saved searches with the useful columns: the alerts without the
//! building-block alerts (hidden by default, as Kibana's alerts page hides them), the alerts with
//! them, and the executions. Pure: it builds the objects (and the NDJSON Kibana's import API
//! takes) from the configuration; `lookout setup --kibana` sends them, and
//! `kibana/lookout-saved-objects.ndjson` holds them for the defaults.

use crate::config::Config;
use serde_json::{Value, json};

/// Columns of the alerts saved search: rule, severity, user, action, source IP, reason.
pub const ALERT_COLUMNS: &[&str] = &[
    "kibana.alert.rule.name",
    "kibana.alert.severity",
    "user.name",
    "event.action",
    "source.ip",
    "kibana.alert.reason",
];

/// Columns of the executions saved search: rule, status, alerts, duplicates, durations.
pub const EXECUTION_COLUMNS: &[&str] = &[
    "rule.name",
    "lookout.execution.status",
    "lookout.execution.hits",
    "lookout.execution.alerts_created",
    "lookout.execution.duplicates",
    "lookout.execution.search_ms",
    "lookout.execution.write_ms",
    "lookout.execution.total_ms",
];

/// The query that hides building-block alerts (Kibana marks them with this field).
pub const WITHOUT_BUILDING_BLOCKS: &str = "not kibana.alert.building_block_type: *";

/// The reference name a saved search uses for its data view.
const INDEX_REF: &str = "kibanaSavedObjectMeta.searchSourceJSON.index";

/// The five saved objects (two data views, three saved searches) for this configuration.
pub fn saved_objects(config: &Config) -> Vec<Value> {
    let alerts = &config.alerts.index;
    let executions = &config.engine.executions_index;
    let alerts_view = alerts_data_view_id(alerts);
    let executions_view = format!("lookout-executions-view-{executions}");
    vec![
        data_view(&alerts_view, &format!("{alerts}*"), "lookout alerts"),
        data_view(&executions_view, executions, "lookout rule executions"),
        saved_search(
            &format!("lookout-alerts-search-{alerts}"),
            "lookout alerts",
            &alerts_view,
            ALERT_COLUMNS,
            WITHOUT_BUILDING_BLOCKS,
        ),
        saved_search(
            &format!("lookout-alerts-all-search-{alerts}"),
            "lookout alerts, building blocks included",
            &alerts_view,
            ALERT_COLUMNS,
            "",
        ),
        saved_search(
            &format!("lookout-executions-search-{executions}"),
            "lookout rule executions",
            &executions_view,
            EXECUTION_COLUMNS,
            "event.action: \"execute-rule\"",
        ),
    ]
}

/// The id of the data view over every index of the alerts index `alerts` (links to Discover
/// name it).
pub fn alerts_data_view_id(alerts: &str) -> String {
    format!("lookout-alerts-view-{alerts}")
}

/// The objects as NDJSON, one per line, as the import API and the repository file hold them.
pub fn to_ndjson(objects: &[Value]) -> String {
    let mut text = String::new();
    for object in objects {
        text.push_str(&object.to_string());
        text.push('\n');
    }
    text
}

fn data_view(id: &str, pattern: &str, name: &str) -> Value {
    json!({
        "id": id,
        "type": "index-pattern",
        "attributes": {
            "title": pattern,
            "name": name,
            "timeFieldName": "@timestamp",
        },
        "references": [],
    })
}

fn saved_search(id: &str, title: &str, view_id: &str, columns: &[&str], kql: &str) -> Value {
    let search_source = json!({
        "query": {"query": kql, "language": "kuery"},
        "filter": [],
        "indexRefName": INDEX_REF,
    });
    json!({
        "id": id,
        "type": "search",
        "attributes": {
            "title": title,
            "description": "",
            "columns": columns,
            "sort": [["@timestamp", "desc"]],
            "kibanaSavedObjectMeta": {"searchSourceJSON": search_source.to_string()},
        },
        "references": [{"id": view_id, "name": INDEX_REF, "type": "index-pattern"}],
    })
}

#[cfg(test)]
mod tests;
