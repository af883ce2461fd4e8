//! Notifications end to end against the live server and real receivers on loopback: the outbox
//! state written with each alert, per-alert and summary messages in the shape each service
//! documents, the throttle, retries through the fault proxy (refused, 5xx, 429 with
//! Retry-After, timeouts, a receiver down for an hour of simulated time), giving up after
//! `max_age`, a failing connector that delays only itself, email over SMTP and the index
//! connector. Time is a `ManualClock`; nothing sleeps to wait for time to pass.

mod engine_support;
mod notify_support;

use chrono::TimeDelta;
use engine_support::minutes;
use integration_tests::proxy::{Fault, FaultPlan, FaultRule, Proxy};
use integration_tests::receiver::Receiver;
use lookout::ManualClock;
use notify_support::{add_user_rule, alerts_at, env_with, list, notifier, start, state};
use serde_json::Value;

fn webhook_config(url: &str, mode: &str) -> String {
    format!(
        r#"
[[notify.connectors]]
id = "soc"
type = "webhook"
url = "{url}"

[[notify.routes]]
connectors = ["soc"]
mode = "{mode}"
"#
    )
}

#[tokio::test]
async fn every_alert_is_written_pending_and_delivered_once_per_alert_with_its_key_fields() {
    let receiver = Receiver::start().await;
    let env = env_with(&webhook_config(&receiver.url("hook"), "per_alert")).await;
    let rule = add_user_rule(&env);
    let alerts = alerts_at(&env, &rule, start(), 2, "a").await;
    assert_eq!(alerts.len(), 2);
    for alert in &alerts {
        assert_eq!(list(alert, "lookout.notify.pending"), ["soc"], "{alert}");
    }
    let clock = ManualClock::new(start() + minutes(1));
    let notifier = notifier(&env);
    notifier.deliver_due(&clock).await;
    let got = receiver.accepted("hook");
    assert_eq!(got.len(), 2);
    for request in &got {
        let body = &request.json;
        let id = body["kibana.alert.uuid"].as_str().expect("the alert id");
        assert!(alerts.iter().any(|a| a["kibana.alert.uuid"] == id));
        assert_eq!(body["rule"]["rule_id"], rule.rule_id);
        assert_eq!(body["rule"]["name"], rule.name);
        assert_eq!(body["kibana.alert.severity"], rule.meta.severity.as_str());
        assert!(body["kibana.alert.original_time"].is_string(), "{body}");
        assert_eq!(body["alerts"][0]["kibana.alert.uuid"], id);
        assert_eq!(
            request.header("idempotency-key"),
            Some(format!("lookout-soc-{id}").as_str())
        );
        assert_eq!(request.header("content-type"), Some("application/json"));
    }
    for alert in env.alerts().await {
        assert!(list(&alert, "lookout.notify.pending").is_empty(), "{alert}");
        assert_eq!(list(&alert, "lookout.notify.sent"), ["soc"]);
        assert!(state(&alert, "soc", "sent_at").is_string());
    }
    notifier.deliver_due(&clock).await;
    assert_eq!(receiver.received().len(), 2, "a second delivery sent again");
}

#[tokio::test]
async fn summary_mode_sends_one_message_per_rule_execution() {
    let receiver = Receiver::start().await;
    let env = env_with(&webhook_config(&receiver.url("hook"), "summary")).await;
    let rule = add_user_rule(&env);
    alerts_at(&env, &rule, start(), 3, "s").await;
    let clock = ManualClock::new(start() + minutes(1));
    notifier(&env).deliver_due(&clock).await;
    let got = receiver.accepted("hook");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json["count"], 3);
    assert_eq!(got[0].json["alerts"].as_array().unwrap().len(), 3);
    assert_eq!(got[0].json["lookout"]["mode"], "summary");
    for alert in env.alerts().await {
        assert_eq!(list(&alert, "lookout.notify.sent"), ["soc"]);
    }
}

