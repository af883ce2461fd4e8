//! The alert sink of one chunk, the same for every rule kind (docs/architecture.md, "Alerts and
//! deduplication"): which candidate alerts are new (their ids looked up across every index
//! behind the alerts pattern, and not taken earlier in the chunk), the `max_signals` budget and
//! its warning, the bulk `create` (a 409 counts as a duplicate; any other item failure fails the
//! chunk, so its window stays uncovered), and one refresh of the alerts index at the end so that
//! the next chunk's lookups see what this one wrote.
//!
//! When `max_signals` cuts new alerts off, the chunk still counts as covered and the rest is
//! dropped with the warning [`super::MAX_SIGNALS_WARNING`]: at most `max_signals` new alerts per
//! execution (per chunk when catching up), which is also what Kibana does. Searching the window
//! again would only find the same hits and hit the cap again.
//!
//! With alert suppression (`suppress`), offered alerts are grouped instead, and the groups are
//! written when the chunk finishes (new alerts, or versioned updates of open ones): only a
//! chunk that succeeded writes them, so a group is always written with all of the chunk's
//! events, and a repeated chunk finds them counted.

use super::ExecutionError;
use super::suppress::{Candidate, Suppressor};
use crate::alert::{Alert, SequenceAlerts};
use crate::es::{BulkDocument, Client};
use crate::rule::Rule;
use serde_json::Value;
use std::collections::HashSet;

/// Why a suppressed alert was not updated when its version changed since it was read.
const UPDATE_CONFLICT: &str =
    "it changed since it was read (another writer, or an earlier attempt)";
use std::time::{Duration, Instant};

/// An alert the alerts index refused for good (a 4xx other than 409 and 429, also after
/// fitting it to the mappings): recorded as a dead letter, so that its window still counts as
/// covered and the rule keeps detecting.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Refused {
    pub alert_id: String,
    /// The source event's index and id (the alert's first ancestor), when it names one.
    pub event: Option<(String, String)>,
    pub status: u16,
    pub reason: String,
}

/// What a chunk's alerts came to.
#[derive(Debug, Default, Clone)]
pub(super) struct Written {
    pub created: u64,
    pub duplicates: u64,
    /// Candidate alerts merged into another alert of their group (suppression).
    pub suppressed: u64,
    /// More new alerts existed than the chunk's `max_signals` budget.
    pub limit_reached: bool,
    /// Time spent looking ids up, writing and refreshing.
    pub elapsed: Duration,
    /// Alerts refused for good (dead letters).
    pub refused: Vec<Refused>,
    /// What the chunk's kind warns of (the execution record carries it).
    pub warnings: Vec<String>,
}

/// Where the alerts of one chunk of one rule go.
pub(super) struct AlertSink<'a> {
    client: &'a Client,
    rule: &'a Rule,
    /// The index (or write alias) alerts are created in.
    alerts_index: &'a str,
    /// The pattern behind which every alerts index lies (rolled-over ones included).
    alerts_pattern: &'a str,
    /// Ids selected in this chunk (written, or about to be).
    taken: HashSet<String>,
    written: Written,
    /// The chunk's suppression, when the rule suppresses.
    suppressor: Option<Suppressor>,
}

impl<'a> AlertSink<'a> {
    pub fn new(
        client: &'a Client,
        rule: &'a Rule,
        alerts_index: &'a str,
        alerts_pattern: &'a str,
    ) -> Self {
        Self {
            client,
            rule,
            alerts_index,
            alerts_pattern,
            taken: HashSet::new(),
            written: Written::default(),
            suppressor: None,
        }
    }

    /// Suppresses the chunk's alerts from now on: reads the group history (after a refresh,
    /// so that what an earlier attempt wrote is found). A shard failure fails the chunk: a
    /// history read in part would count events twice or start a group's alert again.
    pub async fn suppress(&mut self, mut suppressor: Suppressor) -> Result<(), ExecutionError> {
        self.refresh().await?;
        let started = Instant::now();
        let pattern = [self.alerts_pattern.to_string()];
        let mut after = None;
        loop {
            let body = suppressor.history_request(after.as_ref());
            let answer = self.client.aggregate(&pattern, body).await;
            let answer = answer.map_err(|error| ExecutionError::es(self.rule, error))?;
            after = suppressor.read_history(&answer);
            if after.is_none() {
                break;
            }
        }
        self.written.elapsed += started.elapsed();
        self.suppressor = Some(suppressor);
        Ok(())
    }

    /// The chunk's suppression, when the rule suppresses.
    pub fn suppressor(&self) -> Option<&Suppressor> {
        self.suppressor.as_ref()
    }

    /// A warning of the chunk's kind, for the execution record.
    pub fn warn(&mut self, warning: String) {
        self.written.warnings.push(warning);
    }

