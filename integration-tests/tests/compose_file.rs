//! Keeps docker-compose.yml, the Dockerfile and .env.example honest without a Docker engine:
//! every LOOKOUT_* variable they pass is one lookout reads, every `${VAR}` the compose file uses
//! is defined in .env.example, and every file they reference exists. The compose file is read
//! with a small line-based reader of the YAML subset it uses (block mappings, lists, block
//! scalars), so no YAML crate is needed.

use lookout::ENV_VARS;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One meaningful line of the compose file: the mapping keys above it, and what it holds.
#[derive(Debug)]
struct Entry {
    parents: Vec<String>,
    kind: EntryKind,
}

#[derive(Debug)]
enum EntryKind {
    Key(String),
    Item(String),
}

/// Reads the block structure of a YAML file: every key and list item with its parent keys.
/// Block scalar bodies (`|`, `>-`, ...) are skipped, comments and blank lines ignored.
fn entries(text: &str) -> Vec<Entry> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut scalar_indent: Option<usize> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let content = line.trim_start();
        let indent = line.len() - content.len();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if let Some(body) = scalar_indent {
            if indent > body {
                continue;
            }
            scalar_indent = None;
        }
        while stack.last().is_some_and(|(level, _)| *level >= indent) {
            stack.pop();
        }
        let parents: Vec<String> = stack.iter().map(|(_, key)| key.clone()).collect();
        if let Some(item) = content.strip_prefix("- ") {
            if is_block_scalar(item) {
                scalar_indent = Some(indent);
            }
            out.push(Entry {
                parents,
                kind: EntryKind::Item(item.trim().to_string()),
            });
            continue;
        }
        let Some((key, value)) = content.split_once(':') else {
            panic!("docker-compose.yml: unexpected line {line:?}");
        };
        if is_block_scalar(value) {
            scalar_indent = Some(indent);
        }
        stack.push((indent, key.trim().to_string()));
        out.push(Entry {
            parents,
            kind: EntryKind::Key(key.trim().to_string()),
        });
    }
    out
}

fn is_block_scalar(value: &str) -> bool {
    matches!(value.trim(), "|" | "|-" | ">" | ">-")
}

fn under<'a>(entries: &'a [Entry], path: &[&str]) -> impl Iterator<Item = &'a EntryKind> {
    entries
        .iter()
        .filter(move |e| {
            e.parents.len() == path.len() && e.parents.iter().zip(path).all(|(a, b)| a == b)
        })
        .map(|e| &e.kind)
}

fn keys(entries: &[Entry], path: &[&str]) -> Vec<String> {
    under(entries, path)
        .filter_map(|kind| match kind {
            EntryKind::Key(key) => Some(key.clone()),
            EntryKind::Item(_) => None,
        })
        .collect()
}

fn items(entries: &[Entry], path: &[&str]) -> Vec<String> {
    under(entries, path)
        .filter_map(|kind| match kind {
            EntryKind::Item(item) => Some(item.clone()),
            EntryKind::Key(_) => None,
        })
        .collect()
}

fn compose() -> Vec<Entry> {
    entries(&read("docker-compose.yml"))
}

fn services(compose: &[Entry]) -> Vec<String> {
    keys(compose, &["services"])
}

/// `${NAME}` references (not `$${NAME}`, which the container's shell expands).
fn interpolated(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(offset) = text[i..].find("${") {
        let start = i + offset;
        let escaped = start > 0 && bytes[start - 1] == b'$';
        let end = text[start..]
            .find('}')
            .map(|e| start + e)
            .expect("closed ${...}");
        if !escaped {
            let name = &text[start + 2..end];
            names.insert(
                name.split([':', '-', '?'])
                    .next()
                    .unwrap_or(name)
                    .to_string(),
            );
        }
        i = end;
    }
    names
}

fn env_example_keys() -> BTreeSet<String> {
    read(".env.example")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split_once('=').expect("KEY=value lines").0.to_string())
        .collect()
}

/// The value of `key` in .env.example.
fn env_example_value(key: &str) -> String {
    read(".env.example")
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!(".env.example defines no {key}"))
        .to_string()
}

/// The JSON body that follows `PUT /_security/role/lookout` in `text`, up to its closing brace.
fn lookout_role(text: &str, file: &str) -> serde_json::Value {
    let request = "PUT /_security/role/lookout";
    let at = text
        .find(request)
        .unwrap_or_else(|| panic!("{file} has no `{request}`"));
    let open = at + text[at..].find('{').expect("a JSON body follows");
    let mut depth = 0;
    let mut end = None;
    for (offset, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = Some(open + offset + 1);
                    break;
                }
            }
            _ => {}
        }
    }
    let body = &text[open..end.expect("the body closes")];
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{file}: the role is not JSON: {e}"))
}

#[test]
fn the_compose_file_gives_lookout_the_role_docs_security_md_documents() {
    let alerts = env_example_value("LOOKOUT_ALERTS_INDEX");
    let compose = read("docker-compose.yml").replace("${LOOKOUT_ALERTS_INDEX}", &alerts);
    let in_compose = lookout_role(&compose, "docker-compose.yml");
    let documented = lookout_role(&read("docs/security.md"), "docs/security.md");
    assert_eq!(in_compose, documented);
}

