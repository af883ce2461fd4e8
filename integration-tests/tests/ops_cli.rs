//! The operator commands as a user runs them, against the live server: `lookout setup` installs
//! the templates and creates the alerts alias, `lookout status` reports them, an unreachable server is exit status 1, and no
//! password or API key ever appears in anything lookout prints.

mod ops;

use elasticsearch::http::Method;
use integration_tests::{TestServer, server_url};
use ops::{lookout, own_indices, split_userinfo, text};
use std::io::Write;

/// A password nobody would type by accident, so finding it in output is proof of a leak.
const SECRET: &str = "Rec0gnisable-Pa55word-9f2c";
/// An API key built the same way.
const SECRET_KEY: &str = "Rec0gnisable-ApiKey-41d7";
/// A port nothing listens on (the discard port on loopback).
const CLOSED: &str = "http://127.0.0.1:9";

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

#[test]
fn setup_installs_the_templates_that_status_then_reports() {
    let server = TestServer::connect();
    let work = dir();
    let indices = own_indices("ops-setup");
    let status_before = lookout(work.path())
        .arg("status")
        .env("LOOKOUT_ES_URL", &server.url)
        .envs(indices.clone())
        .output()
        .expect("lookout runs");
    let (out, err) = text(&status_before);
    assert!(status_before.status.success(), "{out}{err}");
    assert!(out.contains("server:      reachable"), "{out}");
    assert!(out.contains(&format!("{}: missing", indices[1].1)), "{out}");

    let setup = lookout(work.path())
        .arg("setup")
        .env("LOOKOUT_ES_URL", &server.url)
        .envs(indices.clone())
        .output()
        .expect("lookout runs");
    let (out, err) = text(&setup);
    assert!(setup.status.success(), "{out}{err}");
    // The alerts index is a write alias over its first generation; ILM rolls it over where the
    // server has ILM, the daemon elsewhere (neither test server has ILM).
    let alias = &indices[0].1;
    assert!(
        out.contains(&format!(
            "alerts alias {alias}: writes go to {alias}-000001"
        )),
        "{out}"
    );
    assert!(
        out.contains("ILM policy") || out.contains("ILM: not available"),
        "{out}"
    );
    for (_, index) in &indices[1..] {
        assert!(
            out.contains(&format!("index template {index}: installed")),
            "{out}"
        );
        let (status, _) =
            tokio_block(server.request(Method::Get, &format!("/_index_template/{index}"), None));
        assert!(status.is_success(), "template {index} is on the server");
    }

    let status_after = lookout(work.path())
        .arg("status")
        .env("LOOKOUT_ES_URL", &server.url)
        .envs(indices.clone())
        .output()
        .expect("lookout runs");
    let (out, _) = text(&status_after);
    assert!(
        out.contains(&format!("{}: installed", indices[2].1)),
        "{out}"
    );
    assert!(
        out.contains("executions:  last hour: succeeded 0, partial failure 0, failed 0"),
        "{out}"
    );
}

#[test]
fn status_exits_1_and_says_why_when_the_server_is_unreachable() {
    let work = dir();
    let output = lookout(work.path())
        .args(["status", "--es-url", CLOSED])
        .output()
        .expect("lookout runs");
    let (out, _) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("server:      unreachable"), "{out}");
    assert!(out.contains("127.0.0.1:9"), "{out}");
}

#[test]
fn a_bad_configuration_value_names_the_key_and_its_line_and_column_in_the_file() {
    let work = dir();
    let path = work.path().join("lookout.toml");
    std::fs::write(&path, "[engine]\nconcurrency = 0\n").expect("write");
    let output = lookout(work.path())
        .args(["status", "--config"])
        .arg(&path)
        .output()
        .expect("lookout runs");
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("lookout.toml:2:15: `engine.concurrency`"),
        "{err}"
    );
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    let work = dir();
    for shell in ["bash", "zsh", "fish"] {
        let output = lookout(work.path())
            .args(["completions", shell])
            .output()
            .expect("lookout runs");
        let (out, err) = text(&output);
        assert!(output.status.success(), "{shell}: {err}");
        assert!(
            out.contains("setup") && out.contains("status"),
            "{shell}: {out}"
        );
    }
}

