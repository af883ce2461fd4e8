//! Turns the raw (file + environment) shape into a checked [`Config`], applying defaults and
//! reading secret files. Every error names the key and where its value came from.

use super::raw::{DurationText, RawConfig};
use super::redact_userinfo;
use super::{
    AlertsConfig, Config, ConfigError, DEFAULT_ALERTS_INDEX, DEFAULT_CLOCK_TOLERANCE,
    DEFAULT_CONCURRENCY, DEFAULT_ES_URL, DEFAULT_EXECUTION_RETENTION, DEFAULT_EXECUTIONS_INDEX,
    DEFAULT_MAX_CATCH_UP, DEFAULT_NAMESPACE, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SHUTDOWN_GRACE,
    DEFAULT_STATE_INDEX, ElasticsearchConfig, EngineConfig, EqlPath, HttpConfig, LeasesConfig,
    LogConfig, LogFormat, MAX_CONCURRENCY, MIN_EXECUTION_RETENTION, MIN_LEASE_PERIOD,
    RolloverConfig, RulesConfig, Secret,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest index name Elasticsearch accepts, in bytes.
const MAX_INDEX_NAME_BYTES: usize = 255;

/// Says where a key's value came from, for error messages.
struct Origins<'a> {
    raw_env: &'a std::collections::BTreeMap<&'static str, String>,
    file: Option<&'a Path>,
    /// The file's text, for the line and column of a key it sets.
    text: Option<&'a str>,
}

impl Origins<'_> {
    fn of(&self, key: &str) -> String {
        if let Some(origin) = self.raw_env.get(key) {
            return origin.clone();
        }
        match self.file {
            Some(path) => file_origin(path, self.text, key),
            None => "defaults".to_string(),
        }
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.of(key),
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// `path:line:col` of the key's value when the file's text sets it, else `path`.
fn file_origin(path: &Path, text: Option<&str>, key: &str) -> String {
    match text.and_then(|text| super::raw::key_position(text, key)) {
        Some((line, column)) => format!("{}:{line}:{column}", path.display()),
        None => path.display().to_string(),
    }
}

pub(super) fn validate(
    mut raw: RawConfig,
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let notify_origin = file.map_or_else(|| "defaults".to_string(), |p| p.display().to_string());
    let notify = super::notify::validate(
        std::mem::take(&mut raw.notify),
        &super::notify::Place {
            origin: &notify_origin,
            text: file.and(raw.text.as_deref()),
        },
        env,
    )?;
    let origins = Origins {
        raw_env: &raw.from_env,
        file,
        text: raw.text.as_deref(),
    };
    Ok(Config {
        elasticsearch: elasticsearch(&raw, &origins)?,
        rules: rules(&raw, &origins)?,
        alerts: alerts(&raw, &origins)?,
        engine: engine(&raw, &origins)?,
        http: http(&raw, &origins)?,
        leases: leases(&raw, &origins)?,
        log: log(&raw, &origins)?,
        notify,
    })
}

fn elasticsearch(raw: &RawConfig, origins: &Origins) -> Result<ElasticsearchConfig, ConfigError> {
    let es = &raw.elasticsearch;
    let url = es.url.clone().unwrap_or_else(|| DEFAULT_ES_URL.to_string());
    check_url(&url).map_err(|message| origins.invalid("elasticsearch.url", message))?;
    let password = secret(
        origins,
        "elasticsearch.password",
        &es.password,
        &es.password_file,
    )?;
    let api_key = secret(
        origins,
        "elasticsearch.api_key",
        &es.api_key,
        &es.api_key_file,
    )?;
    if let Some(key) = &api_key {
        check_api_key(key).map_err(|m| origins.invalid("elasticsearch.api_key", m))?;
    }
    let username = es.username.clone().filter(|name| !name.is_empty());
    if username.is_some() && password.is_none() {
        return Err(origins.invalid(
            "elasticsearch.username",
            "a username needs a password (or password_file)",
        ));
    }
    if username.is_none() && password.is_some() {
        return Err(origins.invalid("elasticsearch.password", "a password needs a username"));
    }
    if username.is_some() && api_key.is_some() {
        return Err(origins.invalid(
            "elasticsearch.api_key",
            "use either an API key or a username and password, not both",
        ));
    }
    let cloud_id = es.cloud_id.clone().filter(|id| !id.trim().is_empty());
    if let Some(id) = &cloud_id {
        elasticsearch::http::transport::CloudId::parse(id).map_err(|e| {
            origins.invalid(
                "elasticsearch.cloud_id",
                format!("not a valid cloud id: {e}"),
            )
        })?;
    }
    Ok(ElasticsearchConfig {
        url,
        username,
        password,
        api_key,
        cloud_id,
        ca_file: es.ca_file.clone(),
        verify_tls: es.verify_tls.unwrap_or(true),
        request_timeout: std_duration(es.request_timeout, DEFAULT_REQUEST_TIMEOUT),
        clock_tolerance: std_duration(es.clock_tolerance, DEFAULT_CLOCK_TOLERANCE),
    })
}

/// The environment variables whose flags take a URL.
const URL_VARS: &[&str] = &["LOOKOUT_ES_URL"];

/// Refuses a URL flag whose userinfo holds a password: other users can read a process's
/// arguments, so no flag takes a secret. The error never repeats the password.
pub(super) fn refuse_passwords_in_flags(overrides: &[super::Override]) -> Result<(), ConfigError> {
    for flag in overrides.iter().filter(|o| URL_VARS.contains(&o.env_var)) {
        let has_password = elasticsearch::http::Url::parse(&flag.value)
            .is_ok_and(|url| url.password().is_some_and(|p| !p.is_empty()));
        if has_password {
            return Err(ConfigError::Invalid {
                origin: format!("command-line flag {}", flag.flag),
                key: "elasticsearch.url".to_string(),
                message: format!(
                    "{:?} holds a password, which a command line must not carry (other users \
                     can read a process's arguments): give the user with --es-username and the \
                     password in a file (--es-password-file, LOOKOUT_ES_PASSWORD_FILE, \
                     elasticsearch.password_file) or in LOOKOUT_ES_PASSWORD",
                    redact_userinfo(&flag.value)
                ),
            });
        }
    }
    Ok(())
}

/// An API key can only be sent in an HTTP header as visible ASCII (base64 `encoded`, or
/// `id:api_key`); anything else (a newline, a control character, a space) would break the
/// request. The message says where, never what the key is.
fn check_api_key(key: &Secret) -> Result<(), String> {
    match key.expose().chars().position(|c| !c.is_ascii_graphic()) {
        None => Ok(()),
        Some(at) => Err(format!(
            "the API key holds a character that cannot be sent in an HTTP header (a control \
             character, space or non-ASCII character at position {}); the key is not shown",
            at + 1
        )),
    }
}

/// A URL the client can use: http or https, with a host. The message never repeats userinfo.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = elasticsearch::http::Url::parse(url)
        .map_err(|e| format!("{:?} is not a URL: {e}", redact_userinfo(url)))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        let shown = redact_userinfo(url);
        let hint = if url.contains("://") {
            String::new()
        } else {
            format!(" (add the scheme: \"http://{shown}\")")
        };
        return Err(format!(
            "{shown:?} must be an http:// or https:// URL with a host{hint}"
        ));
    }
    Ok(())
}

