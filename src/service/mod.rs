//! Running the engine as a service (`lookout run` as a library call): load the configured rules
//! (reporting the files that fail and the rules that cannot run), connect with back-off, check
//! the index templates, then run every runnable rule once or on its schedule (`scheduler`).
//! The command line only parses flags and signals.

pub mod fields;
pub mod housekeeping;
pub mod scheduler;
pub mod setup;
pub mod shared;

use crate::clock::Clock;
use crate::config::{Config, RulesConfig};
use crate::engine::{Engine, ExecutionReport, Settings};
use crate::es::{Client, EsError};
use crate::exceptions::Catalog;
use crate::rule::{self, Rule};
use crate::state::StateStore;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use std::future::Future;

use setup::Backoff;

/// How many times `run --once` tries to reach the server before it gives up (1 + 2 + 4 + 8
/// seconds of waiting with the default back-off).
pub const ONCE_CONNECT_ATTEMPTS: u32 = 5;

/// Why the service could not run at all (single executions failing are not errors here).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The cause is in the message and not repeated as a source, so that an error chain
    /// printed in full (`{:#}`) says it once.
    #[error("elasticsearch: {0}")]
    Es(EsError),
    #[error("notifications: {0}")]
    Notify(String),
}

impl From<EsError> for ServiceError {
    fn from(error: EsError) -> Self {
        ServiceError::Es(error)
    }
}

/// The rules that will run, and what was said about the others.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub runnable: Vec<Rule>,
    /// Files that failed to load, as `path:line:col: message`.
    pub errors: Vec<String>,
    /// Rules loaded but not scheduled (type not supported yet, disabled, deprecated).
    pub skipped: Vec<String>,
}

/// Loads the exception lists and the rule folders and keeps the rules lookout can run. Every
/// problem is logged once.
pub fn load_rules(config: &RulesConfig) -> RuleSet {
    let catalog = Catalog::load(&config.exception_folders);
    let report = rule::load_paths_with(&config.folders, &catalog);
    rule_set(report, config.include_deprecated)
}

/// The rules of a load report that will run, and lines about the others.
fn rule_set(report: rule::LoadReport, include_deprecated: bool) -> RuleSet {
    let mut set = RuleSet {
        errors: report.errors.iter().map(ToString::to_string).collect(),
        ..RuleSet::default()
    };
    for warning in &report.warnings {
        tracing::warn!(%warning, "rule file warning");
    }
    for error in &set.errors {
        tracing::error!(%error, "rule file skipped");
    }
    for rule in &report.not_runnable {
        let line = format!(
            "{}: rule {}: {}",
            rule.path.display(),
            rule.rule_id,
            rule.reason
        );
        tracing::info!(skipped = %line, "rule not scheduled");
        set.skipped.push(line);
    }
    for rule in report.rules {
        match skip_reason(&rule, include_deprecated) {
            Some(reason) => {
                let line = format!("{}: rule {}: {reason}", rule.path.display(), rule.rule_id);
                tracing::info!(skipped = %line, "rule not scheduled");
                set.skipped.push(line);
            }
            None => set.runnable.push(rule),
        }
    }
    set
}

fn skip_reason(rule: &Rule, include_deprecated: bool) -> Option<String> {
    if !rule.meta.enabled {
        return Some("disabled".to_string());
    }
    if rule.is_deprecated() && !include_deprecated {
        return Some("deprecated (set rules.include_deprecated to run it)".to_string());
    }
    None
}

/// Connects (retrying per `backoff`), checks the templates (installing those a fresh cluster
/// lacks, never rewriting one that exists) and builds the engine.
pub async fn connect(
    config: &Config,
    clock: &dyn Clock,
    backoff: Backoff,
) -> Result<Engine, ServiceError> {
    let client = Client::new(&config.elasticsearch)?;
    let templates = setup::index_templates(config);
    let info = setup::prepare(&client, &templates, clock, backoff, |_| {}).await?;
    tracing::info!(endpoint = %client.endpoint(), distribution = ?info.distribution, version = %info.version, "connected");
    housekeeping::prepare_alerts(&client, &config.alerts.index).await?;
    let store = StateStore::for_config(client.clone(), config);
    Ok(Engine::new(client, store, Settings::from_config(config)))
}

