//! The `[notify]` part of the configuration: connectors (where notifications go), routes (which
//! rules' alerts go to which connectors, per alert or as a summary) and delivery limits. The raw
//! file shape ([`RawNotify`]) is checked once into [`NotifyConfig`]; secrets (webhook URLs, routing
//! keys, header values, SMTP passwords) are read from the file, a file path (`*_file`) or an
//! environment variable (`*_env`), and are [`Secret`]s from then on.

use super::raw::DurationText;
use super::{ConfigError, Secret};
use crate::rule::Severity;
use chrono::TimeDelta;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How long an alert's notification is retried before it is recorded as failed.
pub const DEFAULT_MAX_AGE: TimeDelta = TimeDelta::hours(24);
/// How often the delivery loop looks for pending notifications when nothing wakes it.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// How long one request to a receiver may take.
pub const DEFAULT_CONNECTOR_TIMEOUT: Duration = Duration::from_secs(10);
/// How many alerts a summary message lists with their key fields (the rest are counted).
pub const DEFAULT_SUMMARY_ALERTS: usize = 10;
/// The PagerDuty Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// The longest connector id: ids become part of field names of the alert documents.
pub const MAX_CONNECTOR_ID_CHARS: usize = 64;

/// `[notify]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub kibana_url: Option<String>,
    pub max_age: Option<DurationText>,
    pub poll_interval: Option<DurationText>,
    #[serde(default)]
    pub connectors: Vec<RawConnector>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    /// detection-rules' `actions/` and `action_connectors/` TOML files or folders.
    pub kibana_files: Option<Vec<PathBuf>>,
    /// Secrets of the connectors of `kibana_files`, by Kibana connector id.
    #[serde(default)]
    pub kibana_secrets: BTreeMap<String, super::notify_kibana::RawKibanaSecrets>,
}

/// A secret value: inline, in a file, or in an environment variable.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum RawSecretValue {
    #[default]
    Absent,
    Inline(String),
    From {
        file: Option<PathBuf>,
        env: Option<String>,
    },
}

/// One `[[notify.connectors]]` entry as written; `type` picks the variant.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub(super) enum RawConnector {
    Webhook {
        id: String,
        #[serde(default)]
        url: RawSecretValue,
        method: Option<String>,
        #[serde(default)]
        headers: BTreeMap<String, RawSecretValue>,
        body: Option<String>,
        mode: Option<String>,
        timeout: Option<DurationText>,
        max_per_second: Option<f64>,
    },
    Slack {
        id: String,
        #[serde(default)]
        url: RawSecretValue,
        message: Option<String>,
        mode: Option<String>,
        timeout: Option<DurationText>,
        max_per_second: Option<f64>,
    },
    Teams {
        id: String,
        #[serde(default)]
        url: RawSecretValue,
        message: Option<String>,
        mode: Option<String>,
        timeout: Option<DurationText>,
        max_per_second: Option<f64>,
    },
    #[serde(rename = "pagerduty")]
    PagerDuty {
        id: String,
        #[serde(default)]
        routing_key: RawSecretValue,
        url: Option<String>,
        summary: Option<String>,
        source: Option<String>,
        mode: Option<String>,
        timeout: Option<DurationText>,
        max_per_second: Option<f64>,
    },
    Email {
        id: String,
        host: String,
        port: Option<u16>,
        security: Option<String>,
        username: Option<String>,
        #[serde(default)]
        password: RawSecretValue,
        ca_file: Option<PathBuf>,
        from: String,
        to: Vec<String>,
        #[serde(default)]
        cc: Vec<String>,
        subject: Option<String>,
        message: Option<String>,
        mode: Option<String>,
        timeout: Option<DurationText>,
        max_per_second: Option<f64>,
    },
    Index {
        id: String,
        index: String,
        mode: Option<String>,
        max_per_second: Option<f64>,
    },
}

impl RawConnector {
    pub(super) fn id(&self) -> &str {
        match self {
            RawConnector::Webhook { id, .. }
            | RawConnector::Slack { id, .. }
            | RawConnector::Teams { id, .. }
            | RawConnector::PagerDuty { id, .. }
            | RawConnector::Email { id, .. }
            | RawConnector::Index { id, .. } => id,
        }
    }
}

