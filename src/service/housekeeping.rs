//! Keeping lookout's indices from growing without end.
//!
//! * **Alerts behind a write alias.** `alerts.index` names an alias; the indices behind it are
//!   its generations (`<alias>-000001`, `-000002`, ...), all matched by the alerts template
//!   (`<alias>-*`) and by every reader's pattern (`<alias>*`). Writes go through the alias to
//!   the write index only. [`prepare_alerts`] creates the first generation when the name is
//!   free; a concrete index of that name (an installation older than rollover) is kept, with a
//!   warning, and never rolls over.
//! * **Rollover.** On Elasticsearch, `lookout setup` installs an ILM policy
//!   ([`ilm_policy`]) that the template names, and ILM rolls the alias over. Elsewhere (no ILM
//!   API) the daemon asks for `POST <alias>/_rollover` with the configured conditions once per
//!   [`HOUSEKEEPING_EVERY`] (one request; the server decides whether a condition is met). On a
//!   server without `_rollover` it checks the conditions itself and rolls over by hand
//!   ([`RolloverBy::LookoutByHand`]).
//! * **Execution record retention.** Once per [`HOUSEKEEPING_EVERY`], the execution records
//!   older than `engine.execution_retention` are deleted, but for those recovering lost state
//!   reads ([`StateStore::prune_executions`]).
//!
//! Housekeeping runs beside the scheduler and never in an execution: a quiet execution's
//! requests are unchanged. Every instance of a deployment tries a round every
//! [`HOUSEKEEPING_EVERY`]; a round is done at most once per period per deployment: the instance
//! whose conditional write of the claim document wins does it
//! ([`StateStore::claim_housekeeping`]), the others skip. Its requests are idempotent anyway (a
//! rollover whose conditions the fresh index does not meet does nothing, a deletion that finds
//! nothing deletes nothing), so a claim that races does no harm.

use crate::alert;
use crate::clock::Clock;
use crate::config::{Config, RolloverConfig};
use crate::es::{Client, EsError, IndexName, Rollover};
use crate::state::StateStore;
use chrono::TimeDelta;
use serde_json::{Value, json};

/// How often the daemon checks the alerts rollover and prunes execution records.
pub const HOUSEKEEPING_EVERY: TimeDelta = TimeDelta::hours(1);

/// The first index behind the alerts alias.
pub fn first_generation(alias: &str) -> String {
    format!("{alias}-000001")
}

/// The name of the ILM policy `lookout setup` installs for the alerts alias.
pub fn ilm_policy_name(alias: &str) -> String {
    format!("{alias}-policy")
}

/// A duration as Elasticsearch writes one, in its largest whole unit (`30d`, `12h`, `90m`).
fn es_duration(delta: TimeDelta) -> String {
    let seconds = delta.num_seconds().max(1);
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// The rollover conditions of `_rollover` and of the ILM policy's rollover action.
pub fn rollover_conditions(rollover: &RolloverConfig) -> Value {
    let mut conditions = serde_json::Map::new();
    if let Some(age) = rollover.max_age {
        conditions.insert("max_age".into(), json!(es_duration(age)));
    }
    if let Some(size) = &rollover.max_size {
        conditions.insert("max_size".into(), json!(size));
    }
    if let Some(docs) = rollover.max_docs {
        conditions.insert("max_docs".into(), json!(docs));
    }
    Value::Object(conditions)
}

/// The ILM policy of the alerts alias: one hot phase that rolls over on the configured
/// conditions. No delete phase: how long alerts are kept is the operator's decision (Kibana's
/// own alerts policy has none either).
pub fn ilm_policy(rollover: &RolloverConfig) -> Value {
    json!({"policy": {
        "phases": {"hot": {"actions": {"rollover": rollover_conditions(rollover)}}},
        "_meta": {"managed_by": "lookout"},
    }})
}

/// The alerts index template; with `ilm`, its indices are managed by the policy
/// [`ilm_policy_name`] and roll over the alias.
pub fn alerts_template(alias: &str, ilm: bool) -> Value {
    let mut template = alert::index_template(alias);
    if ilm {
        let settings = &mut template["template"]["settings"];
        settings["index.lifecycle.name"] = json!(ilm_policy_name(alias));
        settings["index.lifecycle.rollover_alias"] = json!(alias);
    }
    template
}

/// The generation after `index`: its 6-digit suffix plus one (`a-000001` -> `a-000002`), or
/// `-000002` appended to a name without one.
pub fn next_generation(index: &str) -> String {
    let (stem, digits) = index.rsplit_once('-').unwrap_or((index, ""));
    match digits.parse::<u64>() {
        Ok(n) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{stem}-{:0width$}", n + 1, width = digits.len().max(6))
        }
        _ => format!("{index}-000002"),
    }
}

