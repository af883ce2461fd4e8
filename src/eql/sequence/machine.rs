//! The sequence state machine: events consumed in order, completed sequences out; per join key
//! one slot per stage holding the one pending partial sequence there (Elasticsearch's documented
//! model, docs/eql.md "Sequences"). Missing-event bookkeeping lives in `missing`; the buffer of
//! recent events, replays and emitting each sequence once live in `matcher`.

use super::matcher::Stats;
use super::missing::{Awaiting, Leading, TrailingVerdict};
use super::{
    CompletedSequence, Document, Event, JoinValues, KeyValue, MAX_KEYS_PER_EVENT, MAX_LEADING_KEYS,
    MAX_OPEN_SEQUENCES, Ordinal, SequenceSpec, SequenceStart, StageKind, sequence_id,
};
use std::collections::HashMap;
use std::sync::Arc;

/// The state of every join key's state machine, for one sequence query.
#[derive(Debug, Clone)]
pub(super) struct Machine {
    spec: SequenceSpec,
    namespace: String,
    rule_id: String,
    keys: HashMap<Vec<KeyValue>, KeyState>,
    /// Partial sequences in slots plus completed ones awaiting a trailing check.
    open: usize,
    /// The latest timestamp consumed.
    watermark: Option<i64>,
    pub(super) stats: Stats,
}

/// The state machine of one join key.
#[derive(Debug, Clone)]
struct KeyState {
    /// Per expanded stage, the one pending partial sequence whose last event matched it.
    slots: Vec<Option<Partial>>,
    leading: Leading,
    awaiting: Vec<Awaiting>,
}

impl KeyState {
    fn new(stages: usize) -> Self {
        Self {
            slots: (0..stages).map(|_| None).collect(),
            leading: Leading::default(),
            awaiting: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
            && self.awaiting.is_empty()
            && self.leading.is_empty()
    }
}

/// A sequence whose first stages have matched.
#[derive(Debug, Clone)]
struct Partial {
    /// Timestamp of its first event, from which maxspan runs.
    start: i64,
    /// Its last event, which a next event must follow.
    last: Ordinal,
    /// Its first event, which orders it among completed sequences.
    first: Ordinal,
    events: Vec<Arc<Document>>,
    /// The latest leading missing event before `start`, when the sequence has leading stages.
    leading: Option<i64>,
    /// The first missing event of the gap after `last` (a middle missing-event stage).
    gap_event: Option<i64>,
    /// A middle missing event fell inside an earlier gap: Elasticsearch still moves the sequence
    /// through the stages (it holds its slots) and discards it once complete.
    doomed: bool,
}

impl Machine {
    pub(super) fn new(spec: SequenceSpec, namespace: &str, rule_id: &str) -> Self {
        Self {
            spec,
            namespace: namespace.to_string(),
            rule_id: rule_id.to_string(),
            keys: HashMap::new(),
            open: 0,
            watermark: None,
            stats: Stats::default(),
        }
    }

    /// Partial sequences open now, counting completed ones awaiting a trailing check.
    pub(super) fn open(&self) -> usize {
        self.open
    }

    /// Decides every sequence awaiting a trailing check as if no later event will come.
    pub(super) fn accept_awaiting(&mut self, completed: &mut Vec<CompletedSequence>) {
        for state in self.keys.values_mut() {
            self.open -= state.awaiting.len();
            completed.extend(state.awaiting.drain(..).map(|waiting| waiting.sequence));
        }
        self.keys.retain(|_, state| !state.is_empty());
    }

    /// Consumes one event, the next in the order (see [`Ordinal`]); sequences it completes go to
    /// `completed`.
    pub(super) fn consume(&mut self, event: &Event, completed: &mut Vec<CompletedSequence>) {
        self.stats.events += 1;
        self.watermark = Some(
            self.watermark
                .map_or(event.timestamp, |w| w.max(event.timestamp)),
        );
        let at = Ordinal::of(event);
        let (mut positive, missing) = self.expand_matches(event);
        // Later stages first, so an event matching two consecutive stages extends the older
        // partial sequence and never one it has just moved.
        positive.sort_by_key(|(stage, _)| std::cmp::Reverse(*stage));
        for (stage, key) in positive {
            self.advance(stage, key, &at, completed);
        }
        for (stage, key) in missing {
            self.note_missing(stage, key, event.timestamp, completed);
        }
        if let Some(join) = &event.until {
            for key in self.join_keys(join) {
                self.until(&key, &at);
            }
        }
        if self.open > MAX_OPEN_SEQUENCES {
            self.evict_oldest();
        }
    }

