//! `lookout backfill --from TIME --to TIME [--rule ID ...] [--gaps]`: runs rules over a past
//! period in interval-sized chunks, oldest first, writing alerts with the usual ids (so a
//! backfill never duplicates an alert). Progress is stored in the executions index after every
//! chunk, so an interrupted backfill started again with the same arguments resumes where it
//! stopped. `--gaps` fills the gaps executions recorded (within `--from`/`--to` when given).
//! `--dead-letters` searches the windows of the alerts the alerts index refused again, and
//! removes the dead letters whose alert is written now.
//! A progress bar on a terminal, plain progress lines otherwise (stderr); a summary on stdout.

use super::common::{self, GlobalArgs};
use super::progress::Progress;
use anyhow::{Context, bail};
use chrono::{DateTime, TimeDelta, Utc};
use lookout::Client;
use lookout::Config;
use lookout::Rule;
use lookout::Window;
use lookout::printable;
use lookout::{Backoff, Engine};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::process::ExitCode;

/// The most chunks one backfill runs (a guard against `--from` years back at a 1m interval).
pub const MAX_BACKFILL_CHUNKS: usize = 100_000;
/// `event.action` of a backfill progress document in the executions index.
pub const PROGRESS_ACTION: &str = "backfill";
/// How many times `backfill` tries to reach the server before it gives up.
const CONNECT_ATTEMPTS: u32 = 3;

/// Flags of `lookout backfill`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Start of the period: a timestamp (2026-01-10T00:00:00Z) or date math (now-7d).
    #[arg(long, value_name = "TIME", required_unless_present_any = ["gaps", "dead_letters"])]
    pub from: Option<String>,
    /// End of the period [default: now].
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Only these rules (repeat for several) [default: every runnable rule].
    #[arg(long = "rule", id = "rule_ids", value_name = "RULE_ID")]
    pub rule_ids: Vec<String>,
    /// Fill the gaps recorded for the rules (within --from/--to when given).
    #[arg(long)]
    pub gaps: bool,
    /// Retry the alerts the alerts index refused (the dead letters `lookout status` counts).
    #[arg(long, conflicts_with_all = ["gaps", "from", "to"])]
    pub dead_letters: bool,
}

/// One stretch of one rule to backfill, and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub rule_id: String,
    pub range: Window,
    pub done_to: Option<DateTime<Utc>>,
}

impl Job {
    /// The chunks still to run.
    pub fn remaining(&self, interval: TimeDelta) -> Vec<Window> {
        let start = self
            .done_to
            .map_or(self.range.from, |done| done.max(self.range.from));
        chunks(start, self.range.to, interval)
    }
}

/// The log filter of a backfill unless one is chosen: its progress and summary say what each
/// execution's log line would (576 lines for four hours of a 5-minute rule).
pub const BACKFILL_LOG_LEVEL: &str = "warn";

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = common::load_logging_at(global, BACKFILL_LOG_LEVEL)?;
    let now = Utc::now();
    let from = args.from.as_deref().unwrap_or("1970-01-01T00:00:00Z");
    let period = super::test::parse_window(from, args.to.as_deref().unwrap_or("now"), now)?;
    let rules = select_rules(&config, &args.rule_ids)?;
    if args.dead_letters {
        return common::runtime()?.block_on(retry_dead_letters(&config, &rules, now));
    }
    common::runtime()?.block_on(backfill(&config, &rules, period, args.gaps, now))
}

/// `--dead-letters`: each rule's dead letters retried; fails when any window failed or any
/// alert is still refused.
async fn retry_dead_letters(
    config: &Config,
    rules: &[Rule],
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let backoff = Backoff {
        max_attempts: Some(CONNECT_ATTEMPTS),
        ..Backoff::default()
    };
    let engine = lookout::connect(config, &lookout::SystemClock, backoff).await?;
    let mut total = lookout::DeadLetterRetry::default();
    for rule in rules {
        let retry = engine.retry_dead_letters(rule, now).await?;
        total.found += retry.found;
        total.windows += retry.windows;
        total.written += retry.written;
        total.failed += retry.failed;
    }
    println!(
        "backfill: {} dead letters in {} windows retried, {} alerts written, {} still refused, {} failed windows",
        total.found,
        total.windows,
        total.written,
        total.found - total.written,
        total.failed
    );
    Ok(match total.found == total.written && total.failed == 0 {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    })
}

/// The runnable rules, or those named with `--rule` (each must exist).
fn select_rules(config: &Config, wanted: &[String]) -> anyhow::Result<Vec<Rule>> {
    let set = lookout::load_rules(&config.rules);
    if wanted.is_empty() {
        return Ok(set.runnable);
    }
    let mut chosen = Vec::new();
    for id in wanted {
        match set.runnable.iter().find(|rule| &rule.rule_id == id) {
            Some(rule) => chosen.push(rule.clone()),
            None => bail!("rule {id}: not among the runnable rules of the configured folders"),
        }
    }
    Ok(chosen)
}

