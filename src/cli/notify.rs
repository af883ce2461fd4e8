//! `lookout notify test CONNECTOR`: sends a sample alert's message to one configured connector
//! right away (outside the outbox) and says whether the receiver accepted it; also the
//! notification lines of `lookout status`. Exit status 0 when the receiver accepted it, 1 when
//! it did not.

use super::common::{self, GlobalArgs};
use chrono::{SecondsFormat, Utc};
use lookout::{Client, Config, Notifier, Targets};
use serde_json::{Value, json};
use std::process::ExitCode;

/// Flags of `lookout notify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: NotifyCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum NotifyCommand {
    /// Send a sample message to one connector now.
    Test {
        /// The connector's id (`[[notify.connectors]] id`).
        connector: String,
    },
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = common::load(global)?;
    let NotifyCommand::Test { connector } = args.command;
    let client = common::client(&config)?;
    let targets = Targets {
        alerts_pattern: format!("{}*", config.alerts.index),
        executions_index: config.engine.executions_index.clone(),
    };
    let notifier =
        Notifier::new(client, &config.notify, targets, None).map_err(anyhow::Error::msg)?;
    let now = Utc::now();
    let sample = sample_alert(&config, now);
    let kind = config
        .notify
        .connector(&connector)
        .map_or("unknown", |c| c.kind.type_name());
    let result = common::runtime()?.block_on(notifier.test(&connector, &sample, now));
    let name = lookout::printable(&connector).into_owned();
    match result {
        Ok(()) => {
            println!("sent a test message to connector {name} ({kind})");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            println!(
                "connector {name} ({kind}): not delivered: {}",
                lookout::printable(&error)
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// An alert as lookout writes them, about nothing that happened.
fn sample_alert(config: &Config, now: chrono::DateTime<Utc>) -> Value {
    let time = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    json!({
        "@timestamp": time,
        "kibana.alert.uuid": format!("lookout-notify-test-{}", now.timestamp_millis()),
        "kibana.alert.original_time": time,
        "kibana.alert.severity": "low",
        "kibana.alert.risk_score": 21,
        "kibana.alert.reason": "lookout notify test: a sample message, no event behind it",
        "kibana.alert.rule.name": "lookout notification test",
        "kibana.alert.rule.rule_id": "lookout-notify-test",
        "kibana.alert.rule.uuid": "00000000-0000-0000-0000-000000000000",
        "kibana.alert.rule.type": "query",
        "kibana.alert.rule.severity": "low",
        "kibana.alert.rule.tags": ["lookout"],
        "kibana.alert.rule.execution.uuid": "lookout-notify-test",
        "kibana.space_ids": [config.alerts.namespace],
        "event": {"action": "NotifyTest", "outcome": "success", "kind": "signal"},
        "user": {"name": "lookout"},
        "host": {"name": "lookout"},
    })
}

/// Per configured connector: its id, type, and the alerts pending, sent and failed.
pub async fn delivery_status(client: &Client, config: &Config) -> anyhow::Result<Vec<Value>> {
    if config.notify.connectors.is_empty() {
        return Ok(Vec::new());
    }
    let rows = lookout::delivery_counts(client, &format!("{}*", config.alerts.index)).await?;
    Ok(config
        .notify
        .connectors
        .iter()
        .map(|connector| {
            let (pending, sent, failed) = rows
                .iter()
                .find(|row| row.0 == connector.id)
                .map_or((0, 0, 0), |row| (row.1, row.2, row.3));
            json!({
                "id": connector.id,
                "type": connector.kind.type_name(),
                "pending": pending,
                "sent": sent,
                "failed": failed,
            })
        })
        .collect())
}
