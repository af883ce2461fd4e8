//! State documents: shape, round trips and templates (no I/O).

use super::docs::*;
use super::*;
use chrono::TimeZone;
use serde_json::{Value, json};

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, hour, minute, 0)
        .single()
        .expect("a valid instant")
}

fn record() -> ExecutionRecord {
    ExecutionRecord {
        execution_uuid: "6f1c6d0e-0000-4000-8000-000000000001".to_string(),
        rule_id: "rule-1".to_string(),
        rule_name: "AWS IAM group created".to_string(),
        started_at: at(10, 5),
        window_from: at(9, 59),
        window_to: at(10, 5),
        status: ExecutionStatus::PartialFailure,
        hits: 12,
        alerts_created: 10,
        duplicates: 2,
        alerts_suppressed: 0,
        dead_letters: 0,
        search_ms: 40,
        write_ms: 25,
        total_ms: 70,
        warnings: vec!["reached the maximum alert limit".to_string()],
        error: None,
        gap: Some(Gap {
            from: at(8, 0),
            to: at(9, 0),
        }),
        instance: Some("host-a-1".to_string()),
    }
}

#[test]
fn statuses_are_written_in_kibanas_words() {
    let words: Vec<Value> = [
        ExecutionStatus::Succeeded,
        ExecutionStatus::PartialFailure,
        ExecutionStatus::Failed,
    ]
    .iter()
    .map(|status| serde_json::to_value(status).expect("serializable"))
    .collect();
    assert_eq!(
        words,
        vec![
            json!("succeeded"),
            json!("partial failure"),
            json!("failed")
        ]
    );
}

#[test]
fn a_rule_state_survives_its_document() {
    let state = RuleState {
        rule_id: "rule-1".to_string(),
        covered_to: Some(at(10, 5)),
        coverage_from: Some(at(9, 0)),
        last_status: Some(ExecutionStatus::Failed),
        last_error: Some("search on logs-*: HTTP 500".to_string()),
        last_execution_at: Some(at(10, 6)),
    };
    let doc = state_doc(&state);
    assert_eq!(doc["rule"]["id"], "rule-1");
    assert_eq!(doc["@timestamp"], json!(at(10, 6)));
    assert_eq!(state_from_doc(&doc).expect("readable"), state);
}

#[test]
fn a_rule_that_never_ran_has_no_timestamp() {
    let doc = state_doc(&RuleState::new("r"));
    assert!(doc.get("@timestamp").is_none());
    assert_eq!(state_from_doc(&doc).expect("readable"), RuleState::new("r"));
}

#[test]
fn an_execution_document_is_ecs_shaped_and_reads_back() {
    let record = record();
    let doc = execution_doc(&record);
    assert_eq!(doc["@timestamp"], json!(at(10, 5)));
    assert_eq!(doc["event"]["action"], EXECUTION_ACTION);
    assert_eq!(doc["event"]["outcome"], "success");
    assert_eq!(doc["event"]["duration"], 70_000_000);
    assert_eq!(
        doc["rule"],
        json!({"id": "rule-1", "name": "AWS IAM group created"})
    );
    assert_eq!(doc["lookout"]["execution"]["status"], "partial failure");
    assert_eq!(execution_from_doc(&doc).expect("readable"), record);
}

#[test]
fn a_failed_execution_has_outcome_failure() {
    let record = ExecutionRecord {
        status: ExecutionStatus::Failed,
        ..record()
    };
    assert_eq!(execution_doc(&record)["event"]["outcome"], "failure");
}

#[test]
fn a_gap_document_reads_back_and_its_id_is_stable() {
    let gap = Gap {
        from: at(1, 0),
        to: at(2, 30),
    };
    let doc = gap_doc("rule-1", &gap);
    assert_eq!(doc["lookout"]["gap"]["duration_ms"], 90 * 60 * 1000);
    assert_eq!(gap_from_doc(&doc).expect("readable"), gap);
    // Pinned: a changed scheme would record every open gap again under a new id. (Python:
    // sha256 over b"".join(struct.pack(">Q", len(p)) + p for p in parts), parts namespace,
    // alerts index, rule id and the gap's start in RFC 3339.)
    let id = gap_id("default", "alerts", "rule-1", at(1, 0));
    assert_eq!(
        id,
        "gap-af8134978f9e6a80dcd985fb28a15493bc717dd83acd46806cff8ebd1d9231f6"
    );
    for other in [
        gap_id("default", "alerts", "rule-2", at(1, 0)),
        gap_id("other", "alerts", "rule-1", at(1, 0)),
        gap_id("default", "alerts", "rule-1", at(1, 1)),
        gap_id("default", "alerts-2", "rule-1", at(1, 0)),
    ] {
        assert_ne!(id, other);
    }
}

