//! What an operator watches while `lookout run` works: Prometheus metrics ([`Metrics`]), the
//! health and readiness flags ([`Health`]) and the small HTTP endpoint that serves both
//! ([`serve`]: `/healthz`, `/readyz`, `/metrics`). The engine records into it; it never decides
//! anything about rules.

mod http;
mod metrics;

pub use http::serve;
pub use metrics::{ExecutionSample, Metrics, StatusLabel};

use std::sync::atomic::{AtomicBool, Ordering};

/// The three conditions `/readyz` checks, set by whoever learns them (the daemon at start-up
/// and on every execution). All start false.
#[derive(Debug, Default)]
pub struct Health {
    server_reachable: AtomicBool,
    templates_installed: AtomicBool,
    rules_loaded: AtomicBool,
}

impl Health {
    pub fn set_server_reachable(&self, yes: bool) {
        self.server_reachable.store(yes, Ordering::Relaxed);
    }

    pub fn set_templates_installed(&self, yes: bool) {
        self.templates_installed.store(yes, Ordering::Relaxed);
    }

    pub fn set_rules_loaded(&self, yes: bool) {
        self.rules_loaded.store(yes, Ordering::Relaxed);
    }

    /// The conditions that are not met, by name (empty when ready).
    pub fn not_ready(&self) -> Vec<&'static str> {
        [
            ("server_reachable", &self.server_reachable),
            ("templates_installed", &self.templates_installed),
            ("rules_loaded", &self.rules_loaded),
        ]
        .into_iter()
        .filter(|(_, flag)| !flag.load(Ordering::Relaxed))
        .map(|(name, _)| name)
        .collect()
    }
}

/// Metrics and health together: what the endpoint serves. Shared as `Arc<Observer>`.
#[derive(Debug, Default)]
pub struct Observer {
    pub metrics: Metrics,
    pub health: Health,
}
