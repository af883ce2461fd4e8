//! Leases: several `lookout run` instances share the rules through documents in the server,
//! with no coordinator (docs/operations.md, "Several instances"). Input: this instance's rules
//! and what the leases index holds; output: which rules this instance may run now, and the
//! fence its state writes carry.
//!
//! # Documents (one index, `leases.index`)
//! * **Heartbeat**, one per instance, id = hash of (scope, instance): `{"kind": "instance",
//!   "scope", "instance", "heartbeat_at", "expires_at", "rules"}`, written every quarter of the
//!   lease period with `expires_at` = now + period. An instance whose `expires_at` is past is
//!   dead.
//! * **Lease**, one per rule, id = hash of (scope, `rule_id`): `{"kind": "lease", "scope",
//!   "rule_id", "owner", "generation", "updated_at"}`. A lease is held by its `owner` for as
//!   long as the owner's heartbeat is alive, so renewing every lease costs one request per
//!   cycle, whatever the number of rules.
//!
//! The scope is a hash of the namespace and the alerts index, as the state's: two deployments
//! sharing a cluster never take each other's rules.
//!
//! # One cycle (every period / 4)
//! Write the heartbeat; refresh and read the index (one search: heartbeats and leases, only the
//! fields used: `_source` filtering and `filter_path`, which a server may ignore); drop
//! the leases another instance holds now (lost); then claim, each with a conditional write
//! (`create`, or `if_seq_no`/`if_primary_term` of the version read, as Kibana's task manager
//! claims tasks), free leases and those whose owner is dead, up to `ceil(rules / live
//! instances)`, or give back (`owner: null`) the extras that are not running, and the leases of
//! rules this instance no longer loads (a reload dropped them). A lease of a loaded rule seen
//! free for [`plan::ADOPT_AFTER_PERIODS`] periods (no instance under its share loads it: the
//! instances load different rules) is claimed over the share, "adopted", and held on top of
//! it (the module doc of `plan`). A claim raises the generation;
//! two instances claiming one lease: one write wins, the other gets a conflict. The live instance
//! with the lowest name also removes the lease documents of rules that no live instance holds
//! and it does not load, once they stayed unchanged for [`ORPHAN_AFTER_PERIODS`] periods (each
//! deletion conditional on the version read, so a claim in between wins).
//!
//! # Reloads
//! The same [`Leases`] lives across reloads (SIGHUP): [`Leases::set_rules`] gives it the new
//! rule set, the leases of rules still loaded stay held under the same generation, those of
//! dropped rules are given back, new rules are claimed as any free lease.
//!
//! # Local validity and fencing
//! A lease counts as held only until the start of the last complete cycle + 4/5 of the
//! period (monotonic time): an instance that was paused, or cut off from the server, stops
//! running its rules before the others may take them (their clocks within period / 5 of
//! ours). The generation is the fence: the engine writes it with the rule state, and a state
//! write under an older generation than the stored one is refused (`state::check_fence`).

mod plan;
#[cfg(test)]
mod tests;

pub use plan::{Held, InstanceDoc, LeaseDoc, Plan, Version, View};

use crate::config::Config;
use crate::es::{Client, ConditionalPut, EsError, PutOutcome};
use crate::ids::framed_id;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most documents (leases and heartbeats) one deployment's cycle reads.
pub const MAX_LEASE_DOCS: usize = 10_000;

/// After how many lease periods past its expiry a dead instance's heartbeat is removed.
pub const FORGET_AFTER_PERIODS: i32 = 10;
/// How many dead heartbeats one cycle removes at most.
const FORGET_PER_CYCLE: usize = 5;
/// After how many lease periods unchanged a lease document of a rule that no live instance
/// holds, and the lowest-named live instance does not load, is removed.
pub const ORPHAN_AFTER_PERIODS: u32 = 2;

/// How the lease documents of a deployment are found and named.
#[derive(Debug, Clone)]
pub struct Place {
    pub client: Client,
    pub index: String,
    /// Hash of the namespace and the alerts index.
    pub scope: String,
}

