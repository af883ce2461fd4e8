//! `lookout translate`: not built yet.

use std::process::ExitCode;

/// Flags of `lookout translate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("lookout translate is not built yet")
}
