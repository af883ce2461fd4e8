//! Benchmark: parse and translate every KQL query of Elastic's rule corpus (the shared
//! `corpus/kql-reference.jsonl`, 801 queries) into the typed query DSL (`kql::translate`),
//! untyped and typed against the CloudTrail mapping, and also through to JSON text
//! (`serde_json::to_string`, what is sent to the server). Criterion reports the time per pass and
//! queries per second; summary lines first give the CPU time of one pass (not inflated by other
//! load on the machine).
//!
//! Run: `LOOKOUT_SHARED_DIR=../shared cargo bench -p lookout --bench kql`.

use criterion::{Criterion, Throughput, criterion_group};
use lookout::kql::{self, FieldMap};
use std::hint::black_box;
use std::path::PathBuf;

/// Overrides where the shared test data is (default: `../shared` beside the project).
const SHARED_DIR_VAR: &str = "LOOKOUT_SHARED_DIR";

fn shared_file(relative: &str) -> PathBuf {
    let dir = std::env::var_os(SHARED_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let path = dir.join(relative);
    assert!(
        path.exists(),
        "the shared data is absent: expected {} (set {SHARED_DIR_VAR})",
        path.display()
    );
    path
}

fn read_json_lines(path: &PathBuf) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("readable corpus");
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("JSON lines"))
        .collect()
}

fn corpus() -> Vec<String> {
    read_json_lines(&shared_file("corpus/kql-reference.jsonl"))
        .iter()
        .map(|row| row["query"].as_str().expect("query").to_string())
        .collect()
}

fn cloudtrail_fields() -> FieldMap {
    let path = shared_file("fixtures/cloudtrail/index-template.opensearch.json");
    let text = std::fs::read_to_string(path).expect("readable mapping");
    FieldMap::from_mappings(&serde_json::from_str(&text).expect("JSON mapping"))
}

/// Parses and translates every query into the typed DSL.
fn translate_all(queries: &[String], fields: Option<&FieldMap>) -> usize {
    let mut total = 0;
    for text in queries {
        let query = kql::parse(text).expect("corpus queries parse");
        let dsl = kql::translate(&query, fields);
        total += usize::from(matches!(dsl, kql::Dsl::Should(_)));
        black_box(dsl);
    }
    total
}

/// Parses and translates every query, and writes its DSL as JSON text.
fn serialize_all(queries: &[String], fields: Option<&FieldMap>) -> usize {
    let mut total = 0;
    for text in queries {
        let query = kql::parse(text).expect("corpus queries parse");
        let json = serde_json::to_string(&kql::translate(&query, fields)).expect("serializes");
        total += json.len();
    }
    total
}

fn bench_corpus(c: &mut Criterion) {
    let queries = corpus();
    let fields = cloudtrail_fields();
    let mut group = c.benchmark_group("kql_corpus");
    group.throughput(Throughput::Elements(queries.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for text in &queries {
                black_box(kql::parse(black_box(text)).expect("parses"));
            }
        })
    });
    group.bench_function("parse_and_translate_untyped", |b| {
        b.iter(|| black_box(translate_all(black_box(&queries), None)))
    });
    group.bench_function("parse_and_translate_typed", |b| {
        b.iter(|| black_box(translate_all(black_box(&queries), Some(&fields))))
    });
    group.bench_function("parse_translate_and_serialize_typed", |b| {
        b.iter(|| black_box(serialize_all(black_box(&queries), Some(&fields))))
    });
    group.bench_function("parse_and_translate_typed_to_value", |b| {
        b.iter(|| black_box(to_value_all(black_box(&queries), Some(&fields))))
    });
    group.finish();
}

/// Parses and translates every query into a `serde_json::Value` (`kql::to_dsl`, what the
/// engine embeds in its search body).
fn to_value_all(queries: &[String], fields: Option<&FieldMap>) -> usize {
    let mut total = 0;
    for text in queries {
        let query = kql::parse(text).expect("corpus queries parse");
        total += kql::to_dsl(&query, fields)
            .as_object()
            .map_or(0, |o| o.len());
    }
    total
}

/// Passes timed for the CPU-time summary.
const CPU_TIME_PASSES: u32 = 100;

/// This thread's CPU time in nanoseconds (Linux `/proc/thread-self/schedstat`), so that other
/// load on a shared machine does not inflate the figure; `None` elsewhere.
fn thread_cpu_nanos() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Prints the time of one pass over the corpus by `pass` (typed against the CloudTrail
/// mapping), by CPU time and by the clock, and the queries per second they give.
fn cpu_time_summary(what: &str, pass: fn(&[String], Option<&FieldMap>) -> usize) {
    let queries = corpus();
    let fields = cloudtrail_fields();
    pass(&queries, Some(&fields));
    let wall = std::time::Instant::now();
    let cpu = thread_cpu_nanos();
    for _ in 0..CPU_TIME_PASSES {
        black_box(pass(black_box(&queries), Some(&fields)));
    }
    let wall_ms = wall.elapsed().as_secs_f64() * 1000.0 / f64::from(CPU_TIME_PASSES);
    let per_second = |ms: f64| queries.len() as f64 / (ms / 1000.0);
    let count = queries.len();
    match cpu.zip(thread_cpu_nanos()) {
        Some((start, end)) => {
            let cpu_ms = (end - start) as f64 / 1e6 / f64::from(CPU_TIME_PASSES);
            println!(
                "kql corpus: {count} queries {what} in {cpu_ms:.2} ms of CPU ({:.0} queries/s), \
                 {wall_ms:.2} ms by the clock",
                per_second(cpu_ms)
            );
        }
        None => println!(
            "kql corpus: {count} queries {what} in {wall_ms:.2} ms ({:.0} queries/s)",
            per_second(wall_ms)
        ),
    }
}

criterion_group!(benches, bench_corpus);

fn main() {
    cpu_time_summary("parsed and translated (typed)", translate_all);
    cpu_time_summary(
        "parsed, translated (typed) and serialized to JSON text",
        serialize_all,
    );
    cpu_time_summary(
        "parsed and translated (typed) to serde_json::Value",
        to_value_all,
    );
    benches();
    Criterion::default().configure_from_args().final_summary();
}
