//! `lookout run`: runs the configured rules on their schedules until SIGTERM/SIGINT (SIGHUP
//! reloads; see [`super::supervise`]), or once with `--once`, ending with a summary (text on
//! stderr, or `--format json` on stdout) and the exit status `lookout run --help` states
//! ([`super::examples::RUN`]). `--now`
//! sets the execution time. Configuration comes from the global flags (`--config`, ...) layered
//! over the environment and the file.

use super::common::{self, GlobalArgs};
use super::output::{self, Format};
use super::supervise;
use chrono::{DateTime, Utc};
use lookout::{Clock, ExecutionReport, OffsetClock, RuleSet, SystemClock, printable};
use serde_json::{Value, json};
use std::process::ExitCode;

/// Flags of `lookout run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run every enabled rule one time, print a summary and exit (exit status below).
    #[arg(long)]
    pub once: bool,
    /// The execution time (RFC 3339, e.g. 2026-01-10T12:00:00Z) instead of the system clock:
    /// for tests and replays.
    #[arg(long, value_name = "TIMESTAMP", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
    /// The format of the --once summary: text on stderr, or one JSON document on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text, requires = "once")]
    pub format: Format,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let clock: Box<dyn Clock> = match args.now {
        Some(now) => Box::new(OffsetClock::starting_at(now)),
        None => Box::new(SystemClock),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if !args.once {
        let first = supervise::first_load(global)?;
        runtime.block_on(supervise::supervise(global, first, clock.as_ref()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = common::load(global)?;
    let rules = lookout::load_rules(&config.rules);
    let at = args.now.unwrap_or_else(|| clock.now());
    let reports = if rules.runnable.is_empty() {
        Vec::new()
    } else {
        runtime.block_on(lookout::run_once(
            &config,
            &rules.runnable,
            clock.as_ref(),
            at,
        ))?
    };
    let summary = Summary {
        at,
        rules: &rules,
        reports: &reports,
    };
    match args.format {
        Format::Text => eprint!("{}", summary.text()),
        Format::Json => output::print_json(&summary.json())?,
    }
    Ok(if summary.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What one `run --once` did: the executions, and the rules that did not run.
pub struct Summary<'a> {
    pub at: DateTime<Utc>,
    pub rules: &'a RuleSet,
    pub reports: &'a [ExecutionReport],
}

impl Summary<'_> {
    fn failed(&self) -> impl Iterator<Item = &ExecutionReport> {
        self.reports.iter().filter(|report| report.failed())
    }

    fn total(&self, count: impl Fn(&ExecutionReport) -> u64) -> u64 {
        self.reports.iter().map(count).sum()
    }

    /// Exit status 0: some rule ran, none failed, and every rule file loaded.
    pub fn succeeded(&self) -> bool {
        !self.reports.is_empty() && self.failed().next().is_none() && self.rules.errors.is_empty()
    }

    /// The failed executions and the rules not run, one line each, then the counts.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for report in self.failed() {
            let record = &report.record;
            let line = format!(
                "failed: rule {} ({}): {}",
                record.rule_id,
                record.rule_name,
                record.error.as_deref().unwrap_or("no error recorded")
            );
            out += &format!("lookout: {}\n", printable(&line));
        }
        for line in &self.rules.errors {
            out += &format!("lookout: not run: {}\n", printable(line));
        }
        for line in &self.rules.skipped {
            out += &format!("lookout: not scheduled: {}\n", printable(line));
        }
        if self.reports.is_empty() {
            out += "lookout: no rule ran: the configured rule folders hold no runnable rule\n";
        }
        out += &format!(
            "lookout: ran {} rules at {}: {} failed, {} alerts created, {} duplicates; \
             {} rule files with errors, {} rules not scheduled\n",
            self.reports.len(),
            self.at,
            self.failed().count(),
            self.total(|r| r.record.alerts_created),
            self.total(|r| r.record.duplicates),
            self.rules.errors.len(),
            self.rules.skipped.len()
        );
        out
    }

    /// The summary as one JSON document: counts, every execution record, the files with errors
    /// and the rules not scheduled (each with its reason).
    pub fn json(&self) -> Value {
        let records: Vec<&lookout::ExecutionRecord> =
            self.reports.iter().map(|report| &report.record).collect();
        json!({
            "at": self.at,
            "rules_run": self.reports.len(),
            "failed": self.failed().count(),
            "alerts_created": self.total(|r| r.record.alerts_created),
            "duplicates": self.total(|r| r.record.duplicates),
            "executions": records,
            "rule_file_errors": self.rules.errors,
            "not_scheduled": self.rules.skipped,
        })
    }
}

fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    lookout::parse_date(text)
        .ok_or_else(|| format!("{text:?} is not a timestamp such as 2026-01-10T12:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        lookout::parse_date("2026-01-01T12:00:00Z").expect("a timestamp")
    }

    #[test]
    fn no_rule_run_is_a_failure_that_says_so() {
        let rules = RuleSet {
            errors: vec!["rulez:1:1: cannot read: No such file or directory".to_string()],
            ..RuleSet::default()
        };
        let summary = Summary {
            at: at(),
            rules: &rules,
            reports: &[],
        };
        assert!(!summary.succeeded());
        let text = summary.text();
        assert!(text.contains("not run: rulez:1:1: cannot read"), "{text}");
        assert!(text.contains("no rule ran"), "{text}");
        assert_eq!(summary.json()["rules_run"], 0);
        assert_eq!(summary.json()["rule_file_errors"][0], rules.errors[0]);
    }

    #[test]
    fn the_help_states_the_exit_statuses() {
        use clap::CommandFactory;
        let mut command = crate::cli::Cli::command();
        let help = command
            .find_subcommand_mut("run")
            .expect("the run command")
            .render_long_help()
            .to_string();
        assert!(help.contains("0 when every rule ran"), "{help}");
        assert!(help.contains("no rule ran"), "{help}");
        assert!(help.contains("2 when"), "{help}");
    }
}
