//! `lookout status`: one screen on the health of an installation: is the server reachable
//! (distribution, version), are lookout's index templates installed, how many documents its
//! indices hold, where alerts are written now and who rolls that index over, how many rules
//! load, and the executions of the last hour by status. Exit
//! status 0 when the server answers, 1 when it does not. `--format json` prints the same as one
//! JSON document.

use super::common::{self, GlobalArgs};
use super::output::{self, Format};
use chrono::{DateTime, TimeDelta, Utc};
use lookout::Client;
use lookout::Config;
use serde_json::{Value, json};
use std::process::ExitCode;

/// The stretch of recent time whose executions are summarised.
pub const RECENT: TimeDelta = TimeDelta::hours(1);
/// Exit status when the server cannot be reached.
const EXIT_UNREACHABLE: u8 = 1;
/// A last housekeeping round older than this is flagged: the daemon does one every hour.
const HOUSEKEEPING_OVERDUE: TimeDelta = TimeDelta::hours(2);
/// The three statuses an execution ends with, in the order they are printed.
const STATUSES: [&str; 3] = ["succeeded", "partial failure", "failed"];

/// Flags of `lookout status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format: lines for people, or one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = common::load(global)?;
    let report = common::runtime()?.block_on(status(&config, Utc::now()))?;
    match args.format {
        Format::Text => print!("{}", text(&report)),
        Format::Json => output::print_json(&report)?,
    }
    Ok(if report["server"]["reachable"] == true {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_UNREACHABLE)
    })
}

/// The status as one JSON document (the text form is printed from it).
async fn status(config: &Config, now: DateTime<Utc>) -> anyhow::Result<Value> {
    let client = common::client(config)?;
    let info = match client.server_info().await {
        Ok(info) => info,
        Err(error) => {
            return Ok(json!({
                "server": {"reachable": false, "endpoint": client.endpoint().to_string(), "error": error.to_string()},
            }));
        }
    };
    let mut templates = Vec::new();
    for (name, _) in lookout::index_templates(config) {
        let installed = client.index_template_exists(&name).await?;
        templates.push(json!({"name": name, "installed": installed}));
    }
    let alerts_pattern = format!("{}*", config.alerts.index);
    let mut indices = Vec::new();
    for index in [
        &alerts_pattern,
        &config.engine.state_index,
        &config.engine.executions_index,
    ] {
        let count = document_count(&client, index).await?;
        indices.push(json!({"name": index, "documents": count}));
    }
    let instances = instances(&client, config, now).await?;
    let answer = client
        .search_raw(
            &config.engine.executions_index,
            recent_executions_query(now),
        )
        .await?;
    let executions: serde_json::Map<String, Value> = status_counts(&answer)
        .into_iter()
        .map(|(status, n)| (status.to_string(), Value::from(n)))
        .collect();
    let store = lookout::StateStore::for_config(client.clone(), config);
    let letters = store.dead_letters(None).await?;
    let dead_letters = json!({
        "count": letters.len(),
        "first": letters.first().map(|first| json!({
            "rule_id": first.rule_id,
            "event_index": first.event_index,
            "event_id": first.event_id,
            "status": first.status,
            "error": first.error,
        })),
    });
    Ok(json!({
        "server": {
            "reachable": true,
            "endpoint": client.endpoint().to_string(),
            "distribution": format!("{:?}", info.distribution),
            "version": info.version.to_string(),
        },
        "templates": templates,
        "indices": indices,
        "alerts": alerts(&client, config, now).await,
        "rules": rules(config),
        "executions_last_hour": executions,
        "dead_letters": dead_letters,
        "instances": instances,
        "notify": super::notify::delivery_status(&client, config).await?,
        "clock": clock(&client, config).await,
    }))
}

/// The host's clock against the server's, from the `Date` header of the answers above, or
/// from a reading of the server's now when they carry none: `null` when neither worked.
async fn clock(client: &Client, config: &Config) -> Value {
    lookout::read_server_clock(client, config).await;
    let tolerance = client.clock_tolerance();
    match client.clock_offset() {
        None => Value::Null,
        Some(offset) => json!({
            "offset_s": offset.seconds(),
            "low_s": offset.low.num_milliseconds() as f64 / 1000.0,
            "high_s": offset.high.num_milliseconds() as f64 / 1000.0,
            "tolerance_s": tolerance.num_seconds(),
            "within_tolerance": !offset.beyond(tolerance),
        }),
    }
}

