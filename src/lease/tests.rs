//! The lease plan: shares, claims, take-overs and give-backs (no I/O).

use super::plan::{Claim, next_generation, orphans, plan, share};
use super::*;
use chrono::TimeZone;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
}

fn rules(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("rule-{i:03}")).collect()
}

fn instance(name: &str, alive: bool) -> InstanceDoc {
    let offset = chrono::TimeDelta::seconds(if alive { 20 } else { -5 });
    InstanceDoc {
        name: name.to_string(),
        heartbeat_at: now() - chrono::TimeDelta::seconds(10),
        expires_at: now() + offset,
    }
}

fn lease(rule_id: &str, owner: Option<&str>, generation: u64) -> LeaseDoc {
    LeaseDoc {
        rule_id: rule_id.to_string(),
        owner: owner.map(str::to_string),
        generation,
        version: (generation, 1),
    }
}

struct Case {
    rules: Vec<String>,
    held: BTreeMap<String, Held>,
    running: BTreeSet<String>,
    instances: Vec<InstanceDoc>,
    leases: BTreeMap<String, LeaseDoc>,
    stopping: bool,
}

impl Case {
    fn new(n: usize, instances: Vec<InstanceDoc>) -> Case {
        Case {
            rules: rules(n),
            held: BTreeMap::new(),
            running: BTreeSet::new(),
            instances,
            leases: BTreeMap::new(),
            stopping: false,
        }
    }

    fn view<'a>(&'a self, me: &'a str) -> View<'a> {
        View {
            me,
            now: now(),
            rules: &self.rules,
            held: &self.held,
            running: &self.running,
            instances: &self.instances,
            leases: &self.leases,
            stopping: self.stopping,
        }
    }

    fn plan(&self, me: &str) -> Plan {
        plan(&self.view(me))
    }

    fn orphans(&self, me: &str) -> Vec<String> {
        (orphans(&self.view(me)).into_iter())
            .map(|(rule_id, _)| rule_id)
            .collect()
    }

    fn hold(&mut self, me: &str, rule_id: &str) {
        self.leases
            .insert(rule_id.to_string(), lease(rule_id, Some(me), 7));
        self.held.insert(
            rule_id.to_string(),
            Held {
                generation: 7,
                version: (7, 1),
            },
        );
    }
}

#[test]
fn the_share_is_rules_over_instances_rounded_up() {
    assert_eq!(share(1000, 1), 1000);
    assert_eq!(share(200, 3), 67);
    assert_eq!(share(200, 4), 50);
    assert_eq!(share(5, 0), 5);
}

#[test]
fn one_instance_claims_every_free_rule() {
    let case = Case::new(10, vec![instance("a", true)]);
    let plan = case.plan("a");
    assert_eq!(plan.claims.len(), 10);
    assert!(plan.claims.iter().all(|claim| claim.expected.is_none()));
    assert!(plan.claims.iter().all(|claim| claim.from.is_none()));
}

#[test]
fn with_three_live_instances_each_claims_its_share_only() {
    let live = vec![
        instance("a", true),
        instance("b", true),
        instance("c", true),
    ];
    let case = Case::new(200, live);
    assert_eq!(case.plan("b").claims.len(), 67);
    // Instances prefer different rules, so that claiming together rarely conflicts.
    let a: BTreeSet<String> = case
        .plan("a")
        .claims
        .into_iter()
        .map(|c| c.rule_id)
        .collect();
    let c: BTreeSet<String> = case
        .plan("c")
        .claims
        .into_iter()
        .map(|c| c.rule_id)
        .collect();
    assert!(
        a.intersection(&c).count() < 40,
        "{}",
        a.intersection(&c).count()
    );
}

#[test]
fn leases_of_a_dead_instance_are_taken_over_with_a_higher_generation() {
    let mut case = Case::new(2, vec![instance("a", true), instance("dead", false)]);
    case.leases
        .insert("rule-000".into(), lease("rule-000", Some("dead"), 40));
    case.leases
        .insert("rule-001".into(), lease("rule-001", Some("a"), 41));
    let plan = case.plan("b");
    assert_eq!(plan.claims.len(), 1, "a is alive: its lease stays");
    let Claim {
        rule_id,
        expected,
        generation,
        from,
    } = &plan.claims[0];
    assert_eq!(rule_id, "rule-000");
    assert_eq!(*expected, Some((40, 1)));
    assert!(*generation > 40);
    assert_eq!(from.as_deref(), Some("dead"));
}