/// Every way a secret can reach lookout (environment, file, URL userinfo, API key), against the
/// live server and a closed port, with the most verbose logs, in text and JSON: no line printed
/// on stdout or stderr holds the secret.
#[test]
fn no_secret_appears_in_anything_lookout_prints() {
    let (url, _) = split_userinfo(&server_url());
    let work = dir();
    let password_file = work.path().join("es_password");
    let mut file = std::fs::File::create(&password_file).expect("create");
    writeln!(file, "{SECRET}").expect("write");
    let closed_with_userinfo = format!("http://elastic:{SECRET}@127.0.0.1:9");
    let live_with_userinfo = url.replacen("://", &format!("://elastic:{SECRET}@"), 1);
    let password_env = [
        ("LOOKOUT_ES_USERNAME", "elastic"),
        ("LOOKOUT_ES_PASSWORD", SECRET),
    ];
    let password_file_env = [
        ("LOOKOUT_ES_USERNAME", "elastic"),
        (
            "LOOKOUT_ES_PASSWORD_FILE",
            password_file.to_str().expect("utf-8 path"),
        ),
    ];
    let key_env = [("LOOKOUT_ES_API_KEY", SECRET_KEY)];
    let conflict_env = [
        ("LOOKOUT_ES_USERNAME", "elastic"),
        ("LOOKOUT_ES_PASSWORD", SECRET),
        ("LOOKOUT_ES_API_KEY", SECRET_KEY),
    ];
    let live = url.as_str();
    let status_flag = ["status", "--es-url", &closed_with_userinfo];
    let translate_flag = ["translate", "--kql", "a: b", "--url", &closed_with_userinfo];
    let ftp = format!("ftp://elastic:{SECRET}@host");
    let cases = [
        Case::new(&["status"], &password_env, live),
        Case::new(&["status"], &password_env, CLOSED),
        Case::new(&["setup", "--kibana", CLOSED], &password_file_env, CLOSED),
        Case::new(&["status"], &password_file_env, live),
        Case::new(&["rules"], &key_env, live),
        Case::new(&["setup"], &key_env, CLOSED),
        Case::new(&["status"], &[], &closed_with_userinfo),
        Case::new(&["status"], &[], &live_with_userinfo),
        Case::new(&["status"], &conflict_env, live),
        Case::new(&["setup"], &password_env, &ftp),
        Case::new(&["run", "--once"], &password_env, CLOSED),
        Case::new(&["backfill", "--from", "now-1h"], &key_env, CLOSED),
        Case::new(
            &["test", "rules/absent.toml", "--from", "now-1h"],
            &password_env,
            live,
        ),
        // Flags that take a URL refuse a password in it, without repeating it.
        Case::new(&status_flag, &[], live),
        Case::new(&translate_flag, &[], live),
        Case::new(
            &["translate", "--kql", "a: b", "--server"],
            &[],
            &closed_with_userinfo,
        ),
    ];
    let mut runs = 0;
    for case in &cases {
        for format in ["text", "json"] {
            let output = lookout(work.path())
                .args(case.command)
                .args(["--log-level", "trace", "--log-format", format])
                .env("LOOKOUT_ES_URL", case.url)
                .envs(case.env.iter().copied())
                .envs(own_indices("ops-secret"))
                .output()
                .expect("lookout runs");
            let (out, err) = text(&output);
            for line in out.lines().chain(err.lines()) {
                assert!(
                    !line.contains(SECRET) && !line.contains(SECRET_KEY),
                    "lookout {:?} ({format} logs, url {}) printed a secret: {line}",
                    case.command,
                    case.url.replace(SECRET, "<secret>")
                );
            }
            runs += 1;
        }
    }
    assert_eq!(runs, cases.len() * 2);
}

/// One way of running lookout with a secret.
struct Case<'a> {
    command: &'a [&'a str],
    env: &'a [(&'a str, &'a str)],
    url: &'a str,
}

impl<'a> Case<'a> {
    fn new(command: &'a [&'a str], env: &'a [(&'a str, &'a str)], url: &'a str) -> Self {
        Case { command, env, url }
    }
}

