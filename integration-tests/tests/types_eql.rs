//! EQL rules through the engine against the live server. Neither test server has `_eql/search`,
//! so these run lookout's own path (detected from the server): an event rule alerts exactly on
//! its events; a sequence becomes a shell alert plus a building block per event; a sequence split
//! across two windows completes; overlapping windows and a restarted engine alert nothing twice.

mod engine_support;
mod types_support;

use engine_support::*;
use lookout::{ExecutionRecord, ExecutionStatus, Rule};
use lookout_generator::EventSpec;
use serde_json::{Value, json};
use types_support::*;

/// A sequence of a user created, then given a policy, within 10 minutes.
const CREATE_THEN_ATTACH: &str = "sequence by user.name with maxspan=10m \
     [any where event.action == \"CreateUser\"] \
     [any where event.action == \"AttachUserPolicy\"]";

/// An EQL rule file searching `index`, parsed like any rule file.
fn eql_rule(index: &str, rule_id: &str, query: &str) -> Rule {
    eql_rule_with(index, rule_id, query, 100)
}

fn eql_rule_with(index: &str, rule_id: &str, query: &str, max_signals: u32) -> Rule {
    let type_part = format!("type = \"eql\"\nmax_signals = {max_signals}\n");
    rule_in_language(index, rule_id, "eql", query, &type_part)
}

/// A generated CloudTrail event by `user` at `t0() + seconds`.
fn action(name: &str, user: &str, seconds: i64, mark: &str) -> Value {
    let spec = EventSpec::new(name).with_user(user);
    generated(&spec, t0() + chrono::TimeDelta::seconds(seconds), mark)
}

/// Runs `rule` at `at` on `env`'s engine and checks that the execution succeeded.
async fn succeeded(env: &Env, rule: &Rule, at: chrono::DateTime<chrono::Utc>) -> ExecutionRecord {
    let record = env.execute(rule, at).await.record;
    assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:?}");
    record
}

/// The alerts of a rule split into shells and building blocks, each sorted by group index.
async fn shells_and_blocks(env: &Env, rule_id: &str) -> (Vec<Value>, Vec<Value>) {
    let alerts = alerts_of(env, rule_id).await;
    let (mut blocks, shells): (Vec<Value>, Vec<Value>) = alerts
        .into_iter()
        .partition(|alert| alert.get("kibana.alert.group.index").is_some());
    blocks.sort_by_key(|alert| alert["kibana.alert.group.index"].as_u64());
    (shells, blocks)
}

#[tokio::test]
async fn an_event_rule_alerts_exactly_on_its_events_once_across_windows_and_restarts() {
    let env = Env::new().await;
    let rule = eql_rule(
        &env.source,
        "eql-events",
        "any where event.action == \"CreateUser\" and stringContains(user.name, \"ali\")",
    );
    env.index(&[
        action("CreateUser", "alice", -120, "hit-1"),
        action("CreateUser", "malice", -30, "hit-2"),
        action("CreateUser", "bob", -60, "other-user"),
        action("DeleteUser", "alice", -90, "other-action"),
    ])
    .await;

    let first = succeeded(&env, &rule, t0()).await;
    assert_eq!(first.alerts_created, 2, "{first:?}");
    let alerts = alerts_of(&env, "eql-events").await;
    assert_eq!(marks(&alerts), ["hit-1", "hit-2"]);
    for alert in &alerts {
        assert_eq!(alert["kibana.alert.rule.type"], "eql");
        assert_eq!(alert["kibana.alert.depth"], 1);
        assert!(alert.get("kibana.alert.group.id").is_none());
    }

    // The next window overlaps the first; a restarted engine searches both again.
    let second = succeeded(&env, &rule, t0() + minutes(5)).await;
    assert_eq!(second.alerts_created, 0, "{second:?}");
    rerun_after_restart(&env, &rule, &[t0(), t0() + minutes(5)]).await;
    assert_eq!(alerts_of(&env, "eql-events").await.len(), 2);
}

