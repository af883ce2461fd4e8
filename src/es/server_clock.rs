//! The server's clock, read from the `Date` header of the answers lookout receives anyway (no
//! request of its own), or, from a server whose answers carry none (Elasticsearch before
//! elastic/elasticsearch#157422, noida-db), from a search of its own now and then
//! ([`super::Client::read_server_clock`]). The header has a resolution of one second and is stamped at some
//! instant between the request leaving and the answer arriving, so one answer bounds the
//! offset (server minus host) between `date - received` and `date + 1 s - sent`. The latest
//! answer is kept: its `Date` plus the (monotonic) time since it arrived is an instant the
//! server has certainly reached (windows never end past it), and a warning is logged when the host's clock is certainly
//! further from the server's than the configured tolerance (and again when it is back within).

use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What one or more answers say about the server's clock compared with the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffset {
    /// The server's clock is at least this far ahead of the host's (negative: behind).
    pub low: TimeDelta,
    /// ... and at most this far.
    pub high: TimeDelta,
}

impl ClockOffset {
    /// The bounds one answer gives: sent and received on the host's clock, `date` the answer's
    /// `Date` header (whole seconds, truncated).
    pub fn of_answer(
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
        date: DateTime<Utc>,
    ) -> ClockOffset {
        ClockOffset::of_reading(sent, received, date, TimeDelta::seconds(1))
    }

    /// The bounds of a reading of the server's time taken at some instant between `sent` and
    /// `received` (host clock), truncated to `resolution`.
    pub fn of_reading(
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
        server_time: DateTime<Utc>,
        resolution: TimeDelta,
    ) -> ClockOffset {
        ClockOffset {
            low: server_time - received,
            high: server_time + resolution - sent,
        }
    }

    /// The best single value: the middle of the bounds (what `/metrics` and `lookout status`
    /// show).
    pub fn estimate(&self) -> TimeDelta {
        self.low + (self.high - self.low) / 2
    }

    /// Whether the clocks certainly differ by more than `tolerance`, whatever the header's
    /// resolution and the answer's latency hide.
    pub fn beyond(&self, tolerance: TimeDelta) -> bool {
        self.low > tolerance || self.high < -tolerance
    }

    /// `estimate` in seconds, for output.
    pub fn seconds(&self) -> f64 {
        let millis = self.estimate().num_milliseconds();
        // Offsets are far below 2^52 ms: the conversion is exact.
        #[allow(clippy::cast_precision_loss)]
        let seconds = millis as f64 / 1000.0;
        seconds
    }
}

/// Reads an HTTP `Date` header (RFC 7231's IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value.trim())
        .ok()
        .map(|date| date.with_timezone(&Utc))
}

/// The latest answer's measurement: the offset, the answer's `Date`, and when (on the
/// monotonic clock) it arrived.
#[derive(Debug, Clone, Copy)]
struct Sample {
    offset: ClockOffset,
    date: DateTime<Utc>,
    received: Instant,
}

/// The latest measurement and whether the host is known to be out of tolerance.
#[derive(Debug)]
pub(crate) struct ServerClock {
    tolerance: TimeDelta,
    latest: Mutex<Option<Sample>>,
    warned: AtomicBool,
    /// Whether an answer carried a `Date` header (then no reading of its own is needed).
    header: AtomicBool,
}

impl ServerClock {
    pub(crate) fn new(tolerance: std::time::Duration) -> ServerClock {
        ServerClock {
            tolerance: TimeDelta::from_std(tolerance).unwrap_or(TimeDelta::MAX),
            latest: Mutex::new(None),
            warned: AtomicBool::new(false),
            header: AtomicBool::new(false),
        }
    }

    pub(crate) fn tolerance(&self) -> TimeDelta {
        self.tolerance
    }

