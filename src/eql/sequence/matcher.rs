//! The matcher the engine feeds: it keeps the events of the last [`LATE_EVENT_ALLOWANCE`] in a
//! bounded buffer, plus the state machine as it stood before them, so that events fed again by
//! overlapping windows are recognised and an event that comes out of order is matched as if it
//! had come in order (the state is replayed from that checkpoint); it emits each sequence once.

use super::machine::Machine;
use super::{
    CompletedSequence, Event, LATE_EVENT_ALLOWANCE, MAX_BUFFERED_EVENTS, MAX_REMEMBERED_SEQUENCES,
    Ordinal, SequenceSpec,
};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet, VecDeque};

/// What the matcher did, for the execution's log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events consumed by the state machine, replays included.
    pub events: u64,
    /// Events fed again while still in the buffer (overlapping windows), skipped.
    pub refed: u64,
    /// Events older than the buffer (more than [`LATE_EVENT_ALLOWANCE`] late), not matched.
    pub too_late: u64,
    /// Replays of the buffer because an event came out of order.
    pub replays: u64,
    /// Sequences emitted.
    pub completed: u64,
    /// Sequences completed again with an id already emitted, not emitted.
    pub repeated: u64,
    /// Partial sequences dropped because the next event came more than maxspan after the first.
    pub rejected_maxspan: u64,
    /// Partial sequences dropped by an `until` event.
    pub rejected_until: u64,
    /// Sequences dropped by a missing-event stage that did match an event.
    pub rejected_missing: u64,
    /// Partial sequences dropped once no event could extend them within maxspan.
    pub expired: u64,
    /// Partial sequences and leading records dropped at the memory bounds.
    pub evicted: u64,
    /// Join-key combinations ignored past [`super::MAX_KEYS_PER_EVENT`].
    pub truncated_keys: u64,
    /// Stage numbers past the query's stages, ignored.
    pub unknown_stages: u64,
}

/// Matches one rule's sequence query over events fed in pages, window after window, carrying the
/// open partial sequences over. The sequences it emits are those of Elasticsearch's algorithm
/// over all the events fed, in timestamp order, whatever order and grouping they were fed in, as
/// long as none comes more than [`LATE_EVENT_ALLOWANCE`] behind the newest (docs/eql.md,
/// "Sequences").
#[derive(Debug)]
pub struct SequenceMatcher {
    /// The state after every event fed, as if they had come in order.
    live: Machine,
    /// The state after the events that have left the buffer.
    checkpoint: Machine,
    /// The newest event the checkpoint consumed: nothing at or before it can be matched again.
    floor: Option<Ordinal>,
    /// The events after the checkpoint, in order.
    buffer: BTreeMap<Ordinal, Event>,
    /// The newest event the live state consumed.
    newest: Option<Ordinal>,
    remembered: RememberedIds,
}

impl SequenceMatcher {
    /// A matcher for one rule's sequence query; `namespace` and `rule_id` make the sequence ids.
    pub fn new(spec: SequenceSpec, namespace: &str, rule_id: &str) -> Self {
        let machine = Machine::new(spec, namespace, rule_id);
        Self {
            live: machine.clone(),
            checkpoint: machine,
            floor: None,
            buffer: BTreeMap::new(),
            newest: None,
            remembered: RememberedIds::default(),
        }
    }