impl Place {
    pub fn for_config(client: Client, config: &Config) -> Place {
        Place {
            client,
            index: config.leases.index.clone(),
            scope: framed_id(&[&config.alerts.namespace, &config.alerts.index]),
        }
    }

    fn lease_id(&self, rule_id: &str) -> String {
        format!("lease-{}", framed_id(&[&self.scope, rule_id]))
    }

    fn instance_id(&self, instance: &str) -> String {
        format!("instance-{}", framed_id(&[&self.scope, instance]))
    }

    /// Every heartbeat and lease of this deployment (the index refreshed first, so that what
    /// other instances wrote is seen).
    pub async fn read(&self) -> Result<(Vec<InstanceDoc>, BTreeMap<String, LeaseDoc>), EsError> {
        self.client.refresh(&self.index).await?;
        let answer = (self.client)
            .search_filtered(&self.index, read_body(), READ_FILTER_PATH)
            .await?;
        let hits = answer["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if hits.len() >= MAX_LEASE_DOCS {
            tracing::error!(
                index = %self.index,
                "the leases index holds {MAX_LEASE_DOCS} documents or more: some rules are not shared"
            );
        }
        let mut instances = Vec::new();
        let mut leases = BTreeMap::new();
        for hit in &hits {
            let source = &hit["_source"];
            if source["scope"].as_str() != Some(self.scope.as_str()) {
                continue;
            }
            match source["kind"].as_str() {
                Some("instance") => instances.extend(instance_doc(source)),
                Some("lease") => {
                    if let Some(doc) = lease_doc(hit) {
                        leases.insert(doc.rule_id.clone(), doc);
                    }
                }
                _ => {}
            }
        }
        Ok((instances, leases))
    }
}

/// The parts of the read's answer a cycle uses (the server's `filter_path`): a third of the
/// answer's bytes go otherwise to `_index`, `_id`, `_score` and the answer's head.
const READ_FILTER_PATH: &str = "hits.hits._seq_no,hits.hits._primary_term,hits.hits._source";

/// The read of every heartbeat and lease: only the fields a cycle and `lookout status` use
/// (`scope` among them: the documents of other deployments are told apart with it).
fn read_body() -> Value {
    json!({
        "size": MAX_LEASE_DOCS,
        "seq_no_primary_term": true,
        "query": {"match_all": {}},
        "_source": [
            "kind", "scope", "instance", "heartbeat_at", "expires_at",
            "rule_id", "owner", "generation",
        ],
    })
}

fn instance_doc(source: &Value) -> Option<InstanceDoc> {
    let date = |field: &str| {
        (source[field].as_str()).and_then(|text| DateTime::parse_from_rfc3339(text).ok())
    };
    Some(InstanceDoc {
        name: source["instance"].as_str()?.to_string(),
        heartbeat_at: date("heartbeat_at")?.to_utc(),
        expires_at: date("expires_at")?.to_utc(),
    })
}

fn lease_doc(hit: &Value) -> Option<LeaseDoc> {
    let source = &hit["_source"];
    Some(LeaseDoc {
        rule_id: source["rule_id"].as_str()?.to_string(),
        owner: source["owner"].as_str().map(str::to_string),
        generation: source["generation"].as_u64().unwrap_or(0),
        version: (hit["_seq_no"].as_u64()?, hit["_primary_term"].as_u64()?),
    })
}

/// What changed in one cycle, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// Leases held after the cycle.
    pub held: usize,
    /// Free leases claimed.
    pub acquired: usize,
    /// Leases of dead instances claimed.
    pub taken_over: usize,
    /// Leases another instance holds now.
    pub lost: usize,
    /// Leases given back.
    pub released: usize,
    /// Live instances seen.
    pub instances: usize,
    /// Lease documents of rules no instance loads, removed.
    pub removed: usize,
    /// Of the leases acquired or taken over, those claimed over the share (adopted).
    pub adopted: usize,
}

