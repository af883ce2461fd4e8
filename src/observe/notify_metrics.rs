//! The notification counters of `/metrics`, per connector: messages' alerts sent, retried
//! (attempts that failed and will be tried again), failed (given up: too old, or refused for
//! good) and pending (alerts still waiting, as last counted). Registered with the other metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectorLabels {
    connector: String,
}

/// Counters of the delivery loop.
#[derive(Debug, Default)]
pub struct NotifyMetrics {
    sent: Family<ConnectorLabels, Counter>,
    retried: Family<ConnectorLabels, Counter>,
    failed: Family<ConnectorLabels, Counter>,
    pending: Family<ConnectorLabels, Gauge>,
}

/// What one delivery batch of one connector did, in alerts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliverySample {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
}

impl NotifyMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "notifications_sent",
            "Alerts delivered to a connector",
            self.sent.clone(),
        );
        registry.register(
            "notifications_retried",
            "Delivery attempts that failed and will be retried",
            self.retried.clone(),
        );
        registry.register(
            "notifications_failed",
            "Alerts whose delivery was given up (recorded as failed on the alert)",
            self.failed.clone(),
        );
        registry.register(
            "notifications_pending",
            "Alerts waiting for delivery to a connector, as last counted",
            self.pending.clone(),
        );
    }

    /// Records one delivery batch.
    pub fn record(&self, connector: &str, sample: DeliverySample) {
        let labels = ConnectorLabels {
            connector: connector.to_string(),
        };
        self.sent.get_or_create(&labels).inc_by(sample.sent);
        self.retried.get_or_create(&labels).inc_by(sample.retried);
        self.failed.get_or_create(&labels).inc_by(sample.failed);
    }

    /// Sets how many alerts wait for a connector.
    pub fn set_pending(&self, connector: &str, pending: u64) {
        let labels = ConnectorLabels {
            connector: connector.to_string(),
        };
        self.pending
            .get_or_create(&labels)
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }
}