    /// Notes that more new alerts existed than the budget (a kind that cut them itself).
    pub fn limit_reached(&mut self) {
        self.written.limit_reached = true;
    }

    /// Adds candidates of groups (kinds that aggregate events before offering them).
    pub fn offer_groups(&mut self, candidates: Vec<Candidate>) {
        let suppressor =
            (self.suppressor.as_mut()).expect("groups are offered only when suppressing");
        candidates.into_iter().for_each(|c| suppressor.add(c));
    }

    /// The ids among `ids` already written behind the alerts pattern.
    pub async fn known(&mut self, ids: &[String]) -> Result<HashSet<String>, ExecutionError> {
        let started = Instant::now();
        let known = self.client.existing_ids(self.alerts_pattern, ids).await;
        self.written.elapsed += started.elapsed();
        known.map_err(|error| ExecutionError::es(self.rule, error))
    }

    /// The pattern behind which every alerts index lies.
    pub fn alerts_pattern(&self) -> &'a str {
        self.alerts_pattern
    }

    /// How many more alerts this chunk may create.
    pub fn room(&self) -> usize {
        let max = usize::try_from(self.rule.max_signals).unwrap_or(usize::MAX);
        max.saturating_sub(self.taken.len())
    }

    /// How many of `ids` [`select`](Self::select) would find new (before the budget).
    pub fn fresh_count(&self, ids: &[String], known: &HashSet<String>) -> usize {
        fresh_flags(ids, known, &self.taken)
            .iter()
            .filter(|&&fresh| fresh)
            .count()
    }

    /// Which of `ids` become alerts: new ones (not `known`, not taken earlier in this chunk, not
    /// an earlier id of the same list), within the budget. The others count as duplicates, and
    /// a new id past the budget sets the `max_signals` warning.
    pub fn select(&mut self, ids: &[String], known: &HashSet<String>) -> Vec<bool> {
        let mut flags = fresh_flags(ids, known, &self.taken);
        let fresh = flags.iter().filter(|&&fresh| fresh).count();
        self.written.duplicates += (ids.len() - fresh) as u64;
        let mut room = self.room();
        for (id, flag) in ids.iter().zip(flags.iter_mut()) {
            if !*flag {
                continue;
            }
            if room == 0 {
                *flag = false;
                self.written.limit_reached = true;
                continue;
            }
            room -= 1;
            self.taken.insert(id.clone());
        }
        flags
    }

    /// Creates alerts that [`select`](Self::select) chose. An alert refused for good (a 4xx
    /// other than 409 and 429) is fitted to the mappings and sent once more when fitting
    /// changed it; still refused, it becomes a dead letter ([`Refused`]) and the chunk goes
    /// on. Failures that may pass (no answer, 429, 5xx, after the client's retries) fail the
    /// chunk, so that its window is searched again.
    pub async fn create<D: BulkDocument>(
        &mut self,
        docs: Vec<(String, D)>,
    ) -> Result<(), ExecutionError> {
        let failed = self.send(&docs).await?;
        let (permanent, transient): (Vec<_>, Vec<_>) =
            failed.into_iter().partition(is_permanent_refusal);
        if let Some(first) = transient.first() {
            return Err(self.write_failed(transient.len(), first));
        }
        if permanent.is_empty() {
            return Ok(());
        }
        let mut fitted = Vec::new();
        let mut refused = Vec::new();
        for failure in permanent {
            let document = docs
                .iter()
                .find(|(id, _)| *id == failure.id)
                .map(|(_, doc)| as_value(doc))
                .unwrap_or(Value::Null);
            let mut document = document;
            match crate::alert::fit_to_mappings(&mut document).is_empty() {
                true => refused.push(refusal(&failure, &document)),
                false => fitted.push((failure.id, document)),
            }
        }
        let failed = self.send(&fitted).await?;
        for failure in failed {
            if !is_permanent_refusal(&failure) {
                return Err(self.write_failed(1, &failure));
            }
            let document = (fitted.iter().find(|(id, _)| *id == failure.id))
                .map_or(&Value::Null, |(_, doc)| doc);
            refused.push(refusal(&failure, document));
        }
        self.written.refused.extend(refused);
        Ok(())
    }

    /// One `_bulk` of `create`s: counts what was created and the duplicates, returns the
    /// failures.
    async fn send<D: BulkDocument>(
        &mut self,
        docs: &[(String, D)],
    ) -> Result<Vec<crate::es::ItemFailure>, ExecutionError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let refs: Vec<(String, &D)> = docs.iter().map(|(id, doc)| (id.clone(), doc)).collect();
        let result = self
            .client
            .bulk_create(self.alerts_index, refs, false)
            .await;
        self.written.elapsed += started.elapsed();
        let written = result.map_err(|error| ExecutionError::es(self.rule, error))?;
        self.written.created += written.created.len() as u64;
        self.written.duplicates += written.duplicates.len() as u64;
        Ok(written.failed)
    }

    fn write_failed(&self, failed: usize, first: &crate::es::ItemFailure) -> ExecutionError {
        ExecutionError::WriteFailed {
            rule_id: self.rule.rule_id.clone(),
            index: self.alerts_index.to_string(),
            failed,
            status: first.status,
            reason: first.reason.clone(),
        }
    }

    /// Looks the alerts up, selects the new ones within the budget and creates them; when
    /// suppressing, groups them instead (an alert missing a group field under `doNotSuppress`
    /// is written on its own).
    pub async fn offer(&mut self, alerts: Vec<Alert>) -> Result<(), ExecutionError> {
        let alerts = match self.suppressor.as_mut() {
            Some(suppressor) => (alerts.into_iter())
                .filter_map(|alert| match suppressor.event_candidate(alert) {
                    Ok(candidate) => {
                        suppressor.add(candidate);
                        None
                    }
                    Err(alone) => Some(alone),
                })
                .collect(),
            None => alerts,
        };
        if alerts.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = alerts.iter().map(|alert| alert.id.clone()).collect();
        let known = self.known(&ids).await?;
        let flags = self.select(&ids, &known);
        let docs = alerts
            .into_iter()
            .zip(flags)
            .filter_map(|(alert, new)| new.then_some((alert.id, alert.document)))
            .collect();
        self.create(docs).await
    }

    /// Offers the alerts of sequences (EQL): the budget counts sequences, as `_eql/search`'s
    /// `size` does, and a sequence is new when its shell alert is. A new sequence within the
    /// budget is written whole: its building blocks, then its shell. A known one is a duplicate,
    /// but its building blocks that are missing (a write cut short) are written. Sequences are
    /// not suppressed (docs/eql.md, "What differs from Kibana").
    pub async fn offer_sequences(
        &mut self,
        sequences: Vec<SequenceAlerts>,
    ) -> Result<(), ExecutionError> {
        if sequences.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = (sequences.iter())
            .flat_map(|s| std::iter::once(&s.shell).chain(&s.building_blocks))
            .map(|alert| alert.id.clone())
            .collect();
        let known = self.known(&ids).await?;
        let mut docs = Vec::new();
        for sequence in sequences {
            let fresh =
                !known.contains(&sequence.shell.id) && !self.taken.contains(&sequence.shell.id);
            if fresh && self.room() == 0 {
                self.written.limit_reached = true;
                continue;
            }
            if fresh {
                self.taken.insert(sequence.shell.id.clone());
            } else {
                self.written.duplicates += 1;
            }
            let blocks = sequence.building_blocks.into_iter();
            let missing = blocks.filter(|block| !known.contains(&block.id));
            docs.extend(missing.map(|block| (block.id, block.document)));
            if fresh {
                docs.push((sequence.shell.id, sequence.shell.document));
            }
        }
        self.create(docs).await
    }

    /// Makes the alerts index searchable now, so that searches of earlier alerts (a threshold
    /// rule's history) see everything written so far, by this chunk or an execution that died
    /// before its refresh.
    pub async fn refresh(&mut self) -> Result<(), ExecutionError> {
        let started = Instant::now();
        let result = self.client.refresh(self.alerts_index).await;
        self.written.elapsed += started.elapsed();
        result.map_err(|error| ExecutionError::es(self.rule, error))
    }

    /// Ends the chunk: writes the suppressed groups, then one refresh when anything was written
    /// (instead of `refresh=wait_for` per page, which waits up to a refresh interval each time;
    /// correctness does not depend on it, since a `create` of an id already written answers 409).
    pub async fn finish(mut self) -> Result<Written, ExecutionError> {
        let updated = match self.suppressor.take() {
            Some(suppressor) => self.write_groups(suppressor).await?,
            None => 0,
        };
        if self.written.created > 0 || updated > 0 {
            self.refresh().await?;
        }
        Ok(self.written)
    }

    /// Ends a chunk that failed: the groups are not written (the chunk is searched again, and
    /// a group must be written with all of its events), what was written is made searchable.
    pub async fn abandon(mut self) {
        self.suppressor = None;
        let _ = self.refresh().await;
    }

    /// Writes the groups: new alerts within what is left of the budget, and updates of open
    /// alerts, each only to the version read (a conflict fails the chunk: nothing is counted
    /// twice, and the window is searched again). Returns how many alerts were updated.
    async fn write_groups(&mut self, suppressor: Suppressor) -> Result<u64, ExecutionError> {
        self.written.duplicates += suppressor.counted_before;
        let max = usize::try_from(self.rule.max_signals).unwrap_or(usize::MAX);
        let room = max.saturating_sub(self.written.created as usize);
        let flush = suppressor.flush(room);
        self.written.limit_reached |= flush.limit_reached;
        self.written.suppressed += flush.suppressed;
        self.create(flush.creates).await?;
        if flush.updates.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let outcome = self.client.bulk_update(&flush.updates).await;
        self.written.elapsed += started.elapsed();
        let outcome = outcome.map_err(|error| ExecutionError::es(self.rule, error))?;
        let reason = match (outcome.conflicts.first(), outcome.failed.first()) {
            (Some(id), _) => Some((id.clone(), UPDATE_CONFLICT.to_string())),
            (None, Some(failure)) => Some((
                failure.id.clone(),
                format!("HTTP {}: {}", failure.status, failure.reason),
            )),
            (None, None) => None,
        };
        match reason {
            None => Ok(outcome.updated as u64),
            Some((alert_id, reason)) => Err(ExecutionError::SuppressionUpdate {
                rule_id: self.rule.rule_id.clone(),
                alert_id,
                reason,
            }),
        }
    }

    /// What the chunk's alerts came to so far (for a chunk that failed part-way).
    pub fn written(&self) -> Written {
        self.written.clone()
    }
}