    /// Consumes one page of events, in any order, and returns the sequences that became final,
    /// each id once over the matcher's life. An event already in the buffer (same timestamp,
    /// tiebreaker, index and id) is skipped; one older than the newest consumed makes the state
    /// replay the buffer from the checkpoint, which costs one pass over the buffer per page: feed
    /// a whole window at once when its events may come out of order.
    pub fn feed(&mut self, events: Vec<Event>) -> Vec<CompletedSequence> {
        let mut fresh = Vec::with_capacity(events.len());
        for event in events {
            let at = Ordinal::of(&event);
            if self.floor.as_ref().is_some_and(|floor| at <= *floor) {
                self.live.stats.too_late += 1;
            } else if let Entry::Vacant(slot) = self.buffer.entry(at) {
                fresh.push(slot.key().clone());
                slot.insert(event);
            } else {
                self.live.stats.refed += 1;
            }
        }
        fresh.sort();
        let mut completed = Vec::new();
        let in_order = match (fresh.first(), &self.newest) {
            (Some(oldest), Some(newest)) => oldest > newest,
            _ => true,
        };
        if in_order {
            for at in &fresh {
                self.live.consume(&self.buffer[at], &mut completed);
            }
        } else {
            self.replay(&mut completed);
        }
        if let Some(latest) = fresh.pop()
            && self.newest.as_ref().is_none_or(|newest| latest > *newest)
        {
            self.newest = Some(latest);
        }
        self.shrink_buffer();
        self.live.settle(&mut completed);
        self.emit(completed)
    }

    /// Ends the data: sequences still waiting for a trailing missing-event check are decided as
    /// if no later event will come (Elasticsearch's answer over a fixed time range). For one-off
    /// searches such as `lookout test`; the daemon never calls it between windows.
    pub fn finish(&mut self) -> Vec<CompletedSequence> {
        let mut completed = Vec::new();
        self.live.accept_awaiting(&mut completed);
        self.emit(completed)
    }

    /// Partial sequences open now (including completed ones awaiting a trailing check).
    pub fn open_sequences(&self) -> usize {
        self.live.open()
    }

    /// Events held for replays.
    pub fn buffered_events(&self) -> usize {
        self.buffer.len()
    }

    pub fn stats(&self) -> &Stats {
        &self.live.stats
    }

    /// Rebuilds the live state from the checkpoint and the whole buffer, in order.
    fn replay(&mut self, completed: &mut Vec<CompletedSequence>) {
        let mut stats = std::mem::take(&mut self.live.stats);
        stats.replays += 1;
        self.live = self.checkpoint.clone();
        self.live.stats = stats;
        for event in self.buffer.values() {
            self.live.consume(event, completed);
        }
    }

    /// Moves the events older than the allowance, and the oldest past [`MAX_BUFFERED_EVENTS`],
    /// from the buffer into the checkpoint, in order.
    fn shrink_buffer(&mut self) {
        let Some(newest) = &self.newest else {
            return;
        };
        let allowance = i64::try_from(LATE_EVENT_ALLOWANCE.as_millis()).unwrap_or(i64::MAX);
        let horizon = newest.timestamp.saturating_sub(allowance);
        let mut dropped = Vec::new();
        loop {
            let full = self.buffer.len() > MAX_BUFFERED_EVENTS;
            let Some(entry) = self.buffer.first_entry() else {
                break;
            };
            if entry.key().timestamp >= horizon && !full {
                break;
            }
            let (at, event) = entry.remove_entry();
            self.checkpoint.consume(&event, &mut dropped);
            self.floor = Some(at);
        }
        if self.floor.is_some() {
            // The checkpoint's own sequences were the live state's long ago.
            self.checkpoint.settle(&mut dropped);
        }
    }

    fn emit(&mut self, completed: Vec<CompletedSequence>) -> Vec<CompletedSequence> {
        let mut emitted = Vec::with_capacity(completed.len());
        for sequence in completed {
            if self.remembered.insert(&sequence.id) {
                self.live.stats.completed += 1;
                emitted.push(sequence);
            } else {
                self.live.stats.repeated += 1;
            }
        }
        emitted
    }
}

/// The ids emitted most recently, at most [`MAX_REMEMBERED_SEQUENCES`].
#[derive(Debug, Default)]
struct RememberedIds {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl RememberedIds {
    /// Remembers `id`; false when it was already remembered.
    fn insert(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        self.ids.insert(id.to_string());
        self.order.push_back(id.to_string());
        if self.order.len() > MAX_REMEMBERED_SEQUENCES
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        true
    }
}