#[derive(Debug, Default)]
struct Table {
    /// The rules this instance runs.
    rules: Vec<String>,
    held: BTreeMap<String, Held>,
    running: BTreeSet<String>,
    /// Being given back: no new execution starts.
    releasing: BTreeSet<String>,
    /// Claimed since the scheduler last asked.
    fresh: Vec<String>,
    /// Every held lease is valid until then.
    valid_until: Option<Instant>,
    last_heartbeat: Option<Instant>,
    stopping: bool,
    /// Lease documents of rules no live instance holds nor this one loads: the version seen,
    /// and since when it is unchanged.
    orphans_seen: BTreeMap<String, (Version, Instant)>,
    /// Since when each loaded rule's lease is seen free without a break (`plan::free_rules`).
    free_since: BTreeMap<String, Instant>,
}

impl Table {
    /// Whether the held leases are still valid (confirmed recently enough).
    fn valid(&self) -> bool {
        self.valid_until.is_some_and(|until| Instant::now() < until)
    }

    /// The rule's lease when an execution of it may start now: held, valid, not being given
    /// back, not shutting down.
    fn startable(&self, rule_id: &str) -> Option<&Held> {
        if !self.valid() || self.stopping || self.releasing.contains(rule_id) {
            return None;
        }
        self.held.get(rule_id)
    }
}

/// This instance's leases.
#[derive(Debug)]
pub struct Leases {
    place: Place,
    instance: String,
    period: Duration,
    table: Mutex<Table>,
    fresh_claimed: tokio::sync::Notify,
    /// One cycle at a time (the maintaining task's, and a reload's).
    cycling: tokio::sync::Mutex<()>,
}

impl Leases {
    pub fn new(place: Place, instance: &str, period: Duration, rules: Vec<String>) -> Leases {
        Leases {
            place,
            instance: instance.to_string(),
            period,
            table: Mutex::new(Table {
                rules,
                ..Table::default()
            }),
            fresh_claimed: tokio::sync::Notify::new(),
            cycling: tokio::sync::Mutex::new(()),
        }
    }

