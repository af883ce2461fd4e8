//! What one lease cycle does, decided from what the server holds (pure): which leases this
//! instance lost, which it claims (free ones, and those of dead instances) and which it gives
//! back so that every live instance holds its share.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// A document's version: (`seq_no`, `primary_term`).
pub type Version = (u64, u64);

/// One rule's lease document as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseDoc {
    pub rule_id: String,
    pub owner: Option<String>,
    pub generation: u64,
    pub version: Version,
}

/// One instance's heartbeat document as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceDoc {
    pub name: String,
    pub heartbeat_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A lease this instance holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub generation: u64,
    pub version: Version,
}

/// A lease to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub rule_id: String,
    /// The version read (`None`: no document yet, created).
    pub expected: Option<Version>,
    pub generation: u64,
    /// The dead instance that held it (a take-over), `None` when it was free.
    pub from: Option<String>,
}

/// What one cycle does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Held leases that another instance holds now (or that are gone).
    pub lost: Vec<String>,
    pub claims: Vec<Claim>,
    /// Held leases to give back (not running): extras over the share, and rules this
    /// instance no longer loads.
    pub releases: Vec<String>,
    /// How many leases this instance should hold.
    pub target: usize,
}

/// What the server holds, and this instance's view of itself.
#[derive(Debug)]
pub struct View<'a> {
    pub me: &'a str,
    pub now: DateTime<Utc>,
    /// The rules this instance runs.
    pub rules: &'a [String],
    pub held: &'a BTreeMap<String, Held>,
    pub running: &'a BTreeSet<String>,
    pub instances: &'a [InstanceDoc],
    pub leases: &'a BTreeMap<String, LeaseDoc>,
    /// Shutting down: claim nothing, give back everything not running.
    pub stopping: bool,
}

/// The live instances (heartbeat not expired), this one always among them, sorted.
pub fn live_instances(view: &View<'_>) -> Vec<String> {
    let mut live: BTreeSet<String> = (view.instances.iter())
        .filter(|instance| instance.expires_at > view.now)
        .map(|instance| instance.name.clone())
        .collect();
    live.insert(view.me.to_string());
    live.into_iter().collect()
}

/// `ceil(rules / instances)`: every rule has an owner when each instance takes its share.
pub fn share(rules: usize, instances: usize) -> usize {
    rules.div_ceil(instances.max(1))
}

/// The cycle's plan.
pub fn plan(view: &View<'_>) -> Plan {
    let live = live_instances(view);
    let target = if view.stopping {
        0
    } else {
        share(view.rules.len(), live.len())
    };
    let mut plan = Plan {
        target,
        ..Plan::default()
    };
    let loaded: BTreeSet<&str> = view.rules.iter().map(String::as_str).collect();
    let mut keep: Vec<&String> = Vec::new();
    for (rule_id, held) in view.held {
        let doc = view.leases.get(rule_id);
        let ours = doc.is_some_and(|doc| {
            doc.owner.as_deref() == Some(view.me) && doc.generation == held.generation
        });
        if !ours {
            plan.lost.push(rule_id.clone());
        } else if !loaded.contains(rule_id.as_str()) {
            // A rule this instance no longer loads (a reload dropped it): given back once its
            // execution, if any, has ended.
            if !view.running.contains(rule_id) {
                plan.releases.push(rule_id.clone());
            }
        } else {
            keep.push(rule_id);
        }
    }
    if keep.len() > target {
        // Give back the extras that are not running, those this instance prefers least first.
        let mut idle: Vec<&String> = (keep.iter().copied())
            .filter(|rule_id| !view.running.contains(*rule_id))
            .collect();
        idle.sort_by_key(|rule_id| std::cmp::Reverse(preference(view.me, rule_id)));
        plan.releases
            .extend((idle.into_iter().take(keep.len() - target)).cloned());
        return plan;
    }
    let wanted = target - keep.len();
    let mut free: Vec<Claim> = (view.rules.iter())
        .filter(|rule_id| !view.held.contains_key(*rule_id))
        .filter_map(|rule_id| claimable(view, &live, rule_id))
        .collect();
    // Each instance prefers a different order, so that instances starting together claim
    // different rules instead of conflicting over the same ones.
    free.sort_by_key(|claim| preference(view.me, &claim.rule_id));
    free.truncate(wanted);
    plan.claims = free;
    plan
}

/// The lease documents of rules that no live instance holds and this instance does not load
/// (their owner is none, or dead, or an earlier process of this name), with the version read;
/// empty unless this instance has the lowest name among the live ones, so that one instance
/// removes them. Another instance that loads such a rule claims it within a cycle; the caller
/// removes only documents left unchanged for a while, each on the version read.
pub fn orphans(view: &View<'_>) -> Vec<(String, Version)> {
    let live = live_instances(view);
    if live.first().map(String::as_str) != Some(view.me) {
        return Vec::new();
    }
    let loaded: BTreeSet<&str> = view.rules.iter().map(String::as_str).collect();
    (view.leases.values())
        .filter(|doc| !loaded.contains(doc.rule_id.as_str()))
        .filter(|doc| !view.held.contains_key(&doc.rule_id))
        .filter(|doc| match &doc.owner {
            None => true,
            Some(owner) => owner == view.me || !live.contains(owner),
        })
        .map(|doc| (doc.rule_id.clone(), doc.version))
        .collect()
}

/// The claim of a rule this instance does not hold, when its lease is free or its owner dead.
fn claimable(view: &View<'_>, live: &[String], rule_id: &String) -> Option<Claim> {
    let generation_at = |previous: u64| next_generation(previous, view.now);
    let Some(doc) = view.leases.get(rule_id) else {
        return Some(Claim {
            rule_id: rule_id.clone(),
            expected: None,
            generation: generation_at(0),
            from: None,
        });
    };
    let from = match &doc.owner {
        None => None,
        // A lease of this very name that this process does not hold: an earlier process
        // of the same name (a restart); taken again.
        Some(owner) if owner == view.me => Some(owner.clone()),
        Some(owner) if live.contains(owner) => return None,
        Some(owner) => Some(owner.clone()),
    };
    Some(Claim {
        rule_id: rule_id.clone(),
        expected: Some(doc.version),
        generation: generation_at(doc.generation),
        from,
    })
}

/// A claim's generation: above the previous one, and not below the time in milliseconds, so
/// that generations keep rising even when the lease index was lost and made again.
pub fn next_generation(previous: u64, now: DateTime<Utc>) -> u64 {
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    (previous + 1).max(millis)
}

/// How much an instance prefers a rule (lower first): a hash of both names.
fn preference(me: &str, rule_id: &str) -> [u8; 8] {
    let mut hasher = Sha256::new();
    for part in [me, rule_id] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    first
}
