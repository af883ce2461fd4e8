//! The lease plan: shares, claims, take-overs and give-backs (no I/O).

use super::plan::{
    ADOPT_AFTER_PERIODS, Claim, adopt_after, free_rules, next_generation, orphans, plan, share,
    track_free,
};
use super::*;
use chrono::TimeZone;

const PERIOD: Duration = Duration::from_secs(30);

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
    free_for: BTreeMap<String, Duration>,
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
            free_for: BTreeMap::new(),
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
            free_for: &self.free_for,
            period: PERIOD,
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
                adopted: false,
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
        adopted,
    } = &plan.claims[0];
    assert!(!adopted);
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

#[test]
fn a_lease_free_past_the_grace_is_adopted_over_the_share_and_not_before() {
    // a holds its share (1 of 2 rules over two instances); rule-001 is free.
    let mut case = Case::new(2, vec![instance("a", true), instance("b", true)]);
    case.hold("a", "rule-000");
    case.leases
        .insert("rule-001".into(), lease("rule-001", None, 3));
    let live = ["a".to_string(), "b".to_string()];
    let grace = adopt_after("a", &live, "rule-001", PERIOD);
    assert!(grace >= PERIOD * ADOPT_AFTER_PERIODS);
    assert_eq!(free_rules(&case.view("a")), ["rule-001"]);
    case.free_for
        .insert("rule-001".into(), grace - Duration::from_millis(1));
    assert!(
        case.plan("a").claims.is_empty(),
        "not yet: {:?}",
        case.plan("a")
    );
    case.free_for.insert("rule-001".into(), grace);
    let plan = case.plan("a");
    assert_eq!(plan.claims.len(), 1);
    assert_eq!(plan.claims[0].rule_id, "rule-001");
    assert!(plan.claims[0].adopted);
    assert_eq!(plan.claims[0].expected, Some((3, 1)));
    assert!(plan.releases.is_empty());
}

#[test]
fn instances_take_turns_to_adopt_in_their_order_of_preference() {
    let live: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    for rule_id in rules(20) {
        let mut graces: Vec<Duration> = (live.iter())
            .map(|me| adopt_after(me, &live, &rule_id, PERIOD))
            .collect();
        graces.sort();
        let base = PERIOD * ADOPT_AFTER_PERIODS;
        assert_eq!(
            graces,
            [base, base + PERIOD / 2, base + PERIOD],
            "{rule_id}"
        );
    }
}

#[test]
fn an_adopted_lease_is_never_given_back_as_an_extra_but_is_when_stopping() {
    let mut case = Case::new(3, vec![instance("a", true), instance("b", true)]);
    case.hold("a", "rule-000");
    case.hold("a", "rule-001");
    case.hold("a", "rule-002");
    // Share 2: one of the three must go, but rule-002 was adopted.
    case.held.get_mut("rule-002").unwrap().adopted = true;
    let plan = case.plan("a");
    assert_eq!(plan.releases.len(), 0, "two count in the share: {plan:?}");
    case.held.get_mut("rule-001").unwrap().adopted = true;
    let plan = case.plan("a");
    assert!(plan.releases.is_empty(), "{plan:?}");
    assert!(plan.claims.is_empty(), "{plan:?}");
    case.held.get_mut("rule-001").unwrap().adopted = false;
    case.hold("a", "rule-003");
    case.rules = rules(4);
    let plan = case.plan("a");
    assert_eq!(plan.releases.len(), 1, "{plan:?}");
    assert_ne!(plan.releases[0], "rule-002", "the adopted one stays");
    case.stopping = true;
    let mut released = case.plan("a").releases;
    released.sort();
    assert_eq!(released, rules(4), "stopping gives back every idle lease");
}

#[test]
fn seen_free_counts_from_the_first_sighting_and_restarts_after_a_break() {
    let start = Instant::now();
    let at = |seconds: u64| start + Duration::from_secs(seconds);
    let mut since = BTreeMap::new();
    track_free(&mut since, &["x".to_string(), "y".to_string()], at(1));
    track_free(&mut since, &["x".to_string()], at(2));
    assert_eq!(since, BTreeMap::from([("x".to_string(), at(1))]));
    track_free(&mut since, &["x".to_string(), "y".to_string()], at(3));
    assert_eq!(
        since,
        BTreeMap::from([("x".to_string(), at(1)), ("y".to_string(), at(3))])
    );
}

/// Instances sharing one lease index, cycle after cycle (every period / 4, one after the
/// other), each applying its plan to the documents as `Leases::cycle` does with the server
/// (claims and releases conditional on the version read).
struct Sim {
    leases: BTreeMap<String, LeaseDoc>,
    instances: Vec<SimInstance>,
    /// Simulated time since `start`.
    at: Duration,
    start: Instant,
    seq_no: u64,
}

