//! Time, for rules: a rule's [`Schedule`] (its cadence and its `from`/`to` date math), the
//! window of one execution, and the plan that widens it back to what is already covered, splits
//! it into interval-sized chunks (oldest first) and cuts off what is older than the catch-up
//! bound as a gap (docs/architecture.md, "Windows"); also the date math, durations and cron
//! expressions rule files write. Pure: the time is passed in; nothing here searches, sleeps or
//! stores.

mod cron;
pub mod datemath;
pub mod duration;

pub use cron::Cron;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use datemath::{DateMath, Rounding};
use std::fmt;

/// The most chunks one execution may search. With the default `max_catch_up` (24h) and the
/// shortest common interval (1m) that is 1,440 chunks; the bound only guards against a
/// pathological configuration (a 10-year catch-up at 1s) producing millions of windows.
pub const MAX_CHUNKS: usize = 10_000;

/// When a rule runs and which window each execution searches: the rule file's `interval`,
/// `from` and `to`, and lookout's own optional cron schedule (`[lookout] cron`), which replaces
/// the interval as the cadence when set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub interval: TimeDelta,
    pub cron: Option<Cron>,
    pub from: DateMath,
    pub to: DateMath,
}

impl Schedule {
    /// When the rule runs: on its cron schedule when it has one (UTC), else every `interval`.
    pub fn cadence(&self) -> Cadence {
        match &self.cron {
            Some(cron) => Cadence::Cron(cron.clone()),
            None => Cadence::Every(self.interval),
        }
    }

    /// The window `[from, to]` of an execution starting at `at`.
    pub fn window_at(&self, at: DateTime<Utc>) -> Result<Window, ScheduleError> {
        let from = resolve_one(&self.from, at, Rounding::Down)?;
        let to = resolve_one(&self.to, at, Rounding::Up)?;
        let window = Window { from, to };
        if to < from {
            return Err(ScheduleError::Reversed { window });
        }
        Ok(window)
    }
}

/// When a rule runs: every `interval` (the rule file's own schedule), or on a cron schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cadence {
    Every(TimeDelta),
    Cron(Cron),
}

/// A closed time range `[from, to]`, both ends inclusive (the range query uses `gte` and `lte`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    /// How long the window is.
    pub fn length(&self) -> TimeDelta {
        self.to - self.from
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {}]",
            self.from.to_rfc3339_opts(SecondsFormat::Millis, true),
            self.to.to_rfc3339_opts(SecondsFormat::Millis, true)
        )
    }
}

/// Why a rule's window cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("date math {expression:?} cannot be resolved at {at}")]
    Unresolvable {
        expression: String,
        at: DateTime<Utc>,
    },
    #[error("the window {window} ends before it starts")]
    Reversed { window: Window },
}

/// What one execution searches: chunks oldest first, and the part too old to catch up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionWindows {
    /// The rule's own window at the execution time (what Kibana would search).
    pub nominal: Window,
    /// Interval-sized pieces of `[min(from, covered_to), to]`, oldest first, each searched with
    /// its own `max_signals` budget. Never empty.
    pub chunks: Vec<Window>,
    /// The span older than the catch-up bound that this execution will not search.
    pub gap: Option<Window>,
}

impl ExecutionWindows {
    /// The whole span searched: from the first chunk's start to the last chunk's end.
    pub fn searched(&self) -> Window {
        let first = self
            .chunks
            .first()
            .expect("there is always at least one chunk");
        let last = self
            .chunks
            .last()
            .expect("there is always at least one chunk");
        Window {
            from: first.from,
            to: last.to,
        }
    }
}

fn resolve_one(
    expression: &DateMath,
    at: DateTime<Utc>,
    rounding: Rounding,
) -> Result<DateTime<Utc>, ScheduleError> {
    expression
        .resolve(at, rounding)
        .ok_or_else(|| ScheduleError::Unresolvable {
            expression: expression.to_string(),
            at,
        })
}

/// Plans the windows of an execution at `at` whose nominal window is `nominal`.
///
/// The search starts at `min(nominal.from, covered_to)`, but never before
/// `min(nominal.from, at - max_catch_up)`; what lies before that bound is returned as the gap.
/// The catch-up span before `nominal.from` is split into `interval`-sized chunks aligned on
/// `nominal.from` (the oldest one may be shorter), followed by the nominal window itself. The
/// first chunk then starts no later than `covered_to` minus the rule's lookback (its window's
/// length beyond the interval; not before the catch-up bound), so a late execution overlaps the
/// last search as an on-time one does, but never before `coverage_from` (where the rule's
/// coverage started: nothing before its first window is lookout's to search).
pub fn plan(
    nominal: Window,
    (covered_to, coverage_from): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    interval: TimeDelta,
    max_catch_up: TimeDelta,
    at: DateTime<Utc>,
) -> ExecutionWindows {
    let wanted_start = covered_to.map_or(nominal.from, |covered| covered.min(nominal.from));
    let bound = nominal.from.min(at - max_catch_up);
    let (start, gap) = if wanted_start < bound {
        let gap = Window {
            from: wanted_start,
            to: bound,
        };
        (bound, Some(gap))
    } else {
        (wanted_start, None)
    };
    let mut chunks = catch_up_chunks(start, nominal.from, interval);
    chunks.push(nominal);
    // A late execution keeps the rule's overlap: the first chunk reaches back over the end of
    // the last search by the rule's lookback, as an on-time window does, so an event stamped
    // just before `covered_to` that became searchable only after that search is still found.
    if let Some(covered) = covered_to
        && gap.is_none()
    {
        let lookback = (nominal.length() - interval).max(TimeDelta::zero());
        let floor = coverage_from.map_or(bound, |from| from.max(bound));
        let first = &mut chunks[0];
        first.from = first.from.min((covered - lookback).max(floor));
    }
    ExecutionWindows {
        nominal,
        chunks,
        gap,
    }
}

