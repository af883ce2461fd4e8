//! Chunking, clipping and progress documents of a backfill (pure).

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("valid").to_utc()
}

fn window(from: &str, to: &str) -> Window {
    Window {
        from: at(from),
        to: at(to),
    }
}

#[test]
fn a_period_is_cut_into_interval_sized_chunks_oldest_first() {
    let chunks = chunks(
        at("2026-01-01T00:00:00Z"),
        at("2026-01-01T00:12:00Z"),
        TimeDelta::minutes(5),
    );
    assert_eq!(
        chunks,
        [
            window("2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"),
            window("2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"),
            window("2026-01-01T00:10:00Z", "2026-01-01T00:12:00Z"),
        ]
    );
}

#[test]
fn a_job_resumes_after_its_last_finished_chunk() {
    let job = Job {
        rule_id: "r".into(),
        range: window("2026-01-01T00:00:00Z", "2026-01-01T00:15:00Z"),
        done_to: Some(at("2026-01-01T00:10:00Z")),
    };
    assert_eq!(
        job.remaining(TimeDelta::minutes(5)),
        [window("2026-01-01T00:10:00Z", "2026-01-01T00:15:00Z")]
    );
    let finished = Job {
        done_to: Some(at("2026-01-01T00:15:00Z")),
        ..job
    };
    assert!(finished.remaining(TimeDelta::minutes(5)).is_empty());
}

#[test]
fn gaps_are_clipped_to_the_period() {
    let period = window("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    let gap = window("2025-12-31T22:00:00Z", "2026-01-01T02:00:00Z");
    assert_eq!(
        clip(gap, period),
        Some(window("2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z"))
    );
    assert_eq!(
        clip(
            window("2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z"),
            period
        ),
        None
    );
}

#[test]
fn progress_ids_are_stable_and_differ_per_range() {
    let a = window("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z");
    let b = window("2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z");
    assert_eq!(progress_id("r", a), progress_id("r", a));
    assert_ne!(progress_id("r", a), progress_id("r", b));
    assert_ne!(progress_id("r", a), progress_id("s", a));
}

#[test]
fn a_progress_document_says_how_far_and_whether_finished() {
    let job = Job {
        rule_id: "r".into(),
        range: window("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
        done_to: None,
    };
    let doc = progress_doc(&job, at("2026-01-01T00:30:00Z"), at("2026-01-02T00:00:00Z"));
    assert_eq!(doc["event"]["action"], PROGRESS_ACTION);
    assert_eq!(doc["lookout"]["backfill"]["finished"], false);
    let doc = progress_doc(&job, at("2026-01-01T01:00:00Z"), at("2026-01-02T00:00:00Z"));
    assert_eq!(doc["lookout"]["backfill"]["finished"], true);
}