/// The clock line: how far the host's clock is from the server's.
fn clock_text(clock: &Value) -> String {
    let Some(offset) = clock["offset_s"].as_f64() else {
        return "clock:       not measured (the server's answers carry no Date header, and its \
                time could not be read from the alerts index)\n"
            .to_string();
    };
    let (low, high) = (clock["low_s"].as_f64(), clock["high_s"].as_f64());
    let agrees = low.is_some_and(|low| low <= 0.0) && high.is_some_and(|high| high >= 0.0);
    let side = if offset > 0.0 { "behind" } else { "ahead of" };
    let line = match agrees {
        true => format!(
            "clock:       the host's clock agrees with the server's to the measurement's \
             resolution (tolerance {} s)",
            clock["tolerance_s"]
        ),
        false => format!(
            "clock:       the host's clock is {:.1} s {side} the server's (tolerance {} s)",
            offset.abs(),
            clock["tolerance_s"]
        ),
    };
    if clock["within_tolerance"] == true {
        format!("{line}\n")
    } else {
        format!(
            "{line}: WARNING: beyond the tolerance; windows end at the server's now, but set \
             the host's time (NTP)\n"
        )
    }
}

/// The report as lines for people.
fn text(report: &Value) -> String {
    let server = &report["server"];
    let str = |value: &Value| lookout::printable(value.as_str().unwrap_or_default()).into_owned();
    if server["reachable"] != true {
        return format!("server:      unreachable: {}\n", str(&server["error"]));
    }
    let mut out = format!(
        "server:      reachable, {} {} at {}\n",
        str(&server["distribution"]),
        str(&server["version"]),
        str(&server["endpoint"])
    );
    for template in report["templates"].as_array().into_iter().flatten() {
        let word = if template["installed"] == true {
            "installed"
        } else {
            "missing (run lookout setup)"
        };
        out += &format!("template:    {}: {word}\n", str(&template["name"]));
    }
    for index in report["indices"].as_array().into_iter().flatten() {
        out += &format!(
            "index:       {}: {} documents\n",
            str(&index["name"]),
            index["documents"]
        );
    }
    out += &alerts_text(&report["alerts"]);
    let rules = &report["rules"];
    let by_type: Vec<String> = rules["by_type"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, n)| format!("{} {n}", lookout::printable(name)))
        .collect();
    let folders: Vec<String> = rules["folders"]
        .as_array()
        .into_iter()
        .flatten()
        .map(str)
        .collect();
    out += &format!(
        "rules:       {} loaded from {} ({}); {} errors, {} warnings (lookout validate shows them)\n",
        rules["loaded"],
        folders.join(", "),
        if by_type.is_empty() {
            "none".to_string()
        } else {
            by_type.join(", ")
        },
        rules["errors"],
        rules["warnings"]
    );
    let executions: Vec<String> = report["executions_last_hour"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, n)| format!("{status} {n}"))
        .collect();
    out += &format!("executions:  last hour: {}\n", executions.join(", "));
    out += &instances_text(&report["instances"]);
    let letters = &report["dead_letters"];
    match letters["first"].as_object() {
        None => out += "dead letters: none\n",
        Some(first) => {
            let field = |name: &str| str(first.get(name).unwrap_or(&Value::Null));
            out += &format!(
                "dead letters: {} alerts refused by the alerts index (first: rule {}, event {}/{}: HTTP {}: {}); `lookout backfill --dead-letters` retries them\n",
                letters["count"],
                field("rule_id"),
                field("event_index"),
                field("event_id"),
                first.get("status").unwrap_or(&Value::Null),
                field("error"),
            );
        }
    }
    out += &clock_text(&report["clock"]);
    let connectors = report["notify"].as_array().map_or(&[][..], Vec::as_slice);
    if connectors.is_empty() {
        out += "notify:      no connector configured\n";
    }
    for connector in connectors {
        out += &format!(
            "notify:      {} ({}): {} pending, {} sent, {} failed\n",
            str(&connector["id"]),
            str(&connector["type"]),
            connector["pending"],
            connector["sent"],
            connector["failed"]
        );
    }
    out
}