    /// The (expanded stage, join key) pairs of an event: positive stages, then missing ones.
    fn expand_matches(&mut self, event: &Event) -> (StageKeys, StageKeys) {
        let mut positive = Vec::new();
        let mut missing = Vec::new();
        for matched in &event.stages {
            let Some(&(first, runs)) = self.spec.query_stages.get(matched.stage) else {
                self.stats.unknown_stages += 1;
                continue;
            };
            let keys = self.join_keys(&matched.join);
            for stage in first..first + runs {
                let target = match self.spec.kinds[stage] {
                    StageKind::Positive { .. } => &mut positive,
                    _ => &mut missing,
                };
                target.extend(keys.iter().map(|key| (stage, key.clone())));
            }
        }
        (positive, missing)
    }

    /// Every distinct combination of one value per join field, at most [`MAX_KEYS_PER_EVENT`].
    fn join_keys(&mut self, join: &JoinValues) -> Vec<Vec<KeyValue>> {
        let mut keys: Vec<Vec<KeyValue>> = vec![Vec::new()];
        for values in join {
            let mut longer = Vec::with_capacity(keys.len() * values.len());
            for key in &keys {
                for value in values {
                    let mut combined = key.clone();
                    combined.push(value.clone());
                    if longer.contains(&combined) {
                        continue;
                    }
                    if longer.len() == MAX_KEYS_PER_EVENT {
                        self.stats.truncated_keys += 1;
                        continue;
                    }
                    longer.push(combined);
                }
            }
            keys = longer;
        }
        keys
    }

    /// A positive stage matched: start a sequence, or move the one waiting at the previous
    /// positive stage of the same key; complete it at the last positive stage.
    fn advance(
        &mut self,
        stage: usize,
        key: Vec<KeyValue>,
        at: &Ordinal,
        completed: &mut Vec<CompletedSequence>,
    ) {
        let StageKind::Positive { previous } = self.spec.kinds[stage] else {
            return;
        };
        let partial = match previous {
            None => Some(self.start(&key, at)),
            Some(previous) => self
                .take_before(previous, &key, at)
                .and_then(|partial| self.extend(partial, at)),
        };
        let Some(partial) = partial else {
            return;
        };
        if stage == self.spec.last_positive {
            self.complete(key, partial, completed);
        } else {
            self.place(stage, key, partial);
        }
    }

    fn start(&mut self, key: &[KeyValue], at: &Ordinal) -> Partial {
        let leading = match self.keys.get(key) {
            Some(state) if self.spec.has_leading() => state.leading.latest_before(at.timestamp),
            _ => None,
        };
        Partial {
            start: at.timestamp,
            last: at.clone(),
            first: at.clone(),
            events: vec![Arc::clone(&at.document)],
            leading,
            gap_event: None,
            doomed: false,
        }
    }

    /// Takes the partial sequence waiting at `stage` for `key` when its last event comes before
    /// `at` (one that does not stays: it was placed by a later event fed earlier).
    fn take_before(&mut self, stage: usize, key: &[KeyValue], at: &Ordinal) -> Option<Partial> {
        let state = self.keys.get_mut(key)?;
        let slot = &mut state.slots[stage];
        if slot.as_ref()?.last >= *at {
            return None;
        }
        self.open -= 1;
        slot.take()
    }

    /// Moves a partial sequence one stage on with the event at `at`, unless it is past maxspan.
    fn extend(&mut self, mut partial: Partial, at: &Ordinal) -> Option<Partial> {
        if self.spec.exceeds_maxspan(partial.start, at.timestamp) {
            self.stats.rejected_maxspan += 1;
            return None;
        }
        if partial
            .gap_event
            .is_some_and(|missing| missing < at.timestamp)
        {
            partial.doomed = true;
        }
        partial.gap_event = None;
        partial.events.push(Arc::clone(&at.document));
        partial.last = at.clone();
        Some(partial)
    }