async fn backfill(
    config: &Config,
    rules: &[Rule],
    period: Window,
    gaps: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let clock = lookout::SystemClock;
    let backoff = Backoff {
        max_attempts: Some(CONNECT_ATTEMPTS),
        ..Backoff::default()
    };
    let engine = lookout::connect(config, &clock, backoff).await?;
    let store = lookout::StateStore::for_config(engine.client().clone(), config);
    let mut jobs = Vec::new();
    for rule in rules {
        let ranges = match gaps {
            true => store
                .gaps(&rule.rule_id)
                .await?
                .iter()
                .filter_map(|gap| {
                    clip(
                        Window {
                            from: gap.from,
                            to: gap.to,
                        },
                        period,
                    )
                })
                .collect(),
            false => vec![period],
        };
        for range in ranges {
            let done_to = load_progress(engine.client(), config, &rule.rule_id, range).await?;
            jobs.push((
                rule,
                Job {
                    rule_id: rule.rule_id.clone(),
                    range,
                    done_to,
                },
            ));
        }
    }
    let total: usize = jobs
        .iter()
        .map(|(rule, job)| chunks(job.range.from, job.range.to, rule.schedule.interval).len())
        .sum();
    if total > MAX_BACKFILL_CHUNKS {
        bail!(
            "{total} chunks is more than {MAX_BACKFILL_CHUNKS}: backfill a shorter period or fewer rules"
        );
    }
    let done: usize = jobs
        .iter()
        .map(|(rule, job)| {
            chunks(job.range.from, job.range.to, rule.schedule.interval).len()
                - job.remaining(rule.schedule.interval).len()
        })
        .sum();
    let mut progress = Progress::new(total as u64);
    progress.resume_at(done as u64);
    let summary = run_jobs(&engine, config, &jobs, &mut progress, now).await?;
    progress.finish();
    println!(
        "backfill: {} rules, {} chunks run ({} resumed as done), {} alerts created, {} duplicates, {} failed chunks",
        rules.len(),
        summary.chunks,
        done,
        summary.created,
        summary.duplicates,
        summary.failed
    );
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(Debug, Default)]
struct Summary {
    chunks: usize,
    created: u64,
    duplicates: u64,
    failed: usize,
}

/// Runs every job's remaining chunks; a failed chunk stops its job (progress stays before it).
async fn run_jobs(
    engine: &Engine,
    config: &Config,
    jobs: &[(&Rule, Job)],
    progress: &mut Progress,
    now: DateTime<Utc>,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    for (rule, job) in jobs {
        for window in job.remaining(rule.schedule.interval) {
            let report = engine.execute_window(rule, window, now).await;
            summary.chunks += 1;
            summary.created += report.record.alerts_created;
            summary.duplicates += report.record.duplicates;
            progress.step(&format!("{} {window}", printable(&rule.rule_id)));
            if report.failed() {
                summary.failed += 1;
                eprintln!(
                    "backfill: rule {} chunk {window} failed: {}",
                    printable(&rule.rule_id),
                    printable(report.record.error.as_deref().unwrap_or("unknown error"))
                );
                break;
            }
            save_progress(engine.client(), config, job, window.to, now).await?;
        }
    }
    Ok(summary)
}

/// `[from, to]` cut into interval-sized windows, oldest first; the last may be shorter.
pub fn chunks(from: DateTime<Utc>, to: DateTime<Utc>, interval: TimeDelta) -> Vec<Window> {
    let step = interval.max(TimeDelta::seconds(1));
    let mut windows = Vec::new();
    let mut start = from;
    while start < to && windows.len() <= MAX_BACKFILL_CHUNKS {
        let end = (start + step).min(to);
        windows.push(Window {
            from: start,
            to: end,
        });
        start = end;
    }
    windows
}

/// The part of `range` inside `period`, if any.
pub fn clip(range: Window, period: Window) -> Option<Window> {
    let clipped = Window {
        from: range.from.max(period.from),
        to: range.to.min(period.to),
    };
    (clipped.from < clipped.to).then_some(clipped)
}

/// The id of a job's progress document: stable for the same rule and range.
pub fn progress_id(rule_id: &str, range: Window) -> String {
    let mut hasher = Sha256::new();
    for part in [rule_id, &range.from.to_rfc3339(), &range.to.to_rfc3339()] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("backfill-{hex}")
}

/// The progress document of a job.
pub fn progress_doc(job: &Job, done_to: DateTime<Utc>, now: DateTime<Utc>) -> Value {
    json!({
        "@timestamp": now,
        "event": {"kind": "event", "action": PROGRESS_ACTION, "start": job.range.from, "end": job.range.to},
        "rule": {"id": job.rule_id},
        "lookout": {"backfill": {
            "rule_id": job.rule_id, "from": job.range.from, "to": job.range.to,
            "done_to": done_to, "finished": done_to >= job.range.to,
        }},
    })
}

async fn load_progress(
    client: &Client,
    config: &Config,
    rule_id: &str,
    range: Window,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let doc = client
        .get_doc(
            &config.engine.executions_index,
            &progress_id(rule_id, range),
        )
        .await?;
    let done_to = doc.and_then(|doc| {
        doc["lookout"]["backfill"]["done_to"]
            .as_str()
            .map(str::to_string)
    });
    done_to
        .map(|text| DateTime::parse_from_rfc3339(&text).map(|t| t.to_utc()))
        .transpose()
        .with_context(|| format!("rule {rule_id}: unreadable backfill progress"))
}

async fn save_progress(
    client: &Client,
    config: &Config,
    job: &Job,
    done_to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let id = progress_id(&job.rule_id, job.range);
    client
        .put_doc(
            &config.engine.executions_index,
            &id,
            &progress_doc(job, done_to, now),
            false,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