#[test]
fn turning_tls_verification_off_prints_a_warning() {
    let work = dir();
    let output = lookout(work.path())
        .args(["status", "--es-url", "https://127.0.0.1:9", "--insecure"])
        .output()
        .expect("lookout runs");
    let (_, err) = text(&output);
    assert!(
        err.contains("WARN") && err.contains("TLS certificate verification is off"),
        "{err}"
    );
}

fn tokio_block<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// A rule file for `lookout translate` searching `index`, in `dir/rules/`.
fn translate_rule(dir: &std::path::Path, index: &str) -> String {
    ops::write_rule(dir, "translate-rule", index, "5m", "now-6m", 100);
    "rules/translate-rule.toml".to_string()
}

#[test]
fn a_password_in_a_url_flag_is_refused_and_the_file_and_environment_ways_are_named() {
    let work = dir();
    let rule = translate_rule(work.path(), "logs-*");
    let with_password = format!("http://elastic:{SECRET}@127.0.0.1:9");
    let commands: [&[&str]; 3] = [
        &["status", "--es-url", &with_password],
        &["run", "--once", "--es-url", &with_password],
        &["translate", &rule, "--url", &with_password],
    ];
    for command in commands {
        let output = lookout(work.path())
            .args(command)
            .output()
            .expect("lookout runs");
        let (out, err) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{command:?}: {out}{err}");
        assert!(err.contains("holds a password"), "{err}");
        assert!(
            err.contains("--es-password-file") && err.contains("LOOKOUT_ES_PASSWORD"),
            "{err}"
        );
        assert!(!out.contains(SECRET) && !err.contains(SECRET), "{out}{err}");
    }
}