/// A secret given inline or in a file (trailing newline dropped), not both.
fn secret(
    origins: &Origins,
    key: &str,
    inline: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<Secret>, ConfigError> {
    let file_key = format!("{key}_file");
    match (inline, file) {
        (Some(_), Some(_)) => Err(origins.invalid(
            &file_key,
            format!("set either `{key}` or `{file_key}`, not both"),
        )),
        (Some(value), None) => {
            Ok(Some(Secret::new(value.clone())).filter(|s| !s.expose().is_empty()))
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
                origin: origins.of(&file_key),
                key: file_key.clone(),
                path: path.clone(),
                source,
            })?;
            let value = text.trim_end_matches(['\n', '\r']).to_string();
            if value.is_empty() {
                return Err(origins.invalid(
                    &file_key,
                    format!("the secret file {} is empty", path.display()),
                ));
            }
            Ok(Some(Secret::new(value)))
        }
        (None, None) => Ok(None),
    }
}

fn rules(raw: &RawConfig, origins: &Origins) -> Result<RulesConfig, ConfigError> {
    let defaults = RulesConfig::default();
    let folders = raw.rules.folders.clone().unwrap_or(defaults.folders);
    if folders.is_empty() || folders.iter().any(|f| f.as_os_str().is_empty()) {
        return Err(origins.invalid(
            "rules.folders",
            "name at least one folder, none of them empty",
        ));
    }
    let exception_folders =
        (raw.rules.exception_folders.clone()).unwrap_or(defaults.exception_folders);
    if exception_folders.iter().any(|f| f.as_os_str().is_empty()) {
        return Err(origins.invalid(
            "rules.exception_folders",
            "a folder name is empty (an empty list means no exception lists)",
        ));
    }
    Ok(RulesConfig {
        folders,
        exception_folders,
        include_deprecated: raw
            .rules
            .include_deprecated
            .unwrap_or(defaults.include_deprecated),
    })
}