#[test]
fn a_lease_held_elsewhere_now_is_lost() {
    let mut case = Case::new(2, vec![instance("a", true), instance("b", true)]);
    case.hold("a", "rule-000");
    case.leases
        .insert("rule-000".into(), lease("rule-000", Some("b"), 9));
    let plan = case.plan("a");
    assert_eq!(plan.lost, ["rule-000"]);
}

#[test]
fn extras_are_given_back_but_never_a_running_rule() {
    let mut case = Case::new(4, vec![instance("a", true), instance("b", true)]);
    for rule_id in rules(4) {
        case.hold("a", &rule_id);
    }
    case.running.insert("rule-000".into());
    case.running.insert("rule-001".into());
    case.running.insert("rule-002".into());
    let plan = case.plan("a");
    assert_eq!(plan.target, 2);
    assert_eq!(plan.releases, ["rule-003"], "only the idle extra goes now");
    assert!(plan.claims.is_empty());
}

#[test]
fn stopping_gives_back_everything_idle_and_claims_nothing() {
    let mut case = Case::new(3, vec![instance("a", true)]);
    case.hold("a", "rule-000");
    case.hold("a", "rule-001");
    case.running.insert("rule-001".into());
    case.stopping = true;
    let plan = case.plan("a");
    assert_eq!(plan.releases, ["rule-000"]);
    assert!(plan.claims.is_empty());
}

#[test]
fn generations_rise_and_are_not_below_the_time_in_milliseconds() {
    let millis = u64::try_from(now().timestamp_millis()).unwrap();
    assert_eq!(next_generation(0, now()), millis);
    assert_eq!(next_generation(millis + 5, now()), millis + 6);
}

#[test]
fn after_a_reload_the_rules_still_loaded_stay_those_dropped_go_back_and_new_ones_are_claimed() {
    let mut case = Case::new(3, vec![instance("a", true)]);
    for rule_id in rules(3) {
        case.hold("a", &rule_id);
    }
    // The reload drops rule-000 and rule-001 (still running) and adds rule-003.
    case.rules = vec!["rule-002".into(), "rule-003".into()];
    case.running.insert("rule-001".into());
    let plan = case.plan("a");
    assert_eq!(
        plan.releases,
        ["rule-000"],
        "a running rule goes once it ended"
    );
    assert!(plan.lost.is_empty());
    let claimed: Vec<&str> = plan.claims.iter().map(|c| c.rule_id.as_str()).collect();
    assert_eq!(claimed, ["rule-003"]);
}

#[test]
fn dropped_rules_do_not_count_in_the_share() {
    // Two instances, four rules loaded: a holds two of them and two dropped ones.
    let mut case = Case::new(6, vec![instance("a", true), instance("b", true)]);
    for rule_id in rules(4) {
        case.hold("a", &rule_id);
    }
    case.rules = rules(6).split_off(2);
    let plan = case.plan("a");
    assert_eq!(plan.target, 2);
    assert_eq!(plan.releases, ["rule-000", "rule-001"]);
    assert!(plan.claims.is_empty(), "a holds its share: {plan:?}");
}

#[test]
fn leases_of_rules_no_live_instance_holds_nor_the_lowest_loads_are_orphans() {
    let mut case = Case::new(
        1,
        vec![
            instance("a", true),
            instance("b", true),
            instance("dead", false),
        ],
    );
    for (rule_id, owner) in [
        ("free", None),
        ("of-dead", Some("dead")),
        ("of-b", Some("b")),
        ("of-an-earlier-a", Some("a")),
        ("rule-000", None),
    ] {
        case.leases.insert(rule_id.into(), lease(rule_id, owner, 3));
    }
    case.hold("a", "held-not-loaded");
    assert_eq!(case.orphans("a"), ["free", "of-an-earlier-a", "of-dead"]);
    assert!(
        case.orphans("b").is_empty(),
        "only the lowest live name removes them"
    );
}

#[test]
fn the_read_asks_for_the_fields_a_cycle_uses_and_the_versions() {
    let body = super::read_body();
    assert_eq!(body["seq_no_primary_term"], true);
    let fields: Vec<&str> = (body["_source"].as_array().unwrap().iter())
        .filter_map(|field| field.as_str())
        .collect();
    for used in [
        "kind",
        "scope",
        "instance",
        "expires_at",
        "rule_id",
        "owner",
        "generation",
    ] {
        assert!(fields.contains(&used), "{used} is read");
    }
    assert!(!fields.contains(&"updated_at"));
    for part in [
        "hits.hits._seq_no",
        "hits.hits._primary_term",
        "hits.hits._source",
    ] {
        assert!(super::READ_FILTER_PATH.contains(part));
    }
}