/// One `[[notify.routes]]` entry as written. No match key: every rule.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub connectors: Vec<String>,
    pub mode: Option<String>,
    pub throttle: Option<DurationText>,
    pub summary_alerts: Option<usize>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub severity: Vec<String>,
    #[serde(default)]
    pub rule_type: Vec<String>,
    #[serde(default)]
    pub rule_id: Vec<String>,
}

/// Everything about notifications, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyConfig {
    pub connectors: Vec<Connector>,
    pub routes: Vec<Route>,
    /// Kibana's address, for links to Discover in messages.
    pub kibana_url: Option<String>,
    /// How long a notification is retried (counted from the alert's creation) before it is
    /// recorded as failed.
    pub max_age: TimeDelta,
    /// How often the delivery loop looks for pending notifications.
    pub poll_interval: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            connectors: Vec::new(),
            routes: Vec::new(),
            kibana_url: None,
            max_age: DEFAULT_MAX_AGE,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }
}

impl NotifyConfig {
    /// The connector with this id.
    pub fn connector(&self, id: &str) -> Option<&Connector> {
        self.connectors.iter().find(|c| c.id == id)
    }
}

/// One message per alert, or one per rule execution (or throttle period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    PerAlert,
    Summary,
}

impl Mode {
    fn parse(text: &str) -> Option<Mode> {
        match text {
            "per_alert" => Some(Mode::PerAlert),
            "summary" => Some(Mode::Summary),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::PerAlert => "per_alert",
            Mode::Summary => "summary",
        }
    }
}

/// Where notifications go.
#[derive(Debug, Clone, PartialEq)]
pub struct Connector {
    /// Lowercase letters, digits, `_` and `-`: part of the alert documents' field names.
    pub id: String,
    /// The mode used when the rule file names this connector (routes say their own).
    pub mode: Mode,
    pub timeout: Duration,
    /// The most messages per second sent to this receiver (`None`: no limit).
    pub max_per_second: Option<f64>,
    pub kind: ConnectorKind,
}

/// The receiver and how a message is shaped for it.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectorKind {
    Webhook(WebhookConfig),
    Slack(ChatConfig),
    Teams(ChatConfig),
    PagerDuty(PagerDutyConfig),
    Email(EmailConfig),
    Index(IndexConfig),
}

impl ConnectorKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            ConnectorKind::Webhook(_) => "webhook",
            ConnectorKind::Slack(_) => "slack",
            ConnectorKind::Teams(_) => "teams",
            ConnectorKind::PagerDuty(_) => "pagerduty",
            ConnectorKind::Email(_) => "email",
            ConnectorKind::Index(_) => "index",
        }
    }
}

/// A generic HTTP receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// Secret: a webhook URL often embeds a token.
    pub url: Secret,
    /// `POST` or `PUT`.
    pub method: String,
    /// Header names and their (secret) values.
    pub headers: Vec<(String, Secret)>,
    /// A Mustache template of the body (JSON-string escaping); `None`: lookout's JSON body.
    pub body: Option<String>,
}

/// A Slack incoming webhook or a Teams workflow webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatConfig {
    pub url: Secret,
    /// A Mustache template of the message text; `None`: lookout's message.
    pub message: Option<String>,
}

/// PagerDuty Events API v2.
#[derive(Debug, Clone, PartialEq)]
pub struct PagerDutyConfig {
    pub url: String,
    pub routing_key: Secret,
    /// A Mustache template of `payload.summary`; `None`: the alert's reason.
    pub summary: Option<String>,
    /// `payload.source`; `None`: the host or user of the alert, else `lookout`.
    pub source: Option<String>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (usually port 465).
    Tls,
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    StartTls,
    /// No TLS at all: only for a relay on the same machine.
    None,
}

/// Email over SMTP.
#[derive(Clone, PartialEq)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// PEM file of a CA to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: Option<String>,
    pub message: Option<String>,
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// A copy of each alert in another index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexConfig {
    pub index: String,
}

/// Which rules' alerts go to which connectors, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub connectors: Vec<String>,
    pub mode: Mode,
    /// At most one message per rule and connector per period; the rest go into the next.
    pub throttle: Option<TimeDelta>,
    /// How many alerts a summary lists.
    pub summary_alerts: usize,
    /// Match keys; each non-empty one must match (any of its values), empty ones match all.
    pub tags: Vec<String>,
    pub severity: Vec<Severity>,
    pub rule_type: Vec<String>,
    pub rule_id: Vec<String>,
}

