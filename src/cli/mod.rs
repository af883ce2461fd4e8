//! The command line: one subcommand per file, each parsing its own flags and returning an exit
//! status. `main.rs` only calls [`main`].

pub mod common;
mod completions;
mod examples;
mod generate;
mod run;
mod setup;
mod status;
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
    Validate(validate::Args),
    /// Print the query DSL a KQL query or a rule becomes.
    #[command(after_help = examples::TRANSLATE)]
    Translate(translate::Args),
    /// Run the rules on their schedules (or once, with --once).
    Run(run::Args),
    /// Generate realistic CloudTrail events (NDJSON) for demos, tests and benchmarks.
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
}

/// Parses the command line, runs the subcommand and turns its result into an exit status.
/// Errors reach the user as one line on stderr, `lookout: <error>: <cause>...`, and exit status 2.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Translate(args) => translate::run(args),
        Command::Run(args) => run::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Setup(args) => setup::run(args, &cli.global),
        Command::Status(args) => status::run(args, &cli.global),
        Command::Completions(args) => completions::run(args),
    };
    result.unwrap_or_else(|error| {
        eprintln!("lookout: {error:#}");
        ExitCode::from(2)
    })
}
