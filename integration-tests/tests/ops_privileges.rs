//! lookout works with exactly the least-privilege role of docs/security.md, where the server
//! enforces privileges: a role and user are created with the test server's (admin) credentials,
//! and `lookout setup` and `lookout status` run as that user. On a server without security
//! (the in-memory test server) the test prints that it was skipped and why.

mod ops;

use elasticsearch::http::Method;
use integration_tests::server::{Capability, require};
use integration_tests::{TestServer, server_url, unique_name};
use ops::{lookout, split_userinfo, text};
use serde_json::{Value, json};

/// The role of docs/security.md for source indices `source` and lookout indices `prefix*`.
fn least_privilege_role(source: &str, prefix: &str) -> Value {
    json!({
        "cluster": ["monitor", "manage_index_templates"],
        "indices": [
            {"names": [source], "privileges": ["read", "view_index_metadata"]},
            {"names": [format!("{prefix}-alerts*")], "privileges": ["create_doc", "create_index", "read", "view_index_metadata", "maintenance"]},
            {"names": [format!("{prefix}-state"), format!("{prefix}-executions")], "privileges": ["write", "create_index", "read", "view_index_metadata", "maintenance"]},
        ],
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn lookout_works_with_the_least_privilege_role_where_security_is_enforced() {
    let server = TestServer::connect();
    if !require(&server, Capability::ElasticsearchSecurity).await {
        return;
    }
    let prefix = unique_name("ops-priv");
    let source = format!("{prefix}-source");
    let role = format!("{prefix}-role");
    let user = format!("{prefix}-user");
    let password = "least-privilege-test-password";
    server
        .ok(
            Method::Put,
            &format!("/_security/role/{role}"),
            Some(least_privilege_role(&source, &prefix)),
        )
        .await;
    server
        .ok(
            Method::Put,
            &format!("/_security/user/{user}"),
            Some(json!({"password": password, "roles": [role]})),
        )
        .await;
    let (url, _) = split_userinfo(&server_url());
    let work = tempfile::tempdir().expect("a temporary folder");
    let envs = [
        ("LOOKOUT_ES_USERNAME", user.clone()),
        ("LOOKOUT_ES_PASSWORD", password.to_string()),
        ("LOOKOUT_ALERTS_INDEX", format!("{prefix}-alerts")),
        ("LOOKOUT_STATE_INDEX", format!("{prefix}-state")),
        ("LOOKOUT_EXECUTIONS_INDEX", format!("{prefix}-executions")),
    ];
    for command in ["setup", "status"] {
        let output = lookout(work.path())
            .args([command, "--es-url", &url])
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("lookout runs");
        let (out, err) = text(&output);
        assert!(
            output.status.success(),
            "lookout {command} as {user}: {out}{err}"
        );
    }
    server
        .request(Method::Delete, &format!("/_security/user/{user}"), None)
        .await;
    server
        .request(Method::Delete, &format!("/_security/role/{role}"), None)
        .await;
}