#[tokio::test]
async fn a_sequence_is_one_shell_and_a_building_block_per_event_and_is_never_alerted_twice() {
    let env = Env::new().await;
    let rule = eql_rule(&env.source, "eql-seq", CREATE_THEN_ATTACH);
    env.index(&[
        action("CreateUser", "mallory", -200, "create"),
        action("AttachUserPolicy", "mallory", -100, "attach"),
        // Another user's policy does not join mallory's creation.
        action("AttachUserPolicy", "bob", -50, "bob-attach"),
        // A creation with no policy after it is no sequence.
        action("CreateUser", "carol", -40, "carol-create"),
    ])
    .await;

    let first = succeeded(&env, &rule, t0()).await;
    assert_eq!(first.alerts_created, 3, "one shell and two building blocks");
    let (shells, blocks) = shells_and_blocks(&env, "eql-seq").await;
    assert_eq!(shells.len(), 1);
    assert_eq!(marks(&blocks), ["attach", "create"]);
    let shell = &shells[0];
    let group = shell["kibana.alert.group.id"].clone();
    assert_eq!(shell["kibana.alert.uuid"], group);
    assert_eq!(shell["_id"], group);
    assert_eq!(shell["kibana.alert.depth"], 2);
    assert_eq!(
        shell["user"]["name"], "mallory",
        "the events' common fields"
    );
    assert!(shell.get("kibana.alert.building_block_type").is_none());
    let ancestors = shell["kibana.alert.ancestors"]
        .as_array()
        .expect("ancestors");
    assert_eq!(ancestors.len(), 4, "each event, then its building block");
    for (position, block) in blocks.iter().enumerate() {
        assert_eq!(block["kibana.alert.group.id"], group);
        assert_eq!(block["kibana.alert.group.index"], json!(position));
        assert_eq!(block["kibana.alert.building_block_type"], "default");
        assert_eq!(ancestors[position * 2 + 1]["id"], block["_id"]);
    }
    assert_eq!(blocks[0]["labels"]["mark"], "create");

    let overlapping = succeeded(&env, &rule, t0() + minutes(5)).await;
    assert_eq!(overlapping.alerts_created, 0, "{overlapping:?}");
    rerun_after_restart(&env, &rule, &[t0(), t0() + minutes(5)]).await;
    assert_eq!(alerts_of(&env, "eql-seq").await.len(), 3);
}

#[tokio::test]
async fn a_sequence_split_across_two_windows_completes_in_the_second_and_once_after_a_restart() {
    let env = Env::new().await;
    let rule = eql_rule(&env.source, "eql-split", CREATE_THEN_ATTACH);
    // The creation is in the first window only, the policy in the second only.
    env.index(&[
        action("CreateUser", "mallory", -180, "create"),
        action("AttachUserPolicy", "mallory", 180, "attach"),
    ])
    .await;

    let first = succeeded(&env, &rule, t0()).await;
    assert_eq!(first.alerts_created, 0, "the sequence is not complete yet");
    let second = succeeded(&env, &rule, t0() + minutes(5)).await;
    assert_eq!(second.alerts_created, 3, "{second:?}");
    let (shells, blocks) = shells_and_blocks(&env, "eql-split").await;
    assert_eq!(shells.len(), 1);
    assert_eq!(marks(&blocks), ["attach", "create"]);

    // A restarted engine has no partial sequences: its first window reaches back by maxspan,
    // finds the same sequence, and its ids make it a duplicate.
    let records = rerun_after_restart(&env, &rule, &[t0() + minutes(5), t0() + minutes(10)]).await;
    assert_eq!(
        records[0].duplicates, 1,
        "the sequence found again: {:?}",
        records[0]
    );
    assert_eq!(alerts_of(&env, "eql-split").await.len(), 3);
}

#[tokio::test]
async fn a_restarted_engine_completes_a_sequence_whose_first_event_came_before_the_restart() {
    let env = Env::new().await;
    let rule = eql_rule(&env.source, "eql-restart", CREATE_THEN_ATTACH);
    env.index(&[action("CreateUser", "mallory", -180, "create")])
        .await;
    let first = succeeded(&env, &rule, t0()).await;
    assert_eq!(first.alerts_created, 0);

    env.index(&[action("AttachUserPolicy", "mallory", 180, "attach")])
        .await;
    let engine = restarted(&env).await;
    let after = engine.execute(&rule, t0() + minutes(5)).await.record;
    assert_eq!(after.status, ExecutionStatus::Succeeded, "{after:?}");
    assert_eq!(after.alerts_created, 3, "{after:?}");
}