/// Where alerts are written now and who rolls that index over: the alias's indices, the write
/// index's documents, size and creation date, and the ILM state of its policy (Elasticsearch)
/// or lookout's last housekeeping round (elsewhere). Three requests: the alias with two
/// settings of each index, the write index's `_stats`, and `_ilm/explain` or the housekeeping
/// claim; one when the alias is missing. Never fails: a read that failed is named under
/// `errors` and the rest is still shown.
async fn alerts(client: &Client, config: &Config, now: DateTime<Utc>) -> Value {
    let alias = &config.alerts.index;
    let mut errors: Vec<String> = Vec::new();
    let indices = match client.describe_name(alias).await {
        Ok(lookout::NameFacts::Alias(indices)) => indices,
        Ok(lookout::NameFacts::Index) => return json!({"alias": alias, "target": "index"}),
        Ok(lookout::NameFacts::Missing) => return json!({"alias": alias, "target": "missing"}),
        Err(error) => {
            return json!({"alias": alias, "target": "unknown",
                "errors": [format!("reading the alias ({alias}) failed: {error}")]});
        }
    };
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let Some(write) = indices.iter().find(|index| index.is_write_index) else {
        return json!({"alias": alias, "target": "alias", "indices": indices.len(),
            "write_index": null, "rollover": {"by": "nobody"}});
    };
    let (documents, bytes) = match client.index_size(&write.name).await {
        Ok((documents, bytes)) => (json!(documents), json!(bytes)),
        Err(error) => {
            errors.push(format!(
                "reading the size of {} (_stats) failed: {error}",
                write.name
            ));
            (Value::Null, Value::Null)
        }
    };
    let rollover = match &write.lifecycle {
        Some(policy) => {
            let ilm = match client.ilm_explain(&write.name).await {
                Ok(Some(entry)) => ilm_state(&entry),
                Ok(None) => json!({"available": false}),
                Err(error) => {
                    errors.push(format!(
                        "reading the ILM state of {} (_ilm/explain) failed: {error}",
                        write.name
                    ));
                    Value::Null
                }
            };
            json!({"by": "ilm", "policy": policy, "ilm": ilm})
        }
        None => {
            let store = lookout::StateStore::for_config(client.clone(), config);
            let (last_round, overdue) = match store.last_housekeeping().await {
                Ok(last) => (
                    json!(last.as_ref().map(time)),
                    json!(last.map(|last| now - last > HOUSEKEEPING_OVERDUE)),
                ),
                Err(error) => {
                    errors.push(format!(
                        "reading lookout's last housekeeping round (in {}) failed: {error}",
                        config.engine.executions_index
                    ));
                    (Value::Null, Value::Null)
                }
            };
            json!({"by": "lookout", "every_seconds": lookout::HOUSEKEEPING_EVERY.num_seconds(),
                "last_round": last_round, "last_round_overdue": overdue})
        }
    };
    // The write index of an alias over several indices was made by the last rollover.
    let last_rollover = match indices.len() > 1 {
        true => json!(write.created.as_ref().map(time)),
        false => Value::Null,
    };
    json!({
        "alias": alias,
        "target": "alias",
        "indices": indices.len(),
        "write_index": {
            "name": write.name,
            "documents": documents,
            "bytes": bytes,
            "created": write.created.as_ref().map(time),
        },
        "last_rollover": last_rollover,
        "rollover": rollover,
        "errors": errors,
    })
}

/// The parts of an `_ilm/explain` entry that say where the index is in its policy, and the
/// error: the reason of `step_info` (which holds an exception's `type` and `reason` when a step
/// failed or the policy is missing, and only a `message` while a step waits).
fn ilm_state(entry: &Value) -> Value {
    let reason = &entry["step_info"]["reason"];
    let failed = entry["step"] == "ERROR" || !entry["failed_step"].is_null() || !reason.is_null();
    json!({
        "available": true,
        "managed": entry["managed"],
        "phase": entry["phase"],
        "action": entry["action"],
        "step": entry["step"],
        "failed_step": entry["failed_step"],
        "error": match (failed, reason.is_null()) {
            (false, _) => Value::Null,
            (true, false) => reason.clone(),
            (true, true) => json!("no reason given"),
        },
    })
}

