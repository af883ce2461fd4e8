//! Realistic CloudTrail events for demos, tests and benchmarks, shaped exactly like the ECS
//! documents of Elastic's AWS integration (`logs-aws.cloudtrail-*`). Input: a seed, a time range
//! and a mix; output: an iterator of JSON documents (memory stays flat however many are asked
//! for). Deterministic: the same configuration gives the same documents, byte for byte (the
//! random source is rand's Xoshiro256PlusPlus, which is the same on every platform). No I/O.
//!
//! - [`EventSpec`] makes one chosen event (tests: "an AddUserToGroup that failed, by mallory").
//! - [`Generator`] streams a mix of ordinary read-only noise, rare changes, failures with real
//!   error codes, and the seed actions (AddUserToGroup, CreateGroup) at a chosen rate.
//! - [`aws_eql_scenarios`] is the activity the AWS CloudTrail EQL rules of Elastic's detection
//!   rules look for, with near misses; [`GeneratorConfig::eql_activity_rate`] mixes it into the
//!   stream, and [`GeneratedEvent::planted_for`] names the rules each event is planted for.
//! - [`mapping`] gives the index template for these documents and checks documents against any
//!   mapping.

mod activity;
mod catalog;
mod ecs;
mod enrichment;
mod identities;
mod javamap;
pub mod mapping;
mod spec;

pub use activity::{
    AWS_EQL_RULES, EXTERNAL_ACCOUNT_ID, INSTANCE_ID, SCENARIO_SPAN, Scenario, Step,
    UNREACHABLE_AWS_EQL_RULES, aws_eql_scenarios, scenario,
};
pub use catalog::{CATALOG, SEED_ACTIONS, Service, categorize};
pub use ecs::to_ecs as record_to_document;
pub use identities::{DEFAULT_ACCOUNT_ID, Identity, IdentityKind, Profile, Source};
pub use javamap::java_to_string;
pub use spec::{DEFAULT_SOURCE_IP, DEFAULT_USER, EventSpec, Outcome};

use catalog::{ActionDef, Pick};
use chrono::{DateTime, TimeDelta, Utc};
use identities::{
    AUTOMATION_AGENTS, AWS_ADDRESSES, CORPORATE_ADDRESSES, HUMAN_AGENTS, PUBLIC_ADDRESSES,
    VPC_ADDRESSES, VPC_ENDPOINT_ID,
};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde_json::Value;
use std::collections::VecDeque;

/// The default share of events that are seed actions (AddUserToGroup, CreateGroup).
pub const DEFAULT_SEED_ACTIONS_RATE: f64 = 0.01;
/// The default share of ordinary events that fail.
pub const DEFAULT_FAILURE_RATE: f64 = 0.04;
/// The default share of seed actions that fail (high, so that a small run holds both outcomes).
pub const DEFAULT_SEED_FAILURE_RATE: f64 = 0.25;
/// The most events one generator makes (a bound on a typo like `--count 1e12`).
pub const MAX_COUNT: u64 = 100_000_000;
/// The z-score of the lag model's `max` (the 99th percentile of a normal distribution).
const LAG_MAX_Z: f64 = 2.326;
/// Share of people's calls made from a public address rather than the corporate network.
const HUMAN_PUBLIC_SHARE: f64 = 0.15;
/// Share of automation calls that come through the VPC endpoint.
const AUTOMATION_VPC_SHARE: f64 = 0.25;
/// Share of automation calls made from the corporate network (CI runners on premises).
const AUTOMATION_CORPORATE_SHARE: f64 = 0.15;

