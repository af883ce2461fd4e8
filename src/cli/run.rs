//! `lookout run`: runs the configured rules on their schedules until SIGTERM/SIGINT (SIGHUP
//! reloads; see [`super::supervise`]), or once with `--once` (exit status 1 when an execution
//! failed). `--now` sets the execution time. Configuration comes from the global flags
//! (`--config`, ...) layered over the environment and the file.

use super::common::{self, GlobalArgs};
use super::supervise;
use chrono::{DateTime, Utc};
use lookout::{Clock, OffsetClock, SystemClock};
use std::process::ExitCode;

/// Flags of `lookout run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run every enabled rule one time and exit; the exit status is 1 when any execution failed.
    #[arg(long)]
    pub once: bool,
    /// The execution time (RFC 3339, e.g. 2026-01-10T12:00:00Z) instead of the system clock:
    /// for tests and replays.
    #[arg(long, value_name = "TIMESTAMP", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
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
    let failed = runtime.block_on(lookout::run_once(
        &config,
        &rules.runnable,
        clock.as_ref(),
        at,
    ))?;
    eprintln!(
        "lookout: ran {} rules at {at}: {failed} failed, {} rule files with errors, {} rules not runnable",
        rules.runnable.len(),
        rules.errors.len(),
        rules.skipped.len()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    lookout::parse_date(text)
        .ok_or_else(|| format!("{text:?} is not a timestamp such as 2026-01-10T12:00:00Z"))
}
