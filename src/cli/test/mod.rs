//! `lookout test RULE_FILE --from TIME --to TIME [--format text|json] [--explain]`: a dry run of
//! one rule over a past window. Searches exactly as an execution would (`lookout::preview`; an
//! EQL rule on the path an execution takes), prints the matching events as a table (time and the
//! fields the rule's investigation guide names), a sequence rule's sequences, a threshold rule's
//! groups, a new-terms rule's new terms (found by the new-terms kind's own code), how many alerts
//! an execution would create and how many already exist; or all of it as one JSON object
//! (`events`, each with `_index` and `_id`; `sequences`, `groups` or `new_terms` by rule type).
//! `--explain` first prints the request and what each clause of the query matches (see
//! `explain`). Writes nothing.

use super::common::{self, GlobalArgs};
use super::output::{self, Format};
use super::table;
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use lookout::printable;
use lookout::{Config, DateMath, Hit, Preview, Rounding, Rule, RuleType, Settings, Window};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

/// The most matching events a dry run reads (and prints); more are counted as "at least".
pub const MAX_TEST_HITS: usize = 10_000;
/// The most columns besides the time.
pub const MAX_COLUMNS: usize = 6;
/// Columns used when the rule's guide names no field present in the events.
pub const DEFAULT_COLUMNS: &[&str] = &[
    "event.action",
    "event.outcome",
    "user.name",
    "source.ip",
    "host.name",
];

/// Flags of `lookout test`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The rule file (TOML) to try.
    pub rule: PathBuf,
    /// Start of the window: a timestamp (2026-01-10T12:00:00Z) or date math (now-24h).
    #[arg(long, value_name = "TIME")]
    pub from: String,
    /// End of the window.
    #[arg(long, value_name = "TIME", default_value = "now")]
    pub to: String,
    /// Output: a table and counts (text), or one JSON object for scripts (json: `events`, each
    /// matched event with `_index`, `_id` and `_source`; `sequences` for a sequence rule,
    /// `groups` for a threshold rule, `new_terms` for a new-terms rule).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Why nothing matches: print the exact request an execution sends, then how many events of
    /// the window each top-level clause of the query matches on its own.
    #[arg(long, conflicts_with = "format")]
    pub explain: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = common::load(global)?;
    let rule = load_one_rule(&args.rule, &config)?;
    let window = parse_window(&args.from, &args.to, Utc::now())?;
    common::runtime()?.block_on(dry_run(&config, &rule, window, &args))
}

/// The one rule of a file; every load error is reported as `path:line:col: message`.
pub fn load_one_rule(path: &std::path::Path, config: &Config) -> anyhow::Result<Rule> {
    let report = common::load_rule_paths(config, &[path.to_path_buf()]);
    if let Some(rule) = report.not_runnable.first() {
        bail!("{}: rule {}: {}", path.display(), rule.rule_id, rule.reason);
    }
    if let Some(first) = report.errors.first() {
        let all: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        bail!(
            "{first}{}",
            if all.len() > 1 {
                format!(" (and {} more)", all.len() - 1)
            } else {
                String::new()
            }
        );
    }
    let mut rules = report.rules;
    match rules.len() {
        1 => Ok(rules.remove(0)),
        0 => bail!("{}: no rule found", path.display()),
        n => bail!("{}: holds {n} rules; give one rule file", path.display()),
    }
}

/// `[from, to]` from timestamps or date math resolved against `now`.
pub fn parse_window(from: &str, to: &str, now: DateTime<Utc>) -> anyhow::Result<Window> {
    let resolve = |flag: &str, text: &str, rounding: Rounding| -> anyhow::Result<DateTime<Utc>> {
        if let Some(at) = lookout::parse_date(text) {
            return Ok(at);
        }
        DateMath::parse(text)
            .ok()
            .and_then(|math| math.resolve(now, rounding))
            .with_context(|| {
                format!("{flag} {text:?} is neither a timestamp nor date math such as now-24h")
            })
    };
    let window = Window {
        from: resolve("--from", from, Rounding::Down)?,
        to: resolve("--to", to, Rounding::Up)?,
    };
    if window.from >= window.to {
        bail!("--from {from:?} is not before --to {to:?}");
    }
    Ok(window)
}

