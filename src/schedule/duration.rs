//! Rule durations such as `interval = "5m"`: a positive whole number and one unit
//! (`s`, `m`, `h`, `d`), the form Kibana's detection engine accepts for a rule's interval.

use chrono::TimeDelta;

/// The longest interval accepted, so that window arithmetic can never overflow.
pub const MAX_DURATION_DAYS: i64 = 3650;

/// Parses `"5m"`, `"1h"`, `"30s"`, `"2d"` into a duration. The error says what is wrong.
pub fn parse_duration(text: &str) -> Result<TimeDelta, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {text:?} has no unit (use s, m, h or d, as in \"5m\")"))?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "duration {text:?} must start with a whole number, as in \"5m\""
        ));
    }
    let amount: i64 = digits
        .parse()
        .map_err(|_| format!("duration {text:?} is too large"))?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "duration {text:?} has unknown unit {unit:?} (use s, m, h or d)"
            ));
        }
    };
    if amount == 0 {
        return Err(format!("duration {text:?} must be longer than zero"));
    }
    let seconds = amount
        .checked_mul(seconds_per_unit)
        .filter(|s| *s <= MAX_DURATION_DAYS * 86_400)
        .ok_or_else(|| format!("duration {text:?} is longer than {MAX_DURATION_DAYS} days"))?;
    Ok(TimeDelta::seconds(seconds))
}

/// Formats a duration the way rule files write it, with the largest unit that divides it.
pub fn format_duration(duration: TimeDelta) -> String {
    let seconds = duration.num_seconds();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds != 0 && seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("30s"), Ok(TimeDelta::seconds(30)));
        assert_eq!(parse_duration("5m"), Ok(TimeDelta::minutes(5)));
        assert_eq!(parse_duration("1h"), Ok(TimeDelta::hours(1)));
        assert_eq!(parse_duration("2d"), Ok(TimeDelta::days(2)));
    }

    #[test]
    fn rejects_bad_durations_with_a_reason() {
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("m").unwrap_err().contains("whole number"));
        assert!(parse_duration("5x").unwrap_err().contains("unknown unit"));
        assert!(
            parse_duration("0m")
                .unwrap_err()
                .contains("longer than zero")
        );
        assert!(parse_duration("-5m").unwrap_err().contains("whole number"));
        assert!(
            parse_duration("99999999999999999999m")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse_duration("99999999d")
                .unwrap_err()
                .contains("longer than")
        );
    }

    #[test]
    fn formats_with_the_largest_unit() {
        assert_eq!(format_duration(TimeDelta::minutes(5)), "5m");
        assert_eq!(format_duration(TimeDelta::minutes(60)), "1h");
        assert_eq!(format_duration(TimeDelta::seconds(90)), "90s");
    }
}
