//! `lookout run`: not built yet.

use std::process::ExitCode;

/// Flags of `lookout run`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("lookout run is not built yet")
}
