//! The configuration file's shape as written: every field optional, unknown keys refused.
//! Durations are parsed here so that a bad one is reported with its line and column.

use super::ConfigError;
use crate::schedule::duration::parse_duration;
use chrono::TimeDelta;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole file. `from_env` records which keys an environment variable (or a command-line
/// flag) set, and says which, so that validation errors name it instead of the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub elasticsearch: RawElasticsearch,
    #[serde(default)]
    pub rules: RawRules,
    #[serde(default)]
    pub alerts: RawAlerts,
    #[serde(default)]
    pub engine: RawEngine,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub leases: RawLeases,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub notify: super::notify::RawNotify,
    #[serde(skip)]
    pub from_env: BTreeMap<&'static str, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawElasticsearch {
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub api_key: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub cloud_id: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub verify_tls: Option<bool>,
    pub request_timeout: Option<DurationText>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRules {
    pub folders: Option<Vec<PathBuf>>,
    pub exception_folders: Option<Vec<PathBuf>>,
    pub include_deprecated: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    pub index: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEngine {
    pub concurrency: Option<usize>,
    pub max_catch_up: Option<DurationText>,
    pub state_index: Option<String>,
    pub executions_index: Option<String>,
    pub shutdown_grace: Option<DurationText>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLeases {
    pub enabled: Option<bool>,
    pub instance: Option<String>,
    pub period: Option<DurationText>,
    pub index: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub format: Option<String>,
    pub level: Option<String>,
}

/// A duration written as `"30s"`, `"5m"`, `"24h"`, `"2d"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct DurationText(pub TimeDelta);

impl DurationText {
    pub fn parse(text: &str) -> Result<DurationText, String> {
        parse_duration(text).map(DurationText)
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DurationText::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Reads and parses the configuration file.
pub(super) fn read_file(path: &Path) -> Result<RawConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parses configuration text; errors carry `origin` and the line and column toml reports.
pub(super) fn parse(text: &str, origin: &Path) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|error| ConfigError::Syntax {
        path: origin.to_path_buf(),
        position: error.span().map(|span| line_column(text, span.start)),
        message: error.message().trim().to_string(),
    })
}

/// The 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
