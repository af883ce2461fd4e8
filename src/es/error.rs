//! [`EsError`]: what went wrong talking to the server, naming the operation and index, and
//! never carrying credentials (URL userinfo is redacted from every message).

use crate::config::redact_userinfo;

/// The longest server error reason kept in a message, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// What error messages name instead of an index for cluster-level requests.
pub const CLUSTER: &str = "the cluster";

/// A failed request. `op` is what lookout was doing ("search", "bulk create", ...), `index` the
/// index or pattern involved ([`CLUSTER`] for cluster-level requests).
#[derive(Debug, Clone, thiserror::Error)]
pub enum EsError {
    /// The client could not be built from the configuration (bad URL, unreadable CA file...).
    #[error("elasticsearch client configuration: {0}")]
    Config(String),
    /// No answer: connection refused, DNS failure, TLS failure or timeout. Retryable.
    #[error("{op} on {index}: server unreachable{}: {message}", if *.timeout { " (timed out)" } else { "" })]
    Unreachable {
        op: &'static str,
        index: String,
        timeout: bool,
        message: String,
    },
    /// The server answered with an error status; `reason` is its own explanation.
    #[error("{op} on {index}: HTTP {status}: {reason}")]
    Status {
        op: &'static str,
        index: String,
        status: u16,
        reason: String,
    },
    /// The server answered with a body that is not JSON, or JSON of an unexpected shape.
    #[error("{op} on {index}: unexpected answer: {message}")]
    BadAnswer {
        op: &'static str,
        index: String,
        message: String,
    },
    /// Some shards did not answer a search: the hits or buckets that came back may be
    /// incomplete.
    #[error("{op} on {index} failed on some shards: {}", .failures.join("; "))]
    ShardFailures {
        op: &'static str,
        index: String,
        failures: Vec<String>,
    },
    /// lookout itself asked for something impossible (for example a search over no index).
    #[error("{op} on {index}: {message}")]
    InvalidRequest {
        op: &'static str,
        index: String,
        message: String,
    },
}

impl EsError {
    /// Whether repeating the request later may succeed: no answer, 429 or a 5xx status.
    pub fn is_retryable(&self) -> bool {
        match self {
            EsError::Unreachable { .. } => true,
            EsError::Status { status, .. } => is_retryable_status(*status),
            _ => false,
        }
    }

    /// The HTTP status, when the server answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            EsError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// 429 (too many requests) and 5xx are worth retrying; other statuses are not.
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || status >= 500
}

/// The server's explanation of an error answer: `type: reason` (plus the cause) from the
/// JSON `error` object, or the start of the body when it is plain text.
pub fn error_reason(body: &serde_json::Value) -> String {
    let error = &body["error"];
    let reason = if let Some(text) = body.as_str() {
        text.trim().to_string()
    } else if let Some(text) = error.as_str() {
        text.to_string()
    } else if error.is_object() {
        describe_cause(error)
    } else if let Some(message) = body["message"].as_str() {
        message.to_string()
    } else {
        body.to_string()
    };
    truncate(&redact_userinfo(&reason), MAX_REASON_CHARS)
}

fn describe_cause(error: &serde_json::Value) -> String {
    let kind = error["type"].as_str().unwrap_or("error");
    let mut text = match error["reason"].as_str() {
        Some(reason) => format!("{kind}: {reason}"),
        None => kind.to_string(),
    };
    let cause = &error["caused_by"];
    if cause.is_object() {
        text.push_str(" (caused by ");
        text.push_str(&describe_cause(cause));
        text.push(')');
    }
    text
}

/// The first `max` characters of `text`, with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
