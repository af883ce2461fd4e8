//! What every command shares: the global flags (configuration file, server, credentials files,
//! TLS, rules, indices, logging) layered over the environment and the file as
//! defaults < file < `LOOKOUT_*` environment < flags, the log set-up, the async runtime and the
//! server client.

use anyhow::Context;
use lookout::Client;
use lookout::{Config, Override};
use std::path::{Path, PathBuf};

/// Loads rule files and folders with the configured exception lists (`rules.exception_folders`,
/// `LOOKOUT_EXCEPTION_FOLDERS` or `--exceptions`), printing each warning (an unknown key, with
/// the key it likely misspells) on stderr as `path:line:col: warning: message`.
pub fn load_rule_paths(config: &Config, paths: &[PathBuf]) -> lookout::LoadReport {
    let catalog = lookout::ExceptionCatalog::load(&config.rules.exception_folders);
    let report = lookout::load_paths_with(paths, &catalog);
    for warning in &report.warnings {
        eprintln!("{}", warning_line(warning));
    }
    report
}

/// A load warning as one line: `path:line:col: warning: message`, escaped for the terminal.
pub fn warning_line(warning: &lookout::Diagnostic) -> String {
    let path = warning.path.display().to_string();
    format!(
        "{}:{}:{}: warning: {}",
        lookout::printable(&path),
        warning.line,
        warning.column,
        lookout::printable(&warning.message)
    )
}

/// The environment variable naming the configuration file when `--config` is absent.
pub const CONFIG_VAR: &str = "LOOKOUT_CONFIG";
/// The configuration file read when neither `--config` nor [`CONFIG_VAR`] names one, if it exists.
pub const DEFAULT_CONFIG_PATH: &str = "config/lookout.toml";

/// The help heading of the flags every command shares, shown after each command's own.
pub const SHARED_HEADING: &str = "Shared options (configuration, server, rules, logging)";

/// Flags every command accepts (before or after the subcommand).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GlobalArgs {
    /// Configuration file [default: config/lookout.toml when it exists; env: LOOKOUT_CONFIG].
    #[arg(long, global = true, help_heading = SHARED_HEADING, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Elasticsearch URL (replaces elasticsearch.url).
    #[arg(long, global = true, help_heading = SHARED_HEADING, value_name = "URL")]
    pub es_url: Option<String>,
    /// Basic authentication user (replaces elasticsearch.username).
    #[arg(long, global = true, help_heading = SHARED_HEADING, value_name = "NAME")]
    pub es_username: Option<String>,
    /// File holding the password (passwords are never taken on the command line).
    #[arg(long, global = true, help_heading = SHARED_HEADING, value_name = "PATH")]
    pub es_password_file: Option<PathBuf>,
    /// File holding an API key (base64 `encoded` or `id:api_key`).
    #[arg(long, global = true, help_heading = SHARED_HEADING, value_name = "PATH")]
    pub es_api_key_file: Option<PathBuf>,
    /// Elastic Cloud deployment id (replaces the URL).
    #[arg(long, global = true, help_heading = SHARED_HEADING, value_name = "ID")]
    pub es_cloud_id: Option<String>,
    /// PEM file of the CA that signed the server's certificate.
    #[arg(long, global = true, help_heading = SHARED_HEADING, value_name = "PATH")]
    pub es_ca_file: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (local testing only; logs a warning).
    #[arg(long, global = true, help_heading = SHARED_HEADING)]
    pub insecure: bool,
    /// A rule folder or file (repeat for several; replaces rules.folders).
    #[arg(long = "rules", global = true, help_heading = SHARED_HEADING, value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// A folder or file of exception lists (repeat for several; replaces
    /// rules.exception_folders).
    #[arg(long = "exceptions", global = true, help_heading = SHARED_HEADING, value_name = "PATH")]
    pub exceptions: Vec<PathBuf>,
    /// The alerts index (replaces alerts.index).
    #[arg(long, global = true, help_heading = SHARED_HEADING, value_name = "INDEX")]
    pub alerts_index: Option<String>,
    /// The namespace alerts belong to (replaces alerts.namespace).
    #[arg(long, global = true, help_heading = SHARED_HEADING, value_name = "NAME")]
    pub namespace: Option<String>,
    /// Address of the /healthz, /readyz and /metrics endpoint (replaces http.listen).
    #[arg(long, global = true, help_heading = SHARED_HEADING, value_name = "ADDR:PORT")]
    pub http_listen: Option<String>,
    /// Log format (replaces log.format).
    #[arg(long, global = true, help_heading = SHARED_HEADING, value_name = "FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// Log filter such as `debug` or `lookout=debug,warn` (replaces RUST_LOG and log.level).
    #[arg(long, global = true, help_heading = SHARED_HEADING, value_name = "FILTER")]
    pub log_level: Option<String>,
}