/// Errors in a generator's configuration.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GeneratorError {
    #[error("the time range is empty: start {start} is after end {end}")]
    EmptyRange {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    #[error("{name} must be between 0 and 1, got {value}")]
    Rate { name: &'static str, value: f64 },
    #[error("count {0} is above the limit of {MAX_COUNT}")]
    TooMany(u64),
    #[error("unknown action {0:?}: lookout generate --list-actions shows the known ones")]
    UnknownAction(String),
    #[error("no scenario for the rule {0:?}: AWS_EQL_RULES lists the rules that have one")]
    UnknownScenario(String),
    #[error("the lag model needs min <= median <= max, got {min}s, {median}s, {max}s")]
    Lag { min: i64, median: i64, max: i64 },
}

/// How long CloudTrail plus the ingest path take to make an event searchable
/// (`event.ingested - @timestamp`): log-normal around `median`, never below `min` nor above `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LagModel {
    pub min: TimeDelta,
    pub median: TimeDelta,
    pub max: TimeDelta,
}

impl Default for LagModel {
    /// AWS: "typically within an average of about 5 minutes"; a tail to 20 minutes.
    fn default() -> Self {
        Self {
            min: TimeDelta::seconds(45),
            median: TimeDelta::minutes(5),
            max: TimeDelta::minutes(20),
        }
    }
}

impl LagModel {
    /// No delay at all (`event.ingested` = `@timestamp`).
    pub fn none() -> Self {
        Self {
            min: TimeDelta::zero(),
            median: TimeDelta::zero(),
            max: TimeDelta::zero(),
        }
    }

    fn sample(&self, rng: &mut Xoshiro256PlusPlus) -> TimeDelta {
        let median = self.median.num_milliseconds() as f64;
        if median <= 0.0 {
            return self.min;
        }
        let max = self.max.num_milliseconds() as f64;
        let sigma = (max / median).ln().max(0.0) / LAG_MAX_Z;
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let millis = (median * (sigma * z).exp()) as i64;
        TimeDelta::milliseconds(millis).clamp(self.min, self.max)
    }

    fn validate(&self) -> Result<(), GeneratorError> {
        if self.min <= self.median && self.median <= self.max && self.min >= TimeDelta::zero() {
            return Ok(());
        }
        Err(GeneratorError::Lag {
            min: self.min.num_seconds(),
            median: self.median.num_seconds(),
            max: self.max.num_seconds(),
        })
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    pub seed: u64,
    /// Event times (`@timestamp`) are spread over `[start, end]`, in order.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub count: u64,
    /// Share of events that are seed actions (AddUserToGroup, CreateGroup); 0 for noise only.
    pub seed_actions_rate: f64,
    /// Share of ordinary events that fail.
    pub failure_rate: f64,
    /// Share of seed actions that fail.
    pub seed_failure_rate: f64,
    /// Share of event slots that start the next scenario of [`aws_eql_scenarios`] (in turn; 0,
    /// the default, for none). A scenario's later steps take the first slots at or after their
    /// time, so the count stays exact; a scenario is not started again within
    /// [`SCENARIO_SPAN`] of its last start, nor within [`SCENARIO_SPAN`] of `end` (its steps
    /// would not fit). Its events arrive in the index as they happen (no lag).
    pub eql_activity_rate: f64,
    pub lag: LagModel,
    /// Events that would reach the index after this instant are stamped as arriving at it (but
    /// never before their own time), so a set generated "up to now" holds nothing from the future.
    pub ingested_not_after: Option<DateTime<Utc>>,
    /// Only these actions (catalogue names), at their usual relative frequency.
    pub actions: Option<Vec<String>>,
    /// Keep the raw record in `event.original`.
    pub preserve_original: bool,
}

impl GeneratorConfig {
    /// `count` events over `[start, end]` with the default mix and lag.
    pub fn new(seed: u64, start: DateTime<Utc>, end: DateTime<Utc>, count: u64) -> Self {
        Self {
            seed,
            start,
            end,
            count,
            seed_actions_rate: DEFAULT_SEED_ACTIONS_RATE,
            failure_rate: DEFAULT_FAILURE_RATE,
            seed_failure_rate: DEFAULT_SEED_FAILURE_RATE,
            eql_activity_rate: 0.0,
            lag: LagModel::default(),
            ingested_not_after: None,
            actions: None,
            preserve_original: false,
        }
    }
}

/// One generated event: what happened, when, and when it became searchable.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedEvent {
    pub spec: EventSpec,
    pub timestamp: DateTime<Utc>,
    pub ingested: DateTime<Utc>,
    /// The rule (of [`AWS_EQL_RULES`]) this event is planted for; None for ordinary traffic
    /// and for a scenario's near misses. Ordinary traffic can match a rule too (an
    /// AdministratorAccess attachment now and then): this names only what was planted.
    pub planted_for: Option<&'static str>,
}