#[test]
fn the_compose_file_runs_lookout_setup_as_elastic_before_lookout_runs() {
    let compose = read("docker-compose.yml");
    let setup = compose
        .find("LOOKOUT_ES_USERNAME=elastic LOOKOUT_ES_PASSWORD=\"$${ELASTIC_PASSWORD}\" lookout setup")
        .expect("the loader runs lookout setup as elastic");
    let loader = compose.find("\n  loader:").expect("a loader service");
    let daemon = compose.find("\n  lookout:").expect("a lookout service");
    assert!(loader < setup && setup < daemon, "setup runs in the loader");
    let lookout_service = &compose[daemon..];
    assert!(
        lookout_service.contains("loader:\n        condition: service_completed_successfully"),
        "lookout starts after the loader (and so after setup)"
    );
}

#[test]
fn the_compose_file_has_the_services_the_stack_needs() {
    let compose = compose();
    let names = services(&compose);
    for service in ["elasticsearch", "setup", "loader", "kibana", "lookout"] {
        assert!(
            names.contains(&service.to_string()),
            "service {service} missing: {names:?}"
        );
    }
}

#[test]
fn every_lookout_variable_the_compose_file_passes_is_one_lookout_reads() {
    let compose = compose();
    let lookout_env = keys(&compose, &["services", "lookout", "environment"]);
    assert!(
        lookout_env.contains(&"LOOKOUT_ES_URL".to_string()),
        "{lookout_env:?}"
    );
    for service in services(&compose) {
        for key in keys(&compose, &["services", &service, "environment"]) {
            if key.starts_with("LOOKOUT_") {
                assert!(
                    ENV_VARS.contains(&key.as_str()),
                    "service {service} passes {key}, which lookout does not read"
                );
            }
        }
    }
}

#[test]
fn every_lookout_variable_in_env_example_is_one_lookout_reads() {
    for key in env_example_keys()
        .iter()
        .filter(|k| k.starts_with("LOOKOUT_"))
    {
        assert!(
            ENV_VARS.contains(&key.as_str()),
            ".env.example sets {key}, which lookout does not read"
        );
    }
}

#[test]
fn every_variable_the_compose_file_interpolates_is_in_env_example() {
    let defined = env_example_keys();
    for name in interpolated(&read("docker-compose.yml")) {
        assert!(
            defined.contains(&name),
            "docker-compose.yml uses ${{{name}}} but .env.example does not define it"
        );
    }
}

#[test]
fn files_the_compose_file_mounts_and_builds_from_exist() {
    let compose = compose();
    for service in services(&compose) {
        for volume in items(&compose, &["services", &service, "volumes"]) {
            if let Some(host) = volume.split(':').next().filter(|h| h.starts_with("./")) {
                assert!(
                    root().join(host).exists(),
                    "service {service} mounts {host}, which does not exist"
                );
            }
        }
        let build = keys(&compose, &["services", &service]).contains(&"build".to_string());
        if build {
            assert!(
                root().join("Dockerfile").is_file(),
                "service {service} builds from a Dockerfile that is absent"
            );
        }
    }
}

#[test]
fn files_the_dockerfile_copies_exist() {
    for line in read("Dockerfile").lines() {
        let Some(args) = line.strip_prefix("COPY ") else {
            continue;
        };
        if args.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = args.split_whitespace().collect();
        for source in &parts[..parts.len() - 1] {
            assert!(
                root().join(source).exists(),
                "the Dockerfile copies {source}, which does not exist"
            );
        }
    }
}

#[test]
fn the_template_the_setup_service_installs_is_a_cloudtrail_data_stream() {
    let path: &Path = Path::new("config/templates/logs-aws.cloudtrail.json");
    let template: serde_json::Value =
        serde_json::from_str(&read(path.to_str().expect("utf-8"))).expect("JSON");
    assert_eq!(template["data_stream"], serde_json::json!({}));
    assert_eq!(
        template["index_patterns"],
        serde_json::json!(["logs-aws.cloudtrail-*"])
    );
    assert!(read("docker-compose.yml").contains("@/templates/logs-aws.cloudtrail.json"));
}

#[test]
fn the_line_reader_sees_nesting_lists_and_skips_block_scalars() {
    let text =
        "a:\n  b:\n    C_D: x\n    list:\n      - one\n  script: |\n    not: a key\n  e: y\n";
    let parsed = entries(text);
    assert_eq!(keys(&parsed, &["a", "b"]), ["C_D", "list"]);
    assert_eq!(items(&parsed, &["a", "b", "list"]), ["one"]);
    assert_eq!(keys(&parsed, &["a"]), ["b", "script", "e"]);
    assert_eq!(
        interpolated("${A} $${B} ${C:-x}"),
        BTreeSet::from(["A".to_string(), "C".to_string()])
    );
}