impl GlobalArgs {
    /// The flags that were given, as overrides of the environment variables they replace.
    pub fn overrides(&self) -> Vec<Override> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let joined = |paths: &[PathBuf]| {
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            (!names.is_empty()).then(|| names.join(","))
        };
        let folders = joined(&self.rules);
        let exceptions = joined(&self.exceptions);
        let verify = self.insecure.then(|| "false".to_string());
        let given = [
            ("LOOKOUT_ES_URL", "--es-url", self.es_url.clone()),
            (
                "LOOKOUT_ES_USERNAME",
                "--es-username",
                self.es_username.clone(),
            ),
            (
                "LOOKOUT_ES_PASSWORD_FILE",
                "--es-password-file",
                path(&self.es_password_file),
            ),
            (
                "LOOKOUT_ES_API_KEY_FILE",
                "--es-api-key-file",
                path(&self.es_api_key_file),
            ),
            (
                "LOOKOUT_ES_CLOUD_ID",
                "--es-cloud-id",
                self.es_cloud_id.clone(),
            ),
            ("LOOKOUT_ES_CA_FILE", "--es-ca-file", path(&self.es_ca_file)),
            ("LOOKOUT_ES_VERIFY_TLS", "--insecure", verify),
            ("LOOKOUT_RULES_FOLDERS", "--rules", folders),
            ("LOOKOUT_EXCEPTION_FOLDERS", "--exceptions", exceptions),
            (
                "LOOKOUT_ALERTS_INDEX",
                "--alerts-index",
                self.alerts_index.clone(),
            ),
            ("LOOKOUT_NAMESPACE", "--namespace", self.namespace.clone()),
            (
                "LOOKOUT_HTTP_LISTEN",
                "--http-listen",
                self.http_listen.clone(),
            ),
            (
                "LOOKOUT_LOG_FORMAT",
                "--log-format",
                self.log_format.clone(),
            ),
        ];
        given
            .into_iter()
            .filter_map(|(env_var, flag, value)| {
                value.map(|value| Override {
                    env_var,
                    flag,
                    value,
                })
            })
            .collect()
    }

    /// Which configuration file to read: `--config`, else [`CONFIG_VAR`], else
    /// [`DEFAULT_CONFIG_PATH`] when it exists, else none (defaults and environment only).
    pub fn config_path(&self, env_lookup: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        if let Some(path) = &self.config {
            return Some(path.clone());
        }
        if let Some(path) = env_lookup(CONFIG_VAR).filter(|p| !p.trim().is_empty()) {
            return Some(PathBuf::from(path.trim()));
        }
        Some(PathBuf::from(DEFAULT_CONFIG_PATH)).filter(|p| Path::new(p).is_file())
    }
}

/// Loads the configuration with every layer, then sets up logging from it.
pub fn load(global: &GlobalArgs) -> anyhow::Result<Config> {
    load_logging_at(global, lookout::DEFAULT_LOG_LEVEL)
}

/// [`load`], with `level` as the log filter when `log.level` is left at its default (`--log-level`
/// and `RUST_LOG` still win): a command that reports its own progress (backfill) logs warnings
/// only, instead of a line per execution.
pub fn load_logging_at(global: &GlobalArgs, level: &str) -> anyhow::Result<Config> {
    let env = |name: &str| std::env::var(name).ok();
    let path = global.config_path(&env);
    let mut config = Config::load_layered(path.as_deref(), env, &global.overrides())?;
    let mut log = config.log.clone();
    if log.level == lookout::DEFAULT_LOG_LEVEL {
        log.level = level.to_string();
    }
    lookout::init_logging(&log, global.log_level.as_deref())?;
    config.log.level = log.level;
    Ok(config)
}

/// A multi-threaded tokio runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The server client of this configuration.
pub fn client(config: &Config) -> anyhow::Result<Client> {
    Ok(Client::new(&config.elasticsearch)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        global: GlobalArgs,
    }

    fn parse(args: &[&str]) -> GlobalArgs {
        let mut argv = vec!["lookout"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("valid flags").global
    }

    #[test]
    fn flags_become_overrides_of_their_environment_variables() {
        let global = parse(&[
            "--es-url",
            "http://flag:9200",
            "--rules",
            "a",
            "--rules",
            "b",
            "--insecure",
        ]);
        let overrides = global.overrides();
        let find = |var: &str| {
            overrides
                .iter()
                .find(|o| o.env_var == var)
                .map(|o| o.value.as_str())
        };
        assert_eq!(find("LOOKOUT_ES_URL"), Some("http://flag:9200"));
        assert_eq!(find("LOOKOUT_RULES_FOLDERS"), Some("a,b"));
        assert_eq!(find("LOOKOUT_ES_VERIFY_TLS"), Some("false"));
        assert_eq!(find("LOOKOUT_NAMESPACE"), None);
    }

    #[test]
    fn flags_win_over_the_environment() {
        let global = parse(&["--namespace", "flagged"]);
        let env = |name: &str| (name == "LOOKOUT_NAMESPACE").then(|| "from-env".to_string());
        let config = Config::load_layered(None, env, &global.overrides()).expect("valid");
        assert_eq!(config.alerts.namespace, "flagged");
    }

    #[test]
    fn the_config_flag_wins_over_the_config_variable() {
        let global = parse(&["--config", "a.toml"]);
        let env = |_: &str| Some("b.toml".to_string());
        assert_eq!(global.config_path(&env), Some(PathBuf::from("a.toml")));
        let global = parse(&[]);
        assert_eq!(global.config_path(&env), Some(PathBuf::from("b.toml")));
    }
}
