//! lookout's Prometheus metrics, kept in a `prometheus-client` registry and rendered in the
//! text exposition format. Recording is cheap (atomics behind a read lock) and never fails.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::fmt;
use std::time::Duration;

/// Upper bounds (seconds) of the search, write and execution duration histograms: 5 ms to 60 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Upper bounds (seconds) of the schedule delay histogram (how late an execution started):
/// 10 ms to 1 h.
pub const SCHEDULE_DELAY_BUCKETS: &[f64] =
    &[0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0];

/// How an execution ended, as a metric label (Kibana's words, underscores for spaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusLabel {
    Succeeded,
    PartialFailure,
    Failed,
    Superseded,
}

impl StatusLabel {
    fn as_str(self) -> &'static str {
        match self {
            StatusLabel::Succeeded => "succeeded",
            StatusLabel::PartialFailure => "partial_failure",
            StatusLabel::Failed => "failed",
            StatusLabel::Superseded => "superseded",
        }
    }
}

impl From<crate::state::ExecutionStatus> for StatusLabel {
    fn from(status: crate::state::ExecutionStatus) -> Self {
        match status {
            crate::state::ExecutionStatus::Succeeded => StatusLabel::Succeeded,
            crate::state::ExecutionStatus::PartialFailure => StatusLabel::PartialFailure,
            crate::state::ExecutionStatus::Failed => StatusLabel::Failed,
            crate::state::ExecutionStatus::Superseded => StatusLabel::Superseded,
        }
    }
}

/// What one finished execution reports to the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionSample<'a> {
    pub rule_id: &'a str,
    pub status: StatusLabel,
    pub hits: u64,
    pub alerts_created: u64,
    pub duplicates: u64,
    /// Alerts refused for good, recorded as dead letters.
    pub dead_letters: u64,
    pub search: Duration,
    pub write: Duration,
    pub total: Duration,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule_id: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleStatusLabels {
    rule_id: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    r#type: String,
}

/// Every metric lookout exports. `Default` registers them all under the `lookout_` prefix.
pub struct Metrics {
    registry: Registry,
    executions: Family<RuleStatusLabels, Counter>,
    alerts_created: Family<RuleLabels, Counter>,
    duplicates: Family<RuleLabels, Counter>,
    hits: Family<RuleLabels, Counter>,
    dead_letters: Family<RuleLabels, Counter>,
    gaps: Family<RuleLabels, Counter>,
    gap_seconds: Family<RuleLabels, Counter<f64>>,
    rules_loaded: Family<TypeLabels, Gauge>,
    search_seconds: Histogram,
    write_seconds: Histogram,
    execution_seconds: Histogram,
    schedule_delay_seconds: Histogram,
    leases_held: Gauge,
    lease_instances: Gauge,
    leases_acquired: Counter,
    leases_taken_over: Counter,
    leases_lost: Counter,
    leases_released: Counter,
    leases_adopted: Counter,
    lease_cycle_failures: Counter,
    clock_offset_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Notification delivery, per connector.
    pub notify: super::NotifyMetrics,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut metrics = Metrics {
            registry: Registry::with_prefix("lookout"),
            executions: Family::default(),
            alerts_created: Family::default(),
            duplicates: Family::default(),
            hits: Family::default(),
            dead_letters: Family::default(),
            gaps: Family::default(),
            gap_seconds: Family::default(),
            rules_loaded: Family::default(),
            search_seconds: Histogram::new(DURATION_BUCKETS.iter().copied()),
            write_seconds: Histogram::new(DURATION_BUCKETS.iter().copied()),
            execution_seconds: Histogram::new(DURATION_BUCKETS.iter().copied()),
            schedule_delay_seconds: Histogram::new(SCHEDULE_DELAY_BUCKETS.iter().copied()),
            leases_held: Gauge::default(),
            lease_instances: Gauge::default(),
            leases_acquired: Counter::default(),
            leases_taken_over: Counter::default(),
            leases_lost: Counter::default(),
            leases_released: Counter::default(),
            leases_adopted: Counter::default(),
            lease_cycle_failures: Counter::default(),
            clock_offset_seconds: Gauge::default(),
            notify: super::NotifyMetrics::default(),
        };
        // Not measured until the server's first answer with a Date header (and never on a
        // server that sends none).
        metrics.clock_offset_seconds.set(f64::NAN);
        metrics.register();
        metrics
    }
}

