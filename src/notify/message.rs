//! One message for one connector about a group of alerts (one alert, or a summary): the JSON
//! body each service documents (Slack Block Kit, a Teams Adaptive Card, a PagerDuty Events API
//! v2 event, a webhook's own or templated body), an email's subject and parts, or index
//! documents. Pure: the secrets (URLs, keys) are added when sending.

use super::data::{self, Frame};
use super::template::{Escape, Template};
use crate::config::{Connector, ConnectorKind};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The longest PagerDuty `payload.summary` (the Events API limit).
pub const PAGERDUTY_SUMMARY_CHARS: usize = 1024;
/// The most fields a Slack section block shows.
const SLACK_MAX_FIELDS: usize = 10;
/// The longest text of a Slack section block.
const SLACK_SECTION_CHARS: usize = 3000;
/// The longest Slack header text.
const SLACK_HEADER_CHARS: usize = 150;

/// A connector's templates, parsed once.
#[derive(Debug, Default)]
pub struct Templates {
    /// Webhook body, Slack/Teams/email message, PagerDuty summary.
    pub main: Option<Template>,
    /// Email subject.
    pub subject: Option<Template>,
}

impl Templates {
    /// Parses the connector's templates; the error names the key.
    pub fn of(connector: &Connector) -> Result<Templates, String> {
        let parse = |key: &str, text: &Option<String>| -> Result<Option<Template>, String> {
            text.as_deref()
                .map(|t| {
                    Template::parse(t)
                        .map_err(|m| format!("connector {}: `{key}`: {m}", connector.id))
                })
                .transpose()
        };
        Ok(match &connector.kind {
            ConnectorKind::Webhook(c) => Templates {
                main: parse("body", &c.body)?,
                subject: None,
            },
            ConnectorKind::Slack(c) | ConnectorKind::Teams(c) => Templates {
                main: parse("message", &c.message)?,
                subject: None,
            },
            ConnectorKind::PagerDuty(c) => Templates {
                main: parse("summary", &c.summary)?,
                subject: None,
            },
            ConnectorKind::Email(c) => Templates {
                main: parse("message", &c.message)?,
                subject: parse("subject", &c.subject)?,
            },
            ConnectorKind::Index(_) => Templates::default(),
        })
    }
}

/// What is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A JSON (or templated) body for the connector's URL.
    Http {
        body: Vec<u8>,
        content_type: &'static str,
        /// Sent as the `Idempotency-Key` header (webhooks).
        idempotency_key: Option<String>,
    },
    Email {
        subject: String,
        text: String,
        html: String,
        /// A stable Message-ID, so that mail clients can tell a resend.
        message_id: String,
    },
    /// Documents for the index connector, each under its id.
    Index { docs: Vec<(String, Value)> },
}

/// The alerts one message is about (all of one rule), and the message's identity.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub alerts: Vec<&'a Value>,
    /// The same for the same connector and alerts: the webhook's idempotency key.
    pub key: String,
    /// PagerDuty's dedup key: the alert id (one alert), else the rule and execution.
    pub dedup_key: String,
}