/// Where a `[notify]` value came from, for messages.
pub(super) struct Place<'a> {
    pub origin: &'a str,
    /// The configuration file's text, for the line and column of a key it sets.
    pub text: Option<&'a str>,
}

impl Place<'_> {
    fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        let key = key.into();
        let origin = match self
            .text
            .and_then(|text| super::raw::key_position(text, &key))
        {
            Some((line, column)) => format!("{}:{line}:{column}", self.origin),
            None => self.origin.to_string(),
        };
        ConfigError::Invalid {
            origin,
            key,
            message: message.into(),
        }
    }
}

/// Checks `[notify]`; `env` looks environment variables up (for `*_env` secrets).
pub(super) fn validate(
    mut raw: RawNotify,
    place: &Place<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<NotifyConfig, ConfigError> {
    let mut used = Vec::new();
    if let Some(paths) = &raw.kibana_files {
        let imported = super::notify_kibana::read(paths, &raw.kibana_secrets, place)?;
        raw.connectors.extend(imported.connectors);
        raw.routes.extend(imported.routes);
        used = imported.used;
    }
    if let Some(id) = raw.kibana_secrets.keys().find(|id| !used.contains(id)) {
        return Err(place.invalid(
            format!("notify.kibana_secrets.{id}"),
            "no action in notify.kibana_files uses this connector",
        ));
    }
    let mut connectors = Vec::with_capacity(raw.connectors.len());
    for (n, connector) in raw.connectors.into_iter().enumerate() {
        let connector = validate_connector(connector, n, place, env)?;
        if connectors.iter().any(|c: &Connector| c.id == connector.id) {
            return Err(place.invalid(
                format!("notify.connectors[{n}].id"),
                format!("{:?} is the id of an earlier connector", connector.id),
            ));
        }
        connectors.push(connector);
    }
    let mut routes = Vec::with_capacity(raw.routes.len());
    for (n, route) in raw.routes.into_iter().enumerate() {
        routes.push(validate_route(route, n, place, &connectors)?);
    }
    if let Some(url) = &raw.kibana_url {
        check_http_url(url).map_err(|m| place.invalid("notify.kibana_url", m))?;
    }
    Ok(NotifyConfig {
        connectors,
        routes,
        kibana_url: raw.kibana_url.map(|u| u.trim_end_matches('/').to_string()),
        max_age: raw.max_age.map_or(DEFAULT_MAX_AGE, |d| d.0),
        poll_interval: raw
            .poll_interval
            .and_then(|d| d.0.to_std().ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_POLL_INTERVAL),
    })
}

/// What every connector type shares.
struct Common {
    key: String,
    mode: Option<String>,
    timeout: Option<DurationText>,
    max_per_second: Option<f64>,
}

/// Reads the connector's secrets and checks its own keys.
struct Reader<'a> {
    key: String,
    place: &'a Place<'a>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Reader<'_> {
    fn secret(&self, field: &str, value: RawSecretValue) -> Result<Option<Secret>, ConfigError> {
        read_secret(
            value,
            &format!("{}.{field}", self.key),
            self.place,
            self.env,
        )
    }

    fn required(&self, field: &str, value: RawSecretValue) -> Result<Secret, ConfigError> {
        self.secret(field, value)?.ok_or_else(|| {
            self.invalid(
                field,
                "is required (inline, { file = \"...\" } or { env = \"VAR\" })",
            )
        })
    }

    /// A required secret URL: http(s) with a host.
    fn url(&self, value: RawSecretValue) -> Result<Secret, ConfigError> {
        let url = self.required("url", value)?;
        check_http_url(url.expose()).map_err(|m| self.invalid("url", m))?;
        Ok(url)
    }

    fn invalid(&self, field: &str, message: impl Into<String>) -> ConfigError {
        self.place.invalid(format!("{}.{field}", self.key), message)
    }
}