#[tokio::test]
async fn slack_teams_and_pagerduty_get_the_bodies_their_services_document() {
    let receiver = Receiver::start().await;
    let text = format!(
        r#"
[[notify.connectors]]
id = "slack"
type = "slack"
url = "{}"

[[notify.connectors]]
id = "teams"
type = "teams"
url = "{}"

[[notify.connectors]]
id = "pd"
type = "pagerduty"
url = "{}"
routing_key = "R0UTINGKEY0000000000000000000000"

[[notify.routes]]
connectors = ["slack", "teams", "pd"]
"#,
        receiver.url("slack/T0/B0/x"),
        receiver.url("teams/workflow"),
        receiver.url("pagerduty/v2/enqueue")
    );
    let env = env_with(&text).await;
    let rule = add_user_rule(&env);
    let alerts = alerts_at(&env, &rule, start(), 1, "p").await;
    let id = alerts[0]["kibana.alert.uuid"].as_str().unwrap().to_string();
    notifier(&env).deliver_due(&ManualClock::new(start())).await;

    let slack = &receiver.accepted("slack")[0].json;
    assert!(slack["text"].as_str().unwrap().contains(&rule.name));
    let blocks = slack["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    assert!(blocks[2]["fields"].as_array().unwrap().len() <= 10);

    let teams = &receiver.accepted("teams")[0].json;
    assert_eq!(teams["type"], "message");
    let attachment = &teams["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert_eq!(attachment["content"]["body"][0]["type"], "TextBlock");

    let pd = &receiver.accepted("pagerduty")[0].json;
    assert_eq!(pd["routing_key"], "R0UTINGKEY0000000000000000000000");
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["dedup_key"], id.as_str());
    assert_eq!(rule.meta.severity.as_str(), "low");
    assert_eq!(pd["payload"]["severity"], "info", "low maps to info");
    assert!(pd["payload"]["summary"].as_str().unwrap().len() <= 1024);
    assert!(pd["payload"]["source"].is_string());
    for alert in env.alerts().await {
        assert_eq!(
            list(&alert, "lookout.notify.sent"),
            ["pd", "slack", "teams"]
        );
    }
}

#[tokio::test]
async fn a_throttled_route_sends_one_message_per_period_and_counts_the_rest_into_the_next() {
    let receiver = Receiver::start().await;
    let text = webhook_config(&receiver.url("hook"), "per_alert") + "throttle = \"1h\"\n";
    let env = env_with(&text).await;
    let rule = add_user_rule(&env);
    let notifier = notifier(&env);
    let clock = ManualClock::new(start());
    alerts_at(&env, &rule, start(), 2, "t1").await;
    notifier.deliver_due(&clock).await;
    assert_eq!(
        receiver.accepted("hook").len(),
        1,
        "one message for the period"
    );
    assert_eq!(receiver.accepted("hook")[0].json["count"], 2);
    alerts_at(&env, &rule, start() + minutes(5), 1, "t2").await;
    alerts_at(&env, &rule, start() + minutes(10), 1, "t3").await;
    clock.set(start() + minutes(11));
    notifier.deliver_due(&clock).await;
    assert_eq!(receiver.accepted("hook").len(), 1, "held within the period");
    clock.set(start() + minutes(61));
    notifier.deliver_due(&clock).await;
    let got = receiver.accepted("hook");
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1].json["count"], 2,
        "the held alerts go into the next message"
    );
    for alert in env.alerts().await {
        assert_eq!(list(&alert, "lookout.notify.sent"), ["soc"], "{alert}");
    }
}

/// Delivers at `clock`'s time and returns how many requests the receiver has seen.
async fn deliver_and_count(
    notifier: &lookout::Notifier,
    clock: &ManualClock,
    receiver: &Receiver,
) -> usize {
    notifier.deliver_due(clock).await;
    receiver.received().len()
}