impl GeneratedEvent {
    /// The ECS document.
    pub fn to_document(&self) -> Value {
        self.spec.to_document(self.timestamp, Some(self.ingested))
    }
}

/// A validated configuration, ready to stream events.
#[derive(Debug, Clone)]
pub struct Generator {
    config: GeneratorConfig,
    noise: Vec<&'static ActionDef>,
    seeds: Vec<&'static ActionDef>,
    population: Vec<(Identity, u32)>,
    scenarios: Vec<Scenario>,
}

impl Generator {
    /// Checks the configuration.
    pub fn new(config: GeneratorConfig) -> Result<Self, GeneratorError> {
        if config.start > config.end {
            return Err(GeneratorError::EmptyRange {
                start: config.start,
                end: config.end,
            });
        }
        if config.count > MAX_COUNT {
            return Err(GeneratorError::TooMany(config.count));
        }
        for (name, value) in [
            ("the seed actions rate", config.seed_actions_rate),
            ("the failure rate", config.failure_rate),
            ("the seed failure rate", config.seed_failure_rate),
            ("the EQL activity rate", config.eql_activity_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(GeneratorError::Rate { name, value });
            }
        }
        config.lag.validate()?;
        let (noise, seeds) = action_pools(config.actions.as_deref())?;
        let scenarios = if config.eql_activity_rate > 0.0 {
            aws_eql_scenarios()
        } else {
            Vec::new()
        };
        Ok(Self {
            config,
            noise,
            seeds,
            population: identities::population(),
            scenarios,
        })
    }

    /// The events, oldest first.
    pub fn events(&self) -> Events<'_> {
        Events {
            generator: self,
            rng: Xoshiro256PlusPlus::seed_from_u64(self.config.seed),
            next: 0,
            pending: VecDeque::new(),
            next_scenario: 0,
            started: vec![None; self.scenarios.len()],
        }
    }

    /// The ECS documents, oldest `@timestamp` first.
    pub fn documents(&self) -> impl Iterator<Item = Value> + '_ {
        self.events().map(|event| event.to_document())
    }
}

/// Splits the catalogue (or the chosen actions) into ordinary traffic and seed actions.
#[allow(clippy::type_complexity)]
fn action_pools(
    only: Option<&[String]>,
) -> Result<(Vec<&'static ActionDef>, Vec<&'static ActionDef>), GeneratorError> {
    let chosen: Vec<&'static ActionDef> = match only {
        None => CATALOG.iter().collect(),
        Some(names) => names
            .iter()
            .map(|name| {
                catalog::find(name).ok_or_else(|| GeneratorError::UnknownAction(name.clone()))
            })
            .collect::<Result<_, _>>()?,
    };
    let seeds: Vec<_> = chosen
        .iter()
        .copied()
        .filter(|d| SEED_ACTIONS.contains(&d.name))
        .collect();
    let mut noise: Vec<_> = chosen.iter().copied().filter(|d| d.weight > 0).collect();
    if noise.is_empty() && seeds.is_empty() {
        noise = chosen;
    }
    Ok((noise, seeds))
}

/// The event stream of a [`Generator`].
pub struct Events<'a> {
    generator: &'a Generator,
    rng: Xoshiro256PlusPlus,
    next: u64,
    /// Later steps of started scenarios, with their time, oldest first.
    pending: VecDeque<GeneratedEvent>,
    /// The scenario to start next (they take turns).
    next_scenario: usize,
    /// When each scenario last started.
    started: Vec<Option<DateTime<Utc>>>,
}

