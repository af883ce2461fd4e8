//! Cron schedules in the standard 5-field form (`minute hour day-of-month month day-of-week`),
//! evaluated in UTC: `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`, and the
//! month and weekday names `jan`..`dec`, `sun`..`sat`. When both day fields are restricted a day
//! matches either (as in Vixie cron). Pure: parses text and computes the next run after an
//! instant.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use std::fmt;

/// How far ahead [`Cron::next_after`] looks before deciding an expression never fires (such as
/// `0 0 30 2 *`, the 30th of February).
pub const MAX_LOOKAHEAD_DAYS: i64 = 366 * 5;

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// Why a cron expression is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cron expression {expression:?}: {message}")]
pub struct CronError {
    pub expression: String,
    pub message: String,
}

/// One field's allowed range and names.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: FieldSpec = FieldSpec {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
/// Day of week: 0 and 7 are both Sunday.
const WEEKDAY: FieldSpec = FieldSpec {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl Cron {
    /// Parses a 5-field expression.
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let error = |message: String| CronError {
            expression: text.to_string(),
            message,
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(error(format!(
                "has {} fields; expected 5 (minute hour day-of-month month day-of-week)",
                fields.len()
            )));
        };
        let mut weekdays = parse_field(weekday, &WEEKDAY).map_err(error)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        Ok(Cron {
            text: text.trim().to_string(),
            minutes: parse_field(minute, &MINUTE).map_err(error)?,
            hours: parse_field(hour, &HOUR).map_err(error)?,
            days: parse_field(day, &DAY).map_err(error)?,
            months: parse_field(month, &MONTH).map_err(error)?,
            weekdays,
            days_restricted: day != "*",
            weekdays_restricted: weekday != "*",
        })
    }

    /// The first instant strictly after `after`, on a whole minute, that the expression matches;
    /// `None` when it matches nothing within [`MAX_LOOKAHEAD_DAYS`].
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let limit = start + Duration::days(MAX_LOOKAHEAD_DAYS);
        let mut time = start;
        while time <= limit {
            if !self.day_matches(time) {
                time = start_of_next_day(time)?;
            } else if !has(self.hours, time.hour()) {
                time = time.with_minute(0)? + Duration::hours(1);
            } else if !has(self.minutes, time.minute()) {
                time += Duration::minutes(1);
            } else {
                return Some(time);
            }
        }
        None
    }

    fn day_matches(&self, time: DateTime<Utc>) -> bool {
        if !has(self.months, time.month()) {
            return false;
        }
        let day = has(self.days, time.day());
        let weekday = has(self.weekdays, time.weekday().num_days_from_sunday());
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            (true, false) => day,
            (false, true) => weekday,
            (false, false) => true,
        }
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn has(set: u64, value: u32) -> bool {
    set & (1 << value) != 0
}

fn start_of_next_day(time: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let next = time.date_naive().succ_opt()?;
    Some(Utc.from_utc_datetime(&next.and_hms_opt(0, 0, 0)?))
}

/// A field as a bit set of the values it allows.
fn parse_field(text: &str, spec: &FieldSpec) -> Result<u64, String> {
    let mut set = 0;
    for part in text.split(',') {
        set |= parse_part(part, spec)?;
    }
    Ok(set)
}

/// `*`, `v`, `a-b`, each optionally followed by `/step`.
fn parse_part(part: &str, spec: &FieldSpec) -> Result<u64, String> {
    let (range, step) = match part.split_once('/') {
        Some((range, step)) => (range, parse_step(step, spec)?),
        None => (part, 1),
    };
    let (low, high) = match range {
        "*" => (spec.min, spec.max),
        _ => match range.split_once('-') {
            Some((a, b)) => (value(a, spec)?, value(b, spec)?),
            None if step > 1 => (value(range, spec)?, spec.max),
            None => {
                let v = value(range, spec)?;
                (v, v)
            }
        },
    };
    if low > high {
        return Err(format!("{} range {range:?} runs backwards", spec.name));
    }
    Ok((low..=high).step_by(step).fold(0, |set, v| set | (1 << v)))
}