#[tokio::test]
async fn a_receiver_down_for_an_hour_is_retried_with_backoff_then_gets_each_alert_once() {
    let receiver = Receiver::start().await;
    let proxy = Proxy::start(&receiver.url("")).await;
    proxy.set_plan(FaultPlan::pass().with(FaultRule::new(Fault::Refuse).always()));
    let text = webhook_config(
        &format!("{}/hook?token=sekrit-url-token", proxy.url()),
        "per_alert",
    );
    let env = env_with(&text).await;
    let rule = add_user_rule(&env);
    alerts_at(&env, &rule, start(), 1, "down").await;
    let notifier = notifier(&env);
    let clock = ManualClock::new(start());
    let mut attempts = 0;
    for minute in 0..60 {
        clock.set(start() + minutes(minute));
        notifier.deliver_due(&clock).await;
        attempts = proxy.stats().requests;
    }
    assert!(attempts >= 4, "retried only {attempts} times in an hour");
    assert!(
        attempts <= 20,
        "{attempts} attempts in an hour: no back-off"
    );
    let alert = &env.alerts().await[0];
    assert_eq!(list(alert, "lookout.notify.pending"), ["soc"]);
    assert!(state(alert, "soc", "attempts").as_u64().unwrap() >= 4);
    let error = state(alert, "soc", "last_error").as_str().unwrap();
    assert!(!error.contains("sekrit-url-token"), "{error}");
    proxy.set_plan(FaultPlan::pass());
    clock.set(start() + minutes(75));
    assert_eq!(deliver_and_count(&notifier, &clock, &receiver).await, 1);
    let alert = &env.alerts().await[0];
    assert_eq!(list(alert, "lookout.notify.sent"), ["soc"]);
    clock.set(start() + minutes(90));
    assert_eq!(deliver_and_count(&notifier, &clock, &receiver).await, 1);
}

#[tokio::test]
async fn server_errors_are_retried_and_retry_after_is_honoured() {
    let receiver = Receiver::start().await;
    let env = env_with(&webhook_config(&receiver.url("hook"), "per_alert")).await;
    let rule = add_user_rule(&env);
    alerts_at(&env, &rule, start(), 1, "r").await;
    let notifier = notifier(&env);
    let clock = ManualClock::new(start());
    receiver.fail_next(429, Some(600), 1);
    notifier.deliver_due(&clock).await;
    let alert = &env.alerts().await[0];
    let next_at: chrono::DateTime<chrono::Utc> = state(alert, "soc", "next_at")
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        next_at >= start() + minutes(10),
        "Retry-After 600 s ignored: {next_at}"
    );
    clock.set(start() + minutes(5));
    notifier.deliver_due(&clock).await;
    assert_eq!(receiver.received().len(), 1, "retried before Retry-After");
    receiver.fail_next(503, None, 1);
    clock.set(start() + minutes(11));
    notifier.deliver_due(&clock).await;
    assert_eq!(receiver.accepted("hook").len(), 0);
    clock.set(start() + minutes(30));
    notifier.deliver_due(&clock).await;
    assert_eq!(receiver.accepted("hook").len(), 1);
    let alert = &env.alerts().await[0];
    assert_eq!(state(alert, "soc", "attempts"), 2);
    assert_eq!(list(alert, "lookout.notify.sent"), ["soc"]);
}

#[tokio::test]
async fn a_timeout_is_retried_and_a_bad_request_is_recorded_as_failed_at_once() {
    let receiver = Receiver::start().await;
    let proxy = Proxy::start(&receiver.url("")).await;
    let text = webhook_config(&format!("{}/hook", proxy.url()), "per_alert")
        .replace("type = \"webhook\"", "type = \"webhook\"\ntimeout = \"1s\"");
    let env = env_with(&text).await;
    let rule = add_user_rule(&env);
    alerts_at(&env, &rule, start(), 1, "slow").await;
    let notifier = notifier(&env);
    let clock = ManualClock::new(start());
    proxy.set_plan(FaultPlan::pass().with(FaultRule::new(Fault::Stall(
        std::time::Duration::from_secs(3),
    ))));
    notifier.deliver_due(&clock).await;
    let alert = &env.alerts().await[0];
    assert!(
        state(alert, "soc", "last_error")
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{alert}"
    );
    assert_eq!(list(alert, "lookout.notify.pending"), ["soc"]);
    receiver.fail_next(400, None, 1);
    clock.set(start() + minutes(30));
    notifier.deliver_due(&clock).await;
    let alert = &env.alerts().await[0];
    assert_eq!(list(alert, "lookout.notify.failed"), ["soc"]);
    assert!(list(alert, "lookout.notify.pending").is_empty());
}

