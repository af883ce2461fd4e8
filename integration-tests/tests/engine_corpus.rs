//! Every query rule of Elastic's public corpus runs on the live server: the search request the
//! engine builds (translated KQL or Lucene, time range, filters, sort, paging) is accepted, and
//! the execution ends without error. The rules search one CloudTrail index, so the field types
//! of the real mapping take part in the translation.

mod engine_support;

use chrono::{DateTime, Utc};
use engine_support::*;
use integration_tests::server::{Capability, partly};
use integration_tests::shared_file;
use lookout::Engine;
use lookout::Executor;
use lookout::Rule;
use lookout::RulesConfig;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

/// The corpus rule that searches a field the CloudTrail mapping does not index.
const NOT_SEARCHABLE_HERE: &str = "initial_access_react_server_rce_network_alerts.toml";

/// The real engine, keeping the error of every failed execution.
struct Collecting<'a> {
    engine: &'a Engine,
    failures: RefCell<Vec<String>>,
}

impl Executor for Collecting<'_> {
    fn execute<'a>(
        &'a self,
        rule: &'a Rule,
        at: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(async move {
            let report = self.engine.execute(rule, at).await;
            if let Some(error) = &report.record.error {
                let path = rule.path.display();
                self.failures.borrow_mut().push(format!("{path}: {error}"));
            }
            !report.failed()
        })
    }
}

/// Leaves out of `rules` those that `needs` (`what` they use) when the server lacks
/// `capability`, naming them in the skip line.
async fn leave_out(
    env: &Env,
    rules: &mut Vec<Rule>,
    capability: Capability,
    what: &str,
    needs: impl Fn(&Rule) -> bool,
) {
    let left_out: Vec<&str> = (rules.iter())
        .filter(|rule| needs(rule))
        .map(|rule| rule.rule_id.as_str())
        .collect();
    let message = format!("the rules {left_out:?} ({what}) are left out");
    if !partly(&env.server, capability, &message).await {
        rules.retain(|rule| !needs(rule));
    }
}

#[tokio::test]
async fn every_runnable_corpus_query_rule_executes_without_error() {
    let env = Env::new().await;
    env.index(&[add_user(t0() - minutes(1), "one")]).await;
    let config = RulesConfig {
        folders: vec![shared_file("corpus/detection-rules")],
        exception_folders: vec![integration_tests::exception_fixtures()],
        include_deprecated: true,
    };
    let mut rules = lookout::load_rules(&config).runnable;
    // Threshold, new terms and indicator match rules have their own corpus test (types_corpus).
    rules.retain(|rule| rule.rule_type() == lookout::RuleType::Query);
    // 508 query rules (kuery and lucene), 8 of them disabled in their files.
    assert_eq!(rules.len(), 500);
    for rule in &mut rules {
        rule.search.index = vec![env.source.clone()];
    }
    let lucene_regex = |rule: &Rule| matches!(rule.kind.query(), lookout::Query::Lucene { text } if text.contains('/'));
    leave_out(
        &env,
        &mut rules,
        Capability::QueryStringRegex,
        "Lucene regular expressions",
        lucene_regex,
    )
    .await;
    // A query rule that suppresses alerts groups its events with a composite aggregation.
    let suppresses = |rule: &Rule| rule.meta.details.alert_suppression.is_some();
    leave_out(
        &env,
        &mut rules,
        Capability::CompositeAggregation,
        "alert suppression",
        suppresses,
    )
    .await;
    let executor = Collecting {
        engine: &env.engine,
        failures: RefCell::new(Vec::new()),
    };

    let failed = lookout::run_rules_once(&executor, &rules, t0(), 8).await;

    // The one rule the CloudTrail mapping cannot serve: it searches `event.original`, which the
    // AWS integration maps with neither an index nor doc values; on its own indices it runs
    // (noida-db searches such a field all the same).
    let failures = executor.failures.into_inner();
    let unexpected: Vec<&String> = failures
        .iter()
        .filter(|f| {
            !(f.contains(NOT_SEARCHABLE_HERE)
                && f.contains("Cannot search on field [event.original]"))
        })
        .collect();
    assert_eq!(unexpected, Vec::<&String>::new());
    assert_eq!(failed, failures.len(), "{failures:?}");
    assert!(failed <= 1, "{failures:?}");
    let alerted: Vec<String> = env
        .alerts()
        .await
        .iter()
        .map(|a| {
            a["kibana.alert.rule.name"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    assert!(
        alerted.contains(&"AWS IAM User Addition to Group".to_string()),
        "{alerted:?}"
    );
}
