//! `lookout validate`: not built yet.

use std::process::ExitCode;

/// Flags of `lookout validate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("lookout validate is not built yet")
}
