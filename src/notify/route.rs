//! Which connectors an alert goes to (decided when the alert is built, from the rule and the
//! configuration) and how each sends it (mode, throttle, summary size; decided at delivery from
//! the alert's rule fields). Pure.

use crate::config::{DEFAULT_SUMMARY_ALERTS, Mode, NotifyConfig, Route};
use crate::rule::Rule;
use chrono::TimeDelta;
use serde_json::Value;

/// The key of a rule file's `[lookout]` table that names connectors for the rule.
pub const RULE_FILE_KEY: &str = "notify";

/// What routes match on: the rule's id, type, severity and tags.
#[derive(Debug, Clone, Copy)]
pub struct RuleFacts<'a> {
    pub rule_id: &'a str,
    pub rule_type: &'a str,
    pub severity: &'a str,
    pub tags: &'a [String],
}

impl<'a> RuleFacts<'a> {
    pub fn of(rule: &'a Rule) -> Self {
        RuleFacts {
            rule_id: &rule.rule_id,
            rule_type: rule.rule_type().as_str(),
            severity: rule.meta.severity.as_str(),
            tags: &rule.meta.tags,
        }
    }
}

/// Whether every match key the route has holds for the rule (keys it lacks match any rule).
pub fn matches(route: &Route, rule: RuleFacts<'_>) -> bool {
    let any = |wanted: &[String], have: &str| wanted.is_empty() || wanted.iter().any(|w| w == have);
    any(&route.rule_id, rule.rule_id)
        && any(&route.rule_type, rule.rule_type)
        && (route.severity.is_empty() || route.severity.iter().any(|s| s.as_str() == rule.severity))
        && (route.tags.is_empty() || route.tags.iter().any(|t| rule.tags.contains(t)))
}

