//! Missing-event bookkeeping of the sequence matcher: the leading missing events seen per join
//! key, and completed sequences waiting to learn whether a trailing missing event follows them
//! within maxspan (Elasticsearch's checks, docs/eql.md "Sequences").

use super::{CompletedSequence, SequenceSpec};

/// The two latest distinct timestamps of leading missing events of one join key: enough to know,
/// for events fed in order, the latest one strictly before a sequence's first event.
#[derive(Debug, Clone, Default)]
pub(super) struct Leading {
    latest: Option<i64>,
    below: Option<i64>,
}

impl Leading {
    pub(super) fn record(&mut self, timestamp: i64) {
        match self.latest {
            None => self.latest = Some(timestamp),
            Some(latest) if timestamp > latest => {
                self.below = Some(latest);
                self.latest = Some(timestamp);
            }
            Some(latest) if timestamp < latest => {
                self.below = Some(self.below.map_or(timestamp, |below| below.max(timestamp)));
            }
            Some(_) => {}
        }
    }

    /// The latest recorded timestamp strictly before `timestamp`.
    pub(super) fn latest_before(&self, timestamp: i64) -> Option<i64> {
        [self.latest, self.below]
            .into_iter()
            .flatten()
            .find(|seen| *seen < timestamp)
    }

    pub(super) fn latest(&self) -> Option<i64> {
        self.latest
    }

    pub(super) fn is_empty(&self) -> bool {
        self.latest.is_none()
    }

    /// Forgets the record once its latest event lies more than maxspan before `watermark`: it can
    /// no longer reject a sequence whose events come at or after the watermark.
    pub(super) fn forget_before(&mut self, watermark: i64, spec: &SequenceSpec) {
        if self
            .latest
            .is_some_and(|latest| spec.exceeds_maxspan(latest, watermark))
        {
            *self = Self::default();
        }
    }
}

/// A sequence whose positive stages all matched, waiting for its trailing missing-event check.
#[derive(Debug, Clone)]
pub(super) struct Awaiting {
    pub(super) sequence: CompletedSequence,
    /// Timestamp of its first event.
    pub(super) start: i64,
    /// Timestamp of its last event: trailing events must come strictly after it.
    pub(super) last: i64,
    /// What a trailing event is measured from: the first event, or the latest leading missing
    /// event when the sequence also has leading stages.
    pub(super) reference: i64,
}

/// What one trailing missing event means for a waiting sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TrailingVerdict {
    /// Not after the sequence's last event: it does not count.
    Wait,
    /// The first trailing event lies beyond maxspan: the sequence stands.
    Accept,
    /// The first trailing event lies within maxspan: the sequence is dropped.
    Reject,
}

impl Awaiting {
    pub(super) fn on_trailing_event(&self, timestamp: i64, spec: &SequenceSpec) -> TrailingVerdict {
        if timestamp <= self.last {
            TrailingVerdict::Wait
        } else if spec.exceeds_maxspan(self.reference, timestamp) {
            TrailingVerdict::Accept
        } else {
            TrailingVerdict::Reject
        }
    }
}
