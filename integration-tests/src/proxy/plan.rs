//! What the fault proxy does to each request: a [`FaultPlan`] is a list of [`FaultRule`]s, each
//! matching requests by method and a substring of the path (and query), skipping the first
//! `skip` matches and then applying its [`Fault`] `times` times. The first rule that applies
//! wins; a request no rule applies to passes through. Also the counters of what was injected.

use std::time::Duration;

/// What to do to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Forward it and return the server's answer unchanged.
    Pass,
    /// Close the connection without answering (after reading the request, which is not
    /// forwarded): what a refused or dropped connection looks like to the client.
    Refuse,
    /// Forward it (the server does the work), write half of the answer, then close.
    ResetMidResponse,
    /// Forward it, then hold the answer back this long before writing it.
    Delay(Duration),
    /// Hold the request this long without forwarding it, then close without answering: the
    /// server never sees it.
    Stall(Duration),
    /// Answer this status (429, 503...) with an Elasticsearch-shaped JSON error, without
    /// forwarding.
    Status(u16),
    /// A `_bulk` request: the items at these positions (0-based, in request order) are not
    /// forwarded and come back with `status` and an error; the others are forwarded.
    FailBulkItems { positions: Vec<usize>, status: u16 },
    /// Answer with this status and an HTML body, without forwarding.
    NotJson(u16),
    /// Forward a search, then report one failed shard in its answer (`_shards.failures`), the
    /// way Elasticsearch answers when some shards fail and others return hits.
    ShardFailure,
}

/// Which requests a fault applies to, and how often.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// `None` matches every method.
    pub method: Option<String>,
    /// A substring of the request target (path and query); empty matches everything.
    pub path_contains: String,
    /// When set, the target must also start with this.
    pub path_prefix: Option<String>,
    /// When set, the request body must contain this (e.g. `"update"` for `_bulk` updates).
    pub body_contains: Option<String>,
    /// How many matching requests pass before the fault starts.
    pub skip: u32,
    /// How many matching requests get the fault (`u32::MAX`: all of them).
    pub times: u32,
    pub fault: Fault,
    seen: u32,
}

impl FaultRule {
    /// A rule that applies `fault` to every request, once; narrow it with the other methods.
    pub fn new(fault: Fault) -> Self {
        FaultRule {
            method: None,
            path_contains: String::new(),
            path_prefix: None,
            body_contains: None,
            skip: 0,
            times: 1,
            fault,
            seen: 0,
        }
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    pub fn path(mut self, substring: &str) -> Self {
        self.path_contains = substring.to_string();
        self
    }

    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_string());
        self
    }

    pub fn body(mut self, substring: &str) -> Self {
        self.body_contains = Some(substring.to_string());
        self
    }

    pub fn skip(mut self, skip: u32) -> Self {
        self.skip = skip;
        self
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    pub fn always(self) -> Self {
        self.times(u32::MAX)
    }

    fn matches(&self, method: &str, target: &str, body: &[u8]) -> bool {
        let needle = self.body_contains.as_deref().map(str::as_bytes);
        needle.is_none_or(|n| body.windows(n.len().max(1)).any(|w| w == n))
            && self.method.as_deref().is_none_or(|m| m == method)
            && target.contains(&self.path_contains)
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|prefix| target.starts_with(prefix))
    }

    /// Counts a matching request and says whether the fault applies to it.
    fn take(&mut self) -> bool {
        let n = self.seen;
        self.seen = self.seen.saturating_add(1);
        n >= self.skip && n - self.skip < self.times
    }
}

/// The rules, in order.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    rules: Vec<FaultRule>,
}

impl FaultPlan {
    /// A plan that passes everything.
    pub fn pass() -> Self {
        FaultPlan::default()
    }

    pub fn with(mut self, rule: FaultRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The fault for the next request. Every matching rule counts the request, so each rule's
    /// `skip`/`times` refer to the requests it matches, whatever the other rules do.
    pub fn choose(&mut self, method: &str, target: &str) -> Fault {
        self.choose_for(method, target, b"")
    }

    /// Like [`FaultPlan::choose`], for a request with this body (rules may match on it).
    pub fn choose_for(&mut self, method: &str, target: &str, body: &[u8]) -> Fault {
        let mut chosen = None;
        for rule in &mut self.rules {
            if rule.matches(method, target, body) && rule.take() && chosen.is_none() {
                chosen = Some(rule.fault.clone());
            }
        }
        chosen.unwrap_or(Fault::Pass)
    }
}

/// What the proxy did, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Requests read from clients.
    pub requests: u64,
    pub passed: u64,
    pub refused: u64,
    pub resets: u64,
    /// Answers held back; counted once the server has answered and the hold begins.
    pub delayed: u64,
    /// Requests held without forwarding; counted when the hold begins.
    pub stalled: u64,
    pub statuses: u64,
    /// Bulk items answered with a failure (not requests).
    pub bulk_items_failed: u64,
    pub not_json: u64,
    /// Search answers given a failed shard.
    pub shard_failures: u64,
    /// Requests that could not be forwarded because the upstream was down.
    pub upstream_down: u64,
}

impl FaultStats {
    /// Every fault injected (bulk items count one each; upstream outages count too).
    pub fn faults(&self) -> u64 {
        self.refused
            + self.resets
            + self.delayed
            + self.stalled
            + self.statuses
            + self.bulk_items_failed
            + self.not_json
            + self.shard_failures
            + self.upstream_down
    }

    pub fn record(&mut self, fault: &Fault) {
        match fault {
            Fault::Pass => self.passed += 1,
            Fault::Refuse => self.refused += 1,
            Fault::ResetMidResponse => self.resets += 1,
            // Counted by the proxy when the hold begins.
            Fault::Delay(_) | Fault::Stall(_) => {}
            Fault::Status(_) => self.statuses += 1,
            Fault::FailBulkItems { .. } => {}
            Fault::NotJson(_) => self.not_json += 1,
            Fault::ShardFailure => self.shard_failures += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_skips_then_applies_its_fault_the_given_number_of_times() {
        let mut plan = FaultPlan::pass().with(
            FaultRule::new(Fault::Status(429))
                .method("post")
                .path("_bulk")
                .skip(1)
                .times(2),
        );
        let faults: Vec<Fault> = (0..4).map(|_| plan.choose("POST", "/_bulk")).collect();
        assert_eq!(
            faults,
            [
                Fault::Pass,
                Fault::Status(429),
                Fault::Status(429),
                Fault::Pass
            ]
        );
        assert_eq!(plan.choose("GET", "/_bulk"), Fault::Pass);
    }

    #[test]
    fn the_first_applicable_rule_wins_and_others_still_count() {
        let mut plan = FaultPlan::pass()
            .with(FaultRule::new(Fault::Refuse).path("_search"))
            .with(FaultRule::new(Fault::NotJson(200)).path("_search").skip(1));
        assert_eq!(plan.choose("POST", "/x/_search"), Fault::Refuse);
        assert_eq!(plan.choose("POST", "/x/_search"), Fault::NotJson(200));
        assert_eq!(plan.choose("POST", "/x/_search"), Fault::Pass);
    }
}