/// `[start, end)` cut into `interval`-sized windows aligned on `end`, oldest first. The number of
/// chunks is capped at [`MAX_CHUNKS`] by widening them, so the span is always fully covered.
fn catch_up_chunks(start: DateTime<Utc>, end: DateTime<Utc>, interval: TimeDelta) -> Vec<Window> {
    let span = end - start;
    if span <= TimeDelta::zero() {
        return Vec::new();
    }
    let step = chunk_step(span, interval);
    let mut chunks = Vec::new();
    let mut chunk_end = end;
    while chunk_end > start {
        let chunk_start = (chunk_end - step).max(start);
        chunks.push(Window {
            from: chunk_start,
            to: chunk_end,
        });
        chunk_end = chunk_start;
    }
    chunks.reverse();
    chunks
}

/// The chunk length: the interval, widened when the span would need more than [`MAX_CHUNKS`].
fn chunk_step(span: TimeDelta, interval: TimeDelta) -> TimeDelta {
    let interval = interval.max(TimeDelta::seconds(1));
    let max_chunks = i32::try_from(MAX_CHUNKS).expect("MAX_CHUNKS fits in an i32");
    let smallest = span / max_chunks;
    interval.max(smallest + TimeDelta::milliseconds(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 10, h, m, 0).unwrap()
    }

    fn window(from: DateTime<Utc>, to: DateTime<Utc>) -> Window {
        Window { from, to }
    }

    const FIVE: TimeDelta = TimeDelta::minutes(5);
    const DAY: TimeDelta = TimeDelta::hours(24);

    #[test]
    fn first_execution_searches_only_the_nominal_window() {
        let nominal = window(at(12, 0) - TimeDelta::minutes(6), at(12, 0));
        let planned = plan(nominal, (None, None), FIVE, DAY, at(12, 0));
        assert_eq!(planned.chunks, vec![nominal]);
        assert_eq!(planned.gap, None);
    }

    #[test]
    fn covered_to_inside_the_window_changes_nothing() {
        let nominal = window(at(12, 4), at(12, 10));
        let planned = plan(nominal, (Some(at(12, 5)), None), FIVE, DAY, at(12, 10));
        assert_eq!(planned.chunks, vec![nominal]);
    }

    #[test]
    fn covered_to_after_the_window_still_searches_the_window() {
        let nominal = window(at(12, 4), at(12, 10));
        let planned = plan(nominal, (Some(at(13, 0)), None), FIVE, DAY, at(12, 10));
        assert_eq!(planned.chunks, vec![nominal]);
    }

    #[test]
    fn downtime_is_caught_up_in_interval_chunks_oldest_first() {
        let nominal = window(at(12, 44), at(12, 50));
        let planned = plan(nominal, (Some(at(12, 10)), None), FIVE, DAY, at(12, 50));
        let expected = vec![
            window(at(12, 9), at(12, 14)),
            window(at(12, 14), at(12, 19)),
            window(at(12, 19), at(12, 24)),
            window(at(12, 24), at(12, 29)),
            window(at(12, 29), at(12, 34)),
            window(at(12, 34), at(12, 39)),
            window(at(12, 39), at(12, 44)),
            nominal,
        ];
        assert_eq!(planned.chunks, expected);
        assert_eq!(planned.searched(), window(at(12, 9), at(12, 50)));
        assert_eq!(planned.gap, None);
    }

    #[test]
    fn a_late_execution_overlaps_the_last_search_by_the_lookback() {
        // Every 5 minutes over the last 6: one minute of lookback. The last search ended at
        // 12:05; this execution runs at 12:10 + `late`.
        for late in [0, 30, 60, 90, 240, 600] {
            let now = at(12, 10) + TimeDelta::seconds(late);
            let nominal = window(now - TimeDelta::minutes(6), now);
            let planned = plan(nominal, (Some(at(12, 5)), None), FIVE, DAY, now);
            assert_eq!(planned.searched(), window(at(12, 4), now), "{late} s late");
            // No more requests than without the overlap: a chunk only for what lies between
            // the last search and the nominal window.
            let between = (nominal.from - at(12, 5)).max(TimeDelta::zero());
            let without = 1 + usize::from(between > TimeDelta::zero())
                * (between.num_seconds() as usize).div_ceil(300);
            assert_eq!(planned.chunks.len(), without, "{late} s late");
        }
    }

    #[test]
    fn the_overlap_never_reaches_before_where_coverage_started() {
        // A first execution that failed left coverage at its window's start, 11:54.
        let now = at(12, 5);
        let nominal = window(at(11, 59), now);
        let started = at(11, 54);
        let planned = plan(nominal, (Some(started), Some(started)), FIVE, DAY, now);
        assert_eq!(planned.searched(), window(started, now));
        let planned = plan(nominal, (Some(started), None), FIVE, DAY, now);
        assert_eq!(planned.searched(), window(at(11, 53), now));
    }

    #[test]
    fn a_rule_without_lookback_or_with_a_gap_is_not_widened() {
        let now = at(12, 20);
        let nominal = window(now - FIVE, now);
        let planned = plan(nominal, (Some(at(12, 5)), None), FIVE, DAY, now);
        assert_eq!(planned.searched(), window(at(12, 5), now));
        let covered = now - TimeDelta::hours(30);
        let nominal = window(now - TimeDelta::minutes(6), now);
        let planned = plan(nominal, (Some(covered), None), FIVE, DAY, now);
        assert_eq!(planned.searched(), window(now - DAY, now));
    }

    #[test]
    fn chunks_leave_no_hole_between_them() {
        let nominal = window(at(15, 0), at(15, 6));
        let planned = plan(nominal, (Some(at(9, 7)), None), FIVE, DAY, at(15, 6));
        for pair in planned.chunks.windows(2) {
            assert_eq!(pair[0].to, pair[1].from);
        }
        assert!(
            planned.chunks[..planned.chunks.len() - 1]
                .iter()
                .all(|c| c.length() <= FIVE)
        );
    }

    #[test]
    fn downtime_beyond_max_catch_up_is_a_gap() {
        let now = at(12, 0);
        let nominal = window(now - TimeDelta::minutes(6), now);
        let covered = now - TimeDelta::hours(30);
        let planned = plan(nominal, (Some(covered), None), FIVE, DAY, now);
        assert_eq!(planned.gap, Some(window(covered, now - DAY)));
        assert_eq!(planned.searched(), window(now - DAY, now));
    }

    #[test]
    fn a_nominal_window_older_than_max_catch_up_is_never_cut() {
        let now = at(12, 0);
        let nominal = window(now - TimeDelta::hours(48), now);
        let planned = plan(
            nominal,
            (Some(now - TimeDelta::hours(47)), None),
            FIVE,
            DAY,
            now,
        );
        assert_eq!(planned.chunks, vec![nominal]);
        assert_eq!(planned.gap, None);
    }

    #[test]
    fn chunk_count_is_bounded() {
        let now = at(12, 0);
        let nominal = window(now - TimeDelta::seconds(2), now);
        let covered = now - TimeDelta::days(365);
        let planned = plan(
            nominal,
            (Some(covered), None),
            TimeDelta::seconds(1),
            TimeDelta::days(400),
            now,
        );
        assert!(planned.chunks.len() <= MAX_CHUNKS + 1);
        // Back to the last search's end, less the rule's one second of lookback.
        assert_eq!(
            planned.searched(),
            window(covered - TimeDelta::seconds(1), now)
        );
    }

    fn every_five_minutes_over_the_last_six() -> Schedule {
        Schedule {
            interval: FIVE,
            cron: None,
            from: DateMath::parse("now-6m").unwrap(),
            to: DateMath::parse("now").unwrap(),
        }
    }

    #[test]
    fn the_window_is_the_date_math_resolved_at_the_execution_time() {
        let mut schedule = every_five_minutes_over_the_last_six();
        schedule.from = DateMath::parse("now-1h/h").unwrap();
        let resolved = schedule.window_at(at(12, 30)).unwrap();
        assert_eq!(resolved, window(at(11, 0), at(12, 30)));
    }

    #[test]
    fn cadence_is_the_interval_unless_the_file_has_a_cron() {
        let mut schedule = every_five_minutes_over_the_last_six();
        assert_eq!(schedule.cadence(), Cadence::Every(FIVE));
        schedule.cron = Some(Cron::parse("*/10 * * * *").unwrap());
        assert_eq!(
            schedule.cadence(),
            Cadence::Cron(Cron::parse("*/10 * * * *").unwrap())
        );
    }

    #[test]
    fn a_reversed_window_is_an_error_naming_it() {
        let mut schedule = every_five_minutes_over_the_last_six();
        schedule.to = DateMath::parse("now-1h").unwrap();
        let error = schedule.window_at(at(12, 30)).unwrap_err();
        assert!(
            error.to_string().contains("ends before it starts"),
            "{error}"
        );
    }
}
