//! Corpus-wide tests: every EQL query of Elastic's rule corpus (`corpus/detection-rules` in the
//! shared folder) parses, prints back to text that parses to the same tree, has nothing lookout
//! cannot evaluate, and translates (untyped and typed against the CloudTrail mapping). The rule
//! files are read with the `toml` crate directly. These tests read files, so they fail with the
//! missing path when the shared data is absent.

use super::*;
use crate::kql::FieldMap;
use std::path::{Path, PathBuf};

/// Overrides where the shared test data is (default: `../shared` beside the project).
const SHARED_DIR_VAR: &str = "LOOKOUT_SHARED_DIR";

/// At least this many EQL rules are in the corpus (1,081 files with `language = "eql"`).
const MIN_EQL_RULES: usize = 1_024;

fn shared_path(relative: &str) -> PathBuf {
    let dir = std::env::var_os(SHARED_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let path = dir.join(relative);
    assert!(
        path.exists(),
        "the shared test data is absent: expected {} (set {SHARED_DIR_VAR} to the shared folder)",
        path.display()
    );
    path
}

fn toml_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            toml_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "toml") {
            found.push(path);
        }
    }
}

/// One EQL rule of the corpus: its file and query.
pub(super) struct CorpusRule {
    pub path: PathBuf,
    pub query: String,
}

/// Every rule file of the corpus, and the EQL ones.
pub(super) fn corpus() -> (usize, Vec<CorpusRule>) {
    let root = shared_path("corpus/detection-rules");
    let mut files = Vec::new();
    toml_files(&root, &mut files);
    files.sort();
    let mut rules = Vec::new();
    for path in &files {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let value: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rule = value.get("rule").and_then(|r| r.as_table());
        let language = rule
            .and_then(|r| r.get("language"))
            .and_then(|l| l.as_str());
        if language != Some("eql") {
            continue;
        }
        let query = rule
            .and_then(|r| r.get("query"))
            .and_then(|q| q.as_str())
            .unwrap_or_else(|| panic!("{}: an EQL rule without a query", path.display()));
        rules.push(CorpusRule {
            path: path.clone(),
            query: query.to_string(),
        });
    }
    (files.len(), rules)
}

pub(super) fn cloudtrail_fields() -> FieldMap {
    let path = shared_path("fixtures/cloudtrail/index-template.opensearch.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let template: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    FieldMap::from_mappings(&template)
}

#[test]
fn every_corpus_eql_query_parses_and_runs_in_lookout() {
    let (files, rules) = corpus();
    let mut failures = Vec::new();
    let mut unsupported_parts = Vec::new();
    let (mut sequences, mut samples, mut events) = (0, 0, 0);
    for rule in &rules {
        match parse(&rule.query) {
            Ok(query) => {
                match query.body {
                    Body::Event(_) => events += 1,
                    Body::Sequence(_) => sequences += 1,
                    Body::Sample(_) => samples += 1,
                }
                for reason in unsupported(&query) {
                    unsupported_parts.push(format!("{}: {reason}", rule.path.display()));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", rule.path.display())),
        }
    }
    eprintln!(
        "eql corpus: {files} files, {} EQL rules ({events} event queries, {sequences} sequences, \
         {samples} samples), {} parse failures, {} parts lookout cannot evaluate",
        rules.len(),
        failures.len(),
        unsupported_parts.len()
    );
    assert!(
        rules.len() >= MIN_EQL_RULES,
        "only {} EQL rules",
        rules.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        unsupported_parts.is_empty(),
        "{}",
        unsupported_parts.join("\n")
    );
}