impl<'a> Group<'a> {
    /// The group of `alerts` for `connector`. One alert: its id; several: a hash of the ids.
    pub fn new(connector: &str, alerts: Vec<&'a Value>, summary: bool) -> Group<'a> {
        let ids: Vec<String> = alerts
            .iter()
            .map(|a| data::text(a, "kibana.alert.uuid"))
            .collect();
        let key = match ids.as_slice() {
            [one] if !summary => format!("lookout-{connector}-{one}"),
            _ => {
                let mut sorted = ids.clone();
                sorted.sort();
                let digest = Sha256::digest(sorted.join("\n").as_bytes());
                format!("lookout-{connector}-{}", hex(&digest[..16]))
            }
        };
        let dedup_key = match (ids.as_slice(), summary) {
            ([one], false) => one.clone(),
            _ => {
                let first = alerts.first().copied().unwrap_or(&Value::Null);
                format!(
                    "{}/{}",
                    data::text(first, "kibana.alert.rule.rule_id"),
                    data::text(first, "kibana.alert.rule.execution.uuid")
                )
            }
        };
        Group {
            alerts,
            key,
            dedup_key,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The message for `group` on `connector`.
pub fn build(
    connector: &Connector,
    templates: &Templates,
    group: &Group<'_>,
    frame: Frame<'_>,
) -> Message {
    let data = template_data(group, frame);
    match &connector.kind {
        ConnectorKind::Webhook(_) => {
            let (body, content_type) = match &templates.main {
                Some(t) => (
                    t.render(&data, Escape::Json).into_bytes(),
                    "application/json",
                ),
                None => (json_bytes(&webhook_body(group, frame)), "application/json"),
            };
            Message::Http {
                body,
                content_type,
                idempotency_key: Some(group.key.clone()),
            }
        }
        ConnectorKind::Slack(_) => {
            let text = templates
                .main
                .as_ref()
                .map(|t| t.render(&data, Escape::Slack));
            http_json(slack_body(group, frame, text))
        }
        ConnectorKind::Teams(_) => {
            let text = templates
                .main
                .as_ref()
                .map(|t| t.render(&data, Escape::None));
            http_json(teams_body(group, frame, text))
        }
        ConnectorKind::PagerDuty(c) => {
            let summary = templates
                .main
                .as_ref()
                .map(|t| t.render(&data, Escape::None));
            http_json(pagerduty_body(group, frame, summary, c.source.as_deref()))
        }
        ConnectorKind::Email(_) => email(group, frame, templates, &data),
        ConnectorKind::Index(_) => Message::Index {
            docs: index_docs(group, frame),
        },
    }
}

fn template_data(group: &Group<'_>, frame: Frame<'_>) -> Value {
    data::template_data(&group.alerts, frame)
}

fn http_json(body: Value) -> Message {
    Message::Http {
        body: json_bytes(&body),
        content_type: "application/json",
        idempotency_key: None,
    }
}

fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a JSON value serializes")
}

/// The first alert (every group has one).
fn first<'a>(group: &Group<'a>) -> &'a Value {
    group.alerts.first().copied().unwrap_or(&Value::Null)
}

/// One line saying what the message is about.
fn title(group: &Group<'_>) -> String {
    let alert = first(group);
    let rule = data::text(alert, "kibana.alert.rule.name");
    let severity = data::text(alert, "kibana.alert.severity");
    match group.alerts.len() {
        1 => format!("[{severity}] {rule}"),
        n => format!("[{severity}] {rule}: {n} alerts"),
    }
}

/// lookout's own webhook body: the rule, the count, the key fields of the listed alerts, and
/// for a single alert its key fields at the top level too.
fn webhook_body(group: &Group<'_>, frame: Frame<'_>) -> Value {
    let alert = first(group);
    let listed: Vec<Value> = (group.alerts.iter().take(frame.shown))
        .map(|a| data::key_object(a))
        .collect();
    let mut body = json!({
        "lookout": {"connector": frame.connector, "mode": frame.mode, "idempotency_key": group.key},
        "rule": {
            "name": data::field(alert, "kibana.alert.rule.name"),
            "rule_id": data::field(alert, "kibana.alert.rule.rule_id"),
            "uuid": data::field(alert, "kibana.alert.rule.uuid"),
            "type": data::field(alert, "kibana.alert.rule.type"),
            "severity": data::field(alert, "kibana.alert.rule.severity"),
            "tags": data::field(alert, "kibana.alert.rule.tags"),
        },
        "count": group.alerts.len(),
        "alerts": listed,
        "link": frame.results_link,
    });
    if group.alerts.len() == 1
        && let (Value::Object(top), Value::Object(fields)) = (&mut body, data::key_object(alert))
    {
        top.extend(fields);
        top.insert(
            "@timestamp".into(),
            data::field(alert, "@timestamp")
                .cloned()
                .unwrap_or(Value::Null),
        );
    }
    body
}

/// Text cut to `max` characters, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((at, _)) if text[at..].chars().nth(1).is_some() => format!("{}…", &text[..at]),
        _ => text.to_string(),
    }
}