/// Where each rule's coverage stands, read once (the scheduler's start ramp); `None` (logged)
/// when the state cannot be read: then no rule is ramped.
pub async fn coverage(engine: &Engine) -> Option<scheduler::Coverage> {
    let store = engine.store();
    match store.load_all().await {
        Ok(states) => Some(
            (states.into_iter())
                .filter_map(|state| Some((state.rule_id, state.covered_to?)))
                .collect(),
        ),
        Err(error) => {
            tracing::warn!(%error, "reading the rule states failed: rules run at their stagger");
            None
        }
    }
}

/// Runs every rule once at `at`, at most `engine.concurrency` at a time; returns the report of
/// each execution (in no particular order).
pub async fn run_once(
    config: &Config,
    rules: &[Rule],
    clock: &dyn Clock,
    at: DateTime<Utc>,
) -> Result<Vec<ExecutionReport>, ServiceError> {
    let backoff = Backoff {
        max_attempts: Some(ONCE_CONNECT_ATTEMPTS),
        ..Backoff::default()
    };
    let engine = connect(config, clock, backoff).await?;
    fields::warn_unmapped_fields(&engine, rules).await;
    read_server_clock(engine.client(), config).await;
    let notifier = notifier(config, &engine, None)?;
    let reports = futures_util::stream::iter(rules)
        .map(|rule| engine.execute(rule, at))
        .buffer_unordered(config.engine.concurrency.max(1))
        .collect()
        .await;
    // What can be delivered now is; the rest stays pending on the alerts for the next run.
    notifier.deliver_due(clock).await;
    Ok(reports)
}

/// How often the daemon reads the server's clock itself when the server's answers carry no
/// `Date` header.
pub const SERVER_CLOCK_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// Reads the server's clock from a search of its own ([`Client::read_server_clock`] on the
/// alerts index's `@timestamp`, which exists from the daemon's start) when the server's answers
/// carry no `Date` header, so that windows never end past the server's now on such a server
/// too. One request, and none when the server sends `Date` headers. A failed reading is logged
/// and changes nothing.
pub async fn read_server_clock(client: &Client, config: &Config) {
    let index = &config.alerts.index;
    if let Err(error) = client.read_server_clock(index, "@timestamp").await {
        tracing::debug!(
            %error,
            "the server's clock could not be read; windows follow the host's clock until it is"
        );
    }
}

/// [`read_server_clock`] every [`SERVER_CLOCK_EVERY`], beside the scheduler; never returns.
pub async fn keep_server_clock(client: &Client, config: &Config, clock: &dyn Clock) {
    loop {
        read_server_clock(client, config).await;
        clock.sleep_until(clock.now() + SERVER_CLOCK_EVERY).await;
    }
}

/// The notification delivery of `config` over the engine's alerts (checked: templates parse,
/// transports build).
pub fn notifier(
    config: &Config,
    engine: &Engine,
    observer: Option<std::sync::Arc<crate::observe::Observer>>,
) -> Result<crate::notify::Notifier, ServiceError> {
    let targets = crate::notify::Targets {
        alerts_pattern: engine.settings().alerts_pattern(),
        executions_index: config.engine.executions_index.clone(),
    };
    crate::notify::Notifier::new(engine.client().clone(), &config.notify, targets, observer)
        .map_err(ServiceError::Notify)
}