struct SimInstance {
    name: String,
    rules: Vec<String>,
    held: BTreeMap<String, Held>,
    free_since: BTreeMap<String, Instant>,
}

impl Sim {
    fn new(instances: &[(&str, Vec<String>)]) -> Sim {
        Sim {
            leases: BTreeMap::new(),
            instances: (instances.iter())
                .map(|(name, rules)| SimInstance {
                    name: name.to_string(),
                    rules: rules.clone(),
                    held: BTreeMap::new(),
                    free_since: BTreeMap::new(),
                })
                .collect(),
            at: Duration::ZERO,
            start: Instant::now(),
            seq_no: 0,
        }
    }

    /// Gives `rule_id`'s lease to instance `i` (as a claim of an earlier cycle would have).
    fn give(&mut self, i: usize, rule_id: &str) {
        self.seq_no += 1;
        let name = self.instances[i].name.clone();
        let doc = LeaseDoc {
            rule_id: rule_id.to_string(),
            owner: Some(name),
            generation: self.seq_no,
            version: (self.seq_no, 1),
        };
        self.instances[i].held.insert(
            rule_id.to_string(),
            Held {
                generation: self.seq_no,
                version: (self.seq_no, 1),
                adopted: false,
            },
        );
        self.leases.insert(rule_id.to_string(), doc);
    }

    /// One cycle of every instance; returns how many leases changed hands.
    fn cycle(&mut self) -> usize {
        let now = now() + chrono::TimeDelta::from_std(self.at).unwrap();
        let heartbeats: Vec<InstanceDoc> = (self.instances.iter())
            .map(|i| InstanceDoc {
                name: i.name.clone(),
                heartbeat_at: now,
                expires_at: now + chrono::TimeDelta::from_std(PERIOD).unwrap(),
            })
            .collect();
        let mut changes = 0;
        for i in 0..self.instances.len() {
            let running = BTreeSet::new();
            let instance = &mut self.instances[i];
            let mut view = View {
                me: &instance.name,
                now,
                rules: &instance.rules,
                held: &instance.held,
                running: &running,
                instances: &heartbeats,
                leases: &self.leases,
                stopping: false,
                free_for: &BTreeMap::new(),
                period: PERIOD,
            };
            let read_at = self.start + self.at;
            track_free(&mut instance.free_since, &free_rules(&view), read_at);
            let free_for: BTreeMap<String, Duration> = (instance.free_since.iter())
                .map(|(rule_id, since)| (rule_id.clone(), read_at - *since))
                .collect();
            view.free_for = &free_for;
            let plan = plan(&view);
            for rule_id in &plan.lost {
                instance.held.remove(rule_id);
            }
            for claim in &plan.claims {
                let current = self.leases.get(&claim.rule_id).map(|doc| doc.version);
                if current != claim.expected {
                    continue;
                }
                self.seq_no += 1;
                self.leases.insert(
                    claim.rule_id.clone(),
                    LeaseDoc {
                        rule_id: claim.rule_id.clone(),
                        owner: Some(instance.name.clone()),
                        generation: claim.generation,
                        version: (self.seq_no, 1),
                    },
                );
                instance.held.insert(
                    claim.rule_id.clone(),
                    Held {
                        generation: claim.generation,
                        version: (self.seq_no, 1),
                        adopted: claim.adopted,
                    },
                );
                changes += 1;
            }
            for rule_id in &plan.releases {
                let held = instance.held.remove(rule_id).unwrap();
                let doc = self.leases.get_mut(rule_id).unwrap();
                if doc.version == held.version {
                    self.seq_no += 1;
                    doc.owner = None;
                    doc.version = (self.seq_no, 1);
                }
                changes += 1;
            }
        }
        self.at += PERIOD / 4;
        changes
    }

    /// The owner of each lease (`None`: free).
    fn owners(&self) -> BTreeMap<String, Option<String>> {
        (self.leases.iter())
            .map(|(rule_id, doc)| (rule_id.clone(), doc.owner.clone()))
            .collect()
    }

    fn held_by(&self, i: usize) -> usize {
        self.instances[i].held.len()
    }

    /// Runs cycles until every rule of `all` has an owner (at most `periods` periods); then
    /// runs 40 periods more, in which nothing may change hands. Returns how long the first
    /// part took.
    fn settle(&mut self, all: &[String], periods: u32) -> Duration {
        let started = self.at;
        loop {
            self.cycle();
            let owners = self.owners();
            if all
                .iter()
                .all(|rule_id| owners.get(rule_id).is_some_and(Option::is_some))
            {
                break;
            }
            assert!(
                self.at - started <= PERIOD * periods,
                "still free after {periods} periods: {owners:?}"
            );
        }
        let took = self.at - started;
        // Let any balancing finish, then nothing may move for 40 periods.
        for _ in 0..8 {
            self.cycle();
        }
        let settled = self.owners();
        for _ in 0..160 {
            assert_eq!(self.cycle(), 0, "leases moved after settling");
        }
        assert_eq!(self.owners(), settled);
        assert!(settled.values().all(Option::is_some), "{settled:?}");
        took
    }
}

