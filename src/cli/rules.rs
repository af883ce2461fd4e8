//! `lookout rules`: one line per rule: its schedule, last execution, status, alerts written and
//! next run, from the rule files and the state lookout keeps in the server. Rules that are not
//! scheduled are listed after the table with the reason. Building-block rules (whose alerts
//! Kibana hides by default) are left out unless `--building-blocks` asks for them. When the
//! server does not answer, the rules and schedules are still listed, the state columns read
//! "unavailable", and the exit status is 1. `--format json` prints one JSON document instead.

use super::common::{self, GlobalArgs};
use super::output::{self, Format};
use super::table;
use chrono::{DateTime, SecondsFormat, Utc};
use lookout::Cadence;
use lookout::Config;
use lookout::Rule;
use lookout::RuleSet;
use lookout::format_duration;
use lookout::{ExecutionStatus, RuleState, StateStore};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::ExitCode;

/// The most rules whose alert counts one aggregation returns.
pub const MAX_RULES_COUNTED: usize = 10_000;

/// Flags of `lookout rules`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// List building-block rules too (hidden by default, as Kibana hides their alerts).
    #[arg(long)]
    pub building_blocks: bool,
    /// Output format: a table, or one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = common::load(global)?;
    let mut set = lookout::load_rules(&config.rules);
    let hidden = hide_building_blocks(&mut set, args.building_blocks);
    let known = common::runtime()?.block_on(server_state(&config, set.runnable.len()));
    let now = Utc::now();
    match args.format {
        Format::Text => print_text(&set, &known, hidden, now),
        Format::Json => output::print_json(&rules_json(&set, &known, hidden, now))?,
    }
    if let Err(error) = &known {
        eprintln!(
            "lookout: the rules' state is unavailable: {}",
            lookout::printable(&format!("{error:#}"))
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// What the server knows of the rules: state per rule id, and alerts per rule id.
pub struct Known {
    pub states: HashMap<String, RuleState>,
    pub alerts: HashMap<String, u64>,
}

async fn server_state(config: &Config, rules: usize) -> anyhow::Result<Known> {
    let client = common::client(config)?;
    let store = StateStore::for_config(client.clone(), config);
    let states: HashMap<String, RuleState> = store
        .load_all()
        .await?
        .into_iter()
        .map(|state| (state.rule_id.clone(), state))
        .collect();
    let answer = client
        .search_raw(
            &format!("{}*", config.alerts.index),
            alert_counts_query(rules),
        )
        .await?;
    Ok(Known {
        states,
        alerts: alert_counts(&answer),
    })
}

/// The table (state columns "unavailable" when the server did not answer), then the rules not
/// scheduled.
fn print_text(set: &RuleSet, known: &anyhow::Result<Known>, hidden: usize, now: DateTime<Utc>) {
    let headers: Vec<String> = [
        "RULE ID",
        "NAME",
        "SCHEDULE",
        "LAST EXECUTION",
        "STATUS",
        "ALERTS",
        "NEXT RUN",
    ]
    .iter()
    .map(|h| h.to_string())
    .collect();
    let rows: Vec<Vec<String>> = set
        .runnable
        .iter()
        .map(|rule| match known {
            Ok(known) => row(
                rule,
                known.states.get(&rule.rule_id),
                known.alerts.get(&rule.rule_id).copied().unwrap_or(0),
                now,
            ),
            Err(_) => unavailable_row(rule),
        })
        .collect();
    print!("{}", table::render(&headers, &rows));
    for line in set.skipped.iter().chain(&set.errors) {
        println!("not scheduled: {}", lookout::printable(line));
    }
    if hidden > 0 {
        println!("{hidden} building-block rules not shown (--building-blocks lists them)");
    }
}

/// One JSON document: each rule with its schedule and state (`null` when unknown), the rules not
/// scheduled with the reason, and how many building-block rules were left out.
pub fn rules_json(
    set: &RuleSet,
    known: &anyhow::Result<Known>,
    hidden: usize,
    now: DateTime<Utc>,
) -> Value {
    let rules: Vec<Value> = set
        .runnable
        .iter()
        .map(|rule| {
            let cadence = rule.schedule.cadence();
            let mut entry = json!({
                "rule_id": rule.rule_id,
                "name": rule.name,
                "type": rule.rule_type().as_str(),
                "path": rule.path.display().to_string(),
                "schedule": describe(&cadence),
            });
            if let Ok(known) = known {
                let state = known.states.get(&rule.rule_id);
                let last = state.and_then(|s| s.last_execution_at);
                entry["last_execution_at"] = json!(last);
                entry["last_status"] = json!(state.and_then(|s| s.last_status));
                entry["last_error"] = json!(state.and_then(|s| s.last_error.clone()));
                entry["alerts"] = json!(known.alerts.get(&rule.rule_id).copied().unwrap_or(0));
                entry["next_run"] = json!(next_run(&cadence, state, now));
            }
            entry
        })
        .collect();
    let not_scheduled: Vec<&String> = set.skipped.iter().chain(&set.errors).collect();
    json!({
        "rules": rules,
        "state_available": known.is_ok(),
        "not_scheduled": not_scheduled,
        "building_blocks_hidden": hidden,
    })
}

/// A row from the rule file alone, when the server's state cannot be read.
fn unavailable_row(rule: &Rule) -> Vec<String> {
    let unavailable = || "unavailable".to_string();
    vec![
        rule.rule_id.clone(),
        rule.name.clone(),
        describe(&rule.schedule.cadence()),
        unavailable(),
        unavailable(),
        unavailable(),
        unavailable(),
    ]
}

/// Leaves building-block rules out unless `include`; returns how many were left out.
pub fn hide_building_blocks(set: &mut RuleSet, include: bool) -> usize {
    if include {
        return 0;
    }
    let before = set.runnable.len();
    set.runnable
        .retain(|rule| rule.meta.details.building_block_type.is_none());
    before - set.runnable.len()
}

/// Alerts per rule id across the alerts indices.
pub fn alert_counts_query(rules: usize) -> Value {
    json!({
        "size": 0,
        "aggs": {"by_rule": {"terms": {"field": "kibana.alert.rule.rule_id", "size": rules.clamp(1, MAX_RULES_COUNTED)}}},
    })
}

/// `rule_id -> alerts` from the aggregation answer.
pub fn alert_counts(answer: &Value) -> HashMap<String, u64> {
    answer["aggregations"]["by_rule"]["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|bucket| {
            Some((
                bucket["key"].as_str()?.to_string(),
                bucket["doc_count"].as_u64()?,
            ))
        })
        .collect()
}

/// One table row.
pub fn row(rule: &Rule, state: Option<&RuleState>, alerts: u64, now: DateTime<Utc>) -> Vec<String> {
    let cadence = rule.schedule.cadence();
    let last = state.and_then(|s| s.last_execution_at);
    vec![
        rule.rule_id.clone(),
        rule.name.clone(),
        describe(&cadence),
        last.map_or_else(|| "never".to_string(), time),
        state
            .and_then(|s| s.last_status)
            .map_or("-", status_word)
            .to_string(),
        alerts.to_string(),
        next_run(&cadence, state, now),
    ]
}

fn describe(cadence: &Cadence) -> String {
    match cadence {
        Cadence::Every(interval) => format!("every {}", format_duration(*interval)),
        Cadence::Cron(cron) => format!("cron {cron}"),
    }
}

fn status_word(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::Succeeded => "succeeded",
        ExecutionStatus::PartialFailure => "partial failure",
        ExecutionStatus::Failed => "failed",
        ExecutionStatus::Superseded => "superseded",
    }
}