impl Metrics {
    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "executions",
            "Rule executions by rule and final status",
            self.executions.clone(),
        );
        r.register(
            "alerts_created",
            "Alerts written",
            self.alerts_created.clone(),
        );
        r.register(
            "duplicates_dropped",
            "Matches not written because their alert already existed",
            self.duplicates.clone(),
        );
        r.register(
            "hits_searched",
            "Source documents returned by rule searches",
            self.hits.clone(),
        );
        r.register(
            "dead_letters",
            "Alerts the alerts index refused for good, recorded as dead letters",
            self.dead_letters.clone(),
        );
        r.register(
            "gaps",
            "Stretches of time recorded as not searched",
            self.gaps.clone(),
        );
        r.register_with_unit(
            "gap",
            "Length of time recorded as not searched",
            Unit::Seconds,
            self.gap_seconds.clone(),
        );
        r.register(
            "rules_loaded",
            "Rules loaded, by rule type",
            self.rules_loaded.clone(),
        );
        r.register(
            "leases_held",
            "Rule leases this instance holds (several instances share the rules)",
            self.leases_held.clone(),
        );
        r.register(
            "lease_instances",
            "Live instances seen at the last lease cycle, this one included",
            self.lease_instances.clone(),
        );
        let lease_counters = [
            (
                "leases_acquired",
                "Free rule leases claimed",
                &self.leases_acquired,
            ),
            (
                "leases_taken_over",
                "Rule leases taken over from instances whose heartbeat expired",
                &self.leases_taken_over,
            ),
            (
                "leases_lost",
                "Rule leases found held by another instance (this one was too late to renew)",
                &self.leases_lost,
            ),
            (
                "leases_released",
                "Rule leases given back (rebalancing, shutdown)",
                &self.leases_released,
            ),
            (
                "leases_adopted",
                "Rule leases claimed over the share because they stayed free (instances loading different rules)",
                &self.leases_adopted,
            ),
            (
                "lease_cycle_failures",
                "Lease cycles that failed (heartbeat or lease requests)",
                &self.lease_cycle_failures,
            ),
        ];
        for (name, help, counter) in lease_counters {
            r.register(name, help, counter.clone());
        }
        let histograms = [
            (
                "search_duration",
                "Time spent searching, per execution",
                &self.search_seconds,
            ),
            (
                "write_duration",
                "Time spent writing alerts, per execution",
                &self.write_seconds,
            ),
            (
                "execution_duration",
                "Whole execution time",
                &self.execution_seconds,
            ),
            (
                "schedule_delay",
                "How late executions started after their due time",
                &self.schedule_delay_seconds,
            ),
        ];
        for (name, help, histogram) in histograms {
            r.register_with_unit(name, help, Unit::Seconds, histogram.clone());
        }
        r.register_with_unit(
            "clock_offset",
            "The server's clock minus the host's, from the Date header of the server's answers",
            Unit::Seconds,
            self.clock_offset_seconds.clone(),
        );
        self.notify.register(r);
    }

    /// Records one finished execution: its status, counts and durations.
    pub fn record_execution(&self, sample: &ExecutionSample<'_>) {
        let rule = RuleLabels {
            rule_id: sample.rule_id.to_string(),
        };
        self.executions
            .get_or_create(&RuleStatusLabels {
                rule_id: sample.rule_id.to_string(),
                status: sample.status.as_str().to_string(),
            })
            .inc();
        self.alerts_created
            .get_or_create(&rule)
            .inc_by(sample.alerts_created);
        self.duplicates
            .get_or_create(&rule)
            .inc_by(sample.duplicates);
        self.hits.get_or_create(&rule).inc_by(sample.hits);
        if sample.dead_letters > 0 {
            self.dead_letters
                .get_or_create(&rule)
                .inc_by(sample.dead_letters);
        }
        self.search_seconds.observe(sample.search.as_secs_f64());
        self.write_seconds.observe(sample.write.as_secs_f64());
        self.execution_seconds.observe(sample.total.as_secs_f64());
    }

    /// Records how late an execution started compared with its due time.
    pub fn record_schedule_delay(&self, delay: Duration) {
        self.schedule_delay_seconds.observe(delay.as_secs_f64());
    }

    /// Records a stretch of time a rule did not search.
    pub fn record_gap(&self, rule_id: &str, length: Duration) {
        let rule = RuleLabels {
            rule_id: rule_id.to_string(),
        };
        self.gaps.get_or_create(&rule).inc();
        self.gap_seconds
            .get_or_create(&rule)
            .inc_by(length.as_secs_f64());
    }

    /// The number of rule leases held now.
    pub fn set_leases_held(&self, held: usize) {
        self.leases_held
            .set(i64::try_from(held).unwrap_or(i64::MAX));
    }

    /// The number of live instances.
    pub fn set_lease_instances(&self, instances: usize) {
        self.lease_instances
            .set(i64::try_from(instances).unwrap_or(i64::MAX));
    }

    /// Leases claimed free, taken over, lost and given back in one cycle, and of those
    /// claimed, the ones adopted over the share.
    pub fn record_lease_changes(
        &self,
        acquired: usize,
        taken_over: usize,
        lost: usize,
        released: usize,
        adopted: usize,
    ) {
        let counters = [
            (&self.leases_acquired, acquired),
            (&self.leases_taken_over, taken_over),
            (&self.leases_lost, lost),
            (&self.leases_released, released),
            (&self.leases_adopted, adopted),
        ];
        for (counter, n) in counters {
            counter.inc_by(n as u64);
        }
    }

    /// The server's clock minus the host's, in seconds (as last measured).
    pub fn set_clock_offset(&self, seconds: f64) {
        self.clock_offset_seconds.set(seconds);
    }

    /// A lease cycle failed.
    pub fn record_lease_failure(&self) {
        self.lease_cycle_failures.inc();
    }

    /// Replaces the count of loaded rules per rule type (types absent now drop to 0).
    pub fn set_rules_loaded<'a>(&self, by_type: impl IntoIterator<Item = (&'a str, usize)>) {
        self.rules_loaded.clear();
        for (rule_type, count) in by_type {
            let labels = TypeLabels {
                r#type: rule_type.to_string(),
            };
            self.rules_loaded
                .get_or_create(&labels)
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing into a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rule_id: &str, status: StatusLabel) -> ExecutionSample<'_> {
        ExecutionSample {
            rule_id,
            status,
            hits: 7,
            dead_letters: 2,
            alerts_created: 3,
            duplicates: 4,
            search: Duration::from_millis(20),
            write: Duration::from_millis(8),
            total: Duration::from_millis(40),
        }
    }

    fn line_value(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
    }

    #[test]
    fn executions_are_counted_by_rule_and_status() {
        let metrics = Metrics::default();
        metrics.record_execution(&sample("r1", StatusLabel::Succeeded));
        metrics.record_execution(&sample("r1", StatusLabel::Succeeded));
        metrics.record_execution(&sample("r1", StatusLabel::Failed));
        let text = metrics.encode();
        let ok = "lookout_executions_total{rule_id=\"r1\",status=\"succeeded\"}";
        let failed = "lookout_executions_total{rule_id=\"r1\",status=\"failed\"}";
        assert_eq!(line_value(&text, ok), Some(2.0), "{text}");
        assert_eq!(line_value(&text, failed), Some(1.0), "{text}");
    }

    #[test]
    fn alerts_duplicates_and_hits_add_up() {
        let metrics = Metrics::default();
        metrics.record_execution(&sample("r1", StatusLabel::Succeeded));
        metrics.record_execution(&sample("r1", StatusLabel::PartialFailure));
        let text = metrics.encode();
        assert_eq!(
            line_value(&text, "lookout_alerts_created_total{rule_id=\"r1\"}"),
            Some(6.0)
        );
        assert_eq!(
            line_value(&text, "lookout_duplicates_dropped_total{rule_id=\"r1\"}"),
            Some(8.0)
        );
        assert_eq!(
            line_value(&text, "lookout_hits_searched_total{rule_id=\"r1\"}"),
            Some(14.0)
        );
        assert_eq!(
            line_value(&text, "lookout_dead_letters_total{rule_id=\"r1\"}"),
            Some(4.0)
        );
        assert_eq!(
            line_value(&text, "lookout_search_duration_seconds_count"),
            Some(2.0)
        );
        assert_eq!(
            line_value(&text, "lookout_write_duration_seconds_count"),
            Some(2.0)
        );
    }

    #[test]
    fn gaps_and_schedule_delay_are_exported() {
        let metrics = Metrics::default();
        metrics.record_gap("r2", Duration::from_secs(90));
        metrics.record_schedule_delay(Duration::from_millis(250));
        let text = metrics.encode();
        assert_eq!(
            line_value(&text, "lookout_gaps_total{rule_id=\"r2\"}"),
            Some(1.0)
        );
        assert_eq!(
            line_value(&text, "lookout_gap_seconds_total{rule_id=\"r2\"}"),
            Some(90.0)
        );
        assert_eq!(
            line_value(&text, "lookout_schedule_delay_seconds_count"),
            Some(1.0)
        );
    }

    #[test]
    fn rules_loaded_are_replaced_not_added() {
        let metrics = Metrics::default();
        metrics.set_rules_loaded([("query", 5), ("eql", 2)]);
        metrics.set_rules_loaded([("query", 4)]);
        let text = metrics.encode();
        assert_eq!(
            line_value(&text, "lookout_rules_loaded{type=\"query\"}"),
            Some(4.0),
            "{text}"
        );
        assert_eq!(
            line_value(&text, "lookout_rules_loaded{type=\"eql\"}"),
            None,
            "{text}"
        );
    }
}
