//! `LOOKOUT_*` environment variables laid over the file's values. An empty variable counts as
//! unset (docker-compose passes `VAR=` for blanks in `.env`).

use super::ConfigError;
use super::raw::{DurationText, RawConfig};
use std::path::PathBuf;

/// Every environment variable lookout reads (`config/lookout.toml` says which key each sets).
pub const ENV_VARS: &[&str] = &[
    URL,
    USERNAME,
    PASSWORD,
    PASSWORD_FILE,
    API_KEY,
    API_KEY_FILE,
    CLOUD_ID,
    CA_FILE,
    VERIFY_TLS,
    REQUEST_TIMEOUT,
    CLOCK_TOLERANCE,
    RULES_FOLDERS,
    EXCEPTION_FOLDERS,
    INCLUDE_DEPRECATED,
    ALERTS_INDEX,
    NAMESPACE,
    CONCURRENCY,
    MAX_CATCH_UP,
    STATE_INDEX,
    EXECUTIONS_INDEX,
    SHUTDOWN_GRACE,
    HTTP_LISTEN,
    LEASES,
    INSTANCE,
    LEASE_PERIOD,
    LEASES_INDEX,
    LOG_FORMAT,
    LOG_LEVEL,
];

const URL: &str = "LOOKOUT_ES_URL";
const USERNAME: &str = "LOOKOUT_ES_USERNAME";
const PASSWORD: &str = "LOOKOUT_ES_PASSWORD";
const PASSWORD_FILE: &str = "LOOKOUT_ES_PASSWORD_FILE";
const API_KEY: &str = "LOOKOUT_ES_API_KEY";
const API_KEY_FILE: &str = "LOOKOUT_ES_API_KEY_FILE";
const CLOUD_ID: &str = "LOOKOUT_ES_CLOUD_ID";
const CA_FILE: &str = "LOOKOUT_ES_CA_FILE";
const VERIFY_TLS: &str = "LOOKOUT_ES_VERIFY_TLS";
const REQUEST_TIMEOUT: &str = "LOOKOUT_ES_REQUEST_TIMEOUT";
const CLOCK_TOLERANCE: &str = "LOOKOUT_ES_CLOCK_TOLERANCE";
const RULES_FOLDERS: &str = "LOOKOUT_RULES_FOLDERS";
const EXCEPTION_FOLDERS: &str = "LOOKOUT_EXCEPTION_FOLDERS";
const INCLUDE_DEPRECATED: &str = "LOOKOUT_RULES_INCLUDE_DEPRECATED";
const ALERTS_INDEX: &str = "LOOKOUT_ALERTS_INDEX";
const NAMESPACE: &str = "LOOKOUT_NAMESPACE";
const CONCURRENCY: &str = "LOOKOUT_CONCURRENCY";
const MAX_CATCH_UP: &str = "LOOKOUT_MAX_CATCH_UP";
const STATE_INDEX: &str = "LOOKOUT_STATE_INDEX";
const EXECUTIONS_INDEX: &str = "LOOKOUT_EXECUTIONS_INDEX";
const SHUTDOWN_GRACE: &str = "LOOKOUT_SHUTDOWN_GRACE";
const HTTP_LISTEN: &str = "LOOKOUT_HTTP_LISTEN";
const LEASES: &str = "LOOKOUT_LEASES";
const INSTANCE: &str = "LOOKOUT_INSTANCE";
const LEASE_PERIOD: &str = "LOOKOUT_LEASE_PERIOD";
const LEASES_INDEX: &str = "LOOKOUT_LEASES_INDEX";
const LOG_FORMAT: &str = "LOOKOUT_LOG_FORMAT";
const LOG_LEVEL: &str = "LOOKOUT_LOG_LEVEL";

/// Reads one variable; blank values count as unset. `describe` names where a variable's value
/// came from in errors ("environment variable LOOKOUT_ES_URL", "command-line flag --es-url").
struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    describe: &'a dyn Fn(&str) -> String,
}

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.trim().is_empty())
    }

    fn invalid(&self, var: &str, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            origin: (self.describe)(var),
            key: key.to_string(),
            message,
        }
    }
}

/// How an environment variable is named in errors.
pub(super) fn describe_env(var: &str) -> String {
    format!("environment variable {var}")
}