/// The connector ids a rule's rule file names in `[lookout] notify = [...]` (checked when the
/// file loads).
pub fn rule_file_connectors(rule: &Rule) -> Vec<&str> {
    rule.raw["lookout"][RULE_FILE_KEY]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The connectors every alert of `rule` must reach: those of the matching routes, then those
/// its rule file names, each once, unknown ids left out. Building-block rules notify nobody.
pub fn route(rule: &Rule, config: &NotifyConfig) -> Vec<String> {
    if rule.meta.details.building_block_type.is_some() {
        return Vec::new();
    }
    let mut ids: Vec<String> = Vec::new();
    let facts = RuleFacts::of(rule);
    let routed = (config.routes.iter())
        .filter(|route| matches(route, facts))
        .flat_map(|route| route.connectors.iter().map(String::as_str));
    for id in routed.chain(rule_file_connectors(rule)) {
        if config.connector(id).is_some() && !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
    ids
}

/// How one connector sends one rule's alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub mode: Mode,
    pub throttle: Option<TimeDelta>,
    pub summary_alerts: usize,
}

/// The first route that matches the rule and names the connector; else (the rule file named
/// it) the connector's own mode without throttle.
pub fn delivery(config: &NotifyConfig, connector: &str, rule: RuleFacts<'_>) -> Delivery {
    let route = (config.routes.iter())
        .find(|route| route.connectors.iter().any(|c| c == connector) && matches(route, rule));
    match route {
        Some(route) => Delivery {
            mode: route.mode,
            throttle: route.throttle,
            summary_alerts: route.summary_alerts,
        },
        None => Delivery {
            mode: config
                .connector(connector)
                .map_or(Mode::PerAlert, |c| c.mode),
            throttle: None,
            summary_alerts: DEFAULT_SUMMARY_ALERTS,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::rule::test_rule;

    fn config(text: &str) -> NotifyConfig {
        Config::from_toml_str(text, std::path::Path::new("test.toml"), |_| None)
            .unwrap()
            .notify
    }

    const TWO: &str = r#"
[[notify.connectors]]
id = "soc"
type = "webhook"
url = "https://hooks.example.org/lookout"

[[notify.connectors]]
id = "pd"
type = "pagerduty"
routing_key = "k"

[[notify.routes]]
connectors = ["soc"]
mode = "per_alert"

[[notify.routes]]
connectors = ["pd"]
severity = ["high", "critical"]
mode = "summary"
throttle = "1h"
"#;

    #[test]
    fn a_route_without_match_keys_takes_every_rule() {
        let rule = test_rule("r1");
        assert_eq!(route(&rule, &config(TWO)), ["soc"]);
    }

    #[test]
    fn severity_tags_type_and_id_keys_must_all_match() {
        let notify = config(TWO);
        let mut rule = test_rule("r1");
        rule.meta.severity = crate::rule::Severity::High;
        assert_eq!(route(&rule, &notify), ["soc", "pd"]);
        let with_tags = config(&TWO.replace(
            "severity = [\"high\", \"critical\"]",
            "tags = [\"Domain: Cloud\"]\nrule_type = [\"eql\"]",
        ));
        assert_eq!(route(&rule, &with_tags), ["soc"]);
        let by_id = config(&TWO.replace(
            "severity = [\"high\", \"critical\"]",
            "rule_id = [\"r1\"]\ntags = [\"Domain: Cloud\"]",
        ));
        assert_eq!(route(&rule, &by_id), ["soc", "pd"]);
    }

    #[test]
    fn building_block_rules_notify_nobody() {
        let mut rule = test_rule("r1");
        rule.meta.details.building_block_type = Some("default".into());
        assert!(route(&rule, &config(TWO)).is_empty());
    }

    #[test]
    fn a_rule_file_can_name_connectors_once_each_and_unknown_ones_are_left_out() {
        let mut rule = test_rule("r1");
        rule.raw["lookout"] = serde_json::json!({"notify": ["pd", "soc", "nobody"]});
        assert_eq!(route(&rule, &config(TWO)), ["soc", "pd"]);
    }

    fn rule_file(lookout_table: &str) -> String {
        format!(
            "[metadata]\nmaturity = \"production\"\n\n[rule]\nauthor = [\"x\"]\ndescription = \"d\"\n\
             index = [\"logs-*\"]\nlanguage = \"kuery\"\nname = \"n\"\nrisk_score = 1\nrule_id = \"r\"\n\
             severity = \"low\"\ntype = \"query\"\nquery = \"a: b\"\n\n[lookout]\n{lookout_table}\n"
        )
    }

    #[test]
    fn a_rule_files_lookout_notify_list_routes_its_alerts() {
        let text = rule_file("notify = [\"pd\"]");
        let path = std::path::Path::new("rules/r.toml");
        let (loaded, warnings) = crate::rule::parse_rule_bytes(path, text.as_bytes()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let crate::rule::Loaded::Runnable(rule) = loaded else {
            panic!("a runnable rule expected");
        };
        let only_pd = TWO.replace(
            "connectors = [\"soc\"]\nmode",
            "connectors = [\"soc\"]\nrule_id = [\"other\"]\nmode",
        );
        assert_eq!(route(&rule, &config(&only_pd)), ["pd"]);
    }

    #[test]
    fn a_rule_files_notify_must_be_a_list_of_connector_ids() {
        let text = rule_file("notify = \"pd\"");
        let path = std::path::Path::new("rules/r.toml");
        let errors = crate::rule::parse_rule_bytes(path, text.as_bytes()).unwrap_err();
        assert!(errors[0].to_string().contains("notify"), "{errors:?}");
    }

    #[test]
    fn delivery_follows_the_first_matching_route_else_the_connector() {
        let notify = config(TWO);
        let mut rule = test_rule("r1");
        rule.meta.severity = crate::rule::Severity::Critical;
        let pd = delivery(&notify, "pd", RuleFacts::of(&rule));
        assert_eq!(pd.mode, Mode::Summary);
        assert_eq!(pd.throttle, Some(TimeDelta::hours(1)));
        rule.meta.severity = crate::rule::Severity::Low;
        assert_eq!(
            delivery(&notify, "pd", RuleFacts::of(&rule)).mode,
            Mode::PerAlert
        );
    }
}
