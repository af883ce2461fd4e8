//! The `lookout` command: parses the command line and runs one subcommand ([`cli`]) over the
//! library's public interface.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
