//! The command line: one subcommand per file, each parsing its own flags and returning an exit
//! status. `main.rs` only calls [`main`].

mod alerts;
mod backfill;
pub mod common;
mod completions;
mod examples;
mod generate;
mod notify;
mod output;
mod progress;
mod rules;
mod run;
mod setup;
mod status;
mod supervise;
mod table;
mod test;
mod translate;
mod validate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "lookout",
    version,
    about = "Runs Elastic Security detection rules against Elasticsearch and writes alerts",
    after_help = examples::LOOKOUT
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: common::GlobalArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check rule files and folders and summarise what they hold.
    #[command(after_help = examples::VALIDATE)]
    Validate(validate::Args),
    /// Print the query DSL a KQL query or a rule becomes.
    #[command(after_help = examples::TRANSLATE)]
    Translate(translate::Args),
    /// Run the rules on their schedules (or once, with --once).
    #[command(after_help = examples::RUN)]
    Run(run::Args),
    /// Generate realistic CloudTrail events (NDJSON) for demos, tests and benchmarks.
    #[command(after_help = examples::GENERATE)]
    Generate(generate::Args),
    /// Install or update index templates, and import Kibana data views and saved searches.
    #[command(after_help = examples::SETUP)]
    Setup(setup::Args),
    /// Show whether the server answers, what lookout installed, and recent executions.
    #[command(after_help = examples::STATUS)]
    Status(status::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = examples::COMPLETIONS)]
    Completions(completions::Args),
    /// List the rules with their schedule, last execution, status, alerts and next run.
    #[command(after_help = examples::RULES)]
    Rules(rules::Args),
    /// Dry-run one rule over a past window: matching events, alerts it would create; writes nothing.
    #[command(after_help = examples::TEST)]
    Test(test::Args),
    /// Run rules over a past period in interval-sized chunks (resumable; fills gaps with --gaps).
    #[command(after_help = examples::BACKFILL)]
    Backfill(backfill::Args),
    /// The latest alerts: rule, time, severity and the event's key fields (filters, JSON).
    #[command(after_help = examples::ALERTS)]
    Alerts(alerts::Args),
    /// Notifications: send a sample message to a connector (`lookout notify test CONNECTOR`).
    #[command(after_help = examples::NOTIFY)]
    Notify(notify::Args),
}

/// Parses the command line, runs the subcommand and turns its result into an exit status.
/// Errors reach the user on stderr, `lookout: <error>: <cause>...` (a line per problem when
/// there are several), and exit status 2.
pub fn main() -> ExitCode {
    output::exit_quietly_on_closed_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => validate::run(args, &cli.global),
        Command::Translate(args) => translate::run(args, &cli.global),
        Command::Run(args) => run::run(args, &cli.global),
        Command::Generate(args) => generate::run(args),
        Command::Setup(args) => setup::run(args, &cli.global),
        Command::Status(args) => status::run(args, &cli.global),
        Command::Completions(args) => completions::run(args),
        Command::Rules(args) => rules::run(args, &cli.global),
        Command::Test(args) => test::run(args, &cli.global),
        Command::Backfill(args) => backfill::run(args, &cli.global),
        Command::Alerts(args) => alerts::run(args, &cli.global),
        Command::Notify(args) => notify::run(args, &cli.global),
    };
    result.unwrap_or_else(|error| {
        if output::is_closed_pipe(&error) {
            return ExitCode::SUCCESS;
        }
        // A message of several lines (every unknown key of a configuration file) is printed
        // line by line, each escaped for the terminal.
        for line in format!("{error:#}").lines() {
            eprintln!("lookout: {}", lookout::printable(line));
        }
        ExitCode::from(2)
    })
}

/// A query rule for the command's unit tests: the library's test rule file with its id.
#[cfg(test)]
pub fn test_rule(rule_id: &str) -> lookout::Rule {
    let text = include_str!("../rule/testdata/test_rule.toml").replace("RULE_ID", rule_id);
    let path = std::path::PathBuf::from(format!("rules/{rule_id}.toml"));
    match lookout::parse_rule_bytes(&path, text.as_bytes()) {
        Ok((lookout::Loaded::Runnable(rule), _warnings)) => *rule,
        other => panic!("test rule does not load as a runnable rule: {other:?}"),
    }
}
