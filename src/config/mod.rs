//! lookout's configuration: a TOML file (optional) layered under `LOOKOUT_*` environment variables
//! and over built-in defaults, read once into a validated [`Config`]. It reads files (the config
//! file and secret files) but does not talk to the server.
//!
//! Two phases: the file is deserialized into a raw shape whose fields are all optional
//! ([`raw`]), environment variables are laid over it ([`env`]), then [`validate`] turns it into
//! [`Config`], where every value is checked and defaulted. Relative paths (rule folders, the CA
//! file, secret files) are taken as they are, relative to the working directory.

mod env;
mod notify;
mod notify_kibana;
mod raw;
mod redact;
#[cfg(test)]
mod tests;
mod validate;

pub use env::ENV_VARS;
pub use notify::{
    Connector, ConnectorKind, DEFAULT_SUMMARY_ALERTS, EmailConfig, Mode, NotifyConfig, Route,
    SmtpSecurity,
};
pub use redact::redact_userinfo;

use chrono::TimeDelta;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The server URL used when neither the file nor the environment names one.
pub const DEFAULT_ES_URL: &str = "http://localhost:9200";
/// How long one request to the server may take before it counts as failed (retryable).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How far the host's clock may be from the server's before lookout warns.
pub const DEFAULT_CLOCK_TOLERANCE: Duration = Duration::from_secs(30);
/// The alerts index used when none is configured.
pub const DEFAULT_ALERTS_INDEX: &str = "lookout-alerts-default";
/// The namespace (Kibana space) alerts belong to when none is configured.
pub const DEFAULT_NAMESPACE: &str = "default";
/// How many rule executions may run at once when none is configured.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// The most executions that may ever run at once, whatever the configuration says.
pub const MAX_CONCURRENCY: usize = 256;
/// How far back a late rule catches up before the rest is recorded as a gap.
pub const DEFAULT_MAX_CATCH_UP: TimeDelta = TimeDelta::hours(24);
/// The index holding one state document per rule.
pub const DEFAULT_STATE_INDEX: &str = "lookout-state-default";
/// The index holding one document per execution (and gap records).
pub const DEFAULT_EXECUTIONS_INDEX: &str = "lookout-executions-default";
/// How long execution records are kept when none is configured.
pub const DEFAULT_EXECUTION_RETENTION: TimeDelta = TimeDelta::days(30);
/// The shortest execution record retention accepted.
pub const MIN_EXECUTION_RETENTION: TimeDelta = TimeDelta::hours(1);
/// The age at which the alerts write index rolls over when none is configured.
pub const DEFAULT_ROLLOVER_MAX_AGE: TimeDelta = TimeDelta::days(30);
/// The size at which the alerts write index rolls over when none is configured.
pub const DEFAULT_ROLLOVER_MAX_SIZE: &str = "50gb";
/// How long running executions may take to finish their writes after a shutdown signal.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// The index of the leases through which several instances share the rules.
pub const DEFAULT_LEASES_INDEX: &str = "lookout-leases-default";
/// How long a lease lasts without renewal: a dead instance's rules move within about this.
pub const DEFAULT_LEASE_PERIOD: Duration = Duration::from_secs(30);
/// The shortest lease period accepted (a renewal every period / 4 must fit a request).
pub const MIN_LEASE_PERIOD: Duration = Duration::from_secs(2);
/// The rule folder used when none is configured.
pub const DEFAULT_RULES_FOLDER: &str = "rules";
/// The folder of exception list files used when none is configured (docs/exceptions.md).
pub const DEFAULT_EXCEPTIONS_FOLDER: &str = "exceptions";
/// Where `lookout run` serves /healthz, /readyz and /metrics when nothing else is configured:
/// loopback only, so that nothing is exposed beyond the machine by default.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:9464";
/// The log filter used when none is configured (`tracing` / `RUST_LOG` syntax).
pub const DEFAULT_LOG_LEVEL: &str = "info";

/// Everything lookout needs to know to run, validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub elasticsearch: ElasticsearchConfig,
    pub rules: RulesConfig,
    pub alerts: AlertsConfig,
    pub engine: EngineConfig,
    pub http: HttpConfig,
    pub leases: LeasesConfig,
    pub log: LogConfig,
    pub notify: NotifyConfig,
}

