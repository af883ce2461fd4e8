//! Notifications: every alert lookout writes reaches the people it should (webhook, Slack,
//! Teams, PagerDuty, email, another index), after an outage or a crash too, and never twice
//! where the receiver can tell. Input: the configured connectors and routes, and the alerts
//! index; output: messages, and the outbox state on each alert.
//!
//! * [`route`] decides, when an alert is built, which connectors it must reach; the ids go into
//!   the alert document itself (`lookout.notify.pending`), so an alert written is an alert that
//!   will be notified, whatever happens next.
//! * [`deliver`] finds alerts with pending connectors, sends ([`message`], [`send`]) and records
//!   each outcome on the alert ([`outbox`]) with conditional updates.
//! * [`template`] and [`data`] render Mustache templates against Kibana's action variables.
//!
//! It does not decide what is an alert, and never writes one.

pub mod data;
pub mod deliver;
pub mod message;
pub mod outbox;
pub mod route;
pub mod send;
pub mod template;

pub use deliver::{Notifier, Targets};
pub use route::route;

use crate::es::{Client, EsError};

/// Per connector: how many alerts behind `alerts_pattern` are pending, sent and failed
/// (`lookout status`), as (connector, pending, sent, failed).
pub async fn delivery_counts(
    client: &Client,
    alerts_pattern: &str,
) -> Result<Vec<(String, u64, u64, u64)>, EsError> {
    let answer = client
        .search_raw(alerts_pattern, outbox::status_query())
        .await?;
    Ok(outbox::read_status(&answer))
}