/// A size in bytes, in the largest binary unit that keeps it at 1 or more.
fn size_text(bytes: u64) -> String {
    let units = ["KiB", "MiB", "GiB", "TiB"];
    let mut size = bytes as f64;
    let mut unit = "B";
    for next in units {
        if size < 1024.0 {
            break;
        }
        size /= 1024.0;
        unit = next;
    }
    match unit {
        "B" => format!("{bytes} B"),
        _ => format!("{size:.1} {unit}"),
    }
}

/// The alerts lines: where alerts go and who rolls that index over.
fn alerts_text(alerts: &Value) -> String {
    let str = |value: &Value| lookout::printable(value.as_str().unwrap_or_default()).into_owned();
    let alias = str(&alerts["alias"]);
    let mut out = match alerts["target"].as_str() {
        Some("missing") => format!(
            "alerts:      the alias {alias} does not exist: run `lookout setup` (or start `lookout run`, which creates it)\n"
        ),
        Some("index") => format!(
            "alerts:      {alias} is a concrete index (made by an older lookout): writes go to it and nothing rolls it over (docs/operations.md, \"Alerts rollover\")\n"
        ),
        Some("alias") => alias_text(alerts, &alias),
        _ => String::new(),
    };
    for error in alerts["errors"].as_array().into_iter().flatten() {
        out += &format!("alerts:      {}\n", str(error));
    }
    out
}

/// The lines of an alerts alias: its write index and who rolls it over.
fn alias_text(alerts: &Value, alias: &str) -> String {
    let str = |value: &Value| lookout::printable(value.as_str().unwrap_or_default()).into_owned();
    let write = &alerts["write_index"];
    if write.is_null() {
        return format!(
            "alerts:      the alias {alias} has {} indices and none is its write index: writes fail (mark one with is_write_index, docs/operations.md)\n",
            alerts["indices"]
        );
    }
    let name = str(&write["name"]);
    let size = match (write["documents"].as_u64(), write["bytes"].as_u64()) {
        (Some(documents), Some(bytes)) => format!("{documents} documents, {}", size_text(bytes)),
        _ => "size unknown".to_string(),
    };
    let indices = match alerts["indices"].as_u64() {
        Some(1) => "1 index".to_string(),
        n => format!("{} indices", n.unwrap_or(0)),
    };
    let mut out =
        format!("alerts:      writes go to {name} ({size}); the alias {alias} has {indices}\n");
    let last_rollover = match alerts["last_rollover"].as_str() {
        Some(at) => format!(
            "last rollover {} (when {name} was made)",
            lookout::printable(at)
        ),
        None => "not rolled over yet".to_string(),
    };
    let rollover = &alerts["rollover"];
    out += &match rollover["by"].as_str() {
        Some("ilm") => {
            let policy = str(&rollover["policy"]);
            let ilm = &rollover["ilm"];
            let state = if ilm.is_null() {
                "its state could not be read".to_string()
            } else if ilm["available"] == false {
                "WARNING: the server has no ILM API, so nothing rolls it over".to_string()
            } else if !ilm["error"].is_null() || ilm["step"] == "ERROR" {
                let step = match ilm["failed_step"].is_null() {
                    true => &ilm["step"],
                    false => &ilm["failed_step"],
                };
                format!(
                    "ERROR in step {}: {}",
                    if step.is_null() {
                        "(none)".to_string()
                    } else {
                        str(step)
                    },
                    lookout::printable(ilm["error"].as_str().unwrap_or("no reason given"))
                )
            } else if ilm["managed"] == false {
                format!("WARNING: ILM does not manage {name}")
            } else {
                let part = |value: &Value| match value.as_str() {
                    Some(text) => lookout::printable(text).into_owned(),
                    None => "(none yet)".to_string(),
                };
                format!(
                    "phase {}, action {}, step {}",
                    part(&ilm["phase"]),
                    part(&ilm["action"]),
                    part(&ilm["step"])
                )
            };
            format!("rollover:    by ILM, policy {policy}: {state}; {last_rollover}\n")
        }
        Some("lookout") => {
            let round = match rollover["last_round"].as_str() {
                Some(at) if rollover["last_round_overdue"] == true => format!(
                    "last housekeeping round {}: WARNING: over {} hours ago, is `lookout run` running?",
                    lookout::printable(at),
                    HOUSEKEEPING_OVERDUE.num_hours()
                ),
                Some(at) => format!("last housekeeping round {}", lookout::printable(at)),
                None => {
                    "no housekeeping round recorded (no `lookout run` has done one)".to_string()
                }
            };
            format!(
                "rollover:    by lookout, hourly (the write index names no ILM policy); {round}; {last_rollover}\n"
            )
        }
        _ => "rollover:    nobody rolls it over\n".to_string(),
    };
    out
}