async fn dry_run(
    config: &Config,
    rule: &Rule,
    window: Window,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    let client = common::client(config)?;
    // One field-type fetch serves the mapping check and the search.
    let field_caps = lookout::FieldCapsCache::for_one_command();
    for problem in
        lookout::unmapped_fields(&client, &field_caps, std::slice::from_ref(rule)).await?
    {
        eprintln!("warning: {}", printable(&problem.to_string()));
    }
    let settings = Settings::from_config(config);
    let preview =
        lookout::preview(&client, &field_caps, &settings, rule, window, MAX_TEST_HITS).await?;
    for warning in &preview.warnings {
        eprintln!("warning: {}", printable(warning));
    }
    if args.explain {
        explain::explain(&client, rule, window, preview.fields.as_ref()).await?;
    }
    let groups = match &rule.kind {
        lookout::Kind::Threshold(_, params) => Some(
            groups::threshold_groups(&client, rule, params, window, preview.fields.as_ref()).await,
        ),
        _ => None,
    };
    if args.format == Format::Json {
        let mut json = preview_json(rule, window, &preview);
        match groups {
            Some(Ok((found, more))) => {
                json["groups"] = groups::json(&found);
                json["groups_more"] = more.into();
            }
            Some(Err(error)) => json["groups_error"] = format!("{error:#}").into(),
            None => {}
        }
        output::print_json(&json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let hits = &preview.events;
    let columns = columns(rule, hits);
    print!(
        "{}",
        table::render(&headers(rule, &columns), &rows(rule, &columns, hits))
    );
    println!(
        "rule {} ({}), window {window}",
        printable(&rule.rule_id),
        printable(&rule.name)
    );
    if let Some(path) = preview.eql_path {
        println!("EQL ran {}", eql_path_text(path));
    }
    let at_least = if preview.more { "at least " } else { "" };
    println!("matching events: {at_least}{}", hits.len());
    if is_sequence_rule(rule) {
        print_sequences(&preview, at_least);
    } else if let Some(groups) = groups {
        match groups {
            Ok((found, more)) => groups::print(&found, more),
            Err(error) => println!(
                "alerts: groups not estimated: {}",
                printable(&format!("{error:#}"))
            ),
        }
    } else if let (Some(found), lookout::Kind::NewTerms(_, params)) =
        (&preview.new_terms, &rule.kind)
    {
        match found {
            Ok(found) => {
                print_new_terms(&params.fields, found);
                let at_least = if found.more { "at least " } else { "" };
                print_alert_counts(rule, &preview, at_least);
            }
            Err(error) => println!("alerts: new terms not estimated: {}", printable(error)),
        }
    } else if matches!(rule.rule_type(), RuleType::Query | RuleType::Eql) {
        print_alert_counts(rule, &preview, at_least);
    } else {
        println!(
            "alerts: not estimated for {} rules (only for query, EQL, threshold and new terms rules)",
            rule.rule_type().as_str()
        );
    }
    println!("nothing was written (dry run)");
    Ok(ExitCode::SUCCESS)
}

fn eql_path_text(path: &str) -> &'static str {
    match path {
        "native" => "natively (_eql/search)",
        _ => "in lookout (the server has no _eql/search, or engine.eql = \"local\")",
    }
}

/// Whether the rule's query is an EQL sequence.
fn is_sequence_rule(rule: &Rule) -> bool {
    matches!(
        rule.kind.query(),
        lookout::Query::Eql { tree, .. } if matches!(tree.body, lookout::eql::Body::Sequence(_))
    )
}

/// The sequences, one line each (`_index/_id` of its events in order), and the alerts they make.
fn print_sequences(preview: &Preview, at_least: &str) {
    for (n, sequence) in preview.sequences.iter().enumerate() {
        let events: Vec<String> = (sequence.iter())
            .map(|&at| {
                let hit = &preview.events[at];
                printable(&format!("{}/{}", hit.index, hit.id)).into_owned()
            })
            .collect();
        println!("sequence {}: {}", n + 1, events.join(" -> "));
    }
    println!("sequences: {at_least}{}", preview.sequences.len());
    println!("sequences already alerted: {}", preview.existing.len());
    println!(
        "sequences an execution would alert (a shell alert and a building block per event each): {at_least}{}",
        preview.new_alerts()
    );
}

/// `lookout test --format json`: the rule, the window, the events (`_index`, `_id`, the
/// timestamp, `_source`), a sequence rule's sequences, and the alert counts.
fn preview_json(rule: &Rule, window: Window, preview: &Preview) -> Value {
    let timestamp = rule.search.timestamp.primary();
    let events: Vec<Value> = (preview.events.iter())
        .map(|hit| {
            serde_json::json!({
                "_index": hit.index,
                "_id": hit.id,
                "timestamp": field(&hit.source, timestamp).cloned().unwrap_or(Value::Null),
                "_source": hit.source,
            })
        })
        .collect();
    let mut json = serde_json::json!({
        "rule_id": rule.rule_id,
        "name": rule.name,
        "type": rule.rule_type().as_str(),
        "window": { "from": window.from.to_rfc3339(), "to": window.to.to_rfc3339() },
        "events": events,
        "more": preview.more,
        "alerts": {
            "existing": preview.existing.len(),
            "new": preview.new_alerts(),
        },
    });
    if let Some(path) = preview.eql_path {
        json["eql_path"] = path.into();
    }
    if let (Some(found), lookout::Kind::NewTerms(_, params)) = (&preview.new_terms, &rule.kind) {
        match found {
            Ok(found) => {
                json["new_terms"] = new_terms_json(&params.fields, found);
                json["new_terms_more"] = found.more.into();
            }
            Err(error) => json["new_terms_error"] = error.as_str().into(),
        }
    }
    if is_sequence_rule(rule) {
        let sequences: Vec<Value> = (preview.sequences.iter())
            .map(|sequence| {
                let events = (sequence.iter())
                    .map(|&at| {
                        let hit = &preview.events[at];
                        serde_json::json!({ "_index": hit.index, "_id": hit.id })
                    })
                    .collect();
                Value::Array(events)
            })
            .collect();
        json["sequences"] = Value::Array(sequences);
    }
    json
}

/// The new terms, one line each: their events in the window, the values, the first event.
fn print_new_terms(fields: &[String], found: &lookout::NewTermsFound) {
    let at_least = if found.more { "at least " } else { "" };
    println!(
        "new terms (values of {} that the history window does not hold): {at_least}{}",
        printable(&fields.join(", ")),
        found.terms.len()
    );
    for term in &found.terms {
        let (index, id) = &term.first;
        println!(
            "  {:>8} events  {}  (first: {})",
            term.events,
            printable(&term_text(fields, &term.values)),
            printable(&format!("{index}/{id}"))
        );
    }
}

/// `user.name=alice, source.ip=10.0.0.1`.
fn term_text(fields: &[String], values: &[Value]) -> String {
    (fields.iter().zip(values))
        .map(|(field, value)| match value {
            Value::String(text) => format!("{field}={text}"),
            other => format!("{field}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The new terms as JSON: each `{"values": {field: value}, "events": n, "first": {"_index",
/// "_id"}}`.
fn new_terms_json(fields: &[String], found: &lookout::NewTermsFound) -> Value {
    (found.terms.iter())
        .map(|term| {
            let values: serde_json::Map<String, Value> = fields
                .iter()
                .cloned()
                .zip(term.values.iter().cloned())
                .collect();
            let (index, id) = &term.first;
            serde_json::json!({
                "values": values,
                "events": term.events,
                "first": { "_index": index, "_id": id },
            })
        })
        .collect()
}

/// How many of the hits already have an alert, and how many alerts an execution would add.
fn print_alert_counts(rule: &Rule, preview: &Preview, at_least: &str) {
    let new = preview.new_alerts();
    println!("alerts that already exist: {}", preview.existing.len());
    println!("alerts an execution would create: {at_least}{new}");
    if new > usize::try_from(rule.max_signals).unwrap_or(usize::MAX) {
        println!(
            "note: one execution creates at most max_signals = {} alerts per interval-sized chunk",
            rule.max_signals
        );
    }
}

/// The columns besides the time: the rule's investigation fields, then the fields its guide
/// names in backticks, that at least one event has; else [`DEFAULT_COLUMNS`] present.
pub fn columns(rule: &Rule, hits: &[Hit]) -> Vec<String> {
    let present = |name: &str| hits.iter().any(|hit| field(&hit.source, name).is_some());
    let mut chosen: Vec<String> = Vec::new();
    let guide = rule
        .meta
        .details
        .note
        .as_deref()
        .map(guide_fields)
        .unwrap_or_default();
    let timestamp = rule.search.timestamp.primary();
    for name in rule
        .meta
        .details
        .investigation_fields
        .iter()
        .cloned()
        .chain(guide)
    {
        if name != timestamp && name != "@timestamp" && !chosen.contains(&name) && present(&name) {
            chosen.push(name);
        }
    }
    if chosen.is_empty() {
        chosen = DEFAULT_COLUMNS
            .iter()
            .filter(|name| present(name))
            .map(|s| s.to_string())
            .collect();
    }
    chosen.truncate(MAX_COLUMNS);
    chosen
}

/// Field names a Markdown guide mentions in backticks (`user.name`), in order of appearance.
pub fn guide_fields(note: &str) -> Vec<String> {
    let looks_like_field = |text: &str| {
        text.contains('.')
            && !text.starts_with('.')
            && !text.ends_with('.')
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._@".contains(c))
    };
    note.split('`')
        .skip(1)
        .step_by(2)
        .filter(|inner| looks_like_field(inner))
        .map(str::to_string)
        .collect()
}

fn headers(rule: &Rule, columns: &[String]) -> Vec<String> {
    std::iter::once(rule.search.timestamp.primary().to_string())
        .chain(columns.iter().cloned())
        .collect()
}

fn rows(rule: &Rule, columns: &[String], hits: &[Hit]) -> Vec<Vec<String>> {
    let timestamp = rule.search.timestamp.primary();
    hits.iter()
        .map(|hit| {
            std::iter::once(timestamp)
                .chain(columns.iter().map(String::as_str))
                .map(|name| field(&hit.source, name).map(cell).unwrap_or_default())
                .collect()
        })
        .collect()
}

/// A field of a document, written nested (`{"user": {"name": ..}}`), dotted (`"user.name"`) or
/// a mix of both.
pub fn field<'a>(document: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(value) = document.get(name) {
        return Some(value);
    }
    let mut parts = name.char_indices().filter(|(_, c)| *c == '.');
    parts.find_map(|(at, _)| {
        let inner = document.get(&name[..at])?;
        field(inner, &name[at + 1..])
    })
}

fn cell(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

mod explain;
mod groups;

#[cfg(test)]
mod tests;
