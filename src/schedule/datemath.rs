//! Elasticsearch date math (`now-6m`, `now-1h/h`, `2024-01-01T00:00:00Z||+1d`), parsed once when a
//! rule loads and resolved against an execution's start time. Pure: the clock is passed in.
//!
//! Units are those of Elasticsearch: `y` years, `M` months, `w` weeks, `d` days, `h`/`H` hours,
//! `m` minutes, `s` seconds. Rounding (`/d`) goes down to the start of the unit, in UTC, or up to its
//! last millisecond when resolving with [`Rounding::Up`].

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use std::fmt;

/// The most operations one expression may chain, so that resolving stays cheap and bounded.
pub const MAX_DATE_MATH_OPERATIONS: usize = 16;

/// A parsed date-math expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateMath {
    text: String,
    anchor: Anchor,
    operations: Vec<Operation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    Now,
    Fixed(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Add(i64, Unit),
    Round(Unit),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Year,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
}

/// Which way `/unit` rounds: down for the start of a range, up for an inclusive end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    Down,
    Up,
}

impl DateMath {
    /// `now`.
    pub fn now() -> Self {
        Self::parse("now").expect("\"now\" is valid date math")
    }

    /// Parses an expression. The error says what is wrong and where.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let (anchor, rest) = parse_anchor(trimmed)?;
        let operations = parse_operations(rest, trimmed)?;
        Ok(Self {
            text: trimmed.to_string(),
            anchor,
            operations,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Resolves the expression with `now` standing for the given instant.
    pub fn resolve(&self, now: DateTime<Utc>, rounding: Rounding) -> Option<DateTime<Utc>> {
        let mut time = match self.anchor {
            Anchor::Now => now,
            Anchor::Fixed(time) => time,
        };
        for operation in &self.operations {
            time = match *operation {
                Operation::Add(amount, unit) => add(time, amount, unit)?,
                Operation::Round(unit) => round(time, unit, rounding)?,
            };
        }
        Some(time)
    }

    /// True when the expression is relative to `now` (rule windows must be).
    pub fn is_relative(&self) -> bool {
        self.anchor == Anchor::Now
    }
}

impl fmt::Display for DateMath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_anchor(text: &str) -> Result<(Anchor, &str), String> {
    if let Some(rest) = text.strip_prefix("now") {
        return Ok((Anchor::Now, rest));
    }
    let (date, rest) = match text.find("||") {
        Some(at) => (&text[..at], &text[at + 2..]),
        None => (text, ""),
    };
    let fixed = parse_date(date).ok_or_else(|| {
        format!("date math {text:?} must start with \"now\" or a date such as 2024-01-31T00:00:00Z")
    })?;
    Ok((Anchor::Fixed(fixed), rest))
}

/// Accepts RFC 3339 timestamps, timestamps without a zone (taken as UTC) and plain dates.
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(Utc.from_utc_datetime(&naive));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)))
}

fn parse_operations(mut rest: &str, whole: &str) -> Result<Vec<Operation>, String> {
    let mut operations = Vec::new();
    while let Some(sign) = rest.chars().next() {
        if operations.len() == MAX_DATE_MATH_OPERATIONS {
            return Err(format!(
                "date math {whole:?} has more than {MAX_DATE_MATH_OPERATIONS} operations"
            ));
        }
        rest = &rest[sign.len_utf8()..];
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (digits, after_digits) = rest.split_at(digits_end);
        let unit_char = after_digits.chars().next().ok_or_else(|| {
            format!("date math {whole:?} ends without a unit (y, M, w, d, h, m or s)")
        })?;
        let unit = parse_unit(unit_char).ok_or_else(|| {
            format!(
                "date math {whole:?} has unknown unit {unit_char:?} (use y, M, w, d, h, m or s)"
            )
        })?;
        rest = &after_digits[unit_char.len_utf8()..];
        let operation = match sign {
            '+' | '-' => Operation::Add(parse_amount(digits, sign, whole)?, unit),
            '/' if digits.is_empty() => Operation::Round(unit),
            '/' => {
                return Err(format!(
                    "date math {whole:?}: rounding takes a unit only, as in \"/d\""
                ));
            }
            _ => {
                return Err(format!(
                    "date math {whole:?}: expected +, - or / but found {sign:?}"
                ));
            }
        };
        operations.push(operation);
    }
    Ok(operations)
}

fn parse_amount(digits: &str, sign: char, whole: &str) -> Result<i64, String> {
    let amount: i64 = if digits.is_empty() {
        1
    } else {
        digits
            .parse()
            .map_err(|_| format!("date math {whole:?} has a number that is too large"))?
    };
    Ok(if sign == '-' { -amount } else { amount })
}

fn parse_unit(c: char) -> Option<Unit> {
    Some(match c {
        'y' => Unit::Year,
        'M' => Unit::Month,
        'w' => Unit::Week,
        'd' => Unit::Day,
        'h' | 'H' => Unit::Hour,
        'm' => Unit::Minute,
        's' => Unit::Second,
        _ => return None,
    })
}