    /// The rules this instance runs from now on (a reload): the leases of rules no longer in
    /// them are given back at the next cycle, new ones are claimed; the others stay held.
    pub fn set_rules(&self, rules: Vec<String>) {
        self.table().rules = rules;
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// How often the heartbeat is written and the leases looked at.
    pub fn renew_every(&self) -> Duration {
        self.period / 4
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table
            .lock()
            .expect("the lease table is never poisoned")
    }

    /// The generation of the rule's lease when this instance may start an execution of it now
    /// (held, valid, not being given back, not shutting down); the execution is marked
    /// running until [`Leases::end`].
    pub fn begin(&self, rule_id: &str) -> Option<u64> {
        let mut table = self.table();
        let generation = table.startable(rule_id)?.generation;
        table.running.insert(rule_id.to_string());
        Some(generation)
    }

    /// Whether this instance may start an execution of the rule now.
    pub fn may_run(&self, rule_id: &str) -> bool {
        self.table().startable(rule_id).is_some()
    }

    /// The execution of the rule has ended.
    pub fn end(&self, rule_id: &str) {
        self.table().running.remove(rule_id);
    }

    /// Whether the lease of `generation` is still held and valid (the engine asks before each
    /// state write).
    pub fn holds(&self, rule_id: &str, generation: u64) -> bool {
        let table = self.table();
        table.valid() && table.held.get(rule_id).map(|h| h.generation) == Some(generation)
    }

    /// Completes when rules were claimed (then [`Leases::take_fresh`] lists them).
    pub async fn fresh_claimed(&self) {
        self.fresh_claimed.notified().await;
    }

    /// The rules claimed since the last call.
    pub fn take_fresh(&self) -> Vec<String> {
        std::mem::take(&mut self.table().fresh)
    }

    /// How many leases are held.
    pub fn held_count(&self) -> usize {
        self.table().held.len()
    }

    /// Whether [`Leases::stop`] was called.
    pub fn stopping(&self) -> bool {
        self.table().stopping
    }

    /// Stops taking and starting: every lease not running is given back at the next cycle.
    pub fn stop(&self) {
        self.table().stopping = true;
    }

    /// One cycle: heartbeat, read, lost / claimed / given back. A failed request ends the cycle
    /// with an error; held leases stay valid until their local deadline, then lapse.
    pub async fn cycle(&self) -> Result<CycleReport, EsError> {
        let _cycling = self.cycling.lock().await;
        let started = Instant::now();
        let now = Utc::now();
        let beat_due = self
            .table()
            .last_heartbeat
            .is_none_or(|last| started.saturating_duration_since(last) >= self.renew_every());
        if beat_due {
            self.heartbeat(now).await?;
        }
        let (instances, leases) = self.place.read().await?;
        let (plan, live, orphans) = {
            let mut guard = self.table();
            let table = &mut *guard;
            let read_at = Instant::now();
            let mut view = View {
                me: &self.instance,
                now,
                rules: &table.rules,
                held: &table.held,
                running: &table.running,
                instances: &instances,
                leases: &leases,
                stopping: table.stopping,
                free_for: &BTreeMap::new(),
                period: self.period,
            };
            plan::track_free(&mut table.free_since, &plan::free_rules(&view), read_at);
            let free_for: BTreeMap<String, Duration> = (table.free_since.iter())
                .map(|(rule_id, since)| {
                    (rule_id.clone(), read_at.saturating_duration_since(*since))
                })
                .collect();
            view.free_for = &free_for;
            let orphans = if table.stopping {
                Vec::new()
            } else {
                plan::orphans(&view)
            };
            (
                plan::plan(&view),
                plan::live_instances(&view).len(),
                orphans,
            )
        };
        let mut report = CycleReport {
            instances: live,
            ..CycleReport::default()
        };
        {
            let mut table = self.table();
            for rule_id in &plan.lost {
                table.held.remove(rule_id);
                tracing::warn!(rule_id = %rule_id, "lease lost: another instance holds the rule now");
            }
            report.lost = plan.lost.len();
            table.releasing.extend(plan.releases.iter().cloned());
            // What this instance still holds was confirmed by this cycle's read; it stays
            // valid until well before the others see the last heartbeat expire.
            table.valid_until = table.last_heartbeat.map(|beat| beat + self.period * 4 / 5);
        }
        self.claim(&plan, now, &mut report).await?;
        self.release(&plan.releases, now, &mut report).await;
        self.forget_dead(&instances, now).await;
        report.removed = self.remove_orphans(orphans).await;
        report.held = self.held_count();
        Ok(report)
    }

    /// Removes the lease documents of rules no live instance holds nor loads that stayed
    /// unchanged for [`ORPHAN_AFTER_PERIODS`] periods, each only over the version read (a
    /// claim in between wins); returns how many were removed.
    async fn remove_orphans(&self, orphans: Vec<(String, Version)>) -> usize {
        let due: Vec<(String, Version)> = {
            let current: BTreeMap<String, Version> = orphans.into_iter().collect();
            let now = Instant::now();
            let mut table = self.table();
            let seen = &mut table.orphans_seen;
            seen.retain(|rule_id, (version, _)| current.get(rule_id) == Some(version));
            for (rule_id, version) in current {
                seen.entry(rule_id).or_insert((version, now));
            }
            let after = self.period * ORPHAN_AFTER_PERIODS;
            (seen.iter())
                .filter(|(_, (_, since))| now.saturating_duration_since(*since) >= after)
                .map(|(rule_id, (version, _))| (rule_id.clone(), *version))
                .collect()
        };
        if due.is_empty() {
            return 0;
        }
        let deletes: Vec<(String, Version)> = (due.iter())
            .map(|(rule_id, version)| (self.place.lease_id(rule_id), *version))
            .collect();
        let outcomes = match (self.place.client)
            .bulk_delete_if(&self.place.index, &deletes)
            .await
        {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tracing::debug!(%error, "removing the leases of rules no instance loads failed");
                return 0;
            }
        };
        let mut removed = 0;
        let mut table = self.table();
        for ((rule_id, _), outcome) in due.iter().zip(outcomes) {
            table.orphans_seen.remove(rule_id);
            match outcome {
                PutOutcome::Written(..) => {
                    removed += 1;
                    tracing::info!(rule_id = %rule_id, "lease of a rule no instance loads removed");
                }
                PutOutcome::Conflict => {
                    tracing::debug!(rule_id = %rule_id, "lease changed since it was read: kept");
                }
                PutOutcome::Failed(failure) => {
                    tracing::debug!(rule_id = %rule_id, status = failure.status, reason = %failure.reason, "removing a lease failed");
                }
            }
        }
        removed
    }