#[tokio::test]
async fn past_max_age_a_notification_is_recorded_as_failed_never_dropped() {
    let receiver = Receiver::start().await;
    let proxy = Proxy::start(&receiver.url("")).await;
    proxy.set_plan(FaultPlan::pass().with(FaultRule::new(Fault::Status(503)).always()));
    let text = format!(
        "[notify]\nmax_age = \"30m\"\n{}",
        webhook_config(&format!("{}/hook", proxy.url()), "per_alert")
    );
    let env = env_with(&text).await;
    let rule = add_user_rule(&env);
    alerts_at(&env, &rule, start(), 1, "old").await;
    let notifier = notifier(&env);
    let clock = ManualClock::new(start());
    for minute in [0, 10, 20, 31] {
        clock.set(start() + minutes(minute));
        notifier.deliver_due(&clock).await;
    }
    let alert = &env.alerts().await[0];
    assert_eq!(list(alert, "lookout.notify.failed"), ["soc"], "{alert}");
    assert!(list(alert, "lookout.notify.pending").is_empty());
    assert!(
        state(alert, "soc", "last_error")
            .as_str()
            .unwrap()
            .contains("max_age")
    );
}

#[tokio::test]
async fn a_connector_that_keeps_failing_delays_neither_alert_writing_nor_other_connectors() {
    let receiver = Receiver::start().await;
    let text = format!(
        r#"
[[notify.connectors]]
id = "broken"
type = "webhook"
url = "http://127.0.0.1:9/nothing-listens-here"

[[notify.connectors]]
id = "soc"
type = "webhook"
url = "{}"

[[notify.routes]]
connectors = ["broken", "soc"]
"#,
        receiver.url("hook")
    );
    let env = env_with(&text).await;
    let rule = add_user_rule(&env);
    let notifier = notifier(&env);
    let clock = ManualClock::new(start());
    for tick in 0..3 {
        let at = start() + minutes(5 * tick);
        let alerts = alerts_at(&env, &rule, at, 2, &format!("k{tick}")).await;
        assert_eq!(alerts.len() as i64, 2 * (tick + 1), "alert writing held up");
        clock.set(at + TimeDelta::seconds(30));
        notifier.deliver_due(&clock).await;
    }
    assert_eq!(receiver.accepted("hook").len(), 6);
    for alert in env.alerts().await {
        assert_eq!(list(&alert, "lookout.notify.sent"), ["soc"]);
        assert_eq!(list(&alert, "lookout.notify.pending"), ["broken"]);
    }
}

