//! Several instances sharing the rules: the daemon's side of the leases (`lease`). It claims
//! leases before scheduling starts, keeps them (one cycle every quarter of the lease period,
//! reported to the metrics), lets the scheduler run only the rules it holds, runs each
//! execution under its lease (the engine fences every state write with it), and on shutdown
//! stops claiming, gives back what is idle at once and the rest as executions end. A reload
//! (SIGHUP) keeps the same `Sharing` when the new configuration names the same server, leases
//! index, deployment, instance and period ([`Sharing::fits`]): the rules still loaded keep their
//! leases ([`Sharing::reload`]).

use super::scheduler::Ownership;
use crate::config::{Config, ElasticsearchConfig, LeasesConfig};
use crate::engine::{Engine, ExecutionReport, Lease, LeaseCheck};
use crate::lease::{CycleReport, Leases, Place};
use crate::observe::Observer;
use crate::rule::Rule;
use crate::state::Fence;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How often a stopping instance gives back the leases of executions that ended.
const STOPPING_CYCLE: Duration = Duration::from_millis(250);

/// This instance's part in sharing the rules (`None` inside: leases are off, it runs all).
#[derive(Debug, Clone)]
pub struct Sharing {
    leases: Option<Arc<Leases>>,
    /// What the configuration it joined with says about the leases (`None`: alone).
    joined: Option<Arc<Joined>>,
}

/// The parts of the configuration that decide where the leases are and whose they are.
#[derive(Debug, PartialEq)]
struct Joined {
    elasticsearch: ElasticsearchConfig,
    leases: LeasesConfig,
    namespace: String,
    alerts_index: String,
}

impl Joined {
    fn of(config: &Config) -> Joined {
        Joined {
            elasticsearch: config.elasticsearch.clone(),
            leases: config.leases.clone(),
            namespace: config.alerts.namespace.clone(),
            alerts_index: config.alerts.index.clone(),
        }
    }
}

impl Sharing {
    /// An instance that runs every rule without leases (`leases.enabled = false`).
    pub fn alone() -> Sharing {
        Sharing {
            leases: None,
            joined: None,
        }
    }

    /// Whether this sharing can go on under `config` (a reload): leases on in both, and the
    /// same server, leases index, deployment, instance name and period. When it cannot, the
    /// caller leaves and joins again.
    pub fn fits(&self, config: &Config) -> bool {
        match &self.joined {
            Some(joined) => config.leases.enabled && **joined == Joined::of(config),
            None => !config.leases.enabled,
        }
    }

    /// A reload kept this sharing: from now on it runs `rules`. One cycle at once gives back the
    /// leases of rules no longer loaded and claims those of new ones; the others stay held.
    pub async fn reload(&self, rules: &[Rule], observer: Option<&Observer>) {
        if let Some(leases) = &self.leases {
            leases.set_rules(rules.iter().map(|rule| rule.rule_id.clone()).collect());
            self.cycle(observer).await;
        }
    }

    /// Joins the instances of this deployment: announces itself and claims its share of
    /// `rules` (one cycle; when it fails, the next cycles claim). Alone when leases are off.
    pub async fn join(
        config: &Config,
        engine: &Engine,
        rules: &[Rule],
        observer: Option<&Observer>,
    ) -> Sharing {
        if !config.leases.enabled {
            return Sharing::alone();
        }
        let place = Place::for_config(engine.client().clone(), config);
        let rule_ids = rules.iter().map(|rule| rule.rule_id.clone()).collect();
        let leases = Leases::new(
            place,
            &config.leases.instance,
            config.leases.period,
            rule_ids,
        );
        let sharing = Sharing {
            leases: Some(Arc::new(leases)),
            joined: Some(Arc::new(Joined::of(config))),
        };
        sharing.cycle(observer).await;
        sharing
    }

    /// How many leases this instance holds (every rule when alone: `None`).
    pub fn held(&self) -> Option<usize> {
        self.leases.as_ref().map(|leases| leases.held_count())
    }

