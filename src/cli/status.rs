//! `lookout status`: one screen on the health of an installation: is the server reachable
//! (distribution, version), are lookout's index templates installed, how many documents its
//! indices hold, how many rules load, and the executions of the last hour by status. Exit
//! status 0 when the server answers, 1 when it does not.

use super::common::{self, GlobalArgs};
use chrono::{DateTime, TimeDelta, Utc};
use lookout::Client;
use lookout::Config;
use serde_json::{Value, json};
use std::process::ExitCode;

/// The stretch of recent time whose executions are summarised.
pub const RECENT: TimeDelta = TimeDelta::hours(1);
/// Exit status when the server cannot be reached.
const EXIT_UNREACHABLE: u8 = 1;
/// The three statuses an execution ends with, in the order they are printed.
const STATUSES: [&str; 3] = ["succeeded", "partial failure", "failed"];

/// Flags of `lookout status`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = common::load(global)?;
    common::runtime()?.block_on(status(&config, Utc::now()))
}

async fn status(config: &Config, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let client = common::client(config)?;
    let info = match client.server_info().await {
        Ok(info) => info,
        Err(error) => {
            println!(
                "server:      unreachable: {}",
                lookout::printable(&error.to_string())
            );
            return Ok(ExitCode::from(EXIT_UNREACHABLE));
        }
    };
    println!(
        "server:      reachable, {:?} {} at {}",
        info.distribution,
        info.version,
        client.endpoint()
    );
    for (name, _) in super::setup::templates(config) {
        let installed = client.index_template_exists(&name).await?;
        let word = if installed {
            "installed"
        } else {
            "missing (run lookout setup)"
        };
        println!("template:    {name}: {word}");
    }
    let alerts_pattern = format!("{}*", config.alerts.index);
    for index in [
        &alerts_pattern,
        &config.engine.state_index,
        &config.engine.executions_index,
    ] {
        let count = document_count(&client, index).await?;
        println!("index:       {index}: {count} documents");
    }
    print_rules(config);
    print_instances(&client, config, now).await?;
    let answer = client
        .search_raw(
            &config.engine.executions_index,
            recent_executions_query(now),
        )
        .await?;
    let counts = status_counts(&answer);
    let summary: Vec<String> = counts
        .iter()
        .map(|(status, n)| format!("{status} {n}"))
        .collect();
    println!("executions:  last hour: {}", summary.join(", "));
    let store = lookout::StateStore::for_config(client.clone(), config);
    let letters = store.dead_letters(None).await?;
    match letters.first() {
        None => println!("dead letters: none"),
        Some(first) => println!(
            "dead letters: {} alerts refused by the alerts index (first: rule {}, event {}/{}: HTTP {}: {}); `lookout backfill --dead-letters` retries them",
            letters.len(),
            lookout::printable(&first.rule_id),
            lookout::printable(first.event_index.as_deref().unwrap_or("?")),
            lookout::printable(first.event_id.as_deref().unwrap_or("?")),
            first.status,
            lookout::printable(&first.error),
        ),
    }
    super::notify::print_status(&client, config).await?;
    Ok(ExitCode::SUCCESS)
}

fn print_rules(config: &Config) {
    let catalog = lookout::ExceptionCatalog::load(&config.rules.exception_folders);
    let report = lookout::load_paths_with(&config.rules.folders, &catalog);
    let folders: Vec<String> = config
        .rules
        .folders
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    let by_type: Vec<String> = super::validate::by_type(&report.summaries())
        .iter()
        .map(|(rule_type, n)| format!("{rule_type} {n}"))
        .collect();
    println!(
        "rules:       {} loaded from {} ({}); {} errors, {} warnings (lookout validate shows them)",
        report.rules.len() + report.not_runnable.len(),
        folders.join(", "),
        if by_type.is_empty() {
            "none".to_string()
        } else {
            by_type.join(", ")
        },
        report.errors.len(),
        report.warnings.len()
    );
}

/// How many rule ids an instance's line lists before "...".
const LISTED_RULES: usize = 10;

