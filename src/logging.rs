//! Log output for every command: `tracing` events written to stderr, as readable lines (colour
//! only on a terminal) or as one JSON object per event. Which events pass is decided by, in
//! order, `--log-level`, `RUST_LOG`, then `log.level` of the configuration.

use crate::config::{LogConfig, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The environment variable that replaces `log.level` (the `tracing` convention).
pub const RUST_LOG: &str = "RUST_LOG";

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("{origin}: {directive:?} is not a log filter: {message}")]
    BadFilter {
        origin: &'static str,
        directive: String,
        message: String,
    },
}

/// The filter in force and where it came from: the flag, `RUST_LOG`, or the configuration.
pub fn choose_filter(
    flag: Option<&str>,
    rust_log: Option<&str>,
    configured: &str,
) -> (&'static str, String) {
    if let Some(level) = nonblank(flag) {
        return ("--log-level", level.to_string());
    }
    if let Some(level) = nonblank(rust_log) {
        return (RUST_LOG, level.to_string());
    }
    ("log.level", configured.to_string())
}

fn nonblank(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Installs the global subscriber. Calling it twice keeps the first (tests, repeated setup).
pub fn init(config: &LogConfig, level_flag: Option<&str>) -> Result<(), LoggingError> {
    let rust_log = std::env::var(RUST_LOG).ok();
    let (origin, directive) = choose_filter(level_flag, rust_log.as_deref(), &config.level);
    let filter = EnvFilter::try_new(&directive).map_err(|e| LoggingError::BadFilter {
        origin,
        directive: directive.clone(),
        message: e.to_string(),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match config.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init(),
    };
    // A subscriber installed earlier (by a test or a second call) stays; that is not an error.
    drop(installed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_rust_log_and_the_configuration() {
        let chosen = choose_filter(Some("debug"), Some("warn"), "info");
        assert_eq!(chosen, ("--log-level", "debug".to_string()));
    }

    #[test]
    fn rust_log_wins_over_the_configuration() {
        let chosen = choose_filter(None, Some("lookout=trace"), "info");
        assert_eq!(chosen, (RUST_LOG, "lookout=trace".to_string()));
    }

    #[test]
    fn blank_values_fall_through_to_the_configuration() {
        let chosen = choose_filter(Some(" "), Some(""), "warn");
        assert_eq!(chosen, ("log.level", "warn".to_string()));
    }
}