/// Lays the environment (or command-line values keyed by the variable they replace) over
/// `raw`, recording which keys it set and where from.
pub(super) fn apply(
    raw: &mut RawConfig,
    lookup: &dyn Fn(&str) -> Option<String>,
    describe: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    let env = Env { lookup, describe };
    let mut set = Vec::new();
    let es = &mut raw.elasticsearch;
    text(&env, URL, &mut es.url, &mut set, "elasticsearch.url");
    text(
        &env,
        USERNAME,
        &mut es.username,
        &mut set,
        "elasticsearch.username",
    );
    text(
        &env,
        PASSWORD,
        &mut es.password,
        &mut set,
        "elasticsearch.password",
    );
    path(
        &env,
        PASSWORD_FILE,
        &mut es.password_file,
        &mut set,
        "elasticsearch.password_file",
    );
    text(
        &env,
        API_KEY,
        &mut es.api_key,
        &mut set,
        "elasticsearch.api_key",
    );
    path(
        &env,
        API_KEY_FILE,
        &mut es.api_key_file,
        &mut set,
        "elasticsearch.api_key_file",
    );
    text(
        &env,
        CLOUD_ID,
        &mut es.cloud_id,
        &mut set,
        "elasticsearch.cloud_id",
    );
    path(
        &env,
        CA_FILE,
        &mut es.ca_file,
        &mut set,
        "elasticsearch.ca_file",
    );
    if let Some(value) = env.get(VERIFY_TLS) {
        es.verify_tls = Some(parse_bool(
            &env,
            VERIFY_TLS,
            "elasticsearch.verify_tls",
            &value,
        )?);
        set.push(("elasticsearch.verify_tls", VERIFY_TLS));
    }
    duration(
        &env,
        REQUEST_TIMEOUT,
        &mut es.request_timeout,
        &mut set,
        "elasticsearch.request_timeout",
    )?;
    duration(
        &env,
        CLOCK_TOLERANCE,
        &mut es.clock_tolerance,
        &mut set,
        "elasticsearch.clock_tolerance",
    )?;
    if let Some(value) = env.get(RULES_FOLDERS) {
        raw.rules.folders = Some(split_folders(&value));
        set.push(("rules.folders", RULES_FOLDERS));
    }
    if let Some(value) = env.get(EXCEPTION_FOLDERS) {
        raw.rules.exception_folders = Some(split_folders(&value));
        set.push(("rules.exception_folders", EXCEPTION_FOLDERS));
    }
    if let Some(value) = env.get(INCLUDE_DEPRECATED) {
        let key = "rules.include_deprecated";
        raw.rules.include_deprecated = Some(parse_bool(&env, INCLUDE_DEPRECATED, key, &value)?);
        set.push((key, INCLUDE_DEPRECATED));
    }
    text(
        &env,
        ALERTS_INDEX,
        &mut raw.alerts.index,
        &mut set,
        "alerts.index",
    );
    text(
        &env,
        NAMESPACE,
        &mut raw.alerts.namespace,
        &mut set,
        "alerts.namespace",
    );
    let engine = &mut raw.engine;
    if let Some(value) = env.get(CONCURRENCY) {
        engine.concurrency = Some(value.trim().parse().map_err(|_| {
            env.invalid(
                CONCURRENCY,
                "engine.concurrency",
                format!("{value:?} is not a whole number"),
            )
        })?);
        set.push(("engine.concurrency", CONCURRENCY));
    }
    duration(
        &env,
        MAX_CATCH_UP,
        &mut engine.max_catch_up,
        &mut set,
        "engine.max_catch_up",
    )?;
    text(
        &env,
        STATE_INDEX,
        &mut engine.state_index,
        &mut set,
        "engine.state_index",
    );
    text(
        &env,
        EXECUTIONS_INDEX,
        &mut engine.executions_index,
        &mut set,
        "engine.executions_index",
    );
    duration(
        &env,
        SHUTDOWN_GRACE,
        &mut engine.shutdown_grace,
        &mut set,
        "engine.shutdown_grace",
    )?;
    text(
        &env,
        HTTP_LISTEN,
        &mut raw.http.listen,
        &mut set,
        "http.listen",
    );
    text(
        &env,
        LOG_FORMAT,
        &mut raw.log.format,
        &mut set,
        "log.format",
    );
    text(&env, LOG_LEVEL, &mut raw.log.level, &mut set, "log.level");
    if let Some(value) = env.get(LEASES) {
        raw.leases.enabled = Some(parse_bool(&env, LEASES, "leases.enabled", &value)?);
        set.push(("leases.enabled", LEASES));
    }
    let leases = &mut raw.leases;
    text(
        &env,
        INSTANCE,
        &mut leases.instance,
        &mut set,
        "leases.instance",
    );
    duration(
        &env,
        LEASE_PERIOD,
        &mut leases.period,
        &mut set,
        "leases.period",
    )?;
    text(
        &env,
        LEASES_INDEX,
        &mut leases.index,
        &mut set,
        "leases.index",
    );
    raw.from_env
        .extend(set.into_iter().map(|(key, var)| (key, (env.describe)(var))));
    Ok(())
}

type Set = Vec<(&'static str, &'static str)>;

fn text(
    env: &Env,
    var: &'static str,
    field: &mut Option<String>,
    set: &mut Set,
    key: &'static str,
) {
    if let Some(value) = env.get(var) {
        *field = Some(value.trim().to_string());
        set.push((key, var));
    }
}

fn path(
    env: &Env,
    var: &'static str,
    field: &mut Option<PathBuf>,
    set: &mut Set,
    key: &'static str,
) {
    if let Some(value) = env.get(var) {
        *field = Some(PathBuf::from(value.trim()));
        set.push((key, var));
    }
}

fn duration(
    env: &Env,
    var: &'static str,
    field: &mut Option<DurationText>,
    set: &mut Set,
    key: &'static str,
) -> Result<(), ConfigError> {
    if let Some(value) = env.get(var) {
        *field =
            Some(DurationText::parse(&value).map_err(|message| env.invalid(var, key, message))?);
        set.push((key, var));
    }
    Ok(())
}

/// `true`/`false`, also `1`/`0`, `yes`/`no` (any case), as shells and compose files write them.
fn parse_bool(env: &Env, var: &str, key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(env.invalid(var, key, format!("{value:?} is not true or false"))),
    }
}

/// Splits a folder list on commas and colons, dropping blanks.
pub(super) fn split_folders(value: &str) -> Vec<PathBuf> {
    value
        .split([',', ':'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(PathBuf::from)
        .collect()
}
