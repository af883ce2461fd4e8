//! Window parsing, column choice and field lookup of `lookout test` (pure).

use super::*;
use serde_json::json;

fn hit(source: Value) -> Hit {
    Hit {
        index: "i".into(),
        id: "1".into(),
        source,
        sort: Vec::new(),
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("valid").to_utc()
}

#[test]
fn windows_take_timestamps_and_date_math() {
    let now = at("2026-01-10T12:00:00Z");
    let window = parse_window("now-24h", "now", now).expect("valid");
    assert_eq!(
        window,
        Window {
            from: at("2026-01-09T12:00:00Z"),
            to: now
        }
    );
    let window = parse_window("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", now).expect("valid");
    assert_eq!(window.to, at("2026-01-02T00:00:00Z"));
}

#[test]
fn a_window_that_ends_before_it_starts_is_refused_with_both_values() {
    let error = parse_window("now", "now-1h", at("2026-01-10T12:00:00Z")).expect_err("backwards");
    assert!(error.to_string().contains("now-1h"), "{error}");
    let error =
        parse_window("yesterday", "now", at("2026-01-10T12:00:00Z")).expect_err("not a time");
    assert!(
        error.to_string().contains("--from \"yesterday\""),
        "{error}"
    );
}

#[test]
fn guide_fields_are_the_backticked_field_names() {
    let note = "Check `user.name` and `source.ip`; run `aws iam list` and see `Event`.";
    assert_eq!(guide_fields(note), ["user.name", "source.ip"]);
}

#[test]
fn columns_prefer_investigation_fields_then_the_guide_present_in_events() {
    let mut rule = crate::cli::test_rule("r");
    rule.meta.details.investigation_fields = vec![
        "@timestamp".into(),
        "cloud.account.id".into(),
        "absent.field".into(),
    ];
    rule.meta.details.note = Some("Look at `user.name`.".into());
    let hits = [hit(
        json!({"cloud": {"account": {"id": "1"}}, "user.name": "alice"}),
    )];
    assert_eq!(columns(&rule, &hits), ["cloud.account.id", "user.name"]);
}

#[test]
fn without_a_guide_the_default_columns_present_are_used() {
    let rule = crate::cli::test_rule("r");
    let hits = [hit(
        json!({"event": {"action": "AddUserToGroup"}, "source": {"ip": "1.2.3.4"}}),
    )];
    assert_eq!(columns(&rule, &hits), ["event.action", "source.ip"]);
}

#[test]
fn fields_are_found_nested_dotted_or_mixed() {
    let doc = json!({"a": {"b.c": 1}, "x.y": 2, "p": {"q": {"r": 3}}});
    assert_eq!(field(&doc, "a.b.c"), Some(&json!(1)));
    assert_eq!(field(&doc, "x.y"), Some(&json!(2)));
    assert_eq!(field(&doc, "p.q.r"), Some(&json!(3)));
    assert_eq!(field(&doc, "p.q.s"), None);
}
