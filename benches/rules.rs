//! Benchmarks of loading the rule corpus: the whole of `../shared/corpus/detection-rules` through
//! `lookout::load_paths` (find, read, parse, validate, check ids, on the loader's threads), and
//! parsing the same files from memory on one thread (no file system in the measurement).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::{Path, PathBuf};

/// Overrides where the shared test data (`../shared` beside the project) is.
const SHARED_DIR_VAR: &str = "LOOKOUT_SHARED_DIR";

/// The rule corpus inside the shared test data.
const CORPUS: &str = "corpus/detection-rules";

/// The corpus folder; panics with the path looked at when the shared data is absent.
fn corpus_dir() -> PathBuf {
    let shared = std::env::var_os(SHARED_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let corpus = shared.join(CORPUS);
    assert!(
        corpus.is_dir(),
        "the rule corpus is absent: expected the folder {} (set {SHARED_DIR_VAR} to the shared \
         test data folder)",
        corpus.display()
    );
    corpus
}

/// Every `*.toml` file under `dir` with its bytes.
fn read_corpus(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("corpus folders are readable") {
            let path = entry.expect("corpus entries are readable").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "toml") {
                let bytes = std::fs::read(&path).expect("corpus files are readable");
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}

fn load_corpus(c: &mut Criterion) {
    let dir = corpus_dir();
    let report = lookout::load_path(&dir);
    eprintln!(
        "corpus: {} rules loaded, {} files with errors, {} warnings",
        report.rules.len(),
        report.errors.len(),
        report.warnings.len()
    );
    let mut group = c.benchmark_group("rules");
    group.sample_size(20);
    group.bench_function("load_and_validate_corpus", |b| {
        b.iter(|| lookout::load_path(black_box(&dir)))
    });
    let files = read_corpus(&dir);
    group.bench_function("parse_corpus_from_memory_one_thread", |b| {
        b.iter(|| {
            files
                .iter()
                .filter(|(path, bytes)| lookout::parse_rule_bytes(path, black_box(bytes)).is_ok())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, load_corpus);
criterion_main!(benches);