#[tokio::test]
async fn a_sequence_longer_than_maxspan_is_not_alerted() {
    let env = Env::new().await;
    let rule = eql_rule(&env.source, "eql-maxspan", CREATE_THEN_ATTACH);
    env.index(&[
        action("CreateUser", "mallory", -330, "create"),
        action("AttachUserPolicy", "mallory", 300, "attach-late"),
    ])
    .await;
    for at in [t0(), t0() + minutes(5), t0() + minutes(10)] {
        let record = succeeded(&env, &rule, at).await;
        assert_eq!(record.alerts_created, 0, "at {at}: {record:?}");
    }
}

#[tokio::test]
async fn a_window_of_more_events_than_a_page_is_paged_and_its_sequence_found() {
    let env = Env::new().await;
    // max_signals = 2 makes pages of 2 events: the window's 5 candidates take 3 pages.
    let rule = eql_rule_with(&env.source, "eql-pages", CREATE_THEN_ATTACH, 2);
    env.index(&[
        action("CreateUser", "bob", -250, "bob-create"),
        action("CreateUser", "carol", -240, "carol-create"),
        action("CreateUser", "mallory", -200, "create"),
        action("AttachUserPolicy", "dave", -150, "dave-attach"),
        action("AttachUserPolicy", "mallory", -100, "attach"),
    ])
    .await;
    let record = succeeded(&env, &rule, t0()).await;
    assert_eq!(record.hits, 5, "{record:?}");
    assert_eq!(record.alerts_created, 3, "{record:?}");
    let (shells, blocks) = shells_and_blocks(&env, "eql-pages").await;
    assert_eq!(shells.len(), 1);
    assert_eq!(marks(&blocks), ["attach", "create"]);
}

/// The marks of a preview's sequences, each as its events' marks in sequence order.
fn preview_sequences(preview: &lookout::Preview) -> Vec<Vec<String>> {
    (preview.sequences.iter())
        .map(|sequence| {
            (sequence.iter())
                .map(|&at| {
                    let source = &preview.events[at].source;
                    source["labels"]["mark"].as_str().unwrap_or("").to_string()
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_preview_stopped_by_its_limit_lists_no_sequence_a_later_event_of_the_window_rules_out() {
    let env = Env::new().await;
    // max_signals = 1: one event per page, so the preview stops on the page that completes its
    // first sequence, with the rest of the window unread.
    let rule = eql_rule_with(
        &env.source,
        "eql-preview-limit",
        "sequence by user.name with maxspan=10s \
         [any where event.action == \"CreateUser\"] \
         ![any where event.action == \"DeleteUser\"]",
        1,
    );
    env.index(&[
        action("CreateUser", "alice", -120, "alice-created"),
        // More than maxspan after alice's: her sequence is decided (no DeleteUser), kept.
        action("CreateUser", "bob", -100, "bob-created"),
        // Rules bob's sequence out, on a page the limited preview never reads.
        action("DeleteUser", "bob", -95, "bob-deleted"),
        action("CreateUser", "carol", -60, "carol-created"),
    ])
    .await;
    let window = lookout::Window {
        from: t0() - minutes(5),
        to: t0(),
    };
    let settings = lookout::Settings::from_config(&env.config);
    let preview = async |limit: usize| {
        let caps = lookout::FieldCapsCache::default();
        lookout::preview(env.engine.client(), &caps, &settings, &rule, window, limit)
            .await
            .expect("the preview runs")
    };

    let limited = preview(1).await;
    assert_eq!(preview_sequences(&limited), [["alice-created"]]);
    assert!(limited.more, "the limit stopped the search");

    // The whole window: alice's, and carol's decided at the window's end; bob's never.
    let whole = preview(10).await;
    assert_eq!(
        preview_sequences(&whole),
        [["alice-created"], ["carol-created"]]
    );
    assert!(!whole.more);
}