fn validate_connector(
    raw: RawConnector,
    n: usize,
    place: &Place<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Connector, ConfigError> {
    let r = Reader {
        key: format!("notify.connectors[{n}]"),
        place,
        env,
    };
    let common = |mode, timeout, max_per_second| Common {
        key: r.key.clone(),
        mode,
        timeout,
        max_per_second,
    };
    match raw {
        RawConnector::Webhook {
            id,
            url,
            method,
            headers,
            body,
            mode,
            timeout,
            max_per_second,
        } => {
            let url = r.url(url)?;
            let method = method.unwrap_or_else(|| "POST".into()).to_ascii_uppercase();
            if !matches!(method.as_str(), "POST" | "PUT") {
                return Err(r.invalid("method", format!("{method:?} is neither POST nor PUT")));
            }
            let mut read = Vec::new();
            for (name, value) in headers {
                let value = r.required(&format!("headers.{name}"), value)?;
                read.push((name, value));
            }
            let kind = ConnectorKind::Webhook(WebhookConfig {
                url,
                method,
                headers: read,
                body,
            });
            finish(id, common(mode, timeout, max_per_second), kind, place)
        }
        RawConnector::Slack {
            id,
            url,
            message,
            mode,
            timeout,
            max_per_second,
        } => {
            let kind = ConnectorKind::Slack(ChatConfig {
                url: r.url(url)?,
                message,
            });
            finish(id, common(mode, timeout, max_per_second), kind, place)
        }
        RawConnector::Teams {
            id,
            url,
            message,
            mode,
            timeout,
            max_per_second,
        } => {
            let kind = ConnectorKind::Teams(ChatConfig {
                url: r.url(url)?,
                message,
            });
            finish(id, common(mode, timeout, max_per_second), kind, place)
        }
        RawConnector::PagerDuty {
            id,
            routing_key,
            url,
            summary,
            source,
            mode,
            timeout,
            max_per_second,
        } => {
            let url = url.unwrap_or_else(|| PAGERDUTY_EVENTS_URL.to_string());
            check_http_url(&url).map_err(|m| r.invalid("url", m))?;
            let kind = ConnectorKind::PagerDuty(PagerDutyConfig {
                url,
                routing_key: r.required("routing_key", routing_key)?,
                summary,
                source,
            });
            finish(id, common(mode, timeout, max_per_second), kind, place)
        }
        RawConnector::Email {
            id,
            host,
            port,
            security,
            username,
            password,
            ca_file,
            from,
            to,
            cc,
            subject,
            message,
            mode,
            timeout,
            max_per_second,
        } => {
            let security = match security.as_deref().map(str::trim) {
                None | Some("starttls") => SmtpSecurity::StartTls,
                Some("tls") => SmtpSecurity::Tls,
                Some("none") => SmtpSecurity::None,
                Some(other) => {
                    return Err(r.invalid(
                        "security",
                        format!("{other:?} is not \"starttls\", \"tls\" or \"none\""),
                    ));
                }
            };
            let password = r.secret("password", password)?;
            if username.is_some() != password.is_some() {
                return Err(r.invalid(
                    "username",
                    "a username needs a password and a password a username",
                ));
            }
            if host.trim().is_empty() || to.is_empty() || from.trim().is_empty() {
                return Err(r.invalid(
                    "to",
                    "an email connector needs a host, a from address and at least one to address",
                ));
            }
            for address in std::iter::once(&from).chain(&to).chain(&cc) {
                if address.parse::<lettre::Address>().is_err()
                    && address.parse::<lettre::message::Mailbox>().is_err()
                {
                    return Err(r.invalid("to", format!("{address:?} is not an email address")));
                }
            }
            let default_port = match security {
                SmtpSecurity::Tls => 465,
                SmtpSecurity::StartTls => 587,
                SmtpSecurity::None => 25,
            };
            let kind = ConnectorKind::Email(EmailConfig {
                host,
                port: port.unwrap_or(default_port),
                security,
                username,
                password,
                ca_file,
                from,
                to,
                cc,
                subject,
                message,
            });
            finish(id, common(mode, timeout, max_per_second), kind, place)
        }
        RawConnector::Index {
            id,
            index,
            mode,
            max_per_second,
        } => {
            super::validate::check_index_name(&index).map_err(|m| r.invalid("index", m))?;
            let kind = ConnectorKind::Index(IndexConfig { index });
            finish(id, common(mode, None, max_per_second), kind, place)
        }
    }
}

fn finish(
    id: String,
    common: Common,
    kind: ConnectorKind,
    place: &Place<'_>,
) -> Result<Connector, ConfigError> {
    let key = &common.key;
    check_connector_id(&id).map_err(|m| place.invalid(format!("{key}.id"), m))?;
    let mode = parse_mode(common.mode.as_deref(), &format!("{key}.mode"), place)?;
    if let Some(rate) = common.max_per_second
        && !(rate.is_finite() && rate > 0.0)
    {
        return Err(place.invalid(
            format!("{key}.max_per_second"),
            format!("{rate} is not a positive number"),
        ));
    }
    Ok(Connector {
        id,
        mode,
        timeout: common
            .timeout
            .and_then(|d| d.0.to_std().ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_CONNECTOR_TIMEOUT),
        max_per_second: common.max_per_second,
        kind,
    })
}

fn parse_mode(text: Option<&str>, key: &str, place: &Place<'_>) -> Result<Mode, ConfigError> {
    match text {
        None => Ok(Mode::PerAlert),
        Some(text) => Mode::parse(text.trim()).ok_or_else(|| {
            place.invalid(
                key,
                format!("{text:?} is neither \"per_alert\" nor \"summary\""),
            )
        }),
    }
}

fn validate_route(
    raw: RawRoute,
    n: usize,
    place: &Place<'_>,
    connectors: &[Connector],
) -> Result<Route, ConfigError> {
    let key = format!("notify.routes[{n}]");
    if raw.connectors.is_empty() {
        return Err(place.invalid(format!("{key}.connectors"), "name at least one connector"));
    }
    for id in &raw.connectors {
        if !connectors.iter().any(|c| &c.id == id) {
            return Err(place.invalid(
                format!("{key}.connectors"),
                format!("{id:?} is not the id of a [[notify.connectors]] entry"),
            ));
        }
    }
    let mut severity = Vec::new();
    for text in &raw.severity {
        severity.push(Severity::parse(text).ok_or_else(|| {
            place.invalid(
                format!("{key}.severity"),
                format!("{text:?} is not low, medium, high or critical"),
            )
        })?);
    }
    if let Some(throttle) = raw.throttle
        && throttle.0 <= TimeDelta::zero()
    {
        return Err(place.invalid(format!("{key}.throttle"), "must be longer than zero"));
    }
    Ok(Route {
        connectors: raw.connectors,
        mode: parse_mode(raw.mode.as_deref(), &format!("{key}.mode"), place)?,
        throttle: raw.throttle.map(|d| d.0),
        summary_alerts: raw.summary_alerts.unwrap_or(DEFAULT_SUMMARY_ALERTS).max(1),
        tags: raw.tags,
        severity,
        rule_type: raw.rule_type,
        rule_id: raw.rule_id,
    })
}

/// A secret given inline, as `{ file = "path" }` or as `{ env = "VAR" }`. Messages name the key
/// and the file or variable, never the value.
fn read_secret(
    value: RawSecretValue,
    key: &str,
    place: &Place<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, ConfigError> {
    match value {
        RawSecretValue::Absent => Ok(None),
        RawSecretValue::Inline(text) => {
            Ok(Some(Secret::new(text)).filter(|s| !s.expose().is_empty()))
        }
        RawSecretValue::From {
            file: Some(path),
            env: None,
        } => {
            let text =
                std::fs::read_to_string(&path).map_err(|source| ConfigError::SecretFile {
                    origin: place.origin.to_string(),
                    key: key.to_string(),
                    path: path.clone(),
                    source,
                })?;
            let value = text.trim_end_matches(['\n', '\r']).to_string();
            if value.is_empty() {
                return Err(
                    place.invalid(key, format!("the secret file {} is empty", path.display()))
                );
            }
            Ok(Some(Secret::new(value)))
        }
        RawSecretValue::From {
            file: None,
            env: Some(var),
        } => match env(&var).filter(|v| !v.is_empty()) {
            Some(value) => Ok(Some(Secret::new(value))),
            None => Err(place.invalid(key, format!("the environment variable {var} is not set"))),
        },
        RawSecretValue::From { .. } => {
            Err(place.invalid(key, "give either { file = \"path\" } or { env = \"VAR\" }"))
        }
    }
}

/// An http(s) URL with a host; the message never repeats the URL (it may hold a token).
fn check_http_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("must be an http:// or https:// URL with a host".to_string());
    }
    Ok(())
}