/// A readable Block Kit message: a header, the reason (or the rendered template), the key
/// fields, the other alerts of a summary, and the link.
fn slack_body(group: &Group<'_>, frame: Frame<'_>, custom: Option<String>) -> Value {
    let escape = |t: &str| super::template::escape(t, Escape::Slack);
    let alert = first(group);
    let title = title(group);
    let main = custom.unwrap_or_else(|| escape(&data::text(alert, "kibana.alert.reason")));
    let fields: Vec<Value> = data::key_fields(alert)
        .into_iter()
        .filter(|(name, _)| *name != "kibana.alert.reason")
        .take(SLACK_MAX_FIELDS)
        .map(|(name, value)| json!({"type": "mrkdwn", "text": cut(&format!("*{name}*\n{}", escape(&value)), 2000)}))
        .collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&title, SLACK_HEADER_CHARS)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&main, SLACK_SECTION_CHARS)}}),
    ];
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if group.alerts.len() > 1 {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&others(group, frame, &escape), SLACK_SECTION_CHARS)}}));
    }
    if let Some(link) = frame.results_link {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("<{link}|Open in Kibana>")}]}));
    }
    json!({"text": title, "blocks": blocks})
}

/// The listed alerts of a summary, one line each, and how many more there are.
fn others(group: &Group<'_>, frame: Frame<'_>, escape: &dyn Fn(&str) -> String) -> String {
    let mut lines: Vec<String> = (group.alerts.iter().take(frame.shown))
        .map(|a| {
            format!(
                "• {} {}",
                escape(&data::text(a, "kibana.alert.original_time")),
                escape(&data::text(a, "kibana.alert.reason"))
            )
        })
        .collect();
    let more = group.alerts.len().saturating_sub(frame.shown);
    if more > 0 {
        lines.push(format!("… and {more} more"));
    }
    lines.join("\n")
}

/// A Teams workflow webhook message: one Adaptive Card with the title, the text, the key fields
/// as facts and a link.
fn teams_body(group: &Group<'_>, frame: Frame<'_>, custom: Option<String>) -> Value {
    let alert = first(group);
    let text = custom.unwrap_or_else(|| data::text(alert, "kibana.alert.reason"));
    let facts: Vec<Value> = data::key_fields(alert)
        .into_iter()
        .filter(|(name, _)| *name != "kibana.alert.reason")
        .map(|(name, value)| json!({"title": name, "value": value}))
        .collect();
    let mut body = vec![
        json!({"type": "TextBlock", "text": title(group), "weight": "Bolder", "size": "Medium", "wrap": true}),
        json!({"type": "TextBlock", "text": text, "wrap": true}),
        json!({"type": "FactSet", "facts": facts}),
    ];
    if group.alerts.len() > 1 {
        body.push(json!({"type": "TextBlock", "text": others(group, frame, &|t| t.to_string()), "wrap": true}));
    }
    let actions: Vec<Value> = frame
        .results_link
        .map(|link| json!({"type": "Action.OpenUrl", "title": "Open in Kibana", "url": link}))
        .into_iter()
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            },
        }],
    })
}

/// Kibana severity -> PagerDuty severity.
pub fn pagerduty_severity(severity: &str) -> &'static str {
    match severity {
        "critical" => "critical",
        "high" => "error",
        "medium" => "warning",
        _ => "info",
    }
}

