//! `lookout generate`: not built yet.

use std::process::ExitCode;

/// Flags of `lookout generate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("lookout generate is not built yet")
}