/// Bytes of a size written as Elasticsearch does (`50gb`); `None` when it does not parse.
pub fn byte_size(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let number: u64 = digits.parse().ok()?;
    let unit: u64 = match &lower[digits.len()..] {
        "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        "tb" => 1 << 40,
        "pb" => 1 << 50,
        _ => return None,
    };
    number.checked_mul(unit)
}

/// What the alerts index is, once prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertsTarget {
    /// A write alias over generations; `write_index` takes the writes.
    Alias { write_index: Option<String> },
    /// A concrete index (made before lookout rolled alerts over): kept, never rolled over.
    ConcreteIndex,
}

/// Makes `alerts.index` a write alias when nothing of that name exists yet (creates its first
/// generation, the template applying), and says what it is. A concrete index of that name is
/// kept with a warning (docs/operations.md says how to move it behind an alias). Two requests
/// at most when it exists, three when created.
pub async fn prepare_alerts(client: &Client, alias: &str) -> Result<AlertsTarget, EsError> {
    match client.resolve_name(alias).await? {
        IndexName::Alias { write_index, .. } => Ok(AlertsTarget::Alias { write_index }),
        IndexName::Index => {
            tracing::warn!(
                index = %alias,
                "the alerts index is a concrete index (made by an older lookout), not a write alias: it is kept and never rolls over (docs/operations.md, \"Alerts rollover\")"
            );
            Ok(AlertsTarget::ConcreteIndex)
        }
        IndexName::Missing => {
            let first = first_generation(alias);
            let body = json!({"aliases": {alias: {"is_write_index": true}}});
            let created = client.create_index(&first, &body).await.map_err(|error| match error {
                EsError::Status {
                    op,
                    index,
                    status: status @ (401 | 403),
                    reason,
                } => EsError::Status {
                    op,
                    index,
                    status,
                    reason: format!(
                        "{reason} (the alerts alias is missing: run `lookout setup` once as a user with the manage privilege on {alias}*)"
                    ),
                },
                other => other,
            })?;
            if created {
                tracing::info!(alias = %alias, index = %first, "created the alerts write alias and its first index");
            }
            match client.resolve_name(alias).await? {
                IndexName::Alias { write_index, .. } => Ok(AlertsTarget::Alias { write_index }),
                IndexName::Index => Ok(AlertsTarget::ConcreteIndex),
                IndexName::Missing => Err(EsError::BadAnswer {
                    op: "create alerts alias",
                    index: alias.to_string(),
                    message: format!("{first} was created but the alias {alias} does not exist"),
                }),
            }
        }
    }
}

/// Who rolls the alerts alias over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloverBy {
    /// Elasticsearch's ILM, with the policy `lookout setup` installed.
    Ilm,
    /// The daemon, with `_rollover` once per [`HOUSEKEEPING_EVERY`].
    Lookout,
    /// The daemon on a server without `_rollover`: it checks the conditions itself (the write
    /// index's documents, size and creation date), then creates the next index and moves the
    /// write alias to it in one `_aliases` request.
    LookoutByHand,
    /// Nobody: the alerts index is concrete (or its alias has no write index).
    Nobody,
}

/// The daemon's housekeeping of one configuration: alerts rollover and execution retention.
pub struct Housekeeping {
    client: Client,
    store: StateStore,
    alias: String,
    rollover: RolloverConfig,
    conditions: Value,
    retention: TimeDelta,
    rollover_by: Option<RolloverBy>,
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// This instance did the round (no instance of the deployment did one within
    /// [`HOUSEKEEPING_EVERY`] before); `false`: nothing else was done.
    pub claimed: bool,
    /// The new write index, when the alias rolled over.
    pub rolled_over_to: Option<String>,
    /// How many execution records were deleted.
    pub pruned: u64,
}