/// A PagerDuty Events API v2 trigger event (the routing key is added when sending).
fn pagerduty_body(
    group: &Group<'_>,
    frame: Frame<'_>,
    summary: Option<String>,
    source: Option<&str>,
) -> Value {
    let alert = first(group);
    let summary = summary.unwrap_or_else(|| match group.alerts.len() {
        1 => data::text(alert, "kibana.alert.reason"),
        _ => title(group),
    });
    let source = source.map(str::to_string).unwrap_or_else(|| {
        ["host.name", "user.name", "cloud.account.id"]
            .iter()
            .map(|f| data::text(alert, f))
            .find(|t| !t.is_empty())
            .unwrap_or_else(|| "lookout".to_string())
    });
    let listed: Vec<Value> = (group.alerts.iter().take(frame.shown))
        .map(|a| data::key_object(a))
        .collect();
    let mut event = json!({
        "event_action": "trigger",
        "dedup_key": group.dedup_key,
        "payload": {
            "summary": cut(&summary, PAGERDUTY_SUMMARY_CHARS),
            "source": source,
            "severity": pagerduty_severity(&data::text(alert, "kibana.alert.severity")),
            "timestamp": data::field(alert, "kibana.alert.original_time"),
            "component": data::field(alert, "kibana.alert.rule.name"),
            "group": data::field(alert, "kibana.alert.rule.rule_id"),
            "class": data::field(alert, "kibana.alert.rule.type"),
            "custom_details": {"count": group.alerts.len(), "alerts": listed},
        },
        "client": "lookout",
    });
    if let Some(link) = frame.results_link {
        event["client_url"] = json!(link);
        event["links"] = json!([{"href": link, "text": "Open in Kibana"}]);
    }
    event
}

/// An email: the templated or default subject, a plain-text part and an HTML part.
fn email(group: &Group<'_>, frame: Frame<'_>, templates: &Templates, data: &Value) -> Message {
    let subject = templates
        .subject
        .as_ref()
        .map(|t| t.render(data, Escape::None))
        .unwrap_or_else(|| format!("lookout alert {}", title(group)));
    let (text, html) = match &templates.main {
        Some(t) => {
            let html = format!(
                "<div style=\"white-space: pre-wrap\">{}</div>",
                t.render(data, Escape::Html)
            );
            (t.render(data, Escape::None), html)
        }
        None => default_email(group, frame),
    };
    Message::Email {
        subject: subject.replace(['\r', '\n'], " "),
        text,
        html,
        message_id: format!("<{}@lookout>", group.key),
    }
}

fn default_email(group: &Group<'_>, frame: Frame<'_>) -> (String, String) {
    let html_escape = |t: &str| super::template::escape(t, Escape::Html);
    let mut text = format!("{}\n\n", title(group));
    let mut html = format!("<h2>{}</h2>", html_escape(&title(group)));
    for alert in group.alerts.iter().take(frame.shown) {
        html.push_str("<table>");
        for (name, value) in data::key_fields(alert) {
            text.push_str(&format!("{name}: {value}\n"));
            html.push_str(&format!(
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                html_escape(name),
                html_escape(&value)
            ));
        }
        html.push_str("</table><hr>");
        text.push('\n');
    }
    let more = group.alerts.len().saturating_sub(frame.shown);
    if more > 0 {
        text.push_str(&format!("... and {more} more\n"));
        html.push_str(&format!("<p>… and {more} more</p>"));
    }
    if let Some(link) = frame.results_link {
        text.push_str(&format!("\nOpen in Kibana: {link}\n"));
        html.push_str(&format!(
            "<p><a href=\"{}\">Open in Kibana</a></p>",
            html_escape(link)
        ));
    }
    (text, html)
}

/// The index connector's documents: a copy of each alert under its own id (one alert), or one
/// summary document under the group's key.
fn index_docs(group: &Group<'_>, frame: Frame<'_>) -> Vec<(String, Value)> {
    if group.alerts.len() == 1 && frame.mode == "per_alert" {
        let alert = first(group);
        let mut doc = alert.clone();
        if let Value::Object(map) = &mut doc {
            map.retain(|key, _| !key.starts_with("lookout.notify."));
            map.insert("lookout.notify.connector".into(), json!(frame.connector));
        }
        return vec![(data::text(alert, "kibana.alert.uuid"), doc)];
    }
    vec![(group.key.clone(), webhook_body(group, frame))]
}
