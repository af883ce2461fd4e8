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
pub use route::{RULE_FILE_KEY, route};