fn named(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

#[test]
fn a_rule_only_one_instance_loads_is_adopted_when_that_instance_is_at_its_share() {
    // The example: a loads rules 1..10 and X (share 6), b loads 1..10 (share 5); a
    // holds six of 1..10, b the other four: X is free, and neither is under its share with
    // something it loads free.
    let common = rules(10);
    let mut with_x = common.clone();
    with_x.push("x".into());
    let mut sim = Sim::new(&[("a", with_x.clone()), ("b", common.clone())]);
    for (n, rule_id) in common.iter().enumerate() {
        sim.give(usize::from(n >= 6), rule_id);
    }
    let took = sim.settle(&with_x, 4);
    assert!(
        took >= PERIOD * ADOPT_AFTER_PERIODS && took <= PERIOD * 3,
        "{took:?}"
    );
    assert_eq!(sim.owners()["x"].as_deref(), Some("a"));
    assert!(sim.instances[0].held["x"].adopted);
    assert_eq!((sim.held_by(0), sim.held_by(1)), (7, 4));
}

#[test]
fn started_together_with_different_rules_every_rule_gets_an_owner_and_it_stays_so() {
    let common = rules(10);
    let mut with_x = common.clone();
    with_x.push("x".into());
    let mut sim = Sim::new(&[("a", with_x.clone()), ("b", common.clone())]);
    sim.settle(&with_x, 4);
    assert_eq!(sim.owners()["x"].as_deref(), Some("a"));
    assert!(sim.held_by(0) + sim.held_by(1) == 11);
}

#[test]
fn two_instances_each_with_a_rule_of_its_own_do_not_loop() {
    // a loads 1..3 and X (share 2), b loads 1..3 and Y (share 2): a holding 1 and 2, b 3 and
    // Y, X is free; adopting it must not push 1 or 2 out (nobody would take it: a loop).
    let mut sim = Sim::new(&[
        ("a", named(&["1", "2", "3", "x"])),
        ("b", named(&["1", "2", "3", "y"])),
    ]);
    for (i, rule_id) in [(0, "1"), (0, "2"), (1, "3"), (1, "y")] {
        sim.give(i, rule_id);
    }
    sim.settle(&named(&["1", "2", "3", "x", "y"]), 4);
    assert_eq!(sim.owners()["x"].as_deref(), Some("a"));
    assert_eq!((sim.held_by(0), sim.held_by(1)), (3, 2));
}

#[test]
fn with_three_instances_a_rule_two_of_them_load_is_adopted_by_one() {
    // a and b load 1..9 and X (share 4), c loads 1..9 (share 3): a and b hold four of 1..9
    // each, c the ninth; X is free.
    let common = rules(9);
    let mut with_x = common.clone();
    with_x.push("x".into());
    let mut sim = Sim::new(&[
        ("a", with_x.clone()),
        ("b", with_x.clone()),
        ("c", common.clone()),
    ]);
    for (n, rule_id) in common.iter().enumerate() {
        sim.give((n / 4).min(2), rule_id);
    }
    let took = sim.settle(&with_x, 5);
    assert!(took <= PERIOD * 4, "{took:?}");
    let owner = sim.owners()["x"].clone().unwrap();
    assert!(owner == "a" || owner == "b", "{owner}");
    let total: usize = (0..3).map(|i| sim.held_by(i)).sum();
    assert_eq!(total, 10);
}

#[test]
fn with_the_same_rules_everywhere_nothing_is_adopted() {
    for n in [1, 2, 3] {
        let names = ["a", "b", "c"];
        let all = rules(31);
        let instances: Vec<(&str, Vec<String>)> = (names[..n].iter())
            .map(|name| (*name, all.clone()))
            .collect();
        let mut sim = Sim::new(&instances);
        sim.settle(&all, 2);
        let held: Vec<usize> = (0..n).map(|i| sim.held_by(i)).collect();
        assert_eq!(held.iter().sum::<usize>(), 31);
        assert!(
            held.iter().all(|h| *h <= share(31, n)),
            "{n} instances: {held:?}"
        );
        let adopted = (sim.instances.iter())
            .flat_map(|i| i.held.values())
            .filter(|held| held.adopted)
            .count();
        assert_eq!(adopted, 0, "{n} instances");
    }
}