    /// Which rules the scheduler may run.
    pub fn ownership(&self) -> &dyn Ownership {
        match &self.leases {
            Some(leases) => leases.as_ref(),
            None => &super::scheduler::Alone,
        }
    }

    /// Runs one execution under the rule's lease; `None` when this instance does not hold it
    /// (any more): nothing ran.
    pub async fn execute(
        &self,
        engine: &Engine,
        rule: &Rule,
        at: DateTime<Utc>,
    ) -> Option<ExecutionReport> {
        let Some(leases) = &self.leases else {
            return Some(engine.execute(rule, at).await);
        };
        let generation = leases.begin(&rule.rule_id)?;
        let held = Arc::new(HeldLease {
            leases: Arc::clone(leases),
            rule_id: rule.rule_id.clone(),
            fence: Fence {
                owner: leases.instance().to_string(),
                generation,
            },
        });
        let lease = Lease(Arc::clone(&held) as Arc<dyn LeaseCheck>);
        // Ends the execution even when its future is dropped (a shutdown's grace ran out), so
        // that its lease can be given back.
        let _ended = Ended(&held);
        let report = engine.execute_leased(rule, at, Some(lease)).await;
        Some(report)
    }

    /// Keeps the leases (never returns; pending forever when alone).
    pub async fn maintain(&self, observer: Option<&Observer>) {
        let Some(leases) = &self.leases else {
            return std::future::pending().await;
        };
        loop {
            let wait = if leases.stopping() {
                STOPPING_CYCLE
            } else {
                leases.renew_every()
            };
            tokio::time::sleep(wait).await;
            self.cycle(observer).await;
        }
    }

    async fn cycle(&self, observer: Option<&Observer>) {
        let Some(leases) = &self.leases else {
            return;
        };
        match leases.cycle().await {
            Ok(report) => record(observer, &report),
            Err(error) => {
                tracing::warn!(%error, "lease cycle failed: leases not renewed in time lapse, and their rules stop here");
                if let Some(observer) = observer {
                    observer.metrics.record_lease_failure();
                }
            }
        }
    }

    /// Shutting down: no new execution starts; idle leases go back at the next (short) cycle.
    pub fn stop(&self) {
        if let Some(leases) = &self.leases {
            leases.stop();
        }
    }

    /// Gives every lease back and removes the heartbeat.
    pub async fn leave(&self, observer: Option<&Observer>) {
        if let Some(leases) = &self.leases {
            leases.release_all().await;
            if let Some(observer) = observer {
                observer.metrics.set_leases_held(0);
            }
        }
    }
}

fn record(observer: Option<&Observer>, report: &CycleReport) {
    if let Some(observer) = observer {
        let metrics = &observer.metrics;
        metrics.set_leases_held(report.held);
        metrics.set_lease_instances(report.instances);
        metrics.record_lease_changes(
            report.acquired,
            report.taken_over,
            report.lost,
            report.released,
            report.adopted,
        );
    }
}

impl Ownership for Leases {
    fn may_run(&self, rule_id: &str) -> bool {
        Leases::may_run(self, rule_id)
    }

    fn take_fresh(&self) -> Vec<String> {
        Leases::take_fresh(self)
    }

    fn fresh_taken(&self) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        Box::pin(self.fresh_claimed())
    }
}

/// Marks the execution of a held lease ended when dropped.
struct Ended<'a>(&'a HeldLease);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.leases.end(&self.0.rule_id);
    }
}

/// The lease one execution runs under.
struct HeldLease {
    leases: Arc<Leases>,
    rule_id: String,
    fence: Fence,
}

impl LeaseCheck for HeldLease {
    fn fence(&self) -> Fence {
        self.fence.clone()
    }

    fn held(&self) -> bool {
        self.leases.holds(&self.rule_id, self.fence.generation)
    }
}
