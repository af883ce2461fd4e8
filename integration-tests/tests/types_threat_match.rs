//! Indicator match rules through the engine against the live server: events matched against
//! an indicator index of more than one page of indicators, alerts enriched with every matching
//! indicator (`threat.enrichments`), AND within a mapping, and none twice across overlapping
//! windows and a restarted engine.

mod engine_support;
mod types_support;

use elasticsearch::http::Method;
use engine_support::*;
use integration_tests::unique_name;
use lookout::ExecutionStatus;
use lookout::THREAT_INDICATOR_PAGE_SIZE;
use lookout_generator::EventSpec;
use serde_json::{Value, json};
use types_support::*;

const IP_MAPPING: &str = "[[rule.threat_mapping]]\n[[rule.threat_mapping.entries]]\nfield = \"source.ip\"\n\
    type = \"mapping\"\nvalue = \"threat.indicator.ip\"\n";
const USER_REGION_MAPPING: &str = "[[rule.threat_mapping]]\n[[rule.threat_mapping.entries]]\nfield = \"user.name\"\n\
    type = \"mapping\"\nvalue = \"threat.indicator.user\"\n[[rule.threat_mapping.entries]]\n\
    field = \"cloud.region\"\ntype = \"mapping\"\nvalue = \"threat.indicator.region\"\n";

/// Creates an indicator index and fills it; returns its name.
async fn indicator_index(env: &Env, indicators: &[Value]) -> String {
    let index = unique_name("logs-ti-indicators");
    let mappings = json!({"properties": {
        "@timestamp": {"type": "date"},
        "event": {"properties": {"module": {"type": "keyword"}}},
        "threat": {"properties": {
            "feed": {"properties": {"name": {"type": "keyword"}}},
            "indicator": {"properties": {
                "ip": {"type": "ip"}, "type": {"type": "keyword"},
                "user": {"type": "keyword"}, "region": {"type": "keyword"}}}}}}});
    env.server
        .ok(
            Method::Put,
            &format!("/{index}"),
            Some(json!({"mappings": mappings})),
        )
        .await;
    env.server.bulk_create(&index, indicators).await;
    index
}

fn indicator(n: usize, fields: Value) -> Value {
    json!({
        "@timestamp": iso(t0() - minutes(60)),
        "event": {"module": "threatintel"},
        "threat": {"feed": {"name": "test feed"}, "indicator": fields},
        "labels": {"n": n},
    })
}

/// `THREAT_INDICATOR_PAGE_SIZE + 300` address indicators; 198.51.100.7 at positions 3 and
/// 1,100 (two pages), 203.0.113.5 at 1,200.
fn many_ip_indicators() -> Vec<Value> {
    (0..THREAT_INDICATOR_PAGE_SIZE + 300)
        .map(|n| {
            let ip = match n {
                3 | 1100 => "198.51.100.7".to_string(),
                1200 => "203.0.113.5".to_string(),
                _ => format!("10.{}.{}.{}", n / 65536, (n / 256) % 256, n % 256),
            };
            indicator(n, json!({"ip": ip, "type": "ipv4-addr"}))
        })
        .collect()
}

fn threat_part(threat_index: &str, mappings: &str) -> String {
    format!(
        "type = \"threat_match\"\nthreat_index = [\"{threat_index}\"]\n\
         threat_query = 'event.module: threatintel and threat.indicator.type: *'\n\
         threat_indicator_path = \"threat.indicator\"\n{mappings}"
    )
}

/// A generated successful console login from `ip`.
fn console_login(minute_offset: i64, mark: &str, ip: &str) -> Value {
    let spec = EventSpec::new("ConsoleLogin").with_source_ip(ip);
    generated(&spec, t0() + minutes(minute_offset), mark)
}