impl Housekeeping {
    pub fn new(client: Client, config: &Config) -> Housekeeping {
        Housekeeping {
            store: StateStore::for_config(client.clone(), config),
            client,
            alias: config.alerts.index.clone(),
            rollover: config.alerts.rollover.clone(),
            conditions: rollover_conditions(&config.alerts.rollover),
            retention: config.engine.execution_retention,
            rollover_by: None,
        }
    }

    /// Who rolls the alerts over (asked of the server at the first round).
    pub fn rollover_by(&self) -> Option<RolloverBy> {
        self.rollover_by
    }

    /// Who rolls the alias over: ILM when its write index names a lifecycle policy (the
    /// template of `lookout setup` on Elasticsearch), else lookout. Reads index metadata only
    /// (`view_index_metadata`), no ILM privilege.
    async fn learn_rollover(&self) -> Result<RolloverBy, EsError> {
        let AlertsTarget::Alias { write_index } = prepare_alerts(&self.client, &self.alias).await?
        else {
            return Ok(RolloverBy::Nobody);
        };
        let Some(write_index) = write_index else {
            return Ok(RolloverBy::Nobody);
        };
        let policy = (self.client)
            .index_setting(&write_index, "index.lifecycle.name")
            .await?;
        Ok(match policy {
            Some(_) => RolloverBy::Ilm,
            None => RolloverBy::Lookout,
        })
    }

    /// One round at `now`: rolls the alerts alias over when lookout does it and a condition is
    /// met, and prunes execution records older than the retention. Each part fails alone
    /// (logged); the report says what was done.
    pub async fn round(&mut self, now: chrono::DateTime<chrono::Utc>) -> RoundReport {
        let mut report = RoundReport::default();
        match self.store.claim_housekeeping(now, HOUSEKEEPING_EVERY).await {
            Ok(true) => report.claimed = true,
            Ok(false) => return report,
            Err(error) => {
                tracing::warn!(%error, "claiming the housekeeping round failed; retried at the next round");
                return report;
            }
        }
        if self.rollover_by.is_none() {
            match self.learn_rollover().await {
                Ok(by) => {
                    tracing::info!(alias = %self.alias, rollover_by = ?by, "alerts rollover");
                    self.rollover_by = Some(by);
                }
                Err(error) => {
                    tracing::warn!(%error, "checking the alerts alias failed; retried at the next round")
                }
            }
        }
        if let Some(by @ (RolloverBy::Lookout | RolloverBy::LookoutByHand)) = self.rollover_by {
            match self.roll_over(by, now).await {
                Ok(Some((old_index, new_index))) => {
                    tracing::info!(alias = %self.alias, %old_index, %new_index, "the alerts index rolled over");
                    report.rolled_over_to = Some(new_index);
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "rolling the alerts index over failed"),
            }
        }
        match self.store.prune_executions(now - self.retention).await {
            Ok(pruned) => {
                if pruned > 0 {
                    tracing::info!(
                        pruned,
                        retention_h = self.retention.num_hours(),
                        "deleted old execution records"
                    );
                }
                report.pruned = pruned;
            }
            Err(error) => tracing::warn!(%error, "deleting old execution records failed"),
        }
        report
    }

