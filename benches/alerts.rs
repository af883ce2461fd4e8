//! Benchmarks of the alert step: alert ids for a page of hits, alert documents built from a page
//! of real CloudTrail hits (the shared fixtures) by the seed rule (each alert on its own, and
//! with the rule's shared fields built once per page), those documents serialized as the
//! `_bulk` body carries them, and the alerts written as JSON text straight from the sources'
//! text (what the engine does for query rules: `alert::alert_json`).

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lookout::Rule;
use lookout::bench::{self as alert, AlertContext, SourceEvent};
use serde_json::Value;
use std::hint::black_box;
use std::path::PathBuf;

/// Overrides where the shared test data (`../shared` beside the project) is.
const SHARED_DIR_VAR: &str = "LOOKOUT_SHARED_DIR";
/// The seed rule that fires on a successful AddUserToGroup.
const SEED_RULE: &str = "corpus/detection-rules/rules/integrations/aws/credential_access_iam_user_addition_to_group.toml";
/// Real ECS CloudTrail documents.
const SAMPLES: &str = "fixtures/cloudtrail/ecs-samples.ndjson";
/// Hits per page, as the engine asks for them (`engine::plan::MAX_PAGE_SIZE`).
const PAGE: usize = 100;

/// A file of the shared test data; panics with the path looked at when it is absent.
fn shared_file(relative: &str) -> PathBuf {
    let shared = std::env::var_os(SHARED_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let path = shared.join(relative);
    assert!(
        path.is_file(),
        "the shared test data is absent: expected the file {} (set {SHARED_DIR_VAR} to the \
         shared test data folder)",
        path.display()
    );
    path
}

fn seed_rule() -> Rule {
    let path = shared_file(SEED_RULE);
    let bytes = std::fs::read(&path).expect("the seed rule is readable");
    match lookout::parse_rule_bytes(&path, &bytes) {
        Ok((lookout::Loaded::Runnable(rule), _)) => *rule,
        other => panic!(
            "{} does not load as a runnable rule: {other:?}",
            path.display()
        ),
    }
}

/// A page of hits: the fixture documents, cycled, each with its own id.
fn page_of_hits() -> Vec<(String, String, Value)> {
    let path = shared_file(SAMPLES);
    let text = std::fs::read_to_string(&path).expect("the samples are readable");
    let samples: Vec<Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("the samples are JSON"))
        .collect();
    (0..PAGE)
        .map(|n| {
            let source = samples[n % samples.len()].clone();
            let index = "logs-aws.cloudtrail-default".to_string();
            (index, format!("doc-{n:06}-Yx3kQpZ1"), source)
        })
        .collect()
}

fn alerts(c: &mut Criterion) {
    let rule = seed_rule();
    let hits = page_of_hits();
    let context = AlertContext {
        rule: &rule,
        namespace: "default",
        execution_uuid: "4c1d7c0e-8f7e-4a51-9d0e-2f4b1c1a6e55",
        created_at: Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap(),
        notify: &[],
        intended_at: None,
    };
    let build_page = || -> Vec<alert::Alert> {
        hits.iter()
            .map(|(index, id, source)| {
                let event = SourceEvent { index, id, source };
                alert::build_alert(black_box(event), context)
            })
            .collect()
    };
    let shared = alert::SharedFields::new(context);
    let build_page_shared = || -> Vec<alert::Alert> {
        hits.iter()
            .map(|(index, id, source)| {
                let event = SourceEvent { index, id, source };
                alert::build_alert_with(black_box(event), context, &shared)
            })
            .collect()
    };
    let mut group = c.benchmark_group("alerts");
    group.throughput(Throughput::Elements(PAGE as u64));
    group.bench_function("alert_ids_page_of_100", |b| {
        b.iter(|| {
            hits.iter()
                .map(|(index, id, _)| alert::alert_id(index, id, "default", &rule.rule_id))
                .collect::<Vec<_>>()
        })
    });
    group.bench_function("build_alerts_page_of_100", |b| b.iter(build_page));
    group.bench_function("build_alerts_page_of_100_shared_fields", |b| {
        b.iter(build_page_shared)
    });
    group.bench_function("serialize_alerts_page_of_100", |b| {
        b.iter_batched(
            build_page_shared,
            |page| {
                let mut body = Vec::new();
                for alert in &page {
                    serde_json::to_writer(&mut body, &alert.document).expect("serializes");
                    body.push(b'\n');
                }
                body
            },
            BatchSize::SmallInput,
        )
    });
    let raw_sources: Vec<Box<serde_json::value::RawValue>> = hits
        .iter()
        .map(|(_, _, source)| serde_json::value::to_raw_value(source).expect("serializes"))
        .collect();
    group.bench_function("alert_json_page_of_100", |b| {
        b.iter(|| {
            let shared = alert::SharedFields::new(context);
            let mut body = Vec::new();
            for ((index, id, _), source) in hits.iter().zip(&raw_sources) {
                let (_, text) = alert::alert_json(index, id, black_box(source), context, &shared);
                body.extend_from_slice(text.as_bytes());
                body.push(b'\n');
            }
            body
        })
    });
    group.finish();
}

criterion_group!(benches, alerts);
criterion_main!(benches);