fn alerts(raw: &RawConfig, origins: &Origins) -> Result<AlertsConfig, ConfigError> {
    let index = raw
        .alerts
        .index
        .clone()
        .unwrap_or_else(|| DEFAULT_ALERTS_INDEX.to_string());
    check_index_name(&index).map_err(|m| origins.invalid("alerts.index", m))?;
    let namespace = raw
        .alerts
        .namespace
        .clone()
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    check_namespace(&namespace).map_err(|m| origins.invalid("alerts.namespace", m))?;
    Ok(AlertsConfig {
        index,
        namespace,
        rollover: rollover(&raw.alerts, origins)?,
    })
}

/// The rollover conditions: each unset key keeps its default, and `"0"` (or `0` documents)
/// turns that condition off; at least one must stay on.
fn rollover(
    alerts: &super::raw::RawAlerts,
    origins: &Origins,
) -> Result<RolloverConfig, ConfigError> {
    let defaults = RolloverConfig::default();
    let max_age = match alerts.rollover_max_age.as_deref().map(str::trim) {
        None => defaults.max_age,
        Some("0") => None,
        Some(age) => Some(
            crate::schedule::duration::parse_duration(age)
                .map_err(|m| origins.invalid("alerts.rollover_max_age", m))?,
        ),
    };
    let max_size = match alerts.rollover_max_size.as_deref().map(str::trim) {
        None => defaults.max_size,
        Some("0") => None,
        Some(size) => {
            check_byte_size(size).map_err(|m| origins.invalid("alerts.rollover_max_size", m))?;
            Some(size.to_ascii_lowercase())
        }
    };
    let max_docs = alerts.rollover_max_docs.filter(|docs| *docs > 0);
    if max_age.is_none() && max_size.is_none() && max_docs.is_none() {
        return Err(origins.invalid(
            "alerts.rollover_max_age",
            "alerts.rollover_max_age, rollover_max_size and rollover_max_docs are all off: keep one, or the alerts index never rolls over",
        ));
    }
    Ok(RolloverConfig {
        max_age,
        max_size,
        max_docs,
    })
}

/// A byte size as Elasticsearch writes it: digits and one of b, kb, mb, gb, tb, pb.
fn check_byte_size(text: &str) -> Result<(), String> {
    let lower = text.to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &lower[digits.len()..];
    let number_ok = !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit());
    if number_ok && ["b", "kb", "mb", "gb", "tb", "pb"].contains(&unit) && digits != "0" {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not a size such as \"50gb\" (a whole number and b, kb, mb, gb, tb or pb)"
        ))
    }
}

fn engine(raw: &RawConfig, origins: &Origins) -> Result<EngineConfig, ConfigError> {
    let engine = &raw.engine;
    let concurrency = engine.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
        return Err(origins.invalid(
            "engine.concurrency",
            format!("{concurrency} is not between 1 and {MAX_CONCURRENCY}"),
        ));
    }
    let state_index = engine
        .state_index
        .clone()
        .unwrap_or_else(|| DEFAULT_STATE_INDEX.to_string());
    check_index_name(&state_index).map_err(|m| origins.invalid("engine.state_index", m))?;
    let executions_index = engine
        .executions_index
        .clone()
        .unwrap_or_else(|| DEFAULT_EXECUTIONS_INDEX.to_string());
    check_index_name(&executions_index)
        .map_err(|m| origins.invalid("engine.executions_index", m))?;
    if executions_index == state_index {
        return Err(origins.invalid(
            "engine.executions_index",
            "must differ from engine.state_index",
        ));
    }
    let execution_retention = engine
        .execution_retention
        .map_or(DEFAULT_EXECUTION_RETENTION, |d| d.0);
    if execution_retention < MIN_EXECUTION_RETENTION {
        return Err(origins.invalid(
            "engine.execution_retention",
            format!("must be at least {}h", MIN_EXECUTION_RETENTION.num_hours()),
        ));
    }
    let eql = match engine.eql.as_deref().map(str::trim) {
        None | Some("auto") => EqlPath::Auto,
        Some("native") => EqlPath::Native,
        Some("local") => EqlPath::Local,
        Some(other) => {
            return Err(origins.invalid(
                "engine.eql",
                format!("{other:?} is not \"auto\", \"native\" or \"local\""),
            ));
        }
    };
    Ok(EngineConfig {
        eql,
        concurrency,
        max_catch_up: engine.max_catch_up.map_or(DEFAULT_MAX_CATCH_UP, |d| d.0),
        state_index,
        executions_index,
        execution_retention,
        shutdown_grace: std_duration(engine.shutdown_grace, DEFAULT_SHUTDOWN_GRACE),
    })
}

