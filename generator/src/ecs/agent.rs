//! What reaches the document besides the pipeline's own work: the fields the Elastic Agent adds
//! (data stream, dataset, input, tags, the S3 log object the record came from) and the times
//! Fleet's final pipeline and the agent stamp (`event.ingested`, `event.created`). Pure.

use super::doc::Doc;
use super::format_millis;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::json;

/// Tags the agent's CloudTrail input adds.
pub const INPUT_TAGS: &[&str] = &["forwarded", "aws-cloudtrail"];
/// The S3 bucket the generated trail delivers to.
pub const TRAIL_BUCKET: &str = "acme-cloudtrail-logs";
/// How long before `event.ingested` the agent read the record (`event.created`).
const AGENT_READ_AHEAD: TimeDelta = TimeDelta::milliseconds(1_750);

pub(super) fn ingest_times(
    doc: &mut Doc,
    ingested: DateTime<Utc>,
    timestamp: Option<DateTime<Utc>>,
) {
    let whole = ingested - TimeDelta::nanoseconds(i64::from(ingested.timestamp_subsec_nanos()));
    let whole = timestamp.map_or(whole, |t| whole.max(t));
    let created =
        (ingested - AGENT_READ_AHEAD).max(timestamp.unwrap_or(ingested - AGENT_READ_AHEAD));
    doc.set("event.created", json!(format_millis(created)));
    doc.set(
        "event.ingested",
        json!(whole.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
}

/// What the agent adds: data stream, dataset, input, and the S3 object the record came from.
pub(super) fn agent_fields(
    doc: &mut Doc,
    time: Option<DateTime<Utc>>,
    account: Option<&str>,
    region: Option<&str>,
) {
    doc.set(
        "data_stream",
        json!({"type": "logs", "dataset": "aws.cloudtrail", "namespace": "default"}),
    );
    doc.set("event.dataset", json!("aws.cloudtrail"));
    doc.set("event.module", json!("aws"));
    doc.set("input.type", json!("aws-s3"));
    let (Some(time), Some(account), Some(region)) = (time, account, region) else {
        return;
    };
    let key = format!(
        "AWSLogs/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}Z_{}.json.gz",
        time.format("%Y/%m/%d"),
        time.format("%Y%m%dT%H%M"),
        log_object_suffix(region, time),
    );
    doc.set("aws.s3.bucket.name", json!(TRAIL_BUCKET));
    doc.set(
        "aws.s3.bucket.arn",
        json!(format!("arn:aws:s3:::{TRAIL_BUCKET}")),
    );
    doc.set("aws.s3.object.key", json!(key));
    doc.set(
        "log.file.path",
        json!(format!(
            "https://{TRAIL_BUCKET}.s3.{region}.amazonaws.com/{key}"
        )),
    );
}

/// The unique part of a CloudTrail log object's name: one object per region and 5 minutes.
fn log_object_suffix(region: &str, time: DateTime<Utc>) -> String {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    let slot = time.timestamp().div_euclid(300).unsigned_abs();
    let mixed = region
        .bytes()
        .fold(slot.wrapping_mul(GOLDEN), |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(GOLDEN)
        });
    format!("{mixed:016X}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::parse_time;

    #[test]
    fn ingested_is_whole_seconds_and_never_before_the_event() {
        let time = parse_time("2024-05-01T10:00:00Z").expect("valid");
        let mut doc = Doc::default();
        ingest_times(
            &mut doc,
            time + TimeDelta::milliseconds(301_900),
            Some(time),
        );
        assert_eq!(
            doc.get("event.ingested"),
            Some(&json!("2024-05-01T10:05:01Z"))
        );
        let mut early = Doc::default();
        ingest_times(&mut early, time - TimeDelta::seconds(5), Some(time));
        assert_eq!(
            early.get("event.ingested"),
            Some(&json!("2024-05-01T10:00:00Z"))
        );
    }
}
