//! Golden test of the translation: the JSON text of every corpus query's DSL, untyped and typed
//! against the CloudTrail mapping, hashed together, must equal a recorded digest. Any change of
//! a key, its order, a value or a JSON type anywhere in the 1,602 translations changes it; a
//! deliberate change records the new digest. Reads the shared corpus.

use super::corpus_tests::{cloudtrail_fields, corpus};
use super::*;
use sha2::{Digest, Sha256};

/// SHA-256 of every corpus query's path, untyped DSL and typed DSL as JSON text, one per line,
/// in corpus order (recorded from the `serde_json::Value`-building translation that preceded
/// the typed DSL).
const CORPUS_DSL_DIGEST: &str = "b18ed9cea3a37769e05babf4cd301f856ceccb9420dee78474b6b22c05cbafb6";

/// The digest of the corpus translations made by `translate`.
pub(super) fn corpus_digest(translate: impl Fn(&Query, Option<&FieldMap>) -> String) -> String {
    let fields = cloudtrail_fields();
    let mut hasher = Sha256::new();
    for row in corpus() {
        let text = row["query"].as_str().expect("every corpus row has a query");
        let query = parse(text).expect("corpus queries parse");
        for line in [
            row["path"].to_string(),
            translate(&query, None),
            translate(&query, Some(&fields)),
        ] {
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        }
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[test]
fn every_corpus_query_serializes_from_the_typed_dsl_to_the_recorded_json_text() {
    let digest = corpus_digest(|query, fields| {
        serde_json::to_string(&translate(query, fields)).expect("the DSL serializes")
    });
    assert_eq!(digest, CORPUS_DSL_DIGEST);
}

#[test]
fn every_corpus_query_becomes_the_recorded_json_value() {
    let digest = corpus_digest(|query, fields| to_dsl(query, fields).to_string());
    assert_eq!(digest, CORPUS_DSL_DIGEST);
}