    /// Takes one answer's measurement (its bounds, its `Date`, when it arrived); logs when the
    /// host goes out of tolerance or comes back.
    pub(crate) fn record(&self, offset: ClockOffset, date: DateTime<Utc>, received: Instant) {
        let sample = Sample {
            offset,
            date,
            received,
        };
        *self
            .latest
            .lock()
            .expect("the clock offset is never poisoned") = Some(sample);
        let beyond = offset.beyond(self.tolerance);
        if beyond != self.warned.swap(beyond, Ordering::Relaxed) {
            let offset_s = offset.seconds();
            let tolerance_s = self.tolerance.num_seconds();
            if beyond {
                tracing::warn!(
                    offset_s,
                    tolerance_s,
                    "the host's clock differs from the server's by more than the tolerance \
                     (offset: server minus host); windows end no later than the server's now, \
                     but set the host's time (NTP)"
                );
            } else {
                tracing::info!(
                    offset_s,
                    tolerance_s,
                    "the host's clock is within the tolerance of the server's again"
                );
            }
        }
    }

    /// Notes that an answer carried a `Date` header.
    pub(crate) fn saw_header(&self) {
        self.header.store(true, Ordering::Relaxed);
    }

    /// Whether any answer carried a `Date` header.
    pub(crate) fn has_header(&self) -> bool {
        self.header.load(Ordering::Relaxed)
    }

    pub(crate) fn latest(&self) -> Option<ClockOffset> {
        self.sample().map(|sample| sample.offset)
    }

    /// An instant the server's clock has certainly reached: the latest answer's `Date` plus the
    /// time elapsed since it arrived, on the monotonic clock (so a step of the host's clock
    /// since then changes nothing).
    pub(crate) fn server_now(&self) -> Option<DateTime<Utc>> {
        let sample = self.sample()?;
        let elapsed = TimeDelta::from_std(sample.received.elapsed()).unwrap_or(TimeDelta::MAX);
        sample.date.checked_add_signed(elapsed)
    }

    fn sample(&self) -> Option<Sample> {
        *self
            .latest
            .lock()
            .expect("the clock offset is never poisoned")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: u32, ms: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, s).unwrap() + TimeDelta::milliseconds(ms)
    }

    #[test]
    fn the_date_header_is_read_as_http_writes_it() {
        assert_eq!(
            parse_http_date("Sat, 10 Jan 2026 12:00:07 GMT"),
            Some(at(7, 0))
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn the_server_now_is_the_latest_date_plus_the_time_since_its_answer() {
        let clock = ServerClock::new(std::time::Duration::from_secs(30));
        assert_eq!(clock.server_now(), None);
        let offset = ClockOffset::of_answer(at(10, 0), at(10, 0), at(10, 0));
        let five_ago = Instant::now() - std::time::Duration::from_secs(5);
        clock.record(offset, at(10, 0), five_ago);
        let now = clock.server_now().expect("measured");
        assert!(now >= at(15, 0), "{now}");
        assert_eq!(clock.latest(), Some(offset));
    }

    #[test]
    fn a_reading_in_milliseconds_bounds_the_offset_to_the_latency() {
        let offset = ClockOffset::of_reading(
            at(10, 0),
            at(10, 40),
            at(59, 1_015),
            TimeDelta::milliseconds(1),
        );
        // Read between 12:00:10.000 and 12:00:10.040 (host), the server said 12:01:00.015.
        assert_eq!(offset.low, TimeDelta::milliseconds(49_975));
        assert_eq!(offset.high, TimeDelta::milliseconds(50_016));
        assert!(offset.beyond(TimeDelta::seconds(30)));
        assert!(!offset.beyond(TimeDelta::seconds(50)));
    }

    #[test]
    fn one_answer_bounds_the_offset_by_the_resolution_and_the_latency() {
        // Sent at :10.200, received at :10.300, stamped ":10" by a server in step.
        let offset = ClockOffset::of_answer(at(10, 200), at(10, 300), at(10, 0));
        assert_eq!(offset.low, TimeDelta::milliseconds(-300));
        assert_eq!(offset.high, TimeDelta::milliseconds(800));
        assert!(!offset.beyond(TimeDelta::zero()));
        // A host 45 s ahead: the server stamps 45 s earlier.
        let ahead = ClockOffset::of_answer(at(55, 200), at(55, 300), at(10, 0));
        assert!(ahead.beyond(TimeDelta::seconds(30)));
        assert!(!ahead.beyond(TimeDelta::seconds(45)));
        assert_eq!(ahead.estimate(), TimeDelta::milliseconds(-44_750));
    }
}
