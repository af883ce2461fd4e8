//! The configuration file's shape as written: every field optional, unknown keys refused.
//! Durations are parsed here so that a bad one is reported with its line and column.

use super::ConfigError;
use crate::files::line_column;
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
    /// The file's text, to say where a key whose value validation refuses was set.
    #[serde(skip)]
    pub text: Option<String>,
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
    pub clock_tolerance: Option<DurationText>,
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
    /// A duration, or `"0"` (off): read in validation.
    pub rollover_max_age: Option<String>,
    pub rollover_max_size: Option<String>,
    pub rollover_max_docs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEngine {
    pub concurrency: Option<usize>,
    pub max_catch_up: Option<DurationText>,
    pub state_index: Option<String>,
    pub executions_index: Option<String>,
    pub execution_retention: Option<DurationText>,
    pub shutdown_grace: Option<DurationText>,
    pub eql: Option<String>,
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
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// Reads a duration string; a bare number gets the same message as in the environment.
struct DurationVisitor;

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = DurationText;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a duration such as \"30s\", \"5m\", \"24h\" or \"2d\"")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DurationText, E> {
        DurationText::parse(text).map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<DurationText, E> {
        Err(E::custom(format!(
            "duration {n} has no unit (use s, m, h or d, as in \"{n}s\")"
        )))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<DurationText, E> {
        self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
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

/// The most unknown keys one error lists.
const MAX_UNKNOWN_KEYS: usize = 20;

/// Parses configuration text; errors carry `origin` and the line and column toml reports. When
/// keys are unknown, every one of them is reported (one per line), each with the known key it
/// likely misspells.
pub(super) fn parse(text: &str, origin: &Path) -> Result<RawConfig, ConfigError> {
    let mut attempt = text.to_string();
    let mut unknown: Vec<((usize, usize), String)> = Vec::new();
    let error = loop {
        let error = match toml::from_str::<RawConfig>(&attempt) {
            Ok(mut config) if unknown.is_empty() => {
                config.text = Some(text.to_string());
                return Ok(config);
            }
            Ok(_) => break None,
            Err(error) => error,
        };
        let message = error.message().trim().to_string();
        let offset = error.span().map(|span| span.start);
        let (Some(offset), Some(key)) = (offset, UnknownKey::read(&message)) else {
            let position = offset.map(|at| line_column(text, at));
            break Some((position, message));
        };
        unknown.push((
            line_column(text, offset),
            key.describe(&section_at(text, offset)),
        ));
        if unknown.len() == MAX_UNKNOWN_KEYS || !blank_line(&mut attempt, offset) {
            break None;
        }
    };
    unknown.sort();
    let Some(((line, column), first)) = unknown.first().cloned() else {
        let (position, message) = error.expect("the loop ends with an error or an unknown key");
        return Err(ConfigError::Syntax {
            path: origin.to_path_buf(),
            position,
            message,
        });
    };
    let mut message = first;
    for ((line, column), more) in &unknown[1..] {
        message += &format!("\n{}:{line}:{column}: {more}", origin.display());
    }
    Err(ConfigError::Syntax {
        path: origin.to_path_buf(),
        position: Some((line, column)),
        message,
    })
}

/// The line and column (1-based) where `text` sets the value of a key given as validation
/// names it (`elasticsearch.url`, `notify.connectors[0].url`); `None` when the text does not set
/// it (a default, or a value from the environment).
pub(super) fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let mut found = None;
    for part in key.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, Some(rest.strip_suffix(']')?.parse::<usize>().ok()?)),
            None => (part, None),
        };
        let value = (table.iter())
            .find(|(candidate, _)| candidate.get_ref().as_ref() == name)
            .map(|(_, value)| value)?;
        let value = match (index, value.get_ref()) {
            (None, _) => value,
            (Some(n), DeValue::Array(items)) => items.get(n)?,
            (Some(_), _) => return None,
        };
        if let DeValue::Table(inner) = value.get_ref() {
            table = inner;
        }
        found = Some(value.span().start);
    }
    found.map(|offset| line_column(text, offset))
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`"), read back.
#[derive(Debug, PartialEq, Eq)]
struct UnknownKey {
    word: String,
    expected: Vec<String>,
}

impl UnknownKey {
    fn read(message: &str) -> Option<UnknownKey> {
        let rest = message.strip_prefix("unknown field `")?;
        let (word, expected) = rest.split_once('`')?;
        let expected = expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        Some(UnknownKey {
            word: word.to_string(),
            expected,
        })
    }

    /// `unknown key `section.word` (did you mean `close`?)`.
    fn describe(&self, section: &str) -> String {
        let dotted = |key: &str| {
            if section.is_empty() {
                key.to_string()
            } else {
                format!("{section}.{key}")
            }
        };
        let hint = crate::suggest::closest(&self.word, self.expected.iter().map(String::as_str))
            .map(|close| format!(" (did you mean `{}`?)", dotted(close)))
            .unwrap_or_default();
        format!("unknown key `{}`{hint}", dotted(&self.word))
    }
}

/// The name of the `[table]` (or `[[array]]`) header of the line holding a byte offset (the
/// header itself, or the last one above), or "" at the top.
fn section_at(text: &str, offset: usize) -> String {
    let line_end = text
        .get(offset..)
        .and_then(|rest| rest.find('\n'))
        .map_or(text.len(), |i| offset + i);
    let before = &text[..line_end];
    before
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| line.starts_with('['))
        .map(|header| {
            header
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// Turns the line holding `offset` into a comment of the same length, so that parsing again
/// goes past that key while every other offset stays where it was. False when that line is a
/// table header (blanking it would move its keys elsewhere).
fn blank_line(text: &mut String, offset: usize) -> bool {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[start..end];
    let header = line.trim_start().starts_with('[');
    let opens_a_multiline_value = line.trim_end().ends_with(['[', '{']);
    if header || opens_a_multiline_value {
        return false;
    }
    let blank = format!("#{}", " ".repeat(line.len().saturating_sub(1)));
    text.replace_range(start..end, &blank);
    true
}
