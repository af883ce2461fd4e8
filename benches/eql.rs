//! Benchmark: parse every EQL query of Elastic's rule corpus (`corpus/detection-rules`, the rule
//! files with `language = "eql"`) and translate each of its stages into query DSL + residual
//! (`eql::translate_stage`), untyped and typed against the CloudTrail mapping. The issue's
//! target is under 20 ms for the whole corpus. Summary lines first give the CPU time of one pass
//! (not inflated by other load on the machine); then Criterion's figures.
//!
//! Run: `LOOKOUT_SHARED_DIR=../shared cargo bench -p lookout --bench eql`.

use criterion::{Criterion, Throughput, criterion_group};
use lookout::eql;
use lookout::kql::FieldMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};

/// Overrides where the shared test data is (default: `../shared` beside the project).
const SHARED_DIR_VAR: &str = "LOOKOUT_SHARED_DIR";

/// Passes timed for the CPU-time summary.
const CPU_TIME_PASSES: u32 = 50;

fn shared_path(relative: &str) -> PathBuf {
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

fn toml_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable corpus folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            toml_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "toml") {
            found.push(path);
        }
    }
}

/// The query of every EQL rule of the corpus.
fn corpus() -> Vec<String> {
    let mut files = Vec::new();
    toml_files(&shared_path("corpus/detection-rules"), &mut files);
    files.sort();
    files
        .iter()
        .filter_map(|path| {
            let table: toml::Table =
                toml::from_str(&std::fs::read_to_string(path).expect("readable rule")).ok()?;
            let rule = table.get("rule")?.as_table()?;
            (rule.get("language")?.as_str()? == "eql")
                .then(|| rule.get("query")?.as_str().map(str::to_string))?
        })
        .collect()
}

fn cloudtrail_fields() -> FieldMap {
    let path = shared_path("fixtures/cloudtrail/index-template.opensearch.json");
    let text = std::fs::read_to_string(path).expect("readable mapping");
    FieldMap::from_mappings(&serde_json::from_str(&text).expect("JSON mapping"))
}

/// Parses every query and translates every stage.
fn translate_all(queries: &[String], fields: Option<&FieldMap>) -> usize {
    let mut residuals = 0;
    for text in queries {
        let query = eql::parse(text).expect("corpus queries parse");
        for filter in query.filters() {
            let stage = eql::translate_stage(filter, eql::DEFAULT_CATEGORY_FIELD, fields);
            residuals += usize::from(stage.residual.is_some());
            black_box(stage);
        }
    }
    residuals
}

fn parse_all(queries: &[String], _: Option<&FieldMap>) -> usize {
    queries
        .iter()
        .map(|text| eql::parse(text).expect("parses").filters().len())
        .sum()
}

fn bench_corpus(c: &mut Criterion) {
    let queries = corpus();
    let fields = cloudtrail_fields();
    let mut group = c.benchmark_group("eql_corpus");
    group.throughput(Throughput::Elements(queries.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| black_box(parse_all(black_box(&queries), None)))
    });
    group.bench_function("parse_and_translate_untyped", |b| {
        b.iter(|| black_box(translate_all(black_box(&queries), None)))
    });
    group.bench_function("parse_and_translate_typed", |b| {
        b.iter(|| black_box(translate_all(black_box(&queries), Some(&fields))))
    });
    group.finish();
}

/// This thread's CPU time in nanoseconds (Linux `/proc/thread-self/schedstat`); `None`
/// elsewhere.
fn thread_cpu_nanos() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Prints the time of one pass over the corpus, by CPU time and by the clock.
fn cpu_time_summary(what: &str, typed: bool, pass: fn(&[String], Option<&FieldMap>) -> usize) {
    let queries = corpus();
    let fields = cloudtrail_fields();
    let fields = typed.then_some(&fields);
    pass(&queries, fields);
    let wall = std::time::Instant::now();
    let cpu = thread_cpu_nanos();
    for _ in 0..CPU_TIME_PASSES {
        black_box(pass(black_box(&queries), fields));
    }
    let wall_ms = wall.elapsed().as_secs_f64() * 1000.0 / f64::from(CPU_TIME_PASSES);
    let count = queries.len();
    match cpu.zip(thread_cpu_nanos()) {
        Some((start, end)) => {
            let cpu_ms = (end - start) as f64 / 1e6 / f64::from(CPU_TIME_PASSES);
            println!(
                "eql corpus: {count} queries {what} in {cpu_ms:.2} ms of CPU, {wall_ms:.2} ms by \
                 the clock"
            );
        }
        None => println!("eql corpus: {count} queries {what} in {wall_ms:.2} ms"),
    }
}

criterion_group!(benches, bench_corpus);

fn main() {
    cpu_time_summary("parsed", false, parse_all);
    cpu_time_summary("parsed and translated (untyped)", false, translate_all);
    cpu_time_summary(
        "parsed and translated (typed, CloudTrail)",
        true,
        translate_all,
    );
    benches();
    Criterion::default().configure_from_args().final_summary();
}
