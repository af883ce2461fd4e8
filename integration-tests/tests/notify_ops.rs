//! Notifications through the `lookout` binary, as an operator meets them: `run --once` writes
//! alerts and delivers what it can, leaving the rest pending when the receiver fails and
//! delivering it on the next run; a rule file's `[lookout] notify` adds its own connector;
//! `lookout notify test` and `lookout status`; and no secret (a token in the webhook URL, a
//! header value from the environment, a routing key from a file) in any log line, error or
//! output, even at debug level.

mod ops;

use integration_tests::receiver::Receiver;
use integration_tests::{TestServer, unique_name};
use ops::{
    Daemon, WAIT, add_user_events, against, at, metric, signal, text, wait_until, write_rule,
};
use std::path::Path;

const URL_TOKEN: &str = "SEKRIT-URL-TOKEN-1f3c";
const HEADER_SECRET: &str = "SEKRIT-HEADER-9a8b";
const ROUTING_KEY: &str = "SEKRITROUTINGKEY0000000000000000";

/// Runs lookout with the test's config file and indices; returns (exit code, stdout, stderr).
fn run(dir: &Path, server: &TestServer, base: &str, args: &[&str]) -> (i32, String, String) {
    let output = against(dir, server, base)
        .args(args)
        .args(["--es-url", &server.url, "--config", "lookout.toml"])
        .env("SOC_HOOK_AUTH", format!("Bearer {HEADER_SECRET}"))
        .env("RUST_LOG", "debug")
        .output()
        .expect("lookout runs");
    let (out, err) = text(&output);
    (output.status.code().unwrap_or(-1), out, err)
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [URL_TOKEN, HEADER_SECRET, ROUTING_KEY] {
        assert!(!text.contains(secret), "{what} shows a secret: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_what_it_can_keeps_the_rest_pending_and_never_shows_a_secret() {
    let receiver = Receiver::start().await;
    let server = TestServer::connect();
    let source = unique_name("notify-ops-src");
    server.create_cloudtrail_index(&source).await;
    server
        .bulk_create(&source, &add_user_events(3, at("2026-01-01T00:20:00Z")))
        .await;
    let work = tempfile::tempdir().expect("a temporary folder");
    let dir = work.path();
    let rule_id = unique_name("notify-ops-rule");
    write_rule(dir, &rule_id, &source, "5m", "now-2h", 100);
    let rule_file = dir.join("rules").join(format!("{rule_id}.toml"));
    let with_notify =
        std::fs::read_to_string(&rule_file).unwrap() + "\n[lookout]\nnotify = [\"pd\"]\n";
    std::fs::write(&rule_file, with_notify).unwrap();
    std::fs::write(dir.join("pd.key"), format!("{ROUTING_KEY}\n")).unwrap();
    let config = format!(
        r#"
[[notify.connectors]]
id = "soc"
type = "webhook"
url = "{}?token={URL_TOKEN}"
headers = {{ Authorization = {{ env = "SOC_HOOK_AUTH" }} }}

[[notify.connectors]]
id = "pd"
type = "pagerduty"
url = "{}"
routing_key = {{ file = "pd.key" }}

[[notify.routes]]
connectors = ["soc"]
"#,
        receiver.url("hook"),
        receiver.url("pagerduty/v2/enqueue")
    );
    std::fs::write(dir.join("lookout.toml"), config).unwrap();
    let base = unique_name("notify-ops");

    receiver.fail_next(500, None, 1_000);
    let (code, out, err) = run(
        dir,
        &server,
        &base,
        &["run", "--once", "--now", "2026-01-01T00:21:00Z"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("notification batch had failures"), "{err}");
    assert_no_secret("run --once", &(out.clone() + &err));
    let refused = receiver.received();
    assert!(!refused.is_empty() && refused.iter().all(|r| r.refused));
    assert_eq!(
        refused
            .iter()
            .filter(|r| r.path == "/hook")
            .map(|r| r.header("authorization"))
            .next(),
        Some(Some(format!("Bearer {HEADER_SECRET}").as_str())),
        "the header's secret value is sent to the receiver"
    );

    let (code, out, _) = run(dir, &server, &base, &["status"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("notify:      soc (webhook): 3 pending, 0 sent, 0 failed"),
        "{out}"
    );
    assert!(
        out.contains("notify:      pd (pagerduty): 3 pending, 0 sent, 0 failed"),
        "{out}"
    );

    receiver.fail_next(500, None, 0);
    let (code, out, err) = run(
        dir,
        &server,
        &base,
        &["run", "--once", "--now", "2026-01-01T01:00:00Z"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_no_secret("the second run --once", &(out + &err));
    assert_eq!(receiver.accepted("hook").len(), 3);
    let pd = receiver.accepted("pagerduty");
    assert_eq!(pd.len(), 3, "the rule file's own connector");
    assert!(pd.iter().all(|r| r.json["routing_key"] == ROUTING_KEY));

    let (code, out, _) = run(dir, &server, &base, &["status"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("soc (webhook): 0 pending, 3 sent, 0 failed"),
        "{out}"
    );

    let (code, out, err) = run(dir, &server, &base, &["notify", "test", "soc"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("sent a test message to connector soc (webhook)"),
        "{out}"
    );
    assert_no_secret("notify test", &(out + &err));
    receiver.fail_next(503, None, 1);
    let (code, out, err) = run(dir, &server, &base, &["notify", "test", "soc"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("not delivered: HTTP 503"), "{out}");
    assert_no_secret("a failed notify test", &(out + &err));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_delivers_beside_the_scheduler_and_counts_it_in_metrics() {
    let receiver = Receiver::start().await;
    let server = TestServer::connect();
    let source = unique_name("notify-daemon-src");
    server.create_cloudtrail_index(&source).await;
    let newest = chrono::Utc::now() - chrono::TimeDelta::seconds(30);
    server
        .bulk_create(&source, &add_user_events(3, newest))
        .await;
    let work = tempfile::tempdir().expect("a temporary folder");
    let dir = work.path();
    let interval = chrono::TimeDelta::seconds(1);
    let rule_id = (0..)
        .map(|n| format!("notify-daemon-{n}"))
        .find(|id| lookout::stagger(id, interval) < chrono::TimeDelta::seconds(1))
        .expect("some id has a small stagger");
    write_rule(dir, &rule_id, &source, "1s", "now-10m", 100);
    let config = format!(
        "[notify]\npoll_interval = \"1s\"\n\n[[notify.connectors]]\nid = \"soc\"\ntype = \"webhook\"\nurl = \"{}\"\n\n[[notify.routes]]\nconnectors = [\"soc\"]\n",
        receiver.url("hook")
    );
    std::fs::write(dir.join("lookout.toml"), config).unwrap();
    let base = unique_name("notify-daemon");
    let mut command = against(dir, &server, &base);
    command.args([
        "run",
        "--es-url",
        &server.url,
        "--config",
        "lookout.toml",
        "--http-listen",
        "127.0.0.1:0",
    ]);
    let mut run = Daemon::start(command);
    let endpoint = run.endpoint();
    wait_until("three alerts delivered by the daemon", || {
        (receiver.accepted("hook").len() >= 3).then_some(())
    });
    let sent = "lookout_notifications_sent_total{connector=\"soc\"}";
    let deadline = std::time::Instant::now() + WAIT;
    let text = loop {
        let text = reqwest::get(format!("{endpoint}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metric(&text, sent) >= Some(3.0) {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sent counter in /metrics: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(metric(&text, sent), Some(3.0), "{text}");
    assert!(
        run.log().contains("notification batch delivered"),
        "{}",
        run.log()
    );
    signal(run.child.id(), "-TERM");
    let status = run.child.wait().expect("lookout run exits");
    assert_eq!(status.code(), Some(0), "{}", run.log());
    assert_eq!(
        receiver.accepted("hook").len(),
        3,
        "an alert was notified twice"
    );
}