    /// Puts a partial sequence in its stage's slot, replacing (dropping) the older one there.
    fn place(&mut self, stage: usize, key: Vec<KeyValue>, partial: Partial) {
        let stages = self.spec.stage_count();
        let state = (self.keys.entry(key)).or_insert_with(|| KeyState::new(stages));
        if state.slots[stage].replace(partial).is_none() {
            self.open += 1;
        }
    }

    /// All positive stages matched: the leading and trailing missing-event checks decide.
    fn complete(
        &mut self,
        key: Vec<KeyValue>,
        partial: Partial,
        completed: &mut Vec<CompletedSequence>,
    ) {
        if partial.doomed || !self.leading_allows(&partial) {
            self.stats.rejected_missing += 1;
            return;
        }
        let (start, last) = (partial.start, partial.last.timestamp);
        let reference = if self.spec.has_leading() {
            partial.leading
        } else {
            Some(partial.start)
        };
        let sequence = self.sequence(key, partial.events, partial.first);
        let Some(reference) = reference.filter(|_| self.spec.has_trailing()) else {
            completed.push(sequence);
            return;
        };
        let stages = self.spec.stage_count();
        let state =
            (self.keys.entry(sequence.key.clone())).or_insert_with(|| KeyState::new(stages));
        state.awaiting.push(Awaiting {
            sequence,
            start,
            last,
            reference,
        });
        self.open += 1;
    }

    /// Elasticsearch's leading check: no leading missing event, or the latest one before the
    /// first event lies more than maxspan before the last event.
    fn leading_allows(&self, partial: &Partial) -> bool {
        if !self.spec.has_leading() || self.spec.has_trailing() {
            // With trailing stages too, the leading event is weighed against the trailing one.
            return true;
        }
        partial
            .leading
            .is_none_or(|leading| self.spec.exceeds_maxspan(leading, partial.last.timestamp))
    }

    fn sequence(
        &self,
        key: Vec<KeyValue>,
        events: Vec<Arc<Document>>,
        first: Ordinal,
    ) -> CompletedSequence {
        let id = sequence_id(
            events
                .iter()
                .map(|event| (event.index.as_str(), event.id.as_str())),
            &self.namespace,
            &self.rule_id,
        );
        CompletedSequence {
            id,
            key,
            events,
            start: Some(SequenceStart(first)),
        }
    }

    /// An event matched a missing-event stage.
    fn note_missing(
        &mut self,
        stage: usize,
        key: Vec<KeyValue>,
        timestamp: i64,
        completed: &mut Vec<CompletedSequence>,
    ) {
        match self.spec.kinds[stage] {
            StageKind::Leading => self.note_leading(key, timestamp),
            StageKind::Middle { previous } => {
                let Some(state) = self.keys.get_mut(&key) else {
                    return;
                };
                if let Some(partial) = state.slots[previous].as_mut()
                    && timestamp > partial.last.timestamp
                {
                    partial.gap_event =
                        Some(partial.gap_event.map_or(timestamp, |t| t.min(timestamp)));
                }
            }
            StageKind::Trailing => self.note_trailing(&key, timestamp, completed),
            StageKind::Positive { .. } => {}
        }
    }

    fn note_leading(&mut self, key: Vec<KeyValue>, timestamp: i64) {
        if !self.keys.contains_key(&key) && self.keys.len() >= MAX_LEADING_KEYS {
            self.evict_leading();
        }
        let stages = self.spec.stage_count();
        let state = self
            .keys
            .entry(key)
            .or_insert_with(|| KeyState::new(stages));
        state.leading.record(timestamp);
    }

    /// A trailing missing event decides every sequence of its key that it follows.
    fn note_trailing(
        &mut self,
        key: &[KeyValue],
        timestamp: i64,
        completed: &mut Vec<CompletedSequence>,
    ) {
        let Some(state) = self.keys.get_mut(key) else {
            return;
        };
        let spec = &self.spec;
        let decided: Vec<Awaiting> = (state.awaiting)
            .extract_if(.., |waiting| {
                waiting.on_trailing_event(timestamp, spec) != TrailingVerdict::Wait
            })
            .collect();
        self.open -= decided.len();
        for waiting in decided {
            match waiting.on_trailing_event(timestamp, &self.spec) {
                TrailingVerdict::Accept => completed.push(waiting.sequence),
                _ => self.stats.rejected_missing += 1,
            }
        }
    }

