//! The `lookout` command: parses the command line and hands over to [`lookout::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    lookout::cli::main()
}
