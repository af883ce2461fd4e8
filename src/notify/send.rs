//! Sends one message to its receiver: HTTP for webhooks, Slack, Teams and PagerDuty (with the
//! connector's secret URL, headers or routing key added here), SMTP for email (lettre over
//! rustls), `_bulk` create for the index connector. Says whether a failure is worth retrying.
//! Error texts never hold a URL, header value, key or password.

use super::message::Message;
use crate::config::{Connector, ConnectorKind, EmailConfig, SmtpSecurity};
use crate::es::Client;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// The longest piece of a receiver's answer kept in an error.
const ANSWER_CHARS: usize = 200;
/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Worth trying again (no answer, 429, 5xx, ...); `after` is the receiver's `Retry-After`.
    Retry {
        after: Option<Duration>,
        message: String,
    },
    /// The receiver refused this message for good (400, 413, 422; SMTP 5xx).
    Permanent(String),
}

impl SendError {
    pub fn message(&self) -> &str {
        match self {
            SendError::Retry { message, .. } | SendError::Permanent(message) => message,
        }
    }
}

/// A connector's way to its receiver, built once.
pub enum Transport {
    Http(reqwest::Client),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Index(Client),
}

impl Transport {
    /// The transport of `connector`; `es` is lookout's client (the index connector's).
    pub fn new(connector: &Connector, es: &Client) -> Result<Transport, String> {
        match &connector.kind {
            ConnectorKind::Email(email) => smtp(email, connector.timeout)
                .map(Transport::Smtp)
                .map_err(|m| format!("connector {}: {m}", connector.id)),
            ConnectorKind::Index(_) => Ok(Transport::Index(es.clone())),
            _ => reqwest::Client::builder()
                .timeout(connector.timeout)
                .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
                .build()
                .map(Transport::Http)
                .map_err(|e| {
                    format!(
                        "connector {}: cannot build the HTTP client: {e}",
                        connector.id
                    )
                }),
        }
    }
}

fn smtp(
    email: &EmailConfig,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut tls = TlsParameters::builder(email.host.clone());
    if let Some(path) = &email.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
        let certificate = Certificate::from_pem(&pem).map_err(|e| {
            format!(
                "the CA file {} holds no usable certificate: {e}",
                path.display()
            )
        })?;
        tls = tls.add_root_certificate(certificate);
    }
    let params = || -> Result<TlsParameters, String> {
        tls.clone()
            .build_rustls()
            .map_err(|e| format!("TLS set-up for {}: {e}", email.host))
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(email.host.clone())
        .port(email.port)
        .timeout(Some(timeout));
    builder = match email.security {
        SmtpSecurity::Tls => builder.tls(Tls::Wrapper(params()?)),
        SmtpSecurity::StartTls => builder.tls(Tls::Required(params()?)),
        SmtpSecurity::None => builder.tls(Tls::None),
    };
    if let (Some(user), Some(password)) = (&email.username, &email.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    Ok(builder.build())
}

/// Sends `message` to `connector`'s receiver.
pub async fn send(
    connector: &Connector,
    transport: &Transport,
    message: Message,
) -> Result<(), SendError> {
    match (transport, &connector.kind, message) {
        (
            Transport::Http(http),
            kind,
            Message::Http {
                body,
                content_type,
                idempotency_key,
            },
        ) => send_http(http, kind, body, content_type, idempotency_key).await,
        (
            Transport::Smtp(smtp),
            ConnectorKind::Email(email),
            Message::Email {
                subject,
                text,
                html,
                message_id,
            },
        ) => send_email(smtp, email, subject, text, html, message_id).await,
        (Transport::Index(client), ConnectorKind::Index(index), Message::Index { docs }) => {
            write_docs(client, &index.index, docs).await
        }
        _ => Err(SendError::Permanent(format!(
            "connector {}: a message of another type cannot be sent",
            connector.id
        ))),
    }
}

async fn send_http(
    http: &reqwest::Client,
    kind: &ConnectorKind,
    body: Vec<u8>,
    content_type: &'static str,
    idempotency_key: Option<String>,
) -> Result<(), SendError> {
    let (url, method, body) = match kind {
        ConnectorKind::Webhook(c) => (c.url.expose(), c.method.as_str(), body),
        ConnectorKind::Slack(c) | ConnectorKind::Teams(c) => (c.url.expose(), "POST", body),
        ConnectorKind::PagerDuty(c) => (
            c.url.as_str(),
            "POST",
            with_routing_key(body, c.routing_key.expose()),
        ),
        _ => return Err(SendError::Permanent("not an HTTP connector".into())),
    };
    let method = if method == "PUT" {
        reqwest::Method::PUT
    } else {
        reqwest::Method::POST
    };
    let mut request = http
        .request(method, url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    if let ConnectorKind::Webhook(c) = kind {
        for (name, value) in &c.headers {
            request = request.header(name.as_str(), value.expose());
        }
    }
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.map_err(|e| SendError::Retry {
        after: None,
        message: http_error(&e),
    })?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let after = retry_after(response.headers());
    let answer = response.text().await.unwrap_or_default();
    let message = format!("HTTP {status}: {}", short(&answer));
    match status {
        400 | 413 | 422 => Err(SendError::Permanent(message)),
        _ => Err(SendError::Retry { after, message }),
    }
}

/// The PagerDuty event with its routing key.
fn with_routing_key(body: Vec<u8>, key: &str) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(mut event) => {
            event["routing_key"] = serde_json::json!(key);
            serde_json::to_vec(&event).expect("a JSON value serializes")
        }
        Err(_) => body,
    }
}

