//! `lookout setup`: installs or updates lookout's index templates (alerts, rule state,
//! executions) on the server and, with `--kibana URL`, imports the data views and saved searches
//! of `lookout::saved_objects` through Kibana's saved objects import API, authenticated as for
//! Elasticsearch. Prints one line per step.

use super::common::{self, GlobalArgs};
use anyhow::{Context, bail};
use base64::Engine as _;
use lookout::{Config, ElasticsearchConfig};
use std::process::ExitCode;
use std::time::Duration;

/// How long the Kibana import may take.
pub const KIBANA_TIMEOUT: Duration = Duration::from_secs(60);
/// The file name the saved objects are sent under (Kibana requires the `.ndjson` extension).
const IMPORT_FILE_NAME: &str = "lookout-saved-objects.ndjson";

/// Flags of `lookout setup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also import data views and saved searches into this Kibana (e.g. http://localhost:5601).
    #[arg(long, value_name = "URL")]
    pub kibana: Option<String>,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = common::load(global)?;
    common::runtime()?.block_on(setup(&args, &config))
}

async fn setup(args: &Args, config: &Config) -> anyhow::Result<ExitCode> {
    let client = common::client(config)?;
    let info = client.server_info().await?;
    println!(
        "server: {:?} {} at {}",
        info.distribution,
        info.version,
        client.endpoint()
    );
    let alias = &config.alerts.index;
    let policy = lookout::ilm_policy_name(alias);
    // ILM rolls the alerts over where the server has it (Elasticsearch); elsewhere the daemon.
    let ilm = info.distribution == lookout::Distribution::Elasticsearch
        && client
            .put_ilm_policy(&policy, &lookout::ilm_policy(&config.alerts.rollover))
            .await?;
    match ilm {
        true => println!("ILM policy {policy}: installed (Elasticsearch rolls {alias} over)"),
        false => {
            println!("ILM: not available on this server; `lookout run` rolls {alias} over itself")
        }
    }
    for (name, body) in lookout::index_templates_with(config, ilm) {
        client.put_index_template(&name, &body).await?;
        println!("index template {name}: installed");
    }
    match lookout::prepare_alerts(&client, alias).await? {
        lookout::AlertsTarget::Alias { write_index } => println!(
            "alerts alias {alias}: writes go to {}",
            write_index.as_deref().unwrap_or("(no write index)")
        ),
        lookout::AlertsTarget::ConcreteIndex => println!(
            "alerts index {alias}: a concrete index (older lookout), kept; it does not roll over (docs/operations.md, \"Alerts rollover\")"
        ),
    }
    if let Some(kibana) = &args.kibana {
        let count = import_into_kibana(kibana, config).await?;
        println!(
            "kibana: imported {count} saved objects into space {}",
            config.alerts.namespace
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn import_into_kibana(kibana: &str, config: &Config) -> anyhow::Result<u64> {
    let http = kibana_client(&config.elasticsearch)?;
    let ndjson = lookout::to_ndjson(&lookout::saved_objects(config));
    let request = import_request(
        &http,
        kibana,
        &config.alerts.namespace,
        ndjson,
        &config.elasticsearch,
    )?;
    let url = request.url().clone();
    let response = http
        .execute(request)
        .await
        .map_err(|e| anyhow::anyhow!("kibana {url}: {}", e.without_url()))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("kibana {url}: the answer is not JSON (HTTP {status})"))?;
    if !status.is_success() || body["success"] != true {
        bail!(
            "kibana {url}: HTTP {status}: {}",
            lookout::redact_userinfo(&body.to_string())
        );
    }
    Ok(body["successCount"].as_u64().unwrap_or(0))
}

/// An HTTP client trusting what the Elasticsearch connection trusts (CA file, verification).
fn kibana_client(es: &ElasticsearchConfig) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().timeout(KIBANA_TIMEOUT);
    if let Some(path) = &es.ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the CA file {}", path.display()))?;
        let certificate = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("the CA file {} holds no PEM certificate", path.display()))?;
        builder = builder.add_root_certificate(certificate);
    }
    if !es.verify_tls {
        tracing::warn!("TLS certificate verification is off for Kibana too (verify_tls = false)");
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .context("cannot build the HTTP client for Kibana")
}

