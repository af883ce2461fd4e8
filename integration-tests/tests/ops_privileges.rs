//! lookout works with exactly the least-privilege roles of docs/security.md, where the server
//! enforces privileges: roles and users are created with the test server's (admin)
//! credentials; `lookout setup` runs as the user that may manage templates, `lookout run --once`,
//! `lookout status` and the daemon (its heartbeat and leases) as the daemon's user, which may
//! not. On a server without Elasticsearch's
//! security the test prints that it was skipped and why.

mod ops;

use elasticsearch::http::Method;
use integration_tests::server::{Capability, require};
use integration_tests::{TestServer, server_url, unique_name};
use ops::{Daemon, http_get, lookout, metric, split_userinfo, text, wait_until};
use serde_json::{Value, json};
use std::process::Command;

/// The role of docs/security.md for source indices `source` and lookout indices `prefix*`: what
/// the daemon and every command but `lookout setup` need.
fn least_privilege_role(source: &str, prefix: &str) -> Value {
    json!({
        "cluster": ["monitor"],
        "indices": [
            {"names": [source], "privileges": ["read", "view_index_metadata"]},
            {"names": [format!("{prefix}-alerts*")], "privileges": ["create_doc", "index", "create_index", "read", "view_index_metadata", "maintenance", "monitor"]},
            {"names": [format!("{prefix}-state"), format!("{prefix}-executions"), format!("{prefix}-leases")], "privileges": ["write", "create_index", "read", "view_index_metadata", "maintenance"]},
        ],
    })
}

/// The role of the user that runs `lookout setup`: the same, plus `manage_index_templates` and
/// `manage_ilm`, and `manage` on the alerts indices (the alias and its ILM rollover).
fn setup_role(source: &str, prefix: &str) -> Value {
    let mut role = least_privilege_role(source, prefix);
    role["cluster"] = json!(["monitor", "manage_index_templates", "manage_ilm"]);
    role["indices"][1]["privileges"] = json!([
        "create_doc",
        "index",
        "create_index",
        "read",
        "view_index_metadata",
        "maintenance",
        "manage"
    ]);
    role
}

/// Creates a role and a user holding only it; returns the user's name.
async fn user_with_role(server: &TestServer, name: &str, role: Value, password: &str) -> String {
    server
        .ok(Method::Put, &format!("/_security/role/{name}"), Some(role))
        .await;
    let body = json!({"password": password, "roles": [name]});
    server
        .ok(Method::Put, &format!("/_security/user/{name}"), Some(body))
        .await;
    name.to_string()
}

/// `lookout` run as `user` with the test's indices.
fn as_user(dir: &std::path::Path, user: &str, password: &str, prefix: &str) -> Command {
    let (url, _) = split_userinfo(&server_url());
    let mut command = lookout(dir);
    command
        .env("LOOKOUT_ES_URL", &url)
        .env("LOOKOUT_ES_USERNAME", user)
        .env("LOOKOUT_ES_PASSWORD", password)
        .env("LOOKOUT_ALERTS_INDEX", format!("{prefix}-alerts"))
        .env("LOOKOUT_STATE_INDEX", format!("{prefix}-state"))
        .env("LOOKOUT_EXECUTIONS_INDEX", format!("{prefix}-executions"))
        .env("LOOKOUT_LEASES_INDEX", format!("{prefix}-leases"));
    command
}

/// Runs `lookout <args>` as `user` with the test's indices; returns success and the output.
fn run_as(
    dir: &std::path::Path,
    user: &str,
    password: &str,
    prefix: &str,
    args: &[&str],
) -> (bool, String) {
    let output = as_user(dir, user, password, prefix)
        .args(args)
        .output()
        .expect("lookout runs");
    let (out, err) = text(&output);
    (output.status.success(), out + &err)
}

/// The daemon's user holds no template privilege: on a fresh cluster `run --once` says to run
/// `lookout setup`; after setup (as a user that may manage templates) it runs, and so does
/// `lookout status`.
#[tokio::test(flavor = "multi_thread")]
async fn lookout_works_with_the_least_privilege_role_where_security_is_enforced() {
    let server = TestServer::connect();
    if !require(&server, Capability::ElasticsearchSecurity).await {
        return;
    }
    let prefix = unique_name("ops-priv");
    let source = format!("{prefix}-source");
    let password = "least-privilege-test-password";
    let daemon_user = user_with_role(
        &server,
        &format!("{prefix}-daemon"),
        least_privilege_role(&source, &prefix),
        password,
    )
    .await;
    let setup_user = user_with_role(
        &server,
        &format!("{prefix}-setup"),
        setup_role(&source, &prefix),
        password,
    )
    .await;
    let work = tempfile::tempdir().expect("a temporary folder");
    ops::write_rule(
        work.path(),
        &format!("{prefix}-rule"),
        &source,
        "5m",
        "now-6m",
        100,
    );

    let (ok, output) = run_as(
        work.path(),
        &daemon_user,
        password,
        &prefix,
        &["run", "--once"],
    );
    assert!(
        !ok && output.contains("lookout setup"),
        "before setup: {output}"
    );
    let (ok, output) = run_as(work.path(), &setup_user, password, &prefix, &["setup"]);
    assert!(ok, "lookout setup as {setup_user}: {output}");
    for command in [&["run", "--once"][..], &["status"][..]] {
        let (ok, output) = run_as(work.path(), &daemon_user, password, &prefix, command);
        assert!(ok, "lookout {command:?} as {daemon_user}: {output}");
    }
    // `status` also reads the alerts write index's size (`monitor` on the alerts indices); a
    // read it may not make is named as `reading ... failed: ...` (its execution counts say
    // "failed" too, so only that phrase counts).
    let (_, output) = run_as(work.path(), &daemon_user, password, &prefix, &["status"]);
    let refused: Vec<&str> = (output.lines())
        .filter(|line| line.contains("reading") && line.contains(" failed: "))
        .collect();
    assert!(
        refused.is_empty(),
        "status as {daemon_user}: {refused:?}\n{output}"
    );
    // The daemon also writes its heartbeat and its rule's lease in the leases index.
    let mut command = as_user(work.path(), &daemon_user, password, &prefix);
    command.args(["run", "--http-listen", "127.0.0.1:0"]);
    let run = Daemon::start(command);
    let endpoint = run.endpoint();
    let held = wait_until("the daemon to hold its rule's lease", || {
        let (_, metrics) = http_get(&format!("{endpoint}/metrics"));
        metric(&metrics, "lookout_leases_held").filter(|held| *held >= 1.0)
    });
    assert_eq!(held, 1.0, "{}", run.log());
    let (_, metrics) = http_get(&format!("{endpoint}/metrics"));
    assert_eq!(
        metric(&metrics, "lookout_lease_cycle_failures_total"),
        Some(0.0),
        "{}",
        run.log()
    );
    drop(run);
    for name in [&daemon_user, &setup_user] {
        server
            .request(Method::Delete, &format!("/_security/user/{name}"), None)
            .await;
        server
            .request(Method::Delete, &format!("/_security/role/{name}"), None)
            .await;
    }
}
