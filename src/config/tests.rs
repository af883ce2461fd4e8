//! Configuration parsing, environment layering, validation and redaction (no I/O: the shipped
//! file is compiled in, the environment is a map).

use super::*;
use std::collections::HashMap;

const SHIPPED: &str = include_str!("../../config/lookout.toml");

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, Path::new("lookout.toml"), no_env)
}

fn with_env(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_toml_str(text, Path::new("lookout.toml"), move |name| {
        map.get(name).cloned()
    })
}

fn error_text(result: Result<Config, ConfigError>) -> String {
    result
        .expect_err("the configuration is invalid")
        .to_string()
}

#[test]
fn the_shipped_file_holds_exactly_the_defaults() {
    assert_eq!(
        parse(SHIPPED).expect("the shipped file is valid"),
        Config::default()
    );
}

#[test]
fn an_empty_file_gives_the_defaults() {
    assert_eq!(parse("").expect("valid"), Config::default());
}

#[test]
fn the_shipped_file_mentions_every_environment_variable() {
    for var in ENV_VARS {
        assert!(
            SHIPPED.contains(var),
            "config/lookout.toml does not document {var}"
        );
    }
}

#[test]
fn file_values_replace_defaults() {
    let config = parse(
        "[elasticsearch]\nurl = \"https://es.example:9243\"\nrequest_timeout = \"2m\"\n\
         [engine]\nconcurrency = 8\nmax_catch_up = \"2d\"\n[alerts]\nnamespace = \"soc-1\"\n",
    )
    .expect("valid");
    assert_eq!(config.elasticsearch.url, "https://es.example:9243");
    assert_eq!(
        config.elasticsearch.request_timeout,
        Duration::from_secs(120)
    );
    assert_eq!(config.engine.concurrency, 8);
    assert_eq!(config.engine.max_catch_up, TimeDelta::days(2));
    assert_eq!(config.alerts.namespace, "soc-1");
}

#[test]
fn the_clock_tolerance_comes_from_the_file_or_the_environment() {
    assert_eq!(
        parse("").expect("valid").elasticsearch.clock_tolerance,
        Duration::from_secs(30)
    );
    let text = "[elasticsearch]\nclock_tolerance = \"2m\"\n";
    let config = parse(text).expect("valid");
    assert_eq!(
        config.elasticsearch.clock_tolerance,
        Duration::from_secs(120)
    );
    let config = with_env(text, &[("LOOKOUT_ES_CLOCK_TOLERANCE", "5s")]).expect("valid");
    assert_eq!(config.elasticsearch.clock_tolerance, Duration::from_secs(5));
}

#[test]
fn environment_overrides_the_file() {
    let config = with_env(
        "[elasticsearch]\nurl = \"http://file:9200\"\n[engine]\nconcurrency = 2\n",
        &[
            ("LOOKOUT_ES_URL", "http://env:9200"),
            ("LOOKOUT_CONCURRENCY", "16"),
            ("LOOKOUT_ES_VERIFY_TLS", "false"),
            ("LOOKOUT_ALERTS_INDEX", "alerts-x"),
            ("LOOKOUT_NAMESPACE", "team"),
            ("LOOKOUT_MAX_CATCH_UP", "6h"),
        ],
    )
    .expect("valid");
    assert_eq!(config.elasticsearch.url, "http://env:9200");
    assert_eq!(config.engine.concurrency, 16);
    assert!(!config.elasticsearch.verify_tls);
    assert_eq!(config.alerts.index, "alerts-x");
    assert_eq!(config.alerts.namespace, "team");
    assert_eq!(config.engine.max_catch_up, TimeDelta::hours(6));
}

#[test]
fn an_empty_environment_variable_counts_as_unset() {
    let config = with_env(
        "[engine]\nconcurrency = 2\n",
        &[("LOOKOUT_CONCURRENCY", " ")],
    )
    .expect("valid");
    assert_eq!(config.engine.concurrency, 2);
}

#[test]
fn rule_folders_from_the_environment_split_on_commas_and_colons() {
    let config = with_env(
        "",
        &[("LOOKOUT_RULES_FOLDERS", "rules, more:/etc/lookout/rules,")],
    )
    .expect("valid");
    let expected: Vec<PathBuf> = ["rules", "more", "/etc/lookout/rules"]
        .iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(config.rules.folders, expected);
}