/// `POST <kibana>[/s/<space>]/api/saved_objects/_import?overwrite=true`, multipart with the
/// NDJSON as `file`, the `kbn-xsrf` header, and the Elasticsearch credentials.
pub fn import_request(
    http: &reqwest::Client,
    kibana: &str,
    space: &str,
    ndjson: String,
    es: &ElasticsearchConfig,
) -> anyhow::Result<reqwest::Request> {
    let base = reqwest::Url::parse(kibana).map_err(|e| {
        anyhow::anyhow!(
            "--kibana {:?} is not a URL: {e}",
            lookout::redact_userinfo(kibana)
        )
    })?;
    if !matches!(base.scheme(), "http" | "https") {
        bail!(
            "--kibana {:?} must be an http:// or https:// URL",
            lookout::redact_userinfo(kibana)
        );
    }
    let prefix = if space == lookout::DEFAULT_NAMESPACE {
        String::new()
    } else {
        format!("s/{space}/")
    };
    let mut url = base.clone();
    let path = format!(
        "{}/{prefix}api/saved_objects/_import",
        base.path().trim_end_matches('/')
    );
    url.set_path(&path);
    url.set_query(Some("overwrite=true"));
    let part = reqwest::multipart::Part::text(ndjson)
        .file_name(IMPORT_FILE_NAME)
        .mime_str("application/ndjson")
        .context("application/ndjson is a valid MIME type")?;
    let form = reqwest::multipart::Form::new().part("file", part);
    let mut request = http.post(url).header("kbn-xsrf", "true").multipart(form);
    if let Some(value) = authorization(es) {
        let mut header = reqwest::header::HeaderValue::from_str(&value)
            .context("the credentials hold characters that cannot be sent in a header")?;
        header.set_sensitive(true);
        request = request.header(reqwest::header::AUTHORIZATION, header);
    }
    request
        .build()
        .context("cannot build the Kibana import request")
}

/// The `Authorization` header value of the Elasticsearch credentials, if any.
fn authorization(es: &ElasticsearchConfig) -> Option<String> {
    let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    if let Some(key) = &es.api_key {
        let encoded = match key.expose().contains(':') {
            true => encode(key.expose()),
            false => key.expose().to_string(),
        };
        return Some(format!("ApiKey {encoded}"));
    }
    let (user, password) = (es.username.as_ref()?, es.password.as_ref()?);
    Some(format!(
        "Basic {}",
        encode(&format!("{user}:{}", password.expose()))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout::Secret;

    fn build(kibana: &str, space: &str, es: &ElasticsearchConfig) -> reqwest::Request {
        let http = reqwest::Client::new();
        import_request(&http, kibana, space, "{}\n".to_string(), es).expect("a valid request")
    }

    #[test]
    fn the_import_goes_to_the_saved_objects_api_with_overwrite_and_xsrf() {
        let request = build(
            "http://kibana:5601",
            "default",
            &ElasticsearchConfig::default(),
        );
        assert_eq!(request.method(), reqwest::Method::POST);
        assert_eq!(
            request.url().as_str(),
            "http://kibana:5601/api/saved_objects/_import?overwrite=true"
        );
        assert_eq!(request.headers()["kbn-xsrf"], "true");
        let content_type = request.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or("");
        assert!(
            content_type.starts_with("multipart/form-data; boundary="),
            "{content_type}"
        );
        assert!(
            request
                .headers()
                .get(reqwest::header::AUTHORIZATION)
                .is_none()
        );
    }

    #[test]
    fn a_namespace_other_than_default_imports_into_that_space_under_a_base_path() {
        let request = build(
            "https://host/kibana/",
            "soc",
            &ElasticsearchConfig::default(),
        );
        assert_eq!(
            request.url().as_str(),
            "https://host/kibana/s/soc/api/saved_objects/_import?overwrite=true"
        );
    }

    #[test]
    fn basic_credentials_are_sent_as_for_elasticsearch_and_marked_sensitive() {
        let es = ElasticsearchConfig {
            username: Some("elastic".into()),
            password: Some(Secret::new("changeme")),
            ..ElasticsearchConfig::default()
        };
        let request = build("http://kibana:5601", "default", &es);
        let header = &request.headers()[reqwest::header::AUTHORIZATION];
        assert_eq!(header, "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==");
        assert!(header.is_sensitive());
        assert!(!format!("{request:?}").contains("ZWxhc3RpYzpjaGFuZ2VtZQ"));
    }

    #[test]
    fn an_id_and_key_pair_is_encoded_as_an_api_key() {
        let es = ElasticsearchConfig {
            api_key: Some(Secret::new("id1:key1")),
            ..ElasticsearchConfig::default()
        };
        let request = build("http://kibana:5601", "default", &es);
        assert_eq!(
            request.headers()[reqwest::header::AUTHORIZATION],
            "ApiKey aWQxOmtleTE="
        );
    }

    #[test]
    fn a_kibana_url_that_is_not_http_is_refused_without_its_credentials() {
        let http = reqwest::Client::new();
        let error = import_request(
            &http,
            "ftp://u:hunter2@k",
            "default",
            String::new(),
            &ElasticsearchConfig::default(),
        )
        .expect_err("not http");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}