/// A refusal that sending again cannot change: a 4xx other than 409 (a duplicate, never a
/// failure) and 429 (the server is busy).
fn is_permanent_refusal(failure: &crate::es::ItemFailure) -> bool {
    (400..500).contains(&failure.status) && failure.status != 409 && failure.status != 429
}

/// A document as a JSON tree (alerts written as text are parsed again, which only refused
/// alerts need).
fn as_value<D: BulkDocument>(doc: &D) -> Value {
    let mut text = Vec::new();
    doc.write_json(&mut text);
    serde_json::from_slice(&text).unwrap_or(Value::Null)
}

/// The dead letter of a refused alert: its id, the event it stands for, the server's reason.
fn refusal(failure: &crate::es::ItemFailure, document: &Value) -> Refused {
    let ancestor = &document["kibana.alert.ancestors"][0];
    let event = match (ancestor["index"].as_str(), ancestor["id"].as_str()) {
        (Some(index), Some(id)) => Some((index.to_string(), id.to_string())),
        _ => None,
    };
    Refused {
        alert_id: failure.id.clone(),
        event,
        status: failure.status,
        reason: failure.reason.clone(),
    }
}

/// Which ids are new: not `known`, not `taken`, and not an earlier id of the same list.
fn fresh_flags(ids: &[String], known: &HashSet<String>, taken: &HashSet<String>) -> Vec<bool> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter()
        .map(|id| !known.contains(id) && !taken.contains(id) && seen.insert(id.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::test_rule;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    fn set(names: &[&str]) -> HashSet<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    /// `select` on a sink whose rule allows `max_signals` alerts per chunk.
    fn with_sink<T>(max_signals: u32, test: impl FnOnce(&mut AlertSink<'_>) -> T) -> T {
        let client = Client::new(&crate::config::ElasticsearchConfig::default()).unwrap();
        let mut rule = test_rule("r");
        rule.max_signals = max_signals;
        let mut sink = AlertSink::new(&client, &rule, "alerts", "alerts*");
        test(&mut sink)
    }

    #[test]
    fn known_ids_and_repeats_within_a_page_are_duplicates() {
        with_sink(100, |sink| {
            let flags = sink.select(&ids(&["a", "b", "a", "c"]), &set(&["b"]));
            assert_eq!(flags, vec![true, false, false, true]);
            assert_eq!(sink.written().duplicates, 2);
            assert!(!sink.written().limit_reached);
        });
    }

    #[test]
    fn an_id_taken_by_an_earlier_page_is_a_duplicate() {
        with_sink(100, |sink| {
            sink.select(&ids(&["a"]), &HashSet::new());
            assert_eq!(sink.fresh_count(&ids(&["a", "b"]), &HashSet::new()), 1);
            assert_eq!(
                sink.select(&ids(&["a", "b"]), &HashSet::new()),
                vec![false, true]
            );
        });
    }

    #[test]
    fn the_budget_cuts_new_alerts_and_sets_the_warning_once_reached() {
        with_sink(3, |sink| {
            let flags = sink.select(&ids(&["a", "b"]), &HashSet::new());
            assert_eq!(flags, vec![true, true]);
            assert_eq!(sink.room(), 1);
            let flags = sink.select(&ids(&["x", "c", "d"]), &set(&["x"]));
            assert_eq!(flags, vec![false, true, false]);
            assert!(sink.written().limit_reached);
            assert_eq!(sink.room(), 0);
        });
    }

    #[test]
    fn exactly_max_signals_new_alerts_give_no_warning() {
        with_sink(2, |sink| {
            sink.select(&ids(&["a", "b"]), &HashSet::new());
            assert!(!sink.written().limit_reached);
        });
    }
}