fn add(time: DateTime<Utc>, amount: i64, unit: Unit) -> Option<DateTime<Utc>> {
    let months = match unit {
        Unit::Year => amount.checked_mul(12)?,
        Unit::Month => amount,
        Unit::Week => return time.checked_add_signed(Duration::try_weeks(amount)?),
        Unit::Day => return time.checked_add_signed(Duration::try_days(amount)?),
        Unit::Hour => return time.checked_add_signed(Duration::try_hours(amount)?),
        Unit::Minute => return time.checked_add_signed(Duration::try_minutes(amount)?),
        Unit::Second => return time.checked_add_signed(Duration::try_seconds(amount)?),
    };
    let magnitude = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    if months >= 0 {
        time.checked_add_months(magnitude)
    } else {
        time.checked_sub_months(magnitude)
    }
}

fn round(time: DateTime<Utc>, unit: Unit, rounding: Rounding) -> Option<DateTime<Utc>> {
    let start = start_of(time, unit)?;
    match rounding {
        Rounding::Down => Some(start),
        Rounding::Up => add(start, 1, unit)?.checked_sub_signed(Duration::milliseconds(1)),
    }
}

fn start_of(time: DateTime<Utc>, unit: Unit) -> Option<DateTime<Utc>> {
    let date = time.date_naive();
    let day_start = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN));
    Some(match unit {
        Unit::Year => day_start(NaiveDate::from_ymd_opt(date.year(), 1, 1)?),
        Unit::Month => day_start(NaiveDate::from_ymd_opt(date.year(), date.month(), 1)?),
        Unit::Week => {
            day_start(date - Duration::days(i64::from(date.weekday().num_days_from_monday())))
        }
        Unit::Day => day_start(date),
        Unit::Hour => time.with_nanosecond(0)?.with_second(0)?.with_minute(0)?,
        Unit::Minute => time.with_nanosecond(0)?.with_second(0)?,
        Unit::Second => time.with_nanosecond(0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        parse_date(text).expect("test timestamp")
    }

    fn resolve(expr: &str, now: &str) -> DateTime<Utc> {
        DateMath::parse(expr)
            .expect("valid")
            .resolve(at(now), Rounding::Down)
            .expect("in range")
    }

    #[test]
    fn resolves_relative_expressions_against_the_given_now() {
        assert_eq!(
            resolve("now", "2024-05-01T10:07:30Z"),
            at("2024-05-01T10:07:30Z")
        );
        assert_eq!(
            resolve("now-6m", "2024-05-01T10:07:30Z"),
            at("2024-05-01T10:01:30Z")
        );
        assert_eq!(
            resolve("now-1h/h", "2024-05-01T10:07:30Z"),
            at("2024-05-01T09:00:00Z")
        );
        assert_eq!(
            resolve("now-1M", "2024-03-31T00:00:00Z"),
            at("2024-02-29T00:00:00Z")
        );
        assert_eq!(
            resolve("now+1y/y", "2024-05-01T10:07:30Z"),
            at("2025-01-01T00:00:00Z")
        );
        assert_eq!(
            resolve("now/w", "2024-05-01T10:07:30Z"),
            at("2024-04-29T00:00:00Z")
        );
        assert_eq!(
            resolve("now-d", "2024-05-01T10:07:30Z"),
            at("2024-04-30T10:07:30Z")
        );
    }

    #[test]
    fn rounding_up_reaches_the_last_millisecond_of_the_unit() {
        let end = DateMath::parse("now/d")
            .expect("valid")
            .resolve(at("2024-05-01T10:07:30Z"), Rounding::Up);
        assert_eq!(end, Some(at("2024-05-01T23:59:59.999Z")));
    }

    #[test]
    fn accepts_fixed_anchors() {
        assert_eq!(
            resolve("2024-01-31T00:00:00Z||+1d", "2000-01-01"),
            at("2024-02-01T00:00:00Z")
        );
        assert_eq!(
            resolve("2024-01-31", "2000-01-01"),
            at("2024-01-31T00:00:00Z")
        );
        assert!(!DateMath::parse("2024-01-31").expect("valid").is_relative());
        assert!(DateMath::parse("now-6m").expect("valid").is_relative());
    }

    #[test]
    fn rejects_bad_expressions_with_a_reason() {
        assert!(
            DateMath::parse("nw-6m")
                .unwrap_err()
                .contains("must start with")
        );
        assert!(
            DateMath::parse("now-6")
                .unwrap_err()
                .contains("without a unit")
        );
        assert!(
            DateMath::parse("now-6x")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(
            DateMath::parse("now*6m")
                .unwrap_err()
                .contains("expected +, - or /")
        );
        assert!(DateMath::parse("now/1d").unwrap_err().contains("unit only"));
        assert!(
            DateMath::parse(&format!("now{}", "-1m".repeat(17)))
                .unwrap_err()
                .contains("more than")
        );
    }

    #[test]
    fn overflow_resolves_to_none_instead_of_panicking() {
        let far = DateMath::parse("now+9999999999999y").expect("parses");
        assert_eq!(far.resolve(at("2024-01-01"), Rounding::Down), None);
    }
}