/// The live instances sharing the rules, their rules and when their leases expire.
async fn print_instances(
    client: &Client,
    config: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if !config.leases.enabled {
        println!(
            "instances:   leases off (leases.enabled = false): every instance runs every rule"
        );
        return Ok(());
    }
    let place = lookout::LeasePlace::for_config(client.clone(), config);
    let overview = lookout::lease_overview(&place, now).await?;
    let live: Vec<_> = overview.instances.iter().filter(|i| i.live).collect();
    println!(
        "instances:   {} live (leases in {}, period {}s)",
        live.len(),
        config.leases.index,
        config.leases.period.as_secs()
    );
    for instance in live {
        let mut rules: Vec<String> = (instance.rules.iter().take(LISTED_RULES))
            .map(|r| lookout::printable(r).into_owned())
            .collect();
        if instance.rules.len() > LISTED_RULES {
            rules.push("...".to_string());
        }
        println!(
            "  {}: {} rules, leases expire {} (in {}s): {}",
            lookout::printable(&instance.name),
            instance.rules.len(),
            instance
                .expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            (instance.expires_at - now).num_seconds(),
            rules.join(", ")
        );
    }
    if !overview.unowned.is_empty() {
        println!(
            "  unowned:    {} rules (no live instance holds them; they move at the next lease cycle)",
            overview.unowned.len()
        );
    }
    Ok(())
}

async fn document_count(client: &Client, index: &str) -> anyhow::Result<u64> {
    let answer = client
        .search_raw(index, json!({"size": 0, "track_total_hits": true}))
        .await?;
    Ok(total_hits(&answer))
}

/// `hits.total.value` (or the old plain number form).
fn total_hits(answer: &Value) -> u64 {
    let total = &answer["hits"]["total"];
    total["value"]
        .as_u64()
        .or_else(|| total.as_u64())
        .unwrap_or(0)
}

/// Executions started in the last [`RECENT`] before `now`, counted by status.
pub fn recent_executions_query(now: DateTime<Utc>) -> Value {
    let since = now - RECENT;
    json!({
        "size": 0,
        "query": {"bool": {"filter": [
            {"term": {"event.action": "execute-rule"}},
            {"range": {"@timestamp": {"gte": since.to_rfc3339(), "lte": now.to_rfc3339()}}},
        ]}},
        "aggs": {"by_status": {"terms": {"field": "lookout.execution.status", "size": STATUSES.len()}}},
    })
}

/// The count of each status (0 when absent) from the aggregation answer.
pub fn status_counts(answer: &Value) -> Vec<(&'static str, u64)> {
    let buckets = answer["aggregations"]["by_status"]["buckets"].as_array();
    STATUSES
        .iter()
        .map(|status| {
            let count = buckets
                .into_iter()
                .flatten()
                .find(|bucket| bucket["key"] == *status)
                .and_then(|bucket| bucket["doc_count"].as_u64())
                .unwrap_or(0);
            (*status, count)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recent_query_covers_the_last_hour_of_executions() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .expect("valid")
            .to_utc();
        let query = recent_executions_query(now);
        let range = &query["query"]["bool"]["filter"][1]["range"]["@timestamp"];
        assert_eq!(range["gte"], "2026-01-01T11:00:00+00:00");
        assert_eq!(range["lte"], "2026-01-01T12:00:00+00:00");
        assert_eq!(
            query["query"]["bool"]["filter"][0]["term"]["event.action"],
            "execute-rule"
        );
    }

    #[test]
    fn status_counts_read_buckets_and_fill_missing_statuses_with_zero() {
        let answer = json!({"aggregations": {"by_status": {"buckets": [
            {"key": "failed", "doc_count": 2}, {"key": "succeeded", "doc_count": 9},
        ]}}});
        assert_eq!(
            status_counts(&answer),
            [("succeeded", 9), ("partial failure", 0), ("failed", 2)]
        );
        assert_eq!(
            status_counts(&json!({})),
            [("succeeded", 0), ("partial failure", 0), ("failed", 0)]
        );
    }

    #[test]
    fn totals_are_read_in_both_forms() {
        assert_eq!(
            total_hits(&json!({"hits": {"total": {"value": 5, "relation": "eq"}}})),
            5
        );
        assert_eq!(total_hits(&json!({"hits": {"total": 7}})), 7);
    }
}