fn leases(raw: &RawConfig, origins: &Origins) -> Result<LeasesConfig, ConfigError> {
    let leases = &raw.leases;
    let defaults = LeasesConfig::default();
    let instance = leases.instance.clone().unwrap_or(defaults.instance);
    if instance.is_empty() || instance.len() > 200 || instance.chars().any(char::is_control) {
        return Err(origins.invalid(
            "leases.instance",
            "must be 1 to 200 characters without control characters",
        ));
    }
    let period = std_duration(leases.period, defaults.period);
    if period < MIN_LEASE_PERIOD {
        return Err(origins.invalid(
            "leases.period",
            format!("must be at least {}s", MIN_LEASE_PERIOD.as_secs()),
        ));
    }
    let index = leases.index.clone().unwrap_or(defaults.index);
    check_index_name(&index).map_err(|m| origins.invalid("leases.index", m))?;
    let engine = &raw.engine;
    let clashes = [
        engine.state_index.as_deref(),
        engine.executions_index.as_deref(),
    ]
    .into_iter()
    .zip([DEFAULT_STATE_INDEX, DEFAULT_EXECUTIONS_INDEX])
    .any(|(set, default)| set.unwrap_or(default) == index);
    if clashes {
        return Err(origins.invalid(
            "leases.index",
            "must differ from engine.state_index and engine.executions_index",
        ));
    }
    Ok(LeasesConfig {
        enabled: leases.enabled.unwrap_or(defaults.enabled),
        instance,
        period,
        index,
    })
}

fn http(raw: &RawConfig, origins: &Origins) -> Result<HttpConfig, ConfigError> {
    let Some(text) = &raw.http.listen else {
        return Ok(HttpConfig::default());
    };
    let listen = text.trim().parse().map_err(|_| {
        origins.invalid(
            "http.listen",
            format!("{text:?} is not an address and port such as \"127.0.0.1:9464\""),
        )
    })?;
    Ok(HttpConfig { listen })
}

fn log(raw: &RawConfig, origins: &Origins) -> Result<LogConfig, ConfigError> {
    let defaults = LogConfig::default();
    let format = match raw.log.format.as_deref().map(str::trim) {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(origins.invalid(
                "log.format",
                format!("{other:?} is neither \"text\" nor \"json\""),
            ));
        }
    };
    let level = raw.log.level.clone().unwrap_or(defaults.level);
    tracing_subscriber::EnvFilter::try_new(&level)
        .map_err(|e| origins.invalid("log.level", format!("{level:?} is not a log filter: {e}")))?;
    Ok(LogConfig { format, level })
}

fn std_duration(value: Option<DurationText>, default: Duration) -> Duration {
    value.and_then(|d| d.0.to_std().ok()).unwrap_or(default)
}

/// Elasticsearch's rules for a concrete index (or alias) name.
pub(crate) fn check_index_name(name: &str) -> Result<(), String> {
    const FORBIDDEN: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("{name:?} is not an index name"));
    }
    if name.len() > MAX_INDEX_NAME_BYTES {
        return Err(format!(
            "{name:?} is longer than {MAX_INDEX_NAME_BYTES} bytes"
        ));
    }
    if name.starts_with(['-', '_', '+'])
        || name
            .chars()
            .any(|c| c.is_uppercase() || FORBIDDEN.contains(&c))
    {
        return Err(format!(
            "{name:?} is not a valid index name (lowercase, no leading - _ +, none of \\ / * ? \" < > | , # : or spaces)"
        ));
    }
    Ok(())
}

/// A Kibana space id: lowercase letters, digits, `_` and `-`.
fn check_namespace(namespace: &str) -> Result<(), String> {
    let valid = !namespace.is_empty()
        && namespace
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{namespace:?} may only hold lowercase letters, digits, _ and -"
        ))
    }
}
