//! What one lease cycle does, decided from what the server holds (pure): which leases this
//! instance lost, which it claims (free ones, and those of dead instances) and which it gives
//! back so that every live instance holds its share.
//!
//! # Rules that only some instances load ("adopted" leases)
//! Each instance's share is `ceil(rules it loads / live instances)`. When the instances load
//! different rule sets (a rolling config change, a rule file on one host only), a rule loaded
//! only by instances already at their share would stay free for ever. So a loaded rule whose
//! lease this instance saw free (no owner, a dead owner, or no document) for
//! [`ADOPT_AFTER_PERIODS`] lease periods, long enough for any instance under its share that
//! loads it to claim it, is claimed even over the share: **adopted**. When several instances
//! could adopt it, they take turns in the order of their preference for the rule (a hash of
//! instance and rule): the n-th waits n half periods more, so the others usually see the first
//! one's claim before their turn (and claims are conditional anyway: one write wins).
//!
//! An adopted lease is held on top of the share: it does not count in the share, so giving
//! back extras never gives it back (it would be free again, and adopted again: a loop), and it
//! does not make its instance claim fewer free leases. Counting it in the share and giving
//! back another rule instead could loop as well: that rule may be loaded only by instances at
//! their share, stay free, be adopted in turn, and so on. An adopted lease is given back only
//! when the instance stops or no longer loads the rule; it can be lost like any lease.
//!
//! Steady states (all instances live, rule sets fixed):
//! * Two instances, A loads rules 1..10 and X (share 6), B loads 1..10 (share 5). Should A hold
//!   six of 1..10 and B the other four, X is free: two periods later A adopts it and holds 7,
//!   B 4. Nothing is given back after that (A's non-adopted leases are at its share, B is under
//!   its share with nothing free it loads), so nothing moves again.
//! * Three instances, A loads 1..9 and X (share 4), B and C load 1..9 (share 3): at worst
//!   A 4 of 1..9, B 3, C 2 and X free; A adopts X: A 5, B 3, C 2, and stays so. Should B load
//!   X too (share 4, C's 3): at worst A 4 and B 4 of 1..9, C 1, X free; the one of A and B
//!   first in preference order for X adopts it (5), the other sees it held before its turn.
//! * The same rule sets everywhere: every free lease is claimed within a cycle by an instance
//!   under its share (the shares add up to at least the rules), so none stays free for two
//!   periods and nothing is adopted: shares and requests are as before.
//!
//! The balance is then not even (A above): it stays so while A holds X; once every instance
//! loads the same rules again, a restart of A spreads the rules evenly again.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// After how many lease periods seen free a lease of a rule this instance loads is claimed
/// even over the share (the first instance in preference order; the others later).
pub const ADOPT_AFTER_PERIODS: u32 = 2;

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
    /// Claimed over the share (see the module's doc): held on top of it, never given back as
    /// an extra.
    pub adopted: bool,
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
    /// Claimed over the share: the lease stayed free too long (see the module's doc).
    pub adopted: bool,
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
    /// How long this instance has seen each loaded rule's lease free without a break (the
    /// rules of [`free_rules`], kept with [`track_free`]).
    pub free_for: &'a BTreeMap<String, Duration>,
    /// The lease period.
    pub period: Duration,
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
    // The held leases that count in the share (the adopted ones are on top of it, except when
    // stopping: then everything goes).
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
        } else if !held.adopted || view.stopping {
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
    }
    if view.stopping {
        return plan;
    }
    let wanted = target.saturating_sub(keep.len());
    let mut free: Vec<Claim> = (view.rules.iter())
        .filter(|rule_id| !view.held.contains_key(*rule_id))
        .filter_map(|rule_id| claimable(view, &live, rule_id))
        .collect();
    // Each instance prefers a different order, so that instances starting together claim
    // different rules instead of conflicting over the same ones.
    free.sort_by_key(|claim| preference(view.me, &claim.rule_id));
    let beyond = free.split_off(wanted.min(free.len()));
    plan.claims = free;
    // Over the share: the leases free for too long (no instance under its share loads them).
    plan.claims.extend(
        (beyond.into_iter())
            .filter(|claim| overdue(view, &live, &claim.rule_id))
            .map(|claim| Claim {
                adopted: true,
                ..claim
            }),
    );
    plan
}

/// The loaded rules whose lease this instance does not hold and could claim (free, its owner
/// dead, or no document): the instance keeps since when each was seen so ([`track_free`]).
pub fn free_rules(view: &View<'_>) -> Vec<String> {
    let live = live_instances(view);
    (view.rules.iter())
        .filter(|rule_id| !view.held.contains_key(*rule_id))
        .filter(|rule_id| claimable(view, &live, rule_id).is_some())
        .cloned()
        .collect()
}

/// Since when each rule of `free` has been seen free: rules seen free for the first time
/// start at `now`, rules no longer free are forgotten (the count starts again next time).
pub fn track_free(since: &mut BTreeMap<String, Instant>, free: &[String], now: Instant) {
    let free: BTreeSet<&str> = free.iter().map(String::as_str).collect();
    since.retain(|rule_id, _| free.contains(rule_id.as_str()));
    for rule_id in free {
        since.entry(rule_id.to_string()).or_insert(now);
    }
}

/// How long this instance waits, the lease of `rule_id` free, before it adopts it:
/// [`ADOPT_AFTER_PERIODS`] periods, plus half a period for each live instance that prefers
/// the rule more (those take their turn first).
pub fn adopt_after(me: &str, live: &[String], rule_id: &str, period: Duration) -> Duration {
    let mine = preference(me, rule_id);
    let before = (live.iter())
        .filter(|other| other.as_str() != me && preference(other, rule_id) < mine)
        .count();
    period * ADOPT_AFTER_PERIODS + period / 2 * u32::try_from(before).unwrap_or(u32::MAX)
}

/// Whether the rule's lease has been free long enough for this instance to adopt it.
fn overdue(view: &View<'_>, live: &[String], rule_id: &str) -> bool {
    (view.free_for.get(rule_id))
        .is_some_and(|free_for| *free_for >= adopt_after(view.me, live, rule_id, view.period))
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
            adopted: false,
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
        adopted: false,
    })
}

/// A claim's generation: above the previous one, and not below the time in milliseconds, so
/// that generations keep rising even when the lease index was lost and made again.
pub fn next_generation(previous: u64, now: DateTime<Utc>) -> u64 {
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    (previous + 1).max(millis)
}

/// How much an instance prefers a rule (lower first): a hash of both names.
pub fn preference(me: &str, rule_id: &str) -> [u8; 8] {
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