fn parse_step(text: &str, spec: &FieldSpec) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(step) if step > 0 => Ok(step),
        _ => Err(format!(
            "{} step {text:?} must be a positive number",
            spec.name
        )),
    }
}

fn value(text: &str, spec: &FieldSpec) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(at) = spec.names.iter().position(|name| *name == lower) {
        let offset = u32::try_from(at).expect("name tables are short");
        return Ok(spec.min + offset);
    }
    match text.parse::<u32>() {
        Ok(v) if (spec.min..=spec.max).contains(&v) => Ok(v),
        _ => Err(format!(
            "{} {text:?} is not a number from {} to {}",
            spec.name, spec.min, spec.max
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn next(expression: &str, after: &str) -> String {
        let cron = Cron::parse(expression).unwrap();
        cron.next_after(at(after)).unwrap().to_rfc3339()
    }

    #[test]
    fn every_five_minutes_fires_on_the_next_multiple_of_five() {
        assert_eq!(
            next("*/5 * * * *", "2026-01-10T12:03:20Z"),
            "2026-01-10T12:05:00+00:00"
        );
        assert_eq!(
            next("*/5 * * * *", "2026-01-10T12:05:00Z"),
            "2026-01-10T12:10:00+00:00"
        );
    }

    #[test]
    fn hours_days_and_months_roll_over() {
        assert_eq!(
            next("30 2 * * *", "2026-01-10T12:00:00Z"),
            "2026-01-11T02:30:00+00:00"
        );
        assert_eq!(
            next("0 0 1 * *", "2026-12-15T00:00:00Z"),
            "2027-01-01T00:00:00+00:00"
        );
        assert_eq!(
            next("0 9 * feb *", "2026-03-01T00:00:00Z"),
            "2027-02-01T09:00:00+00:00"
        );
    }

    #[test]
    fn weekdays_accept_names_and_seven_for_sunday() {
        // 2026-01-10 is a Saturday.
        assert_eq!(
            next("0 8 * * mon-fri", "2026-01-10T12:00:00Z"),
            "2026-01-12T08:00:00+00:00"
        );
        assert_eq!(
            next("0 8 * * 7", "2026-01-10T12:00:00Z"),
            "2026-01-11T08:00:00+00:00"
        );
        assert_eq!(
            next("0 8 * * SUN", "2026-01-10T12:00:00Z"),
            "2026-01-11T08:00:00+00:00"
        );
    }

    #[test]
    fn restricted_day_of_month_and_weekday_match_either() {
        // The 15th (a Thursday) or a Monday, whichever comes first after Saturday the 10th.
        assert_eq!(
            next("0 0 15 * mon", "2026-01-10T00:00:00Z"),
            "2026-01-12T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 15 * mon", "2026-01-12T00:00:00Z"),
            "2026-01-15T00:00:00+00:00"
        );
    }

    #[test]
    fn lists_and_stepped_ranges() {
        let cron = Cron::parse("0,20-30/5 * * * *").unwrap();
        let mut time = at("2026-01-10T12:00:00Z");
        let mut minutes = Vec::new();
        for _ in 0..4 {
            time = cron.next_after(time).unwrap();
            minutes.push(time.minute());
        }
        assert_eq!(minutes, vec![20, 25, 30, 0]);
    }

    #[test]
    fn an_impossible_date_never_fires() {
        let cron = Cron::parse("0 0 30 2 *").unwrap();
        assert_eq!(cron.next_after(at("2026-01-10T00:00:00Z")), None);
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (expression, needle) in [
            ("* * * *", "4 fields"),
            ("60 * * * *", "minute \"60\""),
            ("* 5-2 * * *", "backwards"),
            ("*/0 * * * *", "step"),
            ("* * * foo *", "month \"foo\""),
        ] {
            let error = Cron::parse(expression).unwrap_err().to_string();
            assert!(error.contains(needle), "{expression}: {error}");
        }
    }
}