/// The configured rules: how many load, from where, by type, and the problems' counts.
fn rules(config: &Config) -> Value {
    let catalog = lookout::ExceptionCatalog::load(&config.rules.exception_folders);
    let report = lookout::load_paths_with(&config.rules.folders, &catalog);
    let folders: Vec<String> = config
        .rules
        .folders
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    let by_type: serde_json::Map<String, Value> = super::validate::by_type(&report.summaries())
        .into_iter()
        .map(|(rule_type, n)| (rule_type.to_string(), Value::from(n)))
        .collect();
    json!({
        "loaded": report.rules.len() + report.not_runnable.len(),
        "folders": folders,
        "by_type": by_type,
        "errors": report.errors.len(),
        "warnings": report.warnings.len(),
    })
}

/// How many rule ids an instance's line lists before "...".
const LISTED_RULES: usize = 10;

/// The live instances sharing the rules, their rules and when their leases expire.
async fn instances(client: &Client, config: &Config, now: DateTime<Utc>) -> anyhow::Result<Value> {
    if !config.leases.enabled {
        return Ok(json!({"leases": false}));
    }
    let place = lookout::LeasePlace::for_config(client.clone(), config);
    let overview = lookout::lease_overview(&place, now).await?;
    let live: Vec<Value> = (overview.instances.iter())
        .filter(|i| i.live)
        .map(|instance| {
            json!({
                "name": instance.name,
                "rules": instance.rules,
                "leases_expire": instance.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "expires_in_seconds": (instance.expires_at - now).num_seconds(),
            })
        })
        .collect();
    Ok(json!({
        "leases": true,
        "index": config.leases.index,
        "period_seconds": config.leases.period.as_secs(),
        "live": live,
        "unowned": overview.unowned.len(),
    }))
}

/// The instances as lines for people.
fn instances_text(instances: &Value) -> String {
    let str = |value: &Value| lookout::printable(value.as_str().unwrap_or_default()).into_owned();
    if instances["leases"] != true {
        return "instances:   leases off (leases.enabled = false): every instance runs every rule\n"
            .to_string();
    }
    let live = instances["live"].as_array().map_or(&[][..], Vec::as_slice);
    let mut out = format!(
        "instances:   {} live (leases in {}, period {}s)\n",
        live.len(),
        str(&instances["index"]),
        instances["period_seconds"]
    );
    for instance in live {
        let all = instance["rules"].as_array().map_or(&[][..], Vec::as_slice);
        let mut rules: Vec<String> = all.iter().take(LISTED_RULES).map(str).collect();
        if all.len() > LISTED_RULES {
            rules.push("...".to_string());
        }
        out += &format!(
            "  {}: {} rules, leases expire {} (in {}s): {}\n",
            str(&instance["name"]),
            all.len(),
            str(&instance["leases_expire"]),
            instance["expires_in_seconds"],
            rules.join(", ")
        );
    }
    if instances["unowned"].as_u64().unwrap_or(0) > 0 {
        out += &format!(
            "  unowned:    {} rules (no live instance holds them; they move at the next lease cycle)\n",
            instances["unowned"]
        );
    }
    out
}

