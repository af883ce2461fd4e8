//! `lookout completions SHELL`: prints a completion script for bash, zsh, fish, elvish or
//! PowerShell on stdout, generated from the command-line definition so it never goes stale.

use clap::CommandFactory;
use std::process::ExitCode;

/// Flags of `lookout completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut command = super::Cli::command();
    clap_complete::generate(args.shell, &mut command, "lookout", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bash_script_completes_every_subcommand() {
        let mut command = super::super::Cli::command();
        let mut script = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut command,
            "lookout",
            &mut script,
        );
        let script = String::from_utf8(script).expect("the script is UTF-8");
        for sub in command.get_subcommands() {
            assert!(
                script.contains(sub.get_name()),
                "{} is not completed",
                sub.get_name()
            );
        }
    }
}