/// A reqwest error and its causes, without the URL (it may hold a token).
fn http_error(error: &reqwest::Error) -> String {
    let mut error_text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.contains("://") && !error_text.contains(&text) {
            error_text.push_str(": ");
            error_text.push_str(&text);
        }
        source = cause.source();
    }
    error_text
}

/// `Retry-After` as seconds or an HTTP date, at most [`MAX_RETRY_AFTER`].
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let delay = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
            (at.to_utc() - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// The start of a receiver's answer, on one line, control characters escaped.
fn short(text: &str) -> String {
    let one_line: String = text.chars().take(ANSWER_CHARS).collect();
    crate::terminal::printable(one_line.trim()).into_owned()
}

async fn send_email(
    smtp: &AsyncSmtpTransport<Tokio1Executor>,
    email: &EmailConfig,
    subject: String,
    text: String,
    html: String,
    message_id: String,
) -> Result<(), SendError> {
    use lettre::message::{MultiPart, SinglePart, header::ContentType};
    let parse = |address: &str| {
        address
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| SendError::Permanent(format!("{address:?} is not an email address: {e}")))
    };
    let mut builder = lettre::Message::builder()
        .from(parse(&email.from)?)
        .subject(subject)
        .message_id(Some(message_id));
    for to in &email.to {
        builder = builder.to(parse(to)?);
    }
    for cc in &email.cc {
        builder = builder.cc(parse(cc)?);
    }
    let message = builder
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(|e| SendError::Permanent(format!("cannot build the email: {e}")))?;
    match smtp.send(message).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
        Err(e) => Err(SendError::Retry {
            after: None,
            message: format!("SMTP: {e}"),
        }),
    }
}

async fn write_docs(
    client: &Client,
    index: &str,
    docs: Vec<(String, serde_json::Value)>,
) -> Result<(), SendError> {
    let written = client
        .bulk_create(index, docs, false)
        .await
        .map_err(|e| SendError::Retry {
            after: None,
            message: e.to_string(),
        })?;
    match written.failed.first() {
        None => Ok(()),
        Some(first) => Err(SendError::Retry {
            after: None,
            message: format!(
                "{} documents not written to {index}: HTTP {}: {}",
                written.failed.len(),
                first.status,
                first.reason
            ),
        }),
    }
}
