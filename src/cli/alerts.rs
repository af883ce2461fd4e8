//! `lookout alerts`: the latest alerts lookout wrote (newest first), filtered by rule, time range
//! (the alert's `@timestamp`, when it was written) and severity, as a table (time, rule,
//! severity, the event's time and key fields) or one JSON document. Reads the alerts indices
//! (`alerts.index*`); writes nothing.

use super::common::{self, GlobalArgs};
use super::output::{self, Format};
use super::table;
use super::test::{field, parse_window};
use chrono::Utc;
use lookout::Severity;
use serde_json::{Value, json};
use std::process::ExitCode;

/// The most alerts one command prints.
pub const MAX_ALERTS: usize = 10_000;
/// The event fields shown (those at least one alert has), after time, rule and severity.
pub const KEY_FIELDS: &[&str] = &[
    "event.action",
    "event.outcome",
    "user.name",
    "source.ip",
    "host.name",
    "cloud.account.id",
];

/// Flags of `lookout alerts`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only alerts of these rules (repeat for several).
    #[arg(long = "rule", value_name = "RULE_ID")]
    pub rule_ids: Vec<String>,
    /// Only alerts written at or after this time: a timestamp or date math (now-24h).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Only alerts written at or before this time (with --from; default now).
    #[arg(long, value_name = "TIME", requires = "from")]
    pub to: Option<String>,
    /// Only alerts of this severity or higher.
    #[arg(long, value_name = "LEVEL", value_parser = ["low", "medium", "high", "critical"])]
    pub severity: Option<String>,
    /// How many alerts to print, newest first.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=MAX_ALERTS as u64))]
    pub limit: u64,
    /// Output format: a table, or one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = common::load(global)?;
    let query = alerts_query(&args)?;
    let pattern = format!("{}*", config.alerts.index);
    let answer = common::runtime()?.block_on(async {
        let client = common::client(&config)?;
        anyhow::Ok(client.search_raw(&pattern, query).await?)
    })?;
    let hits = answer["hits"]["hits"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let alerts: Vec<Value> = hits.iter().map(summary).collect();
    match args.format {
        Format::Json => output::print_json(&json!({"alerts": alerts}))?,
        Format::Text => print_table(&alerts),
    }
    Ok(ExitCode::SUCCESS)
}

/// The search: the filters asked for, newest first.
pub fn alerts_query(args: &Args) -> anyhow::Result<Value> {
    let mut filters = Vec::new();
    if !args.rule_ids.is_empty() {
        filters.push(json!({"terms": {"kibana.alert.rule.rule_id": args.rule_ids}}));
    }
    if let Some(from) = &args.from {
        let to = args.to.as_deref().unwrap_or("now");
        let window = parse_window(from, to, Utc::now())?;
        filters.push(json!({"range": {"@timestamp": {
            "gte": window.from.to_rfc3339(), "lte": window.to.to_rfc3339(),
        }}}));
    }
    if let Some(level) = args.severity.as_deref().and_then(Severity::parse) {
        let levels: Vec<&str> = [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .filter(|severity| *severity >= level)
        .map(Severity::as_str)
        .collect();
        filters.push(json!({"terms": {"kibana.alert.severity": levels}}));
    }
    Ok(json!({
        "size": args.limit,
        "sort": [{"@timestamp": {"order": "desc", "unmapped_type": "date"}}],
        "query": {"bool": {"filter": filters}},
    }))
}

/// One alert as a script reads it: where it is, when, which rule, how severe, why, and the
/// event's key fields that it has.
pub fn summary(hit: &Value) -> Value {
    let source = &hit["_source"];
    let get = |name: &str| field(source, name).cloned().unwrap_or(Value::Null);
    let fields: serde_json::Map<String, Value> = KEY_FIELDS
        .iter()
        .filter_map(|name| field(source, name).map(|v| (name.to_string(), v.clone())))
        .collect();
    json!({
        "_index": hit["_index"],
        "_id": hit["_id"],
        "time": get("@timestamp"),
        "rule_id": get("kibana.alert.rule.rule_id"),
        "rule_name": get("kibana.alert.rule.name"),
        "severity": get("kibana.alert.severity"),
        "risk_score": get("kibana.alert.risk_score"),
        "original_time": get("kibana.alert.original_time"),
        "reason": get("kibana.alert.reason"),
        "fields": fields,
    })
}

fn print_table(alerts: &[Value]) {
    let present: Vec<&str> = KEY_FIELDS
        .iter()
        .copied()
        .filter(|name| alerts.iter().any(|a| !a["fields"][*name].is_null()))
        .collect();
    let headers: Vec<String> = ["TIME", "RULE", "SEVERITY", "EVENT TIME"]
        .into_iter()
        .chain(present.iter().copied())
        .map(str::to_string)
        .collect();
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|alert| {
            ["time", "rule_name", "severity", "original_time"]
                .iter()
                .map(|key| text(&alert[*key]))
                .chain(present.iter().map(|name| text(&alert["fields"][*name])))
                .collect()
        })
        .collect();
    print!("{}", table::render(&headers, &rows));
    println!("{} alerts (newest first)", alerts.len());
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(line: &[&str]) -> Args {
        #[derive(Debug, Parser)]
        struct Line {
            #[command(flatten)]
            args: Args,
        }
        let argv = std::iter::once("alerts").chain(line.iter().copied());
        Line::try_parse_from(argv).expect("valid flags").args
    }

    #[test]
    fn filters_are_by_rule_time_and_at_least_the_severity() {
        let query = alerts_query(&args(&[
            "--rule",
            "r1",
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            "2026-01-02T00:00:00Z",
            "--severity",
            "high",
            "--limit",
            "5",
        ]))
        .expect("a query");
        let filters = &query["query"]["bool"]["filter"];
        assert_eq!(
            filters[0]["terms"]["kibana.alert.rule.rule_id"],
            json!(["r1"])
        );
        assert_eq!(
            filters[1]["range"]["@timestamp"]["gte"],
            "2026-01-01T00:00:00+00:00"
        );
        assert_eq!(
            filters[2]["terms"]["kibana.alert.severity"],
            json!(["high", "critical"])
        );
        assert_eq!(query["size"], 5);
        assert_eq!(query["sort"][0]["@timestamp"]["order"], "desc");
    }

    #[test]
    fn an_alert_summary_reads_dotted_and_nested_fields() {
        let hit = json!({"_index": "a", "_id": "1", "_source": {
            "@timestamp": "2026-01-01T00:30:00Z",
            "kibana.alert.rule.name": "R",
            "kibana.alert.severity": "low",
            "event": {"action": "AddUserToGroup"},
        }});
        let alert = summary(&hit);
        assert_eq!(alert["rule_name"], "R");
        assert_eq!(alert["fields"]["event.action"], "AddUserToGroup");
        assert!(alert["fields"].get("user.name").is_none());
    }
}