async fn document_count(client: &Client, index: &str) -> anyhow::Result<u64> {
    let answer = client
        .search_raw(index, json!({"size": 0, "track_total_hits": true}))
        .await?;
    Ok(lookout::total_hits(&answer).unwrap_or(0))
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
    fn the_clock_line_says_which_side_and_warns_beyond_the_tolerance() {
        let within = json!({"offset_s": 2.4, "low_s": 1.9, "high_s": 2.9, "tolerance_s": 30,
            "within_tolerance": true});
        assert_eq!(
            clock_text(&within),
            "clock:       the host's clock is 2.4 s behind the server's (tolerance 30 s)\n"
        );
        let same = json!({"offset_s": 0.3, "low_s": -0.2, "high_s": 0.8, "tolerance_s": 30,
            "within_tolerance": true});
        assert!(clock_text(&same).contains("agrees with the server's"));
        let ahead = json!({"offset_s": -95.31, "low_s": -95.8, "high_s": -94.8, "tolerance_s": 30,
            "within_tolerance": false});
        let text = clock_text(&ahead);
        assert!(text.contains("95.3 s ahead of the server's"), "{text}");
        assert!(text.contains("WARNING: beyond the tolerance"), "{text}");
        assert!(clock_text(&Value::Null).contains("not measured"));
    }

    #[test]
    fn the_alerts_lines_name_the_write_index_and_who_rolls_it_over() {
        let by_lookout = json!({"alias": "a", "target": "alias", "indices": 2,
            "write_index": {"name": "a-000002", "documents": 3, "bytes": 2048,
                "created": "2026-01-01T10:00:00Z"},
            "last_rollover": "2026-01-01T10:00:00Z",
            "rollover": {"by": "lookout", "every_seconds": 3600, "last_round": null},
            "errors": []});
        assert_eq!(
            alerts_text(&by_lookout),
            "alerts:      writes go to a-000002 (3 documents, 2.0 KiB); the alias a has 2 indices\n\
             rollover:    by lookout, hourly (the write index names no ILM policy); no housekeeping \
             round recorded (no `lookout run` has done one); last rollover 2026-01-01T10:00:00Z \
             (when a-000002 was made)\n"
        );
        let failing = json!({"alias": "a", "target": "alias", "indices": 1,
            "write_index": {"name": "a-000001", "documents": null, "bytes": null},
            "last_rollover": null,
            "rollover": {"by": "ilm", "policy": "a-policy", "ilm": {"available": true,
                "managed": true, "phase": "hot", "action": "rollover", "step": "ERROR",
                "failed_step": "check-rollover-ready", "error": "no alias\u{1b}[31m"}},
            "errors": ["reading the size of a-000001 (_stats) failed: HTTP 500"]});
        let text = alerts_text(&failing);
        assert!(
            text.contains("writes go to a-000001 (size unknown)"),
            "{text}"
        );
        assert!(
            text.contains("by ILM, policy a-policy: ERROR in step check-rollover-ready: no alias"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("not rolled over yet"), "{text}");
        assert!(
            text.contains("alerts:      reading the size of a-000001 (_stats) failed: HTTP 500")
        );
        let missing = alerts_text(&json!({"alias": "a", "target": "missing"}));
        assert!(
            missing.contains("does not exist: run `lookout setup`"),
            "{missing}"
        );
        let mut late = by_lookout.clone();
        late["rollover"]["last_round"] = json!("2026-01-01T10:00:00Z");
        late["rollover"]["last_round_overdue"] = json!(true);
        let text = alerts_text(&late);
        assert!(
            text.contains(
                "last housekeeping round 2026-01-01T10:00:00Z: WARNING: over 2 hours ago"
            ),
            "{text}"
        );
        let missing_policy = ilm_state(&json!({"managed": true, "policy": "p",
            "step_info": {"type": "illegal_argument_exception",
                "reason": "policy [p] does not exist"}}));
        assert_eq!(missing_policy["error"], "policy [p] does not exist");
        let waiting = ilm_state(
            &json!({"managed": true, "phase": "hot", "action": "rollover",
            "step": "check-rollover-ready", "step_info": {"message": "waiting"}}),
        );
        assert!(waiting["error"].is_null(), "{waiting}");
        assert_eq!(size_text(215), "215 B");
        assert_eq!(size_text(3 << 30), "3.0 GiB");
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
}
