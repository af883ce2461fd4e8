//! Start-up against the server: wait until it answers (retrying with exponential back-off on the
//! engine's clock), then check that the index templates of the alerts, state and executions
//! indices exist. The daemon never rewrites a template that exists: installing and updating them
//! is `lookout setup`'s job, the only one that needs the `manage_index_templates` privilege. On a
//! fresh cluster where setup never ran, a missing template is installed once (with a warning
//! saying so), so that a first `lookout run --once` works; a user that may not install it gets
//! an error that says to run `lookout setup`.

use crate::alert;
use crate::clock::Clock;
use crate::config::Config;
use crate::es::{Client, EsError, ServerInfo};
use chrono::TimeDelta;

/// The first wait after a failed attempt to reach the server.
pub const INITIAL_BACKOFF: TimeDelta = TimeDelta::seconds(1);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: TimeDelta = TimeDelta::seconds(60);

/// How persistently to retry.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: TimeDelta,
    pub max: TimeDelta,
    /// Give up after this many attempts; `None` retries until the server answers.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: INITIAL_BACKOFF,
            max: MAX_BACKOFF,
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// The wait after the `attempt`-th failure (1-based): initial, doubled each time, capped.
    pub fn delay(&self, attempt: u32) -> TimeDelta {
        let factor = 1_i32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(i32::MAX);
        self.initial
            .checked_mul(factor)
            .map_or(self.max, |delay| delay.min(self.max))
    }
}

/// One failed attempt, as reported to the caller's observer.
#[derive(Debug)]
pub struct FailedAttempt<'a> {
    pub attempt: u32,
    pub error: &'a EsError,
    /// How long lookout waits before the next attempt (`None` when it gives up).
    pub retry_in: Option<TimeDelta>,
}

/// Connects and checks the templates (installing missing ones), retrying the whole step with
/// back-off until it succeeds
/// or `backoff.max_attempts` is reached. Only failures that may pass are retried (no answer,
/// 429, 5xx); a refusal such as a rejected template or bad credentials ends at once, since
/// waiting cannot fix it. Each failure is logged and passed to `observe`.
pub async fn prepare(
    client: &Client,
    templates: &[(String, serde_json::Value)],
    clock: &dyn Clock,
    backoff: Backoff,
    mut observe: impl FnMut(&FailedAttempt<'_>),
) -> Result<ServerInfo, EsError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match try_prepare(client, templates).await {
            Ok(info) => return Ok(info),
            Err(error) => error,
        };
        let gives_up =
            !error.is_retryable() || backoff.max_attempts.is_some_and(|max| attempt >= max);
        let retry_in = (!gives_up).then(|| backoff.delay(attempt));
        let failed = FailedAttempt {
            attempt,
            error: &error,
            retry_in,
        };
        log_failure(client, &failed);
        observe(&failed);
        let Some(wait) = retry_in else {
            return Err(error);
        };
        clock.sleep_until(clock.now() + wait).await;
    }
}

async fn try_prepare(
    client: &Client,
    templates: &[(String, serde_json::Value)],
) -> Result<ServerInfo, EsError> {
    let info = client.server_info().await?;
    for (name, body) in templates {
        if !client.index_template_exists(name).await? {
            install_missing(client, name, body).await?;
        }
    }
    Ok(info)
}

/// Installs a template that does not exist yet (a fresh cluster), or says to run `lookout setup`
/// when the server refuses it.
async fn install_missing(
    client: &Client,
    name: &str,
    body: &serde_json::Value,
) -> Result<(), EsError> {
    match client.put_index_template(name, body).await {
        Ok(()) => {
            tracing::warn!(
                template = %name,
                "the index template was missing, so lookout installed it; `lookout setup` installs and updates templates"
            );
            Ok(())
        }
        Err(EsError::Status {
            op,
            index,
            status: status @ (401 | 403),
            reason,
        }) => Err(EsError::Status {
            op,
            index,
            status,
            reason: format!(
                "{reason} (the index template is missing: run `lookout setup` once as a user \
                 with the manage_index_templates privilege)"
            ),
        }),
        Err(other) => Err(other),
    }
}

fn log_failure(client: &Client, failed: &FailedAttempt<'_>) {
    let endpoint = client.endpoint();
    match failed.retry_in {
        Some(wait) => tracing::warn!(
            %endpoint, attempt = failed.attempt, error = %failed.error,
            retry_in_s = wait.num_seconds(),
            "the server is not ready; retrying"
        ),
        None => tracing::error!(
            %endpoint, attempt = failed.attempt, error = %failed.error,
            "the server is not ready; giving up"
        ),
    }
}

/// Every template lookout installs: the alerts index's (without an ILM policy: the daemon
/// rolls the alias over itself) and those of the state and executions indices.
pub fn index_templates(config: &Config) -> Vec<(String, serde_json::Value)> {
    index_templates_with(config, false)
}

/// [`index_templates`], the alerts template naming the ILM policy of `lookout setup` when `ilm`.
pub fn index_templates_with(config: &Config, ilm: bool) -> Vec<(String, serde_json::Value)> {
    let alerts_index = &config.alerts.index;
    let mut templates = vec![(
        alert::template_name(alerts_index),
        super::housekeeping::alerts_template(alerts_index, ilm),
    )];
    templates.extend(crate::state::index_templates(&config.engine));
    templates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_initial_delay_up_to_the_cap() {
        let backoff = Backoff::default();
        let delays: Vec<i64> = (1..=8).map(|n| backoff.delay(n).num_seconds()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff.delay(500), MAX_BACKOFF);
    }
}