#[tokio::test]
async fn a_body_template_with_kibana_variables_and_missing_fields_stays_valid_json() {
    let receiver = Receiver::start().await;
    let text = webhook_config(&receiver.url("hook"), "summary").replace(
        "type = \"webhook\"",
        r#"type = "webhook"
body = '''{"rule": "{{context.rule.name}}", "count": {{state.signals_count}}, "missing": "{{context.rule.nope}}", "ids": [{{#context.alerts}}"{{kibana.alert.uuid}}",{{/context.alerts}}"end"]}'''"#,
    );
    let env = env_with(&text).await;
    let rule = add_user_rule(&env);
    alerts_at(&env, &rule, start(), 2, "tpl").await;
    notifier(&env).deliver_due(&ManualClock::new(start())).await;
    let got = receiver.accepted("hook");
    let body: Value = serde_json::from_slice(&got[0].body).expect("the rendered body is JSON");
    assert_eq!(body["rule"], rule.name);
    assert_eq!(body["count"], 2);
    assert_eq!(body["missing"], "");
    assert_eq!(body["ids"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_index_connector_copies_each_alert_once() {
    let receiver_index = integration_tests::unique_name("lookout-notified");
    let text = format!(
        "[[notify.connectors]]\nid = \"copy\"\ntype = \"index\"\nindex = \"{receiver_index}\"\n\n[[notify.routes]]\nconnectors = [\"copy\"]\n"
    );
    let env = env_with(&text).await;
    let rule = add_user_rule(&env);
    let alerts = alerts_at(&env, &rule, start(), 2, "ix").await;
    let notifier = notifier(&env);
    notifier.deliver_due(&ManualClock::new(start())).await;
    let copies = engine_support::search_all(&env.server, &receiver_index).await;
    assert_eq!(copies.len(), 2);
    for copy in &copies {
        assert!(alerts.iter().any(|a| a["_id"] == copy["_id"]));
        assert_eq!(copy["lookout.notify.connector"], "copy");
    }
}

#[tokio::test]
async fn email_goes_over_smtp_with_starttls_and_authentication_in_text_and_html() {
    for implicit_tls in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let smtp = integration_tests::smtp::SmtpServer::start(dir.path(), implicit_tls);
        let security = if implicit_tls { "tls" } else { "starttls" };
        let text = format!(
            r#"
[[notify.connectors]]
id = "mail"
type = "email"
host = "localhost"
port = {}
security = "{security}"
ca_file = "{}"
username = "{}"
password = "{}"
from = "lookout@example.org"
to = ["soc@example.org"]

[[notify.routes]]
connectors = ["mail"]
"#,
            smtp.port,
            smtp.ca_file.display(),
            integration_tests::smtp::USER,
            integration_tests::smtp::PASSWORD,
        );
        let env = env_with(&text).await;
        let rule = add_user_rule(&env);
        let alerts = alerts_at(&env, &rule, start(), 1, "mail").await;
        notifier(&env).deliver_due(&ManualClock::new(start())).await;
        let messages = smtp.messages();
        assert_eq!(messages.len(), 1, "{security}: {:?}", env.alerts().await);
        let message = &messages[0];
        assert!(
            message.contains("Subject: lookout alert [low]"),
            "{message}"
        );
        assert!(
            message.contains("text/plain") && message.contains("text/html"),
            "{message}"
        );
        let id = alerts[0]["kibana.alert.uuid"].as_str().unwrap();
        assert!(message.contains(id), "{message}");
        assert_eq!(
            list(&env.alerts().await[0], "lookout.notify.sent"),
            ["mail"]
        );
    }
}

#[tokio::test]
async fn metrics_count_sent_retried_failed_and_pending_per_connector_without_secrets() {
    let receiver = Receiver::start().await;
    let text = webhook_config(
        &format!("{}?token=sekrit-metrics-token", receiver.url("hook")),
        "per_alert",
    );
    let env = env_with(&text).await;
    let rule = add_user_rule(&env);
    alerts_at(&env, &rule, start(), 2, "m").await;
    let observer = std::sync::Arc::new(lookout::Observer::default());
    let notifier = lookout::notifier(&env.config, &env.engine, Some(observer.clone())).unwrap();
    let clock = ManualClock::new(start());
    receiver.fail_next(503, None, 1);
    notifier.deliver_due(&clock).await;
    clock.set(start() + minutes(20));
    notifier.deliver_due(&clock).await;
    let text = observer.metrics.encode();
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{connector=\"soc\"}}")))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
    };
    assert_eq!(
        value("lookout_notifications_sent_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value("lookout_notifications_retried_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value("lookout_notifications_failed_total"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(value("lookout_notifications_pending"), Some(0.0), "{text}");
    assert!(!text.contains("sekrit-metrics-token"));
}
