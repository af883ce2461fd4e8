//! `lookout run`: runs the configured rules on their schedules until SIGTERM/SIGINT, or once
//! with `--once` (exit status 1 when an execution failed). `--now` sets the execution time.

use crate::config::Config;
use crate::engine::clock::{Clock, OffsetClock, SystemClock};
use crate::engine::service;
use anyhow::Context;
use chrono::{DateTime, Utc};
use std::path::PathBuf;
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
    /// The configuration file (defaults, then this file, then LOOKOUT_* variables).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_logging();
    let config = Config::load(args.config.as_deref()).context("configuration")?;
    let rules = service::load_rules(&config.rules);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let clock: Box<dyn Clock> = match args.now {
        Some(now) => Box::new(OffsetClock::starting_at(now)),
        None => Box::new(SystemClock),
    };
    if args.once {
        let at = args.now.unwrap_or_else(|| clock.now());
        let failed = runtime.block_on(service::run_once(
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
        return Ok(if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    runtime.block_on(service::run_daemon(
        &config,
        rules.runnable,
        clock.as_ref(),
        shutdown_signal(),
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    crate::rule::datemath::parse_date(text)
        .ok_or_else(|| format!("{text:?} is not a timestamp such as 2026-01-10T12:00:00Z"))
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Completes at the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutdown requested: no new executions; finishing running ones");
}