#[test]
fn a_document_of_another_shape_is_an_error_not_a_panic() {
    assert!(state_from_doc(&json!({"foo": 1})).is_err());
    assert!(execution_from_doc(&json!({"lookout": {"execution": {"rule_id": 3}}})).is_err());
}

/// The mapped type at a dotted path of a template's properties.
fn mapped_type<'a>(template: &'a Value, path: &str) -> Option<&'a str> {
    let mut node = &template["template"]["mappings"];
    for part in path.split('.') {
        node = &node["properties"][part];
    }
    node["type"].as_str()
}

#[test]
fn templates_match_the_configured_indices_and_map_the_charted_fields() {
    let config = EngineConfig {
        state_index: "st".to_string(),
        executions_index: "ex".to_string(),
        ..Default::default()
    };
    let templates = index_templates(&config);
    let names: Vec<&str> = templates.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, vec!["st", "ex"]);
    let (state, executions) = (&templates[0].1, &templates[1].1);
    assert_eq!(state["index_patterns"], json!(["st"]));
    assert_eq!(mapped_type(state, "lookout.state.covered_to"), Some("date"));
    assert_eq!(mapped_type(state, "rule.id"), Some("keyword"));
    for (path, kind) in [
        ("@timestamp", "date"),
        ("rule.id", "keyword"),
        ("event.outcome", "keyword"),
        ("lookout.execution.total_ms", "long"),
        ("lookout.execution.alerts_created", "long"),
        ("lookout.execution.status", "keyword"),
        ("lookout.gap.from", "date"),
    ] {
        assert_eq!(mapped_type(executions, path), Some(kind), "{path}");
    }
}

#[test]
fn every_field_of_an_execution_document_is_mapped() {
    let template = &index_templates(&EngineConfig::default())[1].1;
    let doc = execution_doc(&record());
    let mut missing = Vec::new();
    leaf_paths(&doc, String::new(), &mut |path| {
        if mapped_type(template, &path).is_none() {
            missing.push(path);
        }
    });
    assert!(missing.is_empty(), "unmapped: {missing:?}");
}

fn leaf_paths(value: &Value, prefix: String, visit: &mut dyn FnMut(String)) {
    match value.as_object() {
        Some(object) => {
            for (key, child) in object {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaf_paths(child, path, visit);
            }
        }
        None => visit(prefix),
    }
}

#[test]
fn a_write_under_an_older_lease_generation_is_refused() {
    let fence = |generation| Fence {
        owner: "a".to_string(),
        generation,
    };
    assert!(super::check_fence("r", Some(&fence(5)), Some(&fence(4))).is_err());
    assert!(super::check_fence("r", Some(&fence(5)), Some(&fence(5))).is_ok());
    assert!(super::check_fence("r", Some(&fence(4)), Some(&fence(5))).is_ok());
    // Unfenced writers (a one-off run, a backfill) neither refuse nor are refused.
    assert!(super::check_fence("r", None, Some(&fence(4))).is_ok());
    assert!(super::check_fence("r", Some(&fence(5)), None).is_ok());
}

#[test]
fn a_state_id_is_the_framed_hash_stored_states_are_found_by() {
    // Changing the scheme would lose every stored state. (Python: sha256 over
    // b"".join(struct.pack(">Q", len(p)) + p for p in parts).)
    assert_eq!(
        state_id("default", ".alerts-security.alerts-default", "rule-1"),
        "state-5f2fb56899754904106d7b8afb9eb523ee851621be9d8acd7821e9591dd702d4"
    );
}