impl Config {
    /// Reads the file at `path` (if any), lays the process's `LOOKOUT_*` environment variables
    /// over it, and validates the result.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with_env(path, |name| std::env::var(name).ok())
    }

    /// Like [`Config::load`], with the environment given as a lookup function (tests pass a map).
    pub fn load_with_env(
        path: Option<&Path>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw = match path {
            Some(path) => raw::read_file(path)?,
            None => raw::RawConfig::default(),
        };
        Config::from_raw(raw, path, lookup)
    }

    /// The full layering: defaults < the file at `path` < the environment (`env_lookup`) <
    /// command-line `overrides`. An override is keyed by the environment variable it replaces
    /// and carries the flag's name for error messages.
    pub fn load_layered(
        path: Option<&Path>,
        env_lookup: impl Fn(&str) -> Option<String>,
        overrides: &[Override],
    ) -> Result<Config, ConfigError> {
        let mut raw = match path {
            Some(path) => raw::read_file(path)?,
            None => raw::RawConfig::default(),
        };
        env::apply(&mut raw, &env_lookup, &env::describe_env)?;
        validate::refuse_passwords_in_flags(overrides)?;
        let flag_lookup = |var: &str| {
            overrides
                .iter()
                .find(|o| o.env_var == var)
                .map(|o| o.value.clone())
        };
        let describe_flag = |var: &str| {
            let flag = overrides.iter().find(|o| o.env_var == var);
            format!("command-line flag {}", flag.map_or(var, |o| o.flag))
        };
        env::apply(&mut raw, &flag_lookup, &describe_flag)?;
        validate::validate(raw, path, &env_lookup)
    }

    /// Parses configuration text (`origin` names it in errors), then layers the environment.
    pub fn from_toml_str(
        text: &str,
        origin: &Path,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw = raw::parse(text, origin)?;
        Config::from_raw(raw, Some(origin), lookup)
    }

    fn from_raw(
        mut raw: raw::RawConfig,
        origin: Option<&Path>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        env::apply(&mut raw, &lookup, &env::describe_env)?;
        validate::validate(raw, origin, &lookup)
    }
}

/// A value given on the command line, replacing what the environment variable `env_var` (or
/// the file) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The environment variable whose key this flag sets, for example `LOOKOUT_ES_URL`.
    pub env_var: &'static str,
    /// The flag as the user typed it, for example `--es-url`.
    pub flag: &'static str,
    pub value: String,
}

/// How to reach the server. Secrets are redacted in Debug output.
#[derive(Clone, PartialEq)]
pub struct ElasticsearchConfig {
    /// The server's URL (`http://host:9200`). Ignored when `cloud_id` is set.
    pub url: String,
    /// Basic authentication user (with `password`).
    pub username: Option<String>,
    /// Basic authentication password.
    pub password: Option<Secret>,
    /// API key: the base64 `encoded` value, or `id:api_key`.
    pub api_key: Option<Secret>,
    /// Elastic Cloud deployment id; replaces `url`.
    pub cloud_id: Option<String>,
    /// PEM file of the certificate authority that signed the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// Whether the server's TLS certificate is verified (only turn off for local testing).
    pub verify_tls: bool,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// How far the host's clock may be from the server's (measured from the `Date` header of
    /// its answers) before lookout warns.
    pub clock_tolerance: Duration,
}

impl Default for ElasticsearchConfig {
    fn default() -> Self {
        ElasticsearchConfig {
            url: DEFAULT_ES_URL.to_string(),
            username: None,
            password: None,
            api_key: None,
            cloud_id: None,
            ca_file: None,
            verify_tls: true,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            clock_tolerance: DEFAULT_CLOCK_TOLERANCE,
        }
    }
}

impl fmt::Debug for ElasticsearchConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElasticsearchConfig")
            .field("url", &redact_userinfo(&self.url))
            .field("username", &self.username)
            .field("password", &self.password)
            .field("api_key", &self.api_key)
            .field("cloud_id", &self.cloud_id)
            .field("ca_file", &self.ca_file)
            .field("verify_tls", &self.verify_tls)
            .field("request_timeout", &self.request_timeout)
            .field("clock_tolerance", &self.clock_tolerance)
            .finish()
    }
}

/// Where the rules are.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesConfig {
    /// Folders (or single files) of rule TOML files.
    pub folders: Vec<PathBuf>,
    /// Folders (or single files) of exception lists (detection-rules TOML, Kibana NDJSON) and
    /// value lists (`<id>.txt`) the rules' `exceptions_list` references resolve to. A folder
    /// that does not exist holds no list.
    pub exception_folders: Vec<PathBuf>,
    /// Whether rules with `maturity = "deprecated"` are scheduled.
    pub include_deprecated: bool,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            folders: vec![PathBuf::from(DEFAULT_RULES_FOLDER)],
            exception_folders: vec![PathBuf::from(DEFAULT_EXCEPTIONS_FOLDER)],
            include_deprecated: false,
        }
    }
}

/// Where alerts go.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    /// The alerts index (or alias) written to; duplicates are looked up across `<index>*`.
    pub index: String,
    /// The namespace (Kibana space id) alerts belong to; part of every alert id.
    pub namespace: String,
    /// When the write index behind the alerts alias rolls over (docs/operations.md).
    pub rollover: RolloverConfig,
}