#[test]
fn exception_folders_default_to_exceptions_and_come_from_the_file_or_the_environment() {
    let defaults = with_env("", &[]).expect("valid");
    assert_eq!(
        defaults.rules.exception_folders,
        [PathBuf::from("exceptions")]
    );
    let file = with_env("[rules]\nexception_folders = []\n", &[]).expect("valid");
    assert!(
        file.rules.exception_folders.is_empty(),
        "an empty list loads no list"
    );
    let env = with_env(
        "[rules]\nexception_folders = [\"a\"]\n",
        &[("LOOKOUT_EXCEPTION_FOLDERS", "lists, /etc/lookout/lists")],
    )
    .expect("valid");
    let expected: Vec<PathBuf> = ["lists", "/etc/lookout/lists"]
        .iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(env.rules.exception_folders, expected);
    let error = with_env("[rules]\nexception_folders = [\"\"]\n", &[]).unwrap_err();
    assert!(
        error.to_string().contains("`rules.exception_folders`"),
        "{error}"
    );
}

#[test]
fn basic_credentials_come_from_the_environment() {
    let config = with_env(
        "",
        &[
            ("LOOKOUT_ES_USERNAME", "elastic"),
            ("LOOKOUT_ES_PASSWORD", "s3cret"),
        ],
    )
    .expect("valid");
    assert_eq!(config.elasticsearch.username.as_deref(), Some("elastic"));
    assert_eq!(
        config.elasticsearch.password.as_ref().map(Secret::expose),
        Some("s3cret")
    );
}

#[test]
fn an_unknown_key_is_refused_with_its_name_line_and_column() {
    let text = error_text(parse(
        "[elasticsearch]\nurl = \"http://x:9200\"\nhots = \"y\"\n",
    ));
    assert!(text.starts_with("lookout.toml:3:1:"), "{text}");
    assert!(text.contains("hots"), "{text}");
}

#[test]
fn every_unknown_key_is_reported_with_the_key_it_likely_misspells() {
    let text = error_text(parse(
        "top = 1\n[elasticsearch]\nurll = \"http://x\"\nrequest_timout = \"30s\"\n\
         [engine]\nconcurency = 3\n",
    ));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "lookout.toml:1:1: unknown key `top`",
            "lookout.toml:3:1: unknown key `elasticsearch.urll` (did you mean `elasticsearch.url`?)",
            "lookout.toml:4:1: unknown key `elasticsearch.request_timout` \
             (did you mean `elasticsearch.request_timeout`?)",
            "lookout.toml:6:1: unknown key `engine.concurency` (did you mean `engine.concurrency`?)",
        ]
    );
}

#[test]
fn a_duration_without_a_unit_reads_as_in_the_environment() {
    let text = error_text(parse("[elasticsearch]\nrequest_timeout = 30\n"));
    assert_eq!(
        text,
        "lookout.toml:2:19: duration 30 has no unit (use s, m, h or d, as in \"30s\")"
    );
}

#[test]
fn a_url_without_a_scheme_says_to_add_it() {
    let text = error_text(parse("[elasticsearch]\nurl = \"localhost:9200\"\n"));
    assert!(
        text.starts_with("lookout.toml:2:7: `elasticsearch.url`: "),
        "{text}"
    );
    assert!(
        text.ends_with("(add the scheme: \"http://localhost:9200\")"),
        "{text}"
    );
}

#[test]
fn an_unknown_section_is_refused() {
    let text = error_text(parse("[elastic]\nurl = \"http://x:9200\"\n"));
    assert!(text.contains("elastic"), "{text}");
}

#[test]
fn a_bad_duration_in_the_file_is_reported_at_its_position() {
    let text = error_text(parse("[engine]\nmax_catch_up = \"1 day\"\n"));
    assert!(text.starts_with("lookout.toml:2:"), "{text}");
    assert!(text.contains("1 day"), "{text}");
}

#[test]
fn a_bad_environment_value_names_the_variable_and_key() {
    let text = error_text(with_env("", &[("LOOKOUT_CONCURRENCY", "many")]));
    assert!(
        text.contains("LOOKOUT_CONCURRENCY") && text.contains("engine.concurrency"),
        "{text}"
    );
    let text = error_text(with_env("", &[("LOOKOUT_ES_VERIFY_TLS", "maybe")]));
    assert!(text.contains("LOOKOUT_ES_VERIFY_TLS"), "{text}");
}

#[test]
fn an_invalid_value_names_the_file_and_key() {
    let text = error_text(parse("[engine]\nconcurrency = 0\n"));
    assert!(
        text.starts_with("lookout.toml:2:15: `engine.concurrency`"),
        "{text}"
    );
    let text = error_text(parse("[alerts]\nindex = \"Alerts\"\n"));
    assert!(
        text.starts_with("lookout.toml:2:9: `alerts.index`"),
        "{text}"
    );
    let text = error_text(parse("[alerts]\nnamespace = \"My Space\"\n"));
    assert!(text.contains("alerts.namespace"), "{text}");
}

#[test]
fn a_value_set_by_the_environment_is_blamed_on_the_variable() {
    let text = error_text(with_env("", &[("LOOKOUT_STATE_INDEX", "Bad,Name")]));
    assert!(
        text.starts_with("environment variable LOOKOUT_STATE_INDEX: `engine.state_index`"),
        "{text}"
    );
}