fn enrichments(alert: &Value) -> Vec<Value> {
    alert["threat"]["enrichments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn by_mark<'a>(alerts: &'a [Value], mark: &str) -> &'a Value {
    alerts
        .iter()
        .find(|a| a["labels"]["mark"] == mark)
        .unwrap_or_else(|| panic!("no alert for {mark}: {alerts:?}"))
}

#[tokio::test]
async fn events_matching_indicators_alert_once_with_every_matching_indicator() {
    let env = Env::new().await;
    let threat_index = indicator_index(&env, &many_ip_indicators()).await;
    let rule = typed_rule(
        &env.source,
        "ti-address",
        "event.action: ConsoleLogin",
        &threat_part(&threat_index, IP_MAPPING),
    );
    env.index(&[
        console_login(-4, "hit-twice", "198.51.100.7"),
        console_login(-3, "miss", "192.0.2.44"),
        console_login(0, "hit-late-page", "203.0.113.5"),
    ])
    .await;

    let first = env.execute(&rule, t0()).await;
    assert_eq!(
        first.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        first.record
    );
    assert_eq!(first.record.alerts_created, 2, "{:?}", first.record);
    let alerts = alerts_of(&env, "ti-address").await;
    assert_eq!(alerts.len(), 2);
    let twice = enrichments(by_mark(&alerts, "hit-twice"));
    assert_eq!(
        twice.len(),
        2,
        "indicators 3 and 1,100 (two pages) match: {twice:?}"
    );
    let mut numbers: Vec<u64> = Vec::new();
    for enrichment in &twice {
        assert_eq!(enrichment["matched"]["atomic"], "198.51.100.7");
        assert_eq!(enrichment["matched"]["field"], "source.ip");
        assert_eq!(enrichment["matched"]["type"], "indicator_match_rule");
        assert_eq!(enrichment["matched"]["index"], json!(threat_index));
        assert_eq!(enrichment["indicator"]["ip"], "198.51.100.7");
        assert_eq!(enrichment["feed"]["name"], "test feed");
        let id = enrichment["matched"]["id"].as_str().unwrap();
        let doc = env
            .server
            .ok(Method::Get, &format!("/{threat_index}/_doc/{id}"), None)
            .await;
        numbers.push(doc["_source"]["labels"]["n"].as_u64().unwrap());
    }
    numbers.sort();
    assert_eq!(numbers, vec![3, 1100]);
    let late = enrichments(by_mark(&alerts, "hit-late-page"));
    assert_eq!(late.len(), 1);
    assert_eq!(late[0]["matched"]["atomic"], "203.0.113.5");
    assert!(
        alerts
            .iter()
            .all(|a| a["kibana.alert.rule.type"] == "threat_match")
    );

    // The next window holds "hit-late-page" in its overlap: no second alert.
    let second = env.execute(&rule, t0() + minutes(5)).await;
    assert_eq!(second.record.alerts_created, 0, "{:?}", second.record);
    let again = rerun_after_restart(&env, &rule, &[t0(), t0() + minutes(5)]).await;
    assert!(
        again.iter().all(|r| r.status == ExecutionStatus::Succeeded),
        "{again:?}"
    );
    assert_eq!(alerts_of(&env, "ti-address").await.len(), 2);
}

#[tokio::test]
async fn entries_of_one_mapping_must_all_match() {
    let env = Env::new().await;
    let threat_index = indicator_index(
        &env,
        &[indicator(
            0,
            json!({"user": "mallory", "region": "eu-west-1", "type": "user"}),
        )],
    )
    .await;
    let rule = typed_rule(
        &env.source,
        "ti-user-region",
        "event.action: ConsoleLogin",
        &threat_part(&threat_index, USER_REGION_MAPPING),
    );
    let with = |mark: &str, user: &str, region: &str| {
        let spec = EventSpec::new("ConsoleLogin")
            .with_user(user)
            .with_region(region);
        generated(&spec, t0() - minutes(2), mark)
    };
    env.index(&[
        with("both", "mallory", "eu-west-1"),
        with("user-only", "mallory", "us-east-1"),
        with("region-only", "alice", "eu-west-1"),
    ])
    .await;
    let report = env.execute(&rule, t0()).await;
    assert_eq!(
        report.record.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        report.record
    );
    let alerts = alerts_of(&env, "ti-user-region").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let found = enrichments(by_mark(&alerts, "both"));
    let fields: Vec<&Value> = found.iter().map(|e| &e["matched"]["field"]).collect();
    assert_eq!(fields, vec!["user.name", "cloud.region"]);
}