/// Runs the scheduler until it stops, delivering notifications beside it (never in its way:
/// delivery only waits on its own receivers).
pub async fn schedule_and_deliver(
    scheduling: impl Future<Output = ()>,
    notifier: &crate::notify::Notifier,
    clock: &dyn Clock,
) {
    let delivering = async {
        if notifier.is_empty() {
            std::future::pending::<()>().await;
        }
        notifier.run(clock, std::future::pending()).await;
    };
    tokio::select! {
        () = scheduling => {}
        () = delivering => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::test_rule;
    use crate::rule::{Language, Maturity, RuleType};

    #[test]
    fn runnable_enabled_current_rules_are_scheduled() {
        assert_eq!(skip_reason(&test_rule("r"), false), None);
    }

    #[test]
    fn rules_lookout_cannot_run_say_their_type() {
        let report = rule::LoadReport {
            not_runnable: vec![rule::NotRunnable {
                path: "rules/e.toml".into(),
                rule_id: "e".into(),
                rule_id_position: (1, 1),
                name: "E".into(),
                rule_type: RuleType::Esql,
                language: Language::Esql,
                maturity: Maturity::Production,
                reason: "esql rules (esql) cannot run yet".into(),
            }],
            ..rule::LoadReport::default()
        };
        let set = rule_set(report, false);
        assert!(set.runnable.is_empty());
        assert_eq!(
            set.skipped,
            ["rules/e.toml: rule e: esql rules (esql) cannot run yet"]
        );
    }

    #[test]
    fn deprecated_rules_run_only_when_the_config_asks() {
        let mut rule = test_rule("r");
        rule.meta.maturity = Maturity::Deprecated;
        assert!(skip_reason(&rule, false).unwrap().contains("deprecated"));
        assert_eq!(skip_reason(&rule, true), None);
    }

    #[test]
    fn disabled_rules_are_not_scheduled() {
        let mut rule = test_rule("r");
        rule.meta.enabled = false;
        assert_eq!(skip_reason(&rule, true).as_deref(), Some("disabled"));
    }

    #[test]
    fn a_lookout_cron_table_in_a_rule_file_sets_the_cadence() {
        let text = "[metadata]\ncreation_date = \"2026/01/01\"\nmaturity = \"production\"\n\
            updated_date = \"2026/01/01\"\n\n[rule]\nauthor = [\"x\"]\ndescription = \"d\"\n\
            index = [\"logs-*\"]\nlanguage = \"kuery\"\nlicense = \"l\"\nname = \"n\"\n\
            risk_score = 1\nrule_id = \"r\"\nseverity = \"low\"\ntype = \"query\"\n\
            query = \"a: b\"\n\n[lookout]\ncron = \"0 * * * *\"\n";
        let path = std::path::Path::new("rules/cron.toml");
        let Ok((rule::Loaded::Runnable(rule), _warnings)) =
            crate::rule::parse_rule_bytes(path, text.as_bytes())
        else {
            panic!("the rule loads");
        };
        assert_eq!(
            rule.schedule.cadence(),
            crate::schedule::Cadence::Cron(crate::schedule::Cron::parse("0 * * * *").unwrap())
        );
    }

    #[test]
    fn a_bad_cron_is_a_load_error_at_its_position() {
        let text = "[metadata]\nmaturity = \"production\"\n\n[rule]\nauthor = [\"x\"]\n\
            description = \"d\"\nindex = [\"logs-*\"]\nlanguage = \"kuery\"\nname = \"n\"\n\
            risk_score = 1\nrule_id = \"r\"\nseverity = \"low\"\ntype = \"query\"\n\
            query = \"a: b\"\n\n[lookout]\ncron = \"61 * * * *\"\n";
        let path = std::path::Path::new("rules/cron.toml");
        let errors = crate::rule::parse_rule_bytes(path, text.as_bytes()).unwrap_err();
        assert_eq!(errors.len(), 1);
        let error = errors[0].to_string();
        assert!(
            error.starts_with("rules/cron.toml:17:8: bad `lookout.cron`: "),
            "{error}"
        );
    }
}
