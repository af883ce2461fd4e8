//! Configuration that needs the file system: loading a file, secrets from files, CA files.

use lookout::Client;
use lookout::{Config, ElasticsearchConfig};
use std::path::PathBuf;

/// A fresh file under the system's temporary directory.
fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(integration_tests::unique_name("lookout-es-config"));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writable");
    path
}

#[test]
fn a_password_file_is_read_and_its_newline_dropped() {
    let secret = temp_file("password", "s3cret\n");
    let config_text = format!(
        "[elasticsearch]\nusername = \"lookout\"\npassword_file = {:?}\n",
        secret.display().to_string()
    );
    let config_path = temp_file("lookout.toml", &config_text);
    let config = Config::load_with_env(Some(&config_path), |_| None).expect("valid");
    assert_eq!(
        config.elasticsearch.password.expect("a password").expose(),
        "s3cret"
    );
}

#[test]
fn a_missing_secret_file_names_the_key_and_the_file() {
    let config_path = temp_file("lookout.toml", "");
    let error = Config::load_with_env(Some(&config_path), |name| {
        (name == "LOOKOUT_ES_API_KEY_FILE").then(|| "/nonexistent/api_key".to_string())
    })
    .expect_err("no such file");
    let text = error.to_string();
    assert!(
        text.contains("LOOKOUT_ES_API_KEY_FILE") && text.contains("/nonexistent/api_key"),
        "{text}"
    );
}

#[test]
fn a_missing_configuration_file_is_named() {
    let error = Config::load_with_env(
        Some(std::path::Path::new("/nonexistent/lookout.toml")),
        |_| None,
    )
    .expect_err("missing");
    assert!(
        error.to_string().starts_with("/nonexistent/lookout.toml"),
        "{error}"
    );
}

#[test]
fn a_missing_ca_file_is_a_client_configuration_error() {
    let config = ElasticsearchConfig {
        ca_file: Some(PathBuf::from("/nonexistent/lookout-ca.pem")),
        ..Default::default()
    };
    let error = Client::new(&config).expect_err("no such file");
    assert!(
        error.to_string().contains("/nonexistent/lookout-ca.pem"),
        "{error}"
    );
}

#[test]
fn a_ca_file_without_a_certificate_is_refused() {
    let path = temp_file("ca.pem", "not a certificate\n");
    let config = ElasticsearchConfig {
        url: "https://localhost:9200".to_string(),
        ca_file: Some(path),
        ..Default::default()
    };
    assert!(Client::new(&config).is_err());
}