    /// An `until` event ends every partial sequence of its key whose last event is not after it.
    fn until(&mut self, key: &[KeyValue], at: &Ordinal) {
        let Some(state) = self.keys.get_mut(key) else {
            return;
        };
        for slot in &mut state.slots {
            if slot.as_ref().is_some_and(|partial| partial.last <= *at) {
                *slot = None;
                self.open -= 1;
                self.stats.rejected_until += 1;
            }
        }
    }

    /// After a page: partial sequences no event can extend within maxspan any more are dropped,
    /// sequences whose trailing check can no longer fail are emitted, stale leading records go.
    pub(super) fn settle(&mut self, completed: &mut Vec<CompletedSequence>) {
        let (Some(watermark), Some(_)) = (self.watermark, self.spec.maxspan) else {
            return;
        };
        let mut accepted = Vec::new();
        for state in self.keys.values_mut() {
            for slot in &mut state.slots {
                if slot
                    .as_ref()
                    .is_some_and(|partial| self.spec.exceeds_maxspan(partial.start, watermark))
                {
                    *slot = None;
                    self.open -= 1;
                    self.stats.expired += 1;
                }
            }
            let spec = &self.spec;
            let decided = (state.awaiting).extract_if(.., |waiting| {
                spec.exceeds_maxspan(waiting.reference, watermark)
            });
            let before = accepted.len();
            accepted.extend(decided.map(|waiting| waiting.sequence));
            self.open -= accepted.len() - before;
            state.leading.forget_before(watermark, &self.spec);
        }
        self.keys.retain(|_, state| !state.is_empty());
        completed.extend(accepted);
    }

    /// Over [`MAX_OPEN_SEQUENCES`]: drops the oldest partial (and awaiting) sequences, by first
    /// event, until a tenth of the room is free.
    fn evict_oldest(&mut self) {
        let target = MAX_OPEN_SEQUENCES - MAX_OPEN_SEQUENCES / 10;
        let mut starts: Vec<i64> = Vec::with_capacity(self.open);
        for state in self.keys.values() {
            starts.extend(state.slots.iter().flatten().map(|partial| partial.start));
            starts.extend(state.awaiting.iter().map(|waiting| waiting.start));
        }
        let excess = self.open.saturating_sub(target);
        if excess == 0 {
            return;
        }
        starts.sort_unstable();
        let cutoff = starts[excess - 1];
        let mut dropped = 0;
        for state in self.keys.values_mut() {
            for slot in &mut state.slots {
                if dropped < excess && slot.as_ref().is_some_and(|partial| partial.start <= cutoff)
                {
                    *slot = None;
                    dropped += 1;
                }
            }
            state.awaiting.retain(|waiting| {
                let drop = dropped < excess && waiting.start <= cutoff;
                dropped += usize::from(drop);
                !drop
            });
        }
        self.open -= dropped;
        self.stats.evicted += u64::try_from(dropped).unwrap_or(u64::MAX);
        self.keys.retain(|_, state| !state.is_empty());
    }

    /// Over [`MAX_LEADING_KEYS`]: drops the leading records seen longest ago, a tenth at a time.
    fn evict_leading(&mut self) {
        let mut latest: Vec<i64> = self
            .keys
            .values()
            .filter_map(|state| state.leading.latest())
            .collect();
        if latest.is_empty() {
            return;
        }
        latest.sort_unstable();
        let cutoff = latest[(latest.len() / 10).min(latest.len() - 1)];
        let mut dropped = 0u64;
        for state in self.keys.values_mut() {
            if state.leading.latest().is_some_and(|seen| seen <= cutoff) {
                state.leading = Leading::default();
                dropped += 1;
            }
        }
        self.stats.evicted += dropped;
        self.keys.retain(|_, state| !state.is_empty());
    }
}

/// (expanded stage, join key) pairs.
type StageKeys = Vec<(usize, Vec<KeyValue>)>;