impl Iterator for Events<'_> {
    type Item = GeneratedEvent;

    fn next(&mut self) -> Option<GeneratedEvent> {
        let config = &self.generator.config;
        if self.next >= config.count {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let timestamp = self.timestamp(index);
        if let Some(event) = self.planted(timestamp) {
            return Some(event);
        }
        let seed_action = self.is_seed_action();
        let def = self.pick_action(seed_action);
        let failure_rate = if seed_action {
            config.seed_failure_rate
        } else {
            config.failure_rate
        };
        let spec = self.make_spec(def, failure_rate);
        let ingested = self.ingested(timestamp);
        Some(GeneratedEvent {
            spec,
            timestamp,
            ingested,
            planted_for: None,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.generator.config.count - self.next).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

impl Events<'_> {
    /// The event of the slot at `timestamp` when it is a scenario's: a step that is due, or the
    /// first step of the next scenario when the rate says so and it may start.
    fn planted(&mut self, timestamp: DateTime<Utc>) -> Option<GeneratedEvent> {
        if self
            .pending
            .front()
            .is_some_and(|e| e.timestamp <= timestamp)
        {
            return self.pending.pop_front();
        }
        let generator = self.generator;
        if generator.scenarios.is_empty()
            || !self.rng.random_bool(generator.config.eql_activity_rate)
        {
            return None;
        }
        let turn = self.next_scenario;
        let recent = self.started[turn].is_some_and(|last| timestamp - last < SCENARIO_SPAN);
        if recent || generator.config.end - timestamp < SCENARIO_SPAN {
            return None;
        }
        self.next_scenario = (turn + 1) % generator.scenarios.len();
        self.started[turn] = Some(timestamp);
        let mut events = generator.scenarios[turn].events(timestamp).into_iter();
        let mut first = events.next()?;
        for mut event in events {
            event.spec.event_id = Some(self.uuid());
            event.spec.request_id = Some(self.uuid());
            let at = self
                .pending
                .partition_point(|e| e.timestamp <= event.timestamp);
            self.pending.insert(at, event);
        }
        first.spec.event_id = Some(self.uuid());
        first.spec.request_id = Some(self.uuid());
        Some(first)
    }

    /// Event `index` of `count`, spread evenly with jitter, in order, on whole seconds (CloudTrail's
    /// `eventTime` precision).
    fn timestamp(&mut self, index: u64) -> DateTime<Utc> {
        let config = &self.generator.config;
        let span = (config.end - config.start).num_milliseconds() as f64;
        let position = (index as f64 + self.rng.random::<f64>()) / config.count as f64;
        let time = config.start + TimeDelta::milliseconds((span * position) as i64);
        let whole = time - TimeDelta::nanoseconds(i64::from(time.timestamp_subsec_nanos()));
        whole.max(config.start).min(config.end)
    }

    fn is_seed_action(&mut self) -> bool {
        let generator = self.generator;
        if generator.seeds.is_empty() {
            return false;
        }
        if generator.noise.is_empty() {
            return true;
        }
        self.rng.random_bool(generator.config.seed_actions_rate)
    }

    fn pick_action(&mut self, seed_action: bool) -> &'static ActionDef {
        let generator = self.generator;
        if seed_action {
            return generator.seeds[self.rng.random_range(0..generator.seeds.len())];
        }
        let weights: Vec<u32> = generator.noise.iter().map(|d| d.weight.max(1)).collect();
        generator.noise[weighted_index(&mut self.rng, &weights)]
    }

    fn pick_identity(&mut self, def: &ActionDef) -> Identity {
        let candidates: Vec<&(Identity, u32)> = self
            .generator
            .population
            .iter()
            .filter(|(identity, _)| def.callers.contains(&identity.profile))
            .collect();
        if candidates.is_empty() {
            return Identity::iam_user(DEFAULT_ACCOUNT_ID, DEFAULT_USER);
        }
        let weights: Vec<u32> = candidates.iter().map(|(_, w)| *w).collect();
        candidates[weighted_index(&mut self.rng, &weights)]
            .0
            .clone()
    }

    fn make_spec(&mut self, def: &'static ActionDef, failure_rate: f64) -> EventSpec {
        let identity = self.pick_identity(def);
        let region = if def.service.is_global() {
            "us-east-1"
        } else {
            let weights: Vec<u32> = catalog::REGIONS.iter().map(|(_, w)| *w).collect();
            catalog::REGIONS[weighted_index(&mut self.rng, &weights)].0
        };
        let (source, agent) = self.pick_origin(&identity, def);
        let params = (def.params)(&mut Pick::random(&mut self.rng), &identity, region);
        let mut spec = EventSpec::new(def.name);
        spec.user = identity;
        spec.region = region.to_string();
        spec.source_ip = source.address;
        spec.vpc_endpoint_id = source.vpc_endpoint_id;
        spec.user_agent = agent;
        spec.request_parameters = params;
        spec.event_id = Some(self.uuid());
        spec.request_id = Some(self.uuid());
        spec.preserve_original = self.generator.config.preserve_original;
        let fails = self.rng.random_bool(failure_rate);
        if !fails || (def.failures.is_empty() && def.name != "ConsoleLogin") {
            return spec;
        }
        match def.failures.len() {
            0 => spec.failed(),
            n => {
                // The most common error first: half of the failures, the rest spread evenly.
                let choice = if self.rng.random_bool(0.5) {
                    0
                } else {
                    self.rng.random_range(0..n)
                };
                spec.failed_with(def.failures[choice].code)
            }
        }
    }

    /// Source address and user agent, by the caller's habits.
    fn pick_origin(&mut self, identity: &Identity, def: &ActionDef) -> (Source, String) {
        if identity.profile == Profile::Service {
            return (Source::new(&identity.name), identity.name.clone());
        }
        let mut pick = Pick::random(&mut self.rng);
        if identity.profile == Profile::Human {
            let agent = if def.name == "ConsoleLogin" {
                pick.one(&HUMAN_AGENTS[..2])
            } else {
                pick.one(HUMAN_AGENTS)
            };
            if agent == "AWS Internal" {
                return (Source::new("AWS Internal"), agent.to_string());
            }
            let public = self.rng.random_bool(HUMAN_PUBLIC_SHARE);
            let pool = if public {
                PUBLIC_ADDRESSES
            } else {
                CORPORATE_ADDRESSES
            };
            let address = Pick::random(&mut self.rng).one(pool);
            return (Source::new(address), agent.to_string());
        }
        let agent = pick.one(AUTOMATION_AGENTS).to_string();
        let roll: f64 = self.rng.random();
        let mut pick = Pick::random(&mut self.rng);
        if roll < AUTOMATION_VPC_SHARE {
            let mut source = Source::new(pick.one(VPC_ADDRESSES));
            source.vpc_endpoint_id = Some(VPC_ENDPOINT_ID.to_string());
            return (source, agent);
        }
        if roll < AUTOMATION_VPC_SHARE + AUTOMATION_CORPORATE_SHARE {
            return (Source::new(pick.one(CORPORATE_ADDRESSES)), agent);
        }
        (Source::new(pick.one(AWS_ADDRESSES)), agent)
    }

    fn ingested(&mut self, timestamp: DateTime<Utc>) -> DateTime<Utc> {
        let config = &self.generator.config;
        let arrival = timestamp + config.lag.sample(&mut self.rng);
        match config.ingested_not_after {
            Some(limit) => arrival.min(limit.max(timestamp)),
            None => arrival,
        }
    }

    fn uuid(&mut self) -> String {
        let bytes: [u8; 16] = self.rng.random();
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

/// An index drawn with probability proportional to its weight (weights must not all be 0).
fn weighted_index(rng: &mut Xoshiro256PlusPlus, weights: &[u32]) -> usize {
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for (index, weight) in weights.iter().enumerate() {
        let weight = u64::from(*weight);
        if roll < weight {
            return index;
        }
        roll -= weight;
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests;