    /// Rolls the alias over when a condition is met: with `_rollover`, or by hand on a server
    /// without it (learned from the first `_rollover` answer). Returns (old, new) write index.
    async fn roll_over(
        &mut self,
        by: RolloverBy,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<(String, String)>, EsError> {
        if by == RolloverBy::Lookout {
            match self.client.rollover(&self.alias, &self.conditions).await? {
                Rollover::RolledOver {
                    old_index,
                    new_index,
                } => return Ok(Some((old_index, new_index))),
                Rollover::NotNeeded => return Ok(None),
                Rollover::Unsupported => {
                    tracing::info!(alias = %self.alias, "the server has no _rollover API: lookout checks the conditions and rolls the alerts alias over itself");
                    self.rollover_by = Some(RolloverBy::LookoutByHand);
                }
            }
        }
        self.roll_over_by_hand(now).await
    }

    /// A rollover without `_rollover`: reads the write index (alias, stats, creation date),
    /// and when a condition is met creates the next generation and moves the write alias to it.
    async fn roll_over_by_hand(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<(String, String)>, EsError> {
        let IndexName::Alias {
            write_index: Some(old),
            ..
        } = self.client.resolve_name(&self.alias).await?
        else {
            return Ok(None);
        };
        let (docs, bytes) = self.client.index_size(&old).await?;
        let created = (self.client)
            .index_setting(&old, "index.creation_date")
            .await?
            .and_then(|millis| millis.parse::<i64>().ok())
            .and_then(chrono::DateTime::from_timestamp_millis);
        let due = self.rollover.max_docs.is_some_and(|max| docs >= max)
            || (self.rollover.max_size.as_deref())
                .and_then(byte_size)
                .is_some_and(|max| bytes >= max)
            || (self.rollover.max_age)
                .zip(created)
                .is_some_and(|(max, created)| now - created >= max);
        if !due {
            return Ok(None);
        }
        let new = next_generation(&old);
        self.client.create_index(&new, &json!({})).await?;
        self.client
            .move_write_index(&self.alias, &old, &new)
            .await?;
        Ok(Some((old, new)))
    }

    /// Rounds every [`HOUSEKEEPING_EVERY`] on `clock`, the first at once; never returns.
    pub async fn run(mut self, clock: &dyn Clock) {
        loop {
            self.round(clock.now()).await;
            clock.sleep_until(clock.now() + HOUSEKEEPING_EVERY).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_are_written_in_elasticsearch_units() {
        let rollover = RolloverConfig {
            max_age: Some(TimeDelta::days(30)),
            max_size: Some("50gb".into()),
            max_docs: Some(1000),
        };
        assert_eq!(
            rollover_conditions(&rollover),
            json!({"max_age": "30d", "max_size": "50gb", "max_docs": 1000})
        );
        let odd = RolloverConfig {
            max_age: Some(TimeDelta::seconds(90)),
            max_size: None,
            max_docs: None,
        };
        assert_eq!(rollover_conditions(&odd), json!({"max_age": "90s"}));
        assert_eq!(es_duration(TimeDelta::minutes(90)), "90m");
    }

    #[test]
    fn generations_count_up_and_sizes_read_as_elasticsearch_writes_them() {
        assert_eq!(
            next_generation("lookout-alerts-000001"),
            "lookout-alerts-000002"
        );
        assert_eq!(next_generation("a-000999"), "a-001000");
        assert_eq!(next_generation("a-999999"), "a-1000000");
        assert_eq!(next_generation("alerts"), "alerts-000002");
        assert_eq!(next_generation("alerts-x"), "alerts-x-000002");
        assert_eq!(byte_size("50gb"), Some(50 << 30));
        assert_eq!(byte_size("10B"), Some(10));
        assert_eq!(byte_size("5 gigs"), None);
    }

    #[test]
    fn the_ilm_template_names_the_policy_and_the_alias() {
        let plain = alerts_template("lookout-alerts-default", false);
        assert!(plain["template"]["settings"]["index.lifecycle.name"].is_null());
        let managed = alerts_template("lookout-alerts-default", true);
        let settings = &managed["template"]["settings"];
        assert_eq!(
            settings["index.lifecycle.name"],
            "lookout-alerts-default-policy"
        );
        assert_eq!(
            settings["index.lifecycle.rollover_alias"],
            "lookout-alerts-default"
        );
        assert_eq!(
            managed["index_patterns"],
            json!(["lookout-alerts-default", "lookout-alerts-default-*"])
        );
        let policy = ilm_policy(&RolloverConfig::default());
        assert_eq!(
            policy["policy"]["phases"]["hot"]["actions"]["rollover"],
            json!({"max_age": "30d", "max_size": "50gb"})
        );
    }
}
