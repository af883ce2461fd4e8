//! What commands print on stdout, for people or for scripts: the `--format` choice, JSON escaped
//! for terminals, and a quiet exit when whoever reads stdout stops reading
//! (`lookout status | head -5`), as command-line tools do.

use serde_json::Value;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines and tables for people.
    #[default]
    Text,
    /// One JSON document for scripts.
    Json,
}

/// Prints `value` as indented JSON on stdout (control characters in strings escaped).
pub fn print_json(value: &Value) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(value)?;
    println!("{}", lookout::printable_json(&json));
    Ok(())
}

/// Makes a write to a closed stdout end the process quietly with status 0, instead of the
/// standard library's panic ("failed printing to stdout: Broken pipe", status 101). Other
/// panics are reported as before.
pub fn exit_quietly_on_closed_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload_as_str().is_some_and(is_closed_stdout) {
            std::process::exit(0);
        }
        report(info);
    }));
}

/// Whether an error is a write to a closed pipe (a command that writes through its own writer,
/// such as `lookout generate | head`): the command then ends quietly too.
pub fn is_closed_pipe(error: &anyhow::Error) -> bool {
    let broken = Some(std::io::ErrorKind::BrokenPipe);
    error.chain().any(|cause| {
        let io = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind);
        // serde_json keeps the I/O error inside its own.
        let json = cause
            .downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind);
        io == broken || json == broken
    })
}

/// Whether a panic message is the standard library's report of writing to a closed stdout.
pub fn is_closed_stdout(message: &str) -> bool {
    message.starts_with("failed printing to stdout") && message.contains("Broken pipe")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_anywhere_in_the_chain_is_a_closed_pipe() {
        let closed = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing events");
        assert!(is_closed_pipe(&closed));
        assert!(!is_closed_pipe(&anyhow::anyhow!("something else")));
    }

    #[test]
    fn only_a_closed_stdout_is_a_quiet_exit() {
        assert!(is_closed_stdout(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_stdout(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!is_closed_stdout("index out of bounds"));
    }
}
