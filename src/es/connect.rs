//! Builds the HTTP transport from the configuration: where (URL or Cloud ID), who
//! (no auth, basic, API key), and how much to trust the server's certificate.

use super::EsError;
use crate::config::ElasticsearchConfig;
use crate::config::redact_userinfo;
use elasticsearch::auth::Credentials;
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::Url;
use elasticsearch::http::transport::{
    CloudConnectionPool, SingleNodeConnectionPool, Transport, TransportBuilder,
};

/// Builds the transport and a credential-free description of the endpoint.
pub(super) fn transport(config: &ElasticsearchConfig) -> Result<(Transport, String), EsError> {
    let (url, url_credentials) = split_url(&config.url)?;
    let credentials = credentials(config, url_credentials);
    let (builder, endpoint) = match &config.cloud_id {
        Some(cloud_id) => {
            let pool = CloudConnectionPool::new(cloud_id)
                .map_err(|e| EsError::Config(format!("cloud_id is not valid: {e}")))?;
            (
                TransportBuilder::new(pool),
                format!("elastic cloud deployment {}", cloud_name(cloud_id)),
            )
        }
        None => {
            let endpoint = url.to_string();
            (
                TransportBuilder::new(SingleNodeConnectionPool::new(url)),
                endpoint,
            )
        }
    };
    let mut builder = builder
        .timeout(config.request_timeout)
        .enable_meta_header(false)
        .cert_validation(validation(config)?);
    if let Some(credentials) = credentials {
        builder = builder.auth(credentials);
    }
    let transport = builder.build().map_err(|e| {
        EsError::Config(redact_userinfo(&format!(
            "cannot build the HTTP client: {e}"
        )))
    })?;
    Ok((transport, endpoint))
}

/// The URL without its `user:password@` part (which becomes basic credentials), with a
/// trailing slash so that paths join under a path prefix.
fn split_url(text: &str) -> Result<(Url, Option<(String, String)>), EsError> {
    let mut url = Url::parse(text)
        .map_err(|e| EsError::Config(format!("{:?} is not a URL: {e}", redact_userinfo(text))))?;
    let credentials = if url.username().is_empty() {
        None
    } else {
        let username = percent_decode(url.username());
        let password = percent_decode(url.password().unwrap_or(""));
        Some((username, password))
    };
    // Clearing userinfo only fails for URLs that cannot have it (no host); those failed above.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok((url, credentials))
}

/// Explicit credentials win over the URL's; an API key wins over nothing else (validation
/// refuses a key together with a username).
fn credentials(
    config: &ElasticsearchConfig,
    from_url: Option<(String, String)>,
) -> Option<Credentials> {
    if let Some(key) = &config.api_key {
        return Some(match key.expose().split_once(':') {
            Some((id, secret)) => Credentials::ApiKey(id.to_string(), secret.to_string()),
            None => Credentials::EncodedApiKey(key.expose().to_string()),
        });
    }
    if let (Some(username), Some(password)) = (&config.username, &config.password) {
        return Some(Credentials::Basic(
            username.clone(),
            password.expose().to_string(),
        ));
    }
    from_url.map(|(username, password)| Credentials::Basic(username, password))
}

/// Verification on (with the extra CA when given) unless `verify_tls = false`.
fn validation(config: &ElasticsearchConfig) -> Result<CertificateValidation, EsError> {
    if !config.verify_tls {
        tracing::warn!(
            "TLS certificate verification is off (verify_tls = false): the connection to the \
             server can be intercepted; use ca_file instead outside of local testing"
        );
        return Ok(CertificateValidation::None);
    }
    let Some(path) = &config.ca_file else {
        return Ok(CertificateValidation::Default);
    };
    let pem = std::fs::read(path)
        .map_err(|e| EsError::Config(format!("cannot read the CA file {}: {e}", path.display())))?;
    let certificate = Certificate::from_pem(&pem).map_err(|e| {
        EsError::Config(format!(
            "the CA file {} holds no usable PEM certificate: {e}",
            path.display()
        ))
    })?;
    Ok(CertificateValidation::Full(certificate))
}

/// The deployment name part of a Cloud ID (`name:base64`), never the encoded hosts.
fn cloud_name(cloud_id: &str) -> &str {
    cloud_id
        .split_once(':')
        .map_or("(unnamed)", |(name, _)| name)
}

/// Decodes `%XX` escapes in URL userinfo (other bytes are kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_taken_out_of_the_url() {
        let (url, credentials) =
            split_url("http://elastic:p%40ss@localhost:9200").expect("valid url");
        assert_eq!(url.as_str(), "http://localhost:9200/");
        assert_eq!(
            credentials,
            Some(("elastic".to_string(), "p@ss".to_string()))
        );
    }

    #[test]
    fn a_path_prefix_keeps_a_trailing_slash_so_requests_stay_under_it() {
        let (url, _) = split_url("https://proxy.example/es").expect("valid url");
        assert_eq!(
            url.join("_search").expect("joins").as_str(),
            "https://proxy.example/es/_search"
        );
    }

    #[test]
    fn an_invalid_url_error_does_not_repeat_the_password() {
        let error = split_url("http://user:hunter2@[bad").expect_err("invalid url");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    fn config() -> ElasticsearchConfig {
        ElasticsearchConfig::default()
    }

    #[test]
    fn an_id_and_key_pair_becomes_an_api_key_and_an_encoded_key_is_sent_as_is() {
        let pair = ElasticsearchConfig {
            api_key: Some(crate::config::Secret::new("id1:key1")),
            ..config()
        };
        assert!(
            matches!(credentials(&pair, None), Some(Credentials::ApiKey(id, key)) if id == "id1" && key == "key1")
        );
        let encoded = ElasticsearchConfig {
            api_key: Some(crate::config::Secret::new("aWQxOmtleTE=")),
            ..config()
        };
        assert!(
            matches!(credentials(&encoded, None), Some(Credentials::EncodedApiKey(k)) if k == "aWQxOmtleTE=")
        );
    }

    #[test]
    fn configured_credentials_win_over_the_urls() {
        let basic = ElasticsearchConfig {
            username: Some("lookout".to_string()),
            password: Some(crate::config::Secret::new("pw")),
            ..config()
        };
        let from_url = Some(("elastic".to_string(), "other".to_string()));
        assert!(
            matches!(credentials(&basic, from_url.clone()), Some(Credentials::Basic(u, _)) if u == "lookout")
        );
        assert!(
            matches!(credentials(&config(), from_url), Some(Credentials::Basic(u, _)) if u == "elastic")
        );
        assert!(credentials(&config(), None).is_none());
    }
}