/// When the rule runs next: for a rule that never ran, or is due as the daemon decides at start
/// ([`lookout::is_due`]: its coverage older than one interval), within the start ramp
/// (`lookout run` runs due rules within seconds of start, then each on its staggered cadence);
/// otherwise one interval after its last execution, or the next cron instant.
pub fn next_run(cadence: &Cadence, state: Option<&RuleState>, now: DateTime<Utc>) -> String {
    let last = state.and_then(|s| s.last_execution_at);
    let next = match cadence {
        Cadence::Cron(cron) => cron.next_after(now),
        Cadence::Every(interval) => {
            if lookout::is_due(state.and_then(|s| s.covered_to), *interval, now) {
                return match last {
                    None => within_ramp(),
                    Some(_) => format!("due: {}", within_ramp()),
                };
            }
            last.map(|last| last + *interval)
        }
    };
    next.map_or_else(|| "never".to_string(), time)
}

fn within_ramp() -> String {
    format!("within {}s of start", lookout::START_RAMP.num_seconds())
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("valid").to_utc()
    }

    #[test]
    fn the_next_run_is_one_interval_after_the_last_or_within_the_start_ramp() {
        let every = Cadence::Every(TimeDelta::minutes(5));
        let now = at("2026-01-01T12:02:00Z");
        let ran = |last: &str, covered: &str| RuleState {
            last_execution_at: Some(at(last)),
            covered_to: Some(at(covered)),
            coverage_from: None,
            ..RuleState::new("r")
        };
        let recent = ran("2026-01-01T12:00:00Z", "2026-01-01T12:00:00Z");
        assert_eq!(next_run(&every, Some(&recent), now), "2026-01-01T12:05:00Z");
        let old = ran("2026-01-01T11:00:00Z", "2026-01-01T11:00:00Z");
        assert_eq!(
            next_run(&every, Some(&old), now),
            "due: within 10s of start"
        );
        // The last execution failed to cover its window: the daemon runs it in the start ramp.
        let uncovered = ran("2026-01-01T12:00:00Z", "2026-01-01T11:00:00Z");
        assert_eq!(
            next_run(&every, Some(&uncovered), now),
            "due: within 10s of start"
        );
        assert_eq!(next_run(&every, None, now), "within 10s of start");
        let cron = Cadence::Cron(lookout::Cron::parse("0 * * * *").expect("a cron"));
        assert_eq!(next_run(&cron, None, now), "2026-01-01T13:00:00Z");
    }

    #[test]
    fn a_rule_row_shows_schedule_state_and_alerts() {
        let rule = crate::cli::test_rule("r1");
        let state = RuleState {
            last_execution_at: Some(at("2026-01-01T12:00:00Z")),
            covered_to: Some(at("2026-01-01T12:00:00Z")),
            coverage_from: None,
            last_status: Some(ExecutionStatus::PartialFailure),
            ..RuleState::new("r1")
        };
        let row = row(&rule, Some(&state), 7, at("2026-01-01T12:01:00Z"));
        assert_eq!(row[0], "r1");
        assert_eq!(row[2], "every 5m");
        assert_eq!(row[3], "2026-01-01T12:00:00Z");
        assert_eq!(row[4], "partial failure");
        assert_eq!(row[5], "7");
        assert_eq!(row[6], "2026-01-01T12:05:00Z");
    }

    #[test]
    fn building_block_rules_are_hidden_unless_asked_for() {
        let mut block = crate::cli::test_rule("bb");
        block.meta.details.building_block_type = Some("default".into());
        let set = || lookout::RuleSet {
            runnable: vec![crate::cli::test_rule("r"), block.clone()],
            ..lookout::RuleSet::default()
        };
        let mut hidden = set();
        assert_eq!(hide_building_blocks(&mut hidden, false), 1);
        assert_eq!(hidden.runnable.len(), 1);
        assert_eq!(hidden.runnable[0].rule_id, "r");
        let mut shown = set();
        assert_eq!(hide_building_blocks(&mut shown, true), 0);
        assert_eq!(shown.runnable.len(), 2);
    }

    #[test]
    fn alert_counts_are_read_per_rule() {
        let answer =
            json!({"aggregations": {"by_rule": {"buckets": [{"key": "r1", "doc_count": 3}]}}});
        assert_eq!(alert_counts(&answer).get("r1"), Some(&3));
        assert!(alert_counts(&json!({})).is_empty());
    }
}