    /// Removes the heartbeats of instances dead for [`FORGET_AFTER_PERIODS`] lease periods
    /// (every restart under a new name leaves one), a few per cycle; any instance may.
    async fn forget_dead(&self, instances: &[InstanceDoc], now: DateTime<Utc>) {
        let period = chrono::TimeDelta::from_std(self.period).unwrap_or(chrono::TimeDelta::MAX);
        let long_dead = (instances.iter())
            .filter(|instance| instance.expires_at + period * FORGET_AFTER_PERIODS < now)
            .take(FORGET_PER_CYCLE);
        for instance in long_dead {
            let id = self.place.instance_id(&instance.name);
            if let Err(error) = self.place.client.delete_doc(&self.place.index, &id).await {
                tracing::debug!(%error, instance = %instance.name, "removing a dead instance's heartbeat failed");
            }
        }
    }

    async fn heartbeat(&self, now: DateTime<Utc>) -> Result<(), EsError> {
        let expires = now
            + chrono::TimeDelta::from_std(self.period).unwrap_or(chrono::TimeDelta::seconds(30));
        let doc = json!({
            "kind": "instance",
            "scope": self.place.scope,
            "instance": self.instance,
            "heartbeat_at": now,
            "expires_at": expires,
            "rules": self.held_count(),
            "period_ms": u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX),
        });
        let id = self.place.instance_id(&self.instance);
        let sent = Instant::now();
        self.place
            .client
            .put_doc(&self.place.index, &id, &doc, false)
            .await?;
        self.table().last_heartbeat = Some(sent);
        Ok(())
    }

    async fn claim(
        &self,
        plan: &Plan,
        now: DateTime<Utc>,
        report: &mut CycleReport,
    ) -> Result<(), EsError> {
        if plan.claims.is_empty() {
            return Ok(());
        }
        let puts: Vec<ConditionalPut> = (plan.claims.iter())
            .map(|claim| ConditionalPut {
                id: self.place.lease_id(&claim.rule_id),
                doc: self.lease_body(&claim.rule_id, Some(&self.instance), claim.generation, now),
                expected: claim.expected,
            })
            .collect();
        let outcomes = (self.place.client)
            .bulk_put_if(&self.place.index, &puts, false)
            .await?;
        let mut table = self.table();
        let before = table.fresh.len();
        for (claim, outcome) in plan.claims.iter().zip(outcomes) {
            match outcome {
                PutOutcome::Written(seq_no, term) => {
                    table.held.insert(
                        claim.rule_id.clone(),
                        Held {
                            generation: claim.generation,
                            version: (seq_no, term),
                            adopted: claim.adopted,
                        },
                    );
                    table.fresh.push(claim.rule_id.clone());
                    if claim.adopted {
                        report.adopted += 1;
                        tracing::info!(rule_id = %claim.rule_id, generation = claim.generation, "lease adopted over this instance's share: it stayed free (no instance under its share loads the rule)");
                    }
                    match &claim.from {
                        Some(from) => {
                            report.taken_over += 1;
                            tracing::info!(rule_id = %claim.rule_id, from = %from, generation = claim.generation, "lease taken over from an instance whose heartbeat expired");
                        }
                        None => {
                            report.acquired += 1;
                            tracing::debug!(rule_id = %claim.rule_id, generation = claim.generation, "lease claimed");
                        }
                    }
                }
                PutOutcome::Conflict => {
                    tracing::debug!(rule_id = %claim.rule_id, "lease claimed by another instance first");
                }
                PutOutcome::Failed(failure) => {
                    tracing::warn!(rule_id = %claim.rule_id, status = failure.status, reason = %failure.reason, "claiming a lease failed");
                }
            }
        }
        if table.fresh.len() > before {
            self.fresh_claimed.notify_one();
        }
        Ok(())
    }

    /// Gives leases back (`owner: null`, over the version this instance wrote). A lease that
    /// cannot be given back stays held (and lapses if the instance goes away).
    async fn release(&self, rule_ids: &[String], now: DateTime<Utc>, report: &mut CycleReport) {
        let puts: Vec<(String, ConditionalPut)> = {
            let table = self.table();
            (rule_ids.iter())
                .filter_map(|rule_id| {
                    let held = table.held.get(rule_id)?;
                    let put = ConditionalPut {
                        id: self.place.lease_id(rule_id),
                        doc: self.lease_body(rule_id, None, held.generation, now),
                        expected: Some(held.version),
                    };
                    Some((rule_id.clone(), put))
                })
                .collect()
        };
        if puts.is_empty() {
            self.table().releasing.clear();
            return;
        }
        let sent: Vec<ConditionalPut> = puts.iter().map(|(_, put)| put.clone()).collect();
        let outcomes = (self.place.client)
            .bulk_put_if(&self.place.index, &sent, false)
            .await;
        let mut table = self.table();
        match outcomes {
            Ok(outcomes) => {
                for ((rule_id, _), outcome) in puts.iter().zip(outcomes) {
                    match outcome {
                        PutOutcome::Written(..) | PutOutcome::Conflict => {
                            table.held.remove(rule_id);
                            report.released += 1;
                        }
                        PutOutcome::Failed(failure) => {
                            tracing::warn!(rule_id = %rule_id, status = failure.status, reason = %failure.reason, "giving a lease back failed");
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "giving leases back failed"),
        }
        table.releasing.clear();
    }

    /// Gives every lease back and removes the heartbeat (the end of a graceful shutdown):
    /// the other instances take the rules at their next cycle.
    pub async fn release_all(&self) {
        let _cycling = self.cycling.lock().await;
        let rule_ids: Vec<String> = {
            let mut table = self.table();
            table.stopping = true;
            table.held.keys().cloned().collect()
        };
        let mut report = CycleReport::default();
        self.release(&rule_ids, Utc::now(), &mut report).await;
        let id = self.place.instance_id(&self.instance);
        if let Err(error) = self.place.client.delete_doc(&self.place.index, &id).await {
            tracing::warn!(%error, "removing this instance's heartbeat failed");
        }
        let mut table = self.table();
        table.held.clear();
        table.valid_until = None;
        tracing::info!(
            released = report.released,
            instance = %self.instance,
            "leases given back"
        );
    }

    fn lease_body(
        &self,
        rule_id: &str,
        owner: Option<&str>,
        generation: u64,
        now: DateTime<Utc>,
    ) -> Value {
        json!({
            "kind": "lease",
            "scope": self.place.scope,
            "rule_id": rule_id,
            "owner": owner,
            "generation": generation,
            "updated_at": now,
        })
    }
}

/// The instances and leases of a deployment, for `lookout status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    pub instances: Vec<InstanceOverview>,
    /// Rules whose lease no live instance holds.
    pub unowned: Vec<String>,
}

/// One instance, and the rules it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceOverview {
    pub name: String,
    pub heartbeat_at: DateTime<Utc>,
    /// When its leases expire unless renewed.
    pub expires_at: DateTime<Utc>,
    pub live: bool,
    pub rules: Vec<String>,
}

/// Reads the deployment's heartbeats and leases.
pub async fn overview(place: &Place, now: DateTime<Utc>) -> Result<Overview, EsError> {
    let (instances, leases) = place.read().await?;
    let mut overview = Overview {
        instances: (instances.iter())
            .map(|instance| InstanceOverview {
                name: instance.name.clone(),
                heartbeat_at: instance.heartbeat_at,
                expires_at: instance.expires_at,
                live: instance.expires_at > now,
                rules: Vec::new(),
            })
            .collect(),
        unowned: Vec::new(),
    };
    overview.instances.sort_by(|a, b| a.name.cmp(&b.name));
    for lease in leases.values() {
        let owner = (lease.owner.as_ref())
            .and_then(|owner| overview.instances.iter_mut().find(|i| &i.name == owner))
            .filter(|instance| instance.live);
        match owner {
            Some(instance) => instance.rules.push(lease.rule_id.clone()),
            None => overview.unowned.push(lease.rule_id.clone()),
        }
    }
    Ok(overview)
}