#[test]
fn translate_reaches_the_server_with_the_configured_connection_settings() {
    let server = TestServer::connect();
    let work = dir();
    let source = integration_tests::unique_name("ops-translate");
    tokio_block(server.create_cloudtrail_index(&source));
    let rule = translate_rule(work.path(), &source);

    // The configured server (LOOKOUT_ES_URL, any credentials in it) gives the field types.
    let typed = lookout(work.path())
        .args(["translate", &rule, "--server"])
        .env("LOOKOUT_ES_URL", &server.url)
        .output()
        .expect("lookout runs");
    let (out, err) = text(&typed);
    assert!(typed.status.success(), "{out}{err}");
    assert!(!err.contains("without field types"), "{err}");
    assert!(
        out.contains(r#"{"term":{"event.action""#),
        "keyword field typed: {out}"
    );

    // The configured TLS settings apply to --url too: a CA file that is missing is an error.
    let (url, _) = split_userinfo(&server.url);
    let missing_ca = work.path().join("missing-ca.pem");
    let with_ca = lookout(work.path())
        .args(["translate", &rule, "--url", &url, "--es-ca-file"])
        .arg(&missing_ca)
        .output()
        .expect("lookout runs");
    let (out, err) = text(&with_ca);
    assert!(!with_ca.status.success(), "{out}{err}");
    assert!(err.contains("missing-ca.pem"), "{err}");

    // And the configured credentials: an API key that cannot be sent is a configuration error.
    let bad_key = lookout(work.path())
        .args(["translate", &rule, "--url", &url])
        .env("LOOKOUT_ES_API_KEY", "id:bad\u{7}key")
        .output()
        .expect("lookout runs");
    let (out, err) = text(&bad_key);
    assert_eq!(bad_key.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("elasticsearch.api_key"), "{err}");
}

/// A TLS server (`openssl s_server -www`) with a certificate for 127.0.0.1 signed by a CA of
/// the test's own; killed on drop.
struct TlsServer {
    child: std::process::Child,
    port: String,
    ca: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    fn start() -> TlsServer {
        let dir = dir();
        let openssl = |args: &[&str]| {
            let output = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("the openssl command runs (it makes the test's certificates)");
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        openssl(&["genrsa", "-out", "ca.key", "2048"]);
        let ca_subject = "/CN=lookout test CA";
        openssl(&[
            "req", "-x509", "-key", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", ca_subject,
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(
            dir.path().join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the extensions");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        let mut child = std::process::Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                "127.0.0.1:0",
                "-cert",
                "server.pem",
                "-key",
                "server.key",
                "-www",
            ])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server starts");
        let stdout = child.stdout.take().expect("piped");
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let port = loop {
            let line = lines
                .next()
                .expect("s_server prints the address it accepts on")
                .expect("readable");
            if let Some(address) = line.strip_prefix("ACCEPT ") {
                break address.rsplit(':').next().expect("a port").to_string();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        TlsServer {
            child,
            port,
            ca: dir.path().join("ca.pem"),
            _dir: dir,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// lookout trusts the operating system's store (here: the file `SSL_CERT_FILE` names, which
/// the system store loader reads), not only built-in roots; `elasticsearch.ca_file` still adds
/// a CA of its own. The server is not Elasticsearch: a handshake that succeeds shows up as an
/// answer that is not JSON.
#[test]
fn tls_trusts_the_systems_store_and_the_configured_ca_file() {
    let server = TlsServer::start();
    let url = format!("https://127.0.0.1:{}", server.port);
    let status = |env: &[(&str, &std::path::Path)], args: &[&std::ffi::OsStr]| {
        let work = dir();
        let mut command = lookout(work.path());
        command
            .arg("status")
            .env("LOOKOUT_ES_URL", &url)
            .env_remove("SSL_CERT_DIR");
        command.env_remove("SSL_CERT_FILE").args(args);
        for (name, value) in env {
            command.env(name, value);
        }
        let (out, err) = text(&command.output().expect("lookout runs"));
        out + &err
    };
    let untrusted = status(&[], &[]);
    assert!(untrusted.contains("UnknownIssuer"), "{untrusted}");
    let system = status(&[("SSL_CERT_FILE", &server.ca)], &[]);
    assert!(
        system.contains("not JSON") && !system.contains("certificate"),
        "{system}"
    );
    let ca_file = status(&[], &["--es-ca-file".as_ref(), server.ca.as_os_str()]);
    assert!(
        ca_file.contains("not JSON") && !ca_file.contains("certificate"),
        "{ca_file}"
    );
}

/// `lookout status` in `dir` against `url` with the indices of `base`; returns stdout, failing
/// on a non-zero exit.
fn status(dir: &std::path::Path, url: &str, base: &str, args: &[&str]) -> String {
    let output = lookout(dir)
        .arg("status")
        .args(args)
        .env("LOOKOUT_ES_URL", url)
        .env("LOOKOUT_ALERTS_INDEX", format!("{base}-alerts"))
        .env("LOOKOUT_STATE_INDEX", format!("{base}-state"))
        .env("LOOKOUT_EXECUTIONS_INDEX", format!("{base}-executions"))
        .output()
        .expect("lookout runs");
    let (out, err) = text(&output);
    assert!(
        output.status.success(),
        "lookout status {args:?}: {out}{err}"
    );
    out
}

/// The documents of `index`, as the server counts them after a refresh.
fn count(server: &TestServer, index: &str) -> u64 {
    tokio_block(server.refresh(index));
    let (status, body) =
        tokio_block(server.request(Method::Get, &format!("/{index}/_count"), None));
    assert!(status.is_success(), "{body}");
    body["count"].as_u64().expect("a count")
}

/// Rolls the alerts alias of `base` over: with lookout's housekeeping (its conditions met by any
/// alert) where lookout rolls it over, with the server's `_rollover` where ILM does.
fn roll_over(server: &TestServer, base: &str, ilm: bool) -> String {
    let alias = format!("{base}-alerts");
    if ilm {
        let answer = tokio_block(server.ok(Method::Post, &format!("/{alias}/_rollover"), None));
        return answer["new_index"]
            .as_str()
            .expect("a new index")
            .to_string();
    }
    let mut config = lookout::Config::default();
    config.elasticsearch.url = server.url.clone();
    config.alerts.index = alias;
    config.engine.state_index = format!("{base}-state");
    config.engine.executions_index = format!("{base}-executions");
    config.alerts.rollover.max_docs = Some(1);
    let client = lookout::Client::new(&config.elasticsearch).expect("a client");
    let mut housekeeping = lookout::Housekeeping::new(client, &config);
    let report = tokio_block(housekeeping.round(chrono::Utc::now()));
    report.rolled_over_to.expect("the alias rolled over")
}

/// The issue's test: before setup, status says what to run; after setup and a run that writes
/// alerts, it names the write index with the document count the server reports and who rolls
/// the alias over; after a rollover, it names the new write index, the two indices and the
/// rollover, and (where lookout rolls over) the housekeeping round that did it.
#[test]
fn status_names_the_alerts_write_index_its_documents_and_who_rolls_it_over() {
    let server = TestServer::connect();
    let work = dir();
    let dir = work.path();
    let base = integration_tests::unique_name("ops-status-alerts");
    let alias = format!("{base}-alerts");
    let before = status(dir, &server.url, &base, &[]);
    assert!(
        before.contains(&format!(
            "alerts:      the alias {alias} does not exist: run `lookout setup`"
        )),
        "{before}"
    );

    ops::ok(dir, &server, &base, &["setup"]);
    let source = integration_tests::unique_name("ops-status-src");
    tokio_block(server.create_cloudtrail_index(&source));
    let events = ops::add_user_events(3, ops::at("2026-01-01T00:50:00Z"));
    tokio_block(server.bulk_create(&source, &events));
    ops::write_rule(dir, "status-rule", &source, "5m", "now-2h", 100);
    ops::ok(
        dir,
        &server,
        &base,
        &["run", "--once", "--now", "2026-01-01T01:00:00Z"],
    );
    let first = format!("{alias}-000001");
    let documents = count(&server, &first);
    assert!(documents > 0, "the run wrote alerts");

    let ilm = tokio_block(server.has(integration_tests::server::Capability::Ilm));
    let out = status(dir, &server.url, &base, &[]);
    println!("{out}");
    assert!(
        out.contains(&format!(
            "alerts:      writes go to {first} ({documents} documents, "
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("the alias {alias} has 1 index\n")),
        "{out}"
    );
    let by = match ilm {
        true => format!("rollover:    by ILM, policy {alias}-policy: "),
        false => "rollover:    by lookout, hourly (the write index names no ILM policy); \
                  no housekeeping round recorded"
            .to_string(),
    };
    assert!(out.contains(&by), "{out}");
    assert!(out.contains("not rolled over yet"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&status(dir, &server.url, &base, &["--format", "json"]))
            .expect("status prints JSON");
    let alerts = &json["alerts"];
    assert_eq!(alerts["write_index"]["name"], first.as_str(), "{alerts}");
    assert_eq!(alerts["write_index"]["documents"], documents, "{alerts}");
    assert_eq!(alerts["indices"], 1, "{alerts}");
    assert_eq!(alerts["errors"], serde_json::json!([]), "{alerts}");

    let second = roll_over(&server, &base, ilm);
    assert_eq!(second, format!("{alias}-000002"));
    let out = status(dir, &server.url, &base, &[]);
    println!("{out}");
    assert!(
        out.contains(&format!(
            "alerts:      writes go to {second} (0 documents, "
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("the alias {alias} has 2 indices\n")),
        "{out}"
    );
    assert!(
        out.contains("; last rollover 20") && out.contains(&format!("(when {second} was made)")),
        "{out}"
    );
    if !ilm {
        assert!(out.contains("; last housekeeping round 20"), "{out}");
    }
    assert!(
        out.contains(&format!("index:       {alias}*: {documents} documents")),
        "{out}"
    );
}

/// What the alerts lines cost, counted at a proxy: the alias with its indices' settings, the
/// write index's size, and the ILM state or the housekeeping claim: three requests. A read that
/// fails is named and the rest of status is still printed, exit status 0.
#[test]
fn the_alerts_lines_cost_three_requests_and_a_failed_read_does_not_fail_status() {
    let server = TestServer::connect();
    let work = dir();
    let dir = work.path();
    let base = integration_tests::unique_name("ops-status-cost");
    let alias = format!("{base}-alerts");
    ops::ok(dir, &server, &base, &["setup"]);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let proxy = runtime.block_on(integration_tests::proxy::Proxy::start(&server.url));
    let out = status(dir, &proxy.url(), &base, &[]);
    let first = format!("{alias}-000001");
    assert!(
        out.contains(&format!("writes go to {first} (0 documents")),
        "{out}"
    );
    let requests = proxy.requests();
    let alerts: Vec<&String> = requests
        .iter()
        .filter(|r| {
            r.starts_with(&format!("GET /{alias}?"))
                || r.contains("/_stats")
                || r.contains("/_ilm/")
                || r.contains("/_doc/housekeeping")
        })
        .collect();
    println!(
        "status: {} requests, {} for the alerts lines: {alerts:#?}",
        requests.len(),
        alerts.len()
    );
    assert_eq!(alerts.len(), 3, "{requests:#?}");

    use integration_tests::proxy::{Fault, FaultPlan, FaultRule};
    proxy.set_plan(
        FaultPlan::pass().with(FaultRule::new(Fault::Status(403)).path("/_stats").always()),
    );
    let out = status(dir, &proxy.url(), &base, &[]);
    assert!(
        out.contains(&format!("writes go to {first} (size unknown)")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "alerts:      reading the size of {first} (_stats) failed: "
        )),
        "{out}"
    );
    assert!(out.contains("rollover:    by "), "{out}");
    assert!(out.contains("executions:  last hour:"), "{out}");
}

/// Where the server has ILM, `lookout setup` names its policy in the alerts template, and
/// status shows the policy and where the write index is in it.
#[test]
fn status_shows_the_ilm_policy_and_phase_of_the_alerts_write_index() {
    let server = TestServer::connect();
    if !tokio_block(integration_tests::server::require(
        &server,
        integration_tests::server::Capability::Ilm,
    )) {
        return;
    }
    let work = dir();
    let dir = work.path();
    let base = integration_tests::unique_name("ops-status-ilm");
    let alias = format!("{base}-alerts");
    ops::ok(dir, &server, &base, &["setup"]);
    let out = status(dir, &server.url, &base, &[]);
    assert!(
        out.contains(&format!(
            "rollover:    by ILM, policy {alias}-policy: phase "
        )),
        "{out}"
    );
}

/// An alerts index of an older lookout (a concrete index of the alias's name) is named as such:
/// writes go to it and nothing rolls it over.
#[test]
fn status_says_a_concrete_alerts_index_never_rolls_over() {
    let server = TestServer::connect();
    let work = dir();
    let base = integration_tests::unique_name("ops-status-concrete");
    let alias = format!("{base}-alerts");
    tokio_block(server.ok(Method::Put, &format!("/{alias}"), None));
    let out = status(work.path(), &server.url, &base, &[]);
    assert!(
        out.contains(&format!(
            "alerts:      {alias} is a concrete index (made by an older lookout): writes go to it and nothing rolls it over"
        )),
        "{out}"
    );
    let json: serde_json::Value = serde_json::from_str(&status(
        work.path(),
        &server.url,
        &base,
        &["--format", "json"],
    ))
    .expect("status prints JSON");
    assert_eq!(json["alerts"]["target"], "index", "{json}");
}

/// A write index that names an ILM policy is left to ILM (the daemon does not roll it over), so
/// status names the policy and what ILM says of it; on a server that keeps the setting but has
/// no ILM API, it warns that nothing rolls the alias over.
#[test]
fn status_warns_when_the_write_index_names_a_policy_that_no_ilm_runs() {
    let server = TestServer::connect();
    if !tokio_block(integration_tests::server::require(
        &server,
        integration_tests::server::Capability::LifecycleSetting,
    )) {
        return;
    }
    let work = dir();
    let base = integration_tests::unique_name("ops-status-policy");
    let alias = format!("{base}-alerts");
    let body = serde_json::json!({
        "settings": {"index.lifecycle.name": "no-such-policy"},
        "aliases": {&alias: {"is_write_index": true}},
    });
    tokio_block(server.ok(Method::Put, &format!("/{alias}-000001"), Some(body)));
    let out = status(work.path(), &server.url, &base, &[]);
    println!("{out}");
    assert!(
        out.contains("rollover:    by ILM, policy no-such-policy: "),
        "{out}"
    );
    if tokio_block(server.has(integration_tests::server::Capability::Ilm)) {
        // Elasticsearch: ILM answers for the index (what it says of a missing policy is not
        // checked here: no server of these tests has ILM).
        assert!(!out.contains("no ILM API"), "{out}");
    } else {
        assert!(
            out.contains("WARNING: the server has no ILM API, so nothing rolls it over"),
            "{out}"
        );
    }
}