/// When the alerts write index rolls over: as soon as one condition is met. Elasticsearch's
/// ILM applies them where `lookout setup` installed its policy; elsewhere the daemon asks for a
/// rollover with them from time to time.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloverConfig {
    pub max_age: Option<TimeDelta>,
    /// A byte size in Elasticsearch's units (`50gb`, `500mb`).
    pub max_size: Option<String>,
    pub max_docs: Option<u64>,
}

impl Default for RolloverConfig {
    fn default() -> Self {
        RolloverConfig {
            max_age: Some(DEFAULT_ROLLOVER_MAX_AGE),
            max_size: Some(DEFAULT_ROLLOVER_MAX_SIZE.to_string()),
            max_docs: None,
        }
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            index: DEFAULT_ALERTS_INDEX.to_string(),
            namespace: DEFAULT_NAMESPACE.to_string(),
            rollover: RolloverConfig::default(),
        }
    }
}

/// How the engine schedules and records executions.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// How many rule executions may run at once (1..=[`MAX_CONCURRENCY`]).
    pub concurrency: usize,
    /// How far back a late rule catches up; older time is recorded as a gap.
    pub max_catch_up: TimeDelta,
    /// Index of per-rule state documents.
    pub state_index: String,
    /// Index of execution documents and gap records.
    pub executions_index: String,
    /// How long execution records are kept (the newest that state recovery reads, gaps and
    /// dead letters are kept longer: docs/operations.md).
    pub execution_retention: TimeDelta,
    /// How long running executions may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Where EQL rules run (`engine.eql`): detected from the server, or forced.
    pub eql: EqlPath,
}

/// Where EQL rules run (docs/eql.md, "Two paths").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EqlPath {
    /// Native when the server answers `_eql/search`, else lookout's own evaluation.
    #[default]
    Auto,
    /// Always `_eql/search` (Elasticsearch).
    Native,
    /// Always lookout's own evaluation (stages as query DSL, sequences joined by lookout).
    Local,
}

impl EqlPath {
    pub fn as_str(self) -> &'static str {
        match self {
            EqlPath::Auto => "auto",
            EqlPath::Native => "native",
            EqlPath::Local => "local",
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            concurrency: DEFAULT_CONCURRENCY,
            max_catch_up: DEFAULT_MAX_CATCH_UP,
            state_index: DEFAULT_STATE_INDEX.to_string(),
            executions_index: DEFAULT_EXECUTIONS_INDEX.to_string(),
            execution_retention: DEFAULT_EXECUTION_RETENTION,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            eql: EqlPath::Auto,
        }
    }
}

/// How several `lookout run` instances share the rules (docs/operations.md, "Several
/// instances"): leases in the server, one per rule, renewed by a heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasesConfig {
    /// Whether the daemon takes leases (on by default; with one instance it holds them all).
    pub enabled: bool,
    /// This instance's name, unique among the instances (default: host name and process id).
    pub instance: String,
    /// How long a lease lasts without renewal (renewed every quarter of it).
    pub period: Duration,
    /// The index of the lease and heartbeat documents.
    pub index: String,
}

impl Default for LeasesConfig {
    fn default() -> Self {
        LeasesConfig {
            enabled: true,
            instance: default_instance_name(),
            period: DEFAULT_LEASE_PERIOD,
            index: DEFAULT_LEASES_INDEX.to_string(),
        }
    }
}

/// The host name and the process id, `host-1234` (the host name from the kernel, else
/// `$HOSTNAME`, else `lookout`).
pub fn default_instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "lookout".to_string());
    format!("{host}-{}", std::process::id())
}

/// The operator's HTTP endpoint of `lookout run` (/healthz, /readyz, /metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// Address and port to listen on; port 0 picks a free one (logged at start).
    pub listen: std::net::SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: DEFAULT_HTTP_LISTEN
                .parse()
                .expect("DEFAULT_HTTP_LISTEN is a valid socket address"),
        }
    }
}

/// How log events are written (to stderr).
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `lookout=debug,warn`); `RUST_LOG` replaces it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: DEFAULT_LOG_LEVEL.to_string(),
        }
    }
}

/// Readable lines for a terminal, or one JSON object per event for a log pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A password or key: its Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why the configuration could not be loaded. Messages name the file (with line:col when
/// known) or the environment variable, and the key; they never contain secret values.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the configuration file: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}{}: {message}", path.display(), position_suffix(*.position))]
    Syntax {
        path: PathBuf,
        /// 1-based line and column, when the parser knows them.
        position: Option<(usize, usize)>,
        message: String,
    },
    #[error("{origin}: `{key}`: {message}")]
    Invalid {
        /// The file path, the environment variable, or "defaults".
        origin: String,
        key: String,
        message: String,
    },
    #[error("{origin}: `{key}`: cannot read the secret file {}: {source}", path.display())]
    SecretFile {
        origin: String,
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn position_suffix(position: Option<(usize, usize)>) -> String {
    match position {
        Some((line, column)) => format!(":{line}:{column}"),
        None => String::new(),
    }
}