/// Connector ids name fields of the alert documents (`lookout.notify.state.<id>.*`).
fn check_connector_id(id: &str) -> Result<(), String> {
    let valid = !id.is_empty()
        && id.chars().count() <= MAX_CONNECTOR_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{id:?} must be 1 to {MAX_CONNECTOR_ID_CHARS} lowercase letters, digits, _ or -"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_toml_str(text, std::path::Path::new("lookout.toml"), move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    /// The smallest configuration, exactly as docs/notifications.md starts with it.
    const SMALLEST: &str = r#"
[[notify.connectors]]
id = "soc"
type = "webhook"          # or slack, teams, pagerduty, email, index
url = "https://hooks.example.org/lookout"

[[notify.routes]]
connectors = ["soc"]      # no match keys: every rule
mode = "per_alert"        # or "summary"
"#;

    #[test]
    fn the_smallest_configuration_works_as_written() {
        let notify = load(SMALLEST, &[]).unwrap().notify;
        assert_eq!(notify.connectors.len(), 1);
        let ConnectorKind::Webhook(webhook) = &notify.connectors[0].kind else {
            panic!("not a webhook");
        };
        assert_eq!(webhook.method, "POST");
        assert_eq!(notify.routes[0].mode, Mode::PerAlert);
        assert_eq!(notify.max_age, DEFAULT_MAX_AGE);
    }

    #[test]
    fn secrets_come_from_files_or_the_environment_and_debug_hides_them() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("pd");
        std::fs::write(&key_file, "routing-key-from-file\n").unwrap();
        let text = format!(
            r#"
[[notify.connectors]]
id = "slack"
type = "slack"
url = {{ env = "SLACK_URL" }}

[[notify.connectors]]
id = "pd"
type = "pagerduty"
routing_key = {{ file = "{}" }}

[[notify.connectors]]
id = "hook"
type = "webhook"
url = "https://hooks.example.org/x"
headers = {{ Authorization = {{ env = "HOOK_TOKEN" }} }}
"#,
            key_file.display()
        );
        let env = [
            (
                "SLACK_URL",
                "https://hooks.slack.com/services/T/B/sekrit-slack",
            ),
            ("HOOK_TOKEN", "Bearer sekrit-token"),
        ];
        let config = load(&text, &env).unwrap();
        let ConnectorKind::PagerDuty(pd) = &config.notify.connectors[1].kind else {
            panic!("not pagerduty");
        };
        assert_eq!(pd.routing_key.expose(), "routing-key-from-file");
        let debug = format!("{config:?}");
        for secret in ["sekrit-slack", "sekrit-token", "routing-key-from-file"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
    }

    #[test]
    fn a_missing_secret_variable_is_named_without_any_value() {
        let text =
            "[[notify.connectors]]\nid = \"s\"\ntype = \"slack\"\nurl = { env = \"NOPE\" }\n";
        let error = load(text, &[]).unwrap_err().to_string();
        assert!(
            error.contains("notify.connectors[0].url") && error.contains("NOPE"),
            "{error}"
        );
    }

    #[test]
    fn a_bad_url_is_reported_without_repeating_it() {
        let text =
            "[[notify.connectors]]\nid = \"s\"\ntype = \"slack\"\nurl = \"ftp://token-in-url@x\"\n";
        let error = load(text, &[]).unwrap_err().to_string();
        assert!(!error.contains("token-in-url"), "{error}");
        assert!(
            error.starts_with("lookout.toml:4:7: `notify.connectors[0].url`"),
            "{error}"
        );
    }

    #[test]
    fn routes_must_name_known_connectors_and_ids_must_be_field_safe() {
        let unknown = format!("{SMALLEST}\n[[notify.routes]]\nconnectors = [\"nobody\"]\n");
        assert!(
            load(&unknown, &[])
                .unwrap_err()
                .to_string()
                .contains("nobody")
        );
        let dotted = SMALLEST
            .replace("id = \"soc\"", "id = \"so.c\"")
            .replace("[\"soc\"]", "[\"so.c\"]");
        assert!(
            load(&dotted, &[])
                .unwrap_err()
                .to_string()
                .contains("lowercase")
        );
        let unknown_key = SMALLEST.replace(
            "type = \"webhook\"",
            "type = \"webhook\"\nrouting_key = \"x\"",
        );
        assert!(load(&unknown_key, &[]).is_err());
    }

    #[test]
    fn email_connectors_default_to_starttls_on_587() {
        let text = "[[notify.connectors]]\nid = \"mail\"\ntype = \"email\"\nhost = \"smtp.example.org\"\nfrom = \"lookout@example.org\"\nto = [\"soc@example.org\"]\n";
        let config = load(text, &[]).unwrap();
        let ConnectorKind::Email(email) = &config.notify.connectors[0].kind else {
            panic!("not email");
        };
        assert_eq!((email.security, email.port), (SmtpSecurity::StartTls, 587));
    }

    #[test]
    fn detection_rules_action_and_connector_files_become_connectors_and_routes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("action_connectors")).unwrap();
        std::fs::create_dir_all(dir.path().join("actions")).unwrap();
        std::fs::write(
            dir.path().join("action_connectors/soc.toml"),
            r#"
[metadata]
creation_date = "2026/01/01"
action_connector_name = "Action Connector 5a1f"
rule_ids = ["11111111-1111-4111-8111-111111111111"]
rule_names = ["A rule"]
updated_date = "2026/01/01"

[[action_connectors]]
id = "5a1f0000-0000-4000-8000-000000000001"
managed = false
type = "action"
references = []

[action_connectors.attributes]
actionTypeId = ".slack"
isMissingSecrets = true
name = "SOC Slack"

[action_connectors.attributes.config]

[[action_connectors]]
id = "5a1f0000-0000-4000-8000-000000000002"
type = "action"

[action_connectors.attributes]
actionTypeId = ".webhook"
name = "SIEM hook"

[action_connectors.attributes.config]
method = "post"
url = "https://siem.example.org/in"
"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("actions/rule.toml"),
            r#"
[metadata]
creation_date = "2026/01/01"
rule_id = ["11111111-1111-4111-8111-111111111111"]
rule_name = "A rule"
updated_date = "2026/01/01"

[[actions]]
action_type_id = ".slack"
group = "default"
id = "5a1f0000-0000-4000-8000-000000000001"
params.message = "Rule {{context.rule.name}} generated {{state.signals_count}} alerts"
frequency = { summary = true, throttle = "1h", notifyWhen = "onThrottleInterval" }

[[actions]]
action_type_id = ".webhook"
group = "default"
id = "5a1f0000-0000-4000-8000-000000000002"
params.body = '{"rule": "{{context.rule.name}}"}'
frequency = { summary = false }
"#,
        )
        .unwrap();
        let text = format!(
            "[notify]\nkibana_files = [\"{}\", \"{}\"]\n\n[notify.kibana_secrets.5a1f0000-0000-4000-8000-000000000001]\nurl = {{ env = \"SLACK_URL\" }}\n",
            dir.path().join("action_connectors").display(),
            dir.path().join("actions").display()
        );
        let config = load(
            &text,
            &[("SLACK_URL", "https://hooks.slack.com/services/T/B/k")],
        )
        .unwrap();
        let notify = config.notify;
        assert_eq!(notify.connectors.len(), 2);
        assert_eq!(notify.connectors[0].id, "soc-slack");
        let ConnectorKind::Slack(slack) = &notify.connectors[0].kind else {
            panic!("not slack");
        };
        assert_eq!(slack.url.expose(), "https://hooks.slack.com/services/T/B/k");
        assert!(
            slack
                .message
                .as_deref()
                .unwrap()
                .contains("{{context.rule.name}}")
        );
        assert_eq!(
            notify.routes[0].rule_id,
            ["11111111-1111-4111-8111-111111111111"]
        );
        assert_eq!(notify.routes[0].mode, Mode::Summary);
        assert_eq!(notify.routes[0].throttle, Some(TimeDelta::hours(1)));
        assert_eq!(notify.connectors[1].id, "siem-hook");
        assert_eq!(notify.routes[1].mode, Mode::PerAlert);
        let missing_secret = text.replace("[notify.kibana_secrets.5a1f0000-0000-4000-8000-000000000001]\nurl = { env = \"SLACK_URL\" }\n", "");
        let error = load(&missing_secret, &[]).unwrap_err().to_string();
        assert!(
            error.contains("url") && error.contains("required"),
            "{error}"
        );
    }
}