#[test]
fn a_username_without_a_password_is_refused() {
    let text = error_text(parse("[elasticsearch]\nusername = \"elastic\"\n"));
    assert!(text.contains("elasticsearch.username"), "{text}");
}

#[test]
fn an_api_key_and_a_username_together_are_refused() {
    let text = error_text(with_env(
        "",
        &[
            ("LOOKOUT_ES_USERNAME", "u"),
            ("LOOKOUT_ES_PASSWORD", "p"),
            ("LOOKOUT_ES_API_KEY", "k"),
        ],
    ));
    assert!(text.contains("api_key"), "{text}");
}

#[test]
fn a_password_inline_and_in_a_file_together_are_refused() {
    let text = error_text(parse(
        "[elasticsearch]\nusername = \"u\"\npassword = \"p\"\npassword_file = \"/run/secrets/p\"\n",
    ));
    assert!(text.contains("password_file"), "{text}");
}

#[test]
fn a_url_error_does_not_repeat_the_password() {
    let text = error_text(parse(
        "[elasticsearch]\nurl = \"ftp://elastic:hunter2@host\"\n",
    ));
    assert!(text.contains("elasticsearch.url"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn debug_output_hides_secrets_and_url_credentials() {
    let config = with_env(
        "[elasticsearch]\nurl = \"http://elastic:hunter2@host:9200\"\n",
        &[("LOOKOUT_ES_API_KEY", "c2VjcmV0LWtleQ==")],
    )
    .expect("valid");
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(!debug.contains("c2VjcmV0LWtleQ=="), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
}

#[test]
fn the_same_index_for_state_and_executions_is_refused() {
    let text = error_text(parse(
        "[engine]\nstate_index = \"x\"\nexecutions_index = \"x\"\n",
    ));
    assert!(text.contains("engine.executions_index"), "{text}");
}

#[test]
fn every_environment_variable_name_starts_with_lookout() {
    assert!(ENV_VARS.iter().all(|name| name.starts_with("LOOKOUT_")));
    let unique: std::collections::HashSet<_> = ENV_VARS.iter().collect();
    assert_eq!(unique.len(), ENV_VARS.len());
}

fn flag(env_var: &'static str, flag: &'static str, value: &str) -> Override {
    Override {
        env_var,
        flag,
        value: value.to_string(),
    }
}

#[test]
fn command_line_flags_override_the_environment_and_the_file() {
    let env = |name: &str| (name == "LOOKOUT_ES_URL").then(|| "http://env:9200".to_string());
    let overrides = [flag("LOOKOUT_ES_URL", "--es-url", "http://flag:9200")];
    let config = Config::load_layered(None, env, &overrides).expect("valid");
    assert_eq!(config.elasticsearch.url, "http://flag:9200");
    let config = Config::load_layered(None, env, &[]).expect("valid");
    assert_eq!(config.elasticsearch.url, "http://env:9200");
}

#[test]
fn a_bad_flag_value_names_the_flag_and_key() {
    let overrides = [flag("LOOKOUT_HTTP_LISTEN", "--http-listen", "everywhere")];
    let text = error_text(Config::load_layered(None, no_env, &overrides));
    assert!(
        text.starts_with("command-line flag --http-listen: `http.listen`"),
        "{text}"
    );
}

#[test]
fn the_http_endpoint_is_on_loopback_by_default() {
    let config = Config::default();
    assert!(config.http.listen.ip().is_loopback());
    assert_eq!(config.http.listen.port(), 9464);
}

#[test]
fn log_format_and_level_are_read_and_checked() {
    let config =
        parse("[log]\nformat = \"json\"\nlevel = \"lookout=debug,warn\"\n").expect("valid");
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.log.level, "lookout=debug,warn");
    let text = error_text(parse("[log]\nformat = \"xml\"\n"));
    assert!(
        text.starts_with("lookout.toml:2:10: `log.format`"),
        "{text}"
    );
    let text = error_text(with_env("", &[("LOOKOUT_LOG_LEVEL", "lookout=loud")]));
    assert!(text.contains("LOOKOUT_LOG_LEVEL"), "{text}");
}

#[test]
fn a_bad_listen_address_in_the_file_names_the_file_and_key() {
    let text = error_text(parse("[http]\nlisten = \"localhost\"\n"));
    assert!(
        text.starts_with("lookout.toml:2:10: `http.listen`"),
        "{text}"
    );
}

#[test]
fn an_api_key_with_a_control_character_is_refused_without_showing_it() {
    for key in [
        "c2VjcmV0\n-a2V5",
        "id1:se\u{7}cret",
        "c2Vj cmV0",
        "id1:s\u{9b}ecret",
    ] {
        let text = error_text(with_env("", &[("LOOKOUT_ES_API_KEY", key)]));
        assert!(
            text.contains("LOOKOUT_ES_API_KEY") && text.contains("elasticsearch.api_key"),
            "{text}"
        );
        assert!(text.contains("cannot be sent in an HTTP header"), "{text}");
        assert!(!text.contains("c2Vj") && !text.contains("secret"), "{text}");
    }
    assert!(with_env("", &[("LOOKOUT_ES_API_KEY", "id1:a2V5+/=_-")]).is_ok());
}

#[test]
fn a_password_in_a_url_flag_is_refused_without_repeating_it() {
    let refused = Config::load_layered(
        None,
        no_env,
        &[flag(
            "LOOKOUT_ES_URL",
            "--es-url",
            "http://elastic:hunter2@host:9200",
        )],
    );
    let text = error_text(refused);
    assert!(text.contains("command-line flag --es-url"), "{text}");
    assert!(text.contains("--es-password-file"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let user_only = Config::load_layered(
        None,
        no_env,
        &[flag(
            "LOOKOUT_ES_URL",
            "--es-url",
            "http://elastic@host:9200",
        )],
    );
    assert!(user_only.is_ok(), "{user_only:?}");
}

#[test]
fn a_password_in_the_url_of_the_environment_or_file_is_still_accepted() {
    let env = |name: &str| {
        (name == "LOOKOUT_ES_URL").then(|| "http://elastic:hunter2@host:9200".to_string())
    };
    assert!(Config::load_layered(None, env, &[]).is_ok());
}

#[test]
fn the_eql_path_is_auto_unless_the_file_forces_one() {
    assert_eq!(parse("").expect("valid").engine.eql, super::EqlPath::Auto);
    let forced = parse("[engine]\neql = \"local\"\n").expect("valid");
    assert_eq!(forced.engine.eql, super::EqlPath::Local);
    let text = error_text(parse("[engine]\neql = \"remote\"\n"));
    assert!(
        text.contains("engine.eql") && text.contains("remote"),
        "{text}"
    );
}

#[test]
fn a_refused_value_is_placed_at_its_line_and_column_however_the_key_is_written() {
    // Dotted keys and inline tables put the value elsewhere than `[section]\nkey = value`.
    let text = error_text(parse("elasticsearch.url = \"localhost:9200\"\n"));
    assert!(
        text.starts_with("lookout.toml:1:21: `elasticsearch.url`"),
        "{text}"
    );
    let text = error_text(parse("# settings\nengine = { concurrency = 0 }\n"));
    assert!(
        text.starts_with("lookout.toml:2:26: `engine.concurrency`"),
        "{text}"
    );
    // A refused pair is placed at the key the message names.
    let text = error_text(parse("[elasticsearch]\npassword = \"x\"\n"));
    assert!(
        text.starts_with("lookout.toml:2:12: `elasticsearch.password`"),
        "{text}"
    );
}

#[test]
fn a_value_from_the_environment_is_not_placed_in_the_file() {
    let text = error_text(with_env(
        "[engine]\nconcurrency = 2\n",
        &[("LOOKOUT_CONCURRENCY", "0")],
    ));
    assert!(
        text.starts_with("environment variable LOOKOUT_CONCURRENCY: `engine.concurrency`"),
        "{text}"
    );
}

#[test]
fn rollover_conditions_and_the_execution_retention_are_read_and_checked() {
    let config = parse(
        "[alerts]\nrollover_max_age = \"7d\"\nrollover_max_size = \"10GB\"\nrollover_max_docs = 5\n\
         [engine]\nexecution_retention = \"90d\"\n",
    )
    .expect("valid");
    assert_eq!(config.alerts.rollover.max_age, Some(TimeDelta::days(7)));
    assert_eq!(config.alerts.rollover.max_size.as_deref(), Some("10gb"));
    assert_eq!(config.alerts.rollover.max_docs, Some(5));
    assert_eq!(config.engine.execution_retention, TimeDelta::days(90));
    let off = parse("[alerts]\nrollover_max_age = \"0\"\n").expect("valid");
    assert_eq!(off.alerts.rollover.max_age, None);
    assert_eq!(off.alerts.rollover.max_size.as_deref(), Some("50gb"));

    let bad_size = error_text(parse("[alerts]\nrollover_max_size = \"50 gigs\"\n"));
    assert!(bad_size.contains("alerts.rollover_max_size"), "{bad_size}");
    let all_off = error_text(parse(
        "[alerts]\nrollover_max_age = \"0\"\nrollover_max_size = \"0\"\n",
    ));
    assert!(all_off.contains("never rolls over"), "{all_off}");
    let short = error_text(parse("[engine]\nexecution_retention = \"10m\"\n"));
    assert!(short.contains("engine.execution_retention"), "{short}");
}
