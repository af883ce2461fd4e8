//! The `lookout` command: parses the command line and hands over to [`lookout::cli`].

use std::process::ExitCode;

/// mimalloc cuts the allocation cost that dominates KQL translation and alert building.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    lookout::cli::main()
}
