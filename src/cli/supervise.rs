//! `lookout run` as a service: serves the operator endpoint (/healthz, /readyz, /metrics) for the
//! whole process, runs the scheduler, and handles signals. SIGTERM or SIGINT: stop scheduling,
//! let running executions finish their writes within `engine.shutdown_grace`, return (exit 0).
//! SIGHUP: the same drain, then the configuration and rules are read again (off the async
//! threads, so the endpoint keeps answering) and checked against the server (it answers, the
//! credentials are accepted, the templates are there) before scheduling starts over with them; a
//! reload that fails any of this (bad configuration, a rule file with errors, no runnable rule,
//! a server that refuses the new settings) keeps the old ones running and logs why. State lives
//! in the server, so nothing is lost across a reload: each rule resumes from its `covered_to`.
//! The leases (several instances) outlive the rounds: a task of their own keeps them through the
//! drain and the reload, the rules the new configuration still loads keep their leases, those it
//! drops are given back, new ones are claimed (`Sharing::reload`); only SIGTERM/SIGINT (or a
//! reload that moves the leases elsewhere: another server, index, instance name or period)
//! gives them all back.

use super::common::{self, GlobalArgs};
use anyhow::Context;
use chrono::{DateTime, Utc};
use lookout::Backoff;
use lookout::Clock;
use lookout::Config;
use lookout::Rule;
use lookout::RuleSet;
use lookout::{Engine, ExecutionReport};
use lookout::{ExecutionSample, Observer, StatusLabel};
use lookout::{Executor, SchedulerOptions as Options};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// What ends one round of scheduling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP.
    Reload,
}

/// The process's signal streams, registered once at start.
pub struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn register() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
                hangup: signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal that matters.
    pub async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => Signal::Stop,
                _ = self.terminate.recv() => Signal::Stop,
                _ = self.hangup.recv() => Signal::Reload,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Stop
        }
    }
}

/// The configuration and rules one round of scheduling runs with.
pub struct Loaded {
    pub config: Config,
    pub rules: Vec<Rule>,
}

/// Reads the configuration and rules again for a reload. Any rule file error refuses the whole
/// reload, so that a half-edited file never silently drops a rule that was running.
pub fn reload(global: &GlobalArgs) -> Result<Loaded, String> {
    let env = |name: &str| std::env::var(name).ok();
    let path = global.config_path(&env);
    let config = Config::load_layered(path.as_deref(), env, &global.overrides())
        .map_err(|error| format!("configuration: {error}"))?;
    let set = lookout::load_rules(&config.rules);
    accept(set).map(|rules| Loaded { config, rules })
}

/// The runnable rules of a reload, or why it is refused.
pub fn accept(set: RuleSet) -> Result<Vec<Rule>, String> {
    if !set.errors.is_empty() {
        return Err(format!(
            "{} rule file error(s): {}",
            set.errors.len(),
            set.errors.join("; ")
        ));
    }
    if set.runnable.is_empty() {
        return Err("no runnable rule".to_string());
    }
    Ok(set.runnable)
}

/// Runs until SIGTERM/SIGINT, reloading on SIGHUP.
pub async fn supervise(
    global: &GlobalArgs,
    first: Loaded,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    let mut signals = Signals::register()?;
    let observer = Arc::new(Observer::default());
    let (stop_http, http) = start_endpoint(&first.config, observer.clone()).await?;
    let mut current = first;
    let mut connected = None;
    let mut member: Option<Member> = None;
    loop {
        let shutdown = async {
            let signal = signals.next().await;
            tracing::info!(
                ?signal,
                "signal received: no new executions; finishing running ones"
            );
            signal
        };
        let round = run_round(
            &current,
            connected.take(),
            clock,
            &observer,
            shutdown,
            &mut member,
        )
        .await;
        let received = match round {
            Ok(received) => received,
            Err(error) => {
                if let Some(member) = member.take() {
                    member.leave(&observer).await;
                }
                return Err(error);
            }
        };
        if received != Signal::Reload {
            break;
        }
        match checked_reload(global, clock, &mut signals).await {
            Reload::Accepted(accepted) => {
                let (next, engine) = *accepted;
                tracing::info!(
                    rules = next.rules.len(),
                    "reloaded the configuration and rules"
                );
                current = next;
                connected = Some(engine);
            }
            Reload::Refused(why) => tracing::error!(
                reason = %why,
                rules = current.rules.len(),
                "reload refused: the previous configuration and rules keep running"
            ),
            Reload::Stop => break,
        }
    }
    if let Some(member) = member.take() {
        member.leave(&observer).await;
    }
    stop_http.send(()).ok();
    drop(http.await);
    tracing::info!("stopped");
    Ok(())
}

/// What a SIGHUP leads to.
enum Reload {
    /// The new configuration and rules, with an engine connected with them.
    Accepted(Box<(Loaded, Engine)>),
    /// Why the previous ones keep running.
    Refused(String),
    /// SIGTERM or SIGINT came while the reload was checked.
    Stop,
}

/// Reads the configuration and rules again on a blocking thread, then connects with them
/// (trying [`lookout::ONCE_CONNECT_ATTEMPTS`] times): only a configuration the server accepts
/// replaces the running one.
async fn checked_reload(global: &GlobalArgs, clock: &dyn Clock, signals: &mut Signals) -> Reload {
    let args = global.clone();
    let next = match tokio::task::spawn_blocking(move || reload(&args)).await {
        Ok(Ok(next)) => next,
        Ok(Err(why)) => return Reload::Refused(why),
        Err(error) => return Reload::Refused(format!("reading the configuration failed: {error}")),
    };
    let backoff = Backoff {
        max_attempts: Some(lookout::ONCE_CONNECT_ATTEMPTS),
        ..Backoff::default()
    };
    tokio::select! {
        engine = lookout::connect(&next.config, clock, backoff) => match engine {
            Ok(engine) => Reload::Accepted(Box::new((next, engine))),
            Err(error) => Reload::Refused(format!("the server refused the new configuration: {error}")),
        },
        signal = signals.next() => match signal {
            Signal::Stop => Reload::Stop,
            Signal::Reload => Reload::Refused(
                "another SIGHUP came while the new configuration was checked; send it again".to_string(),
            ),
        },
    }
}

/// Binds the operator endpoint and serves it in the background until the sender fires.
async fn start_endpoint(
    config: &Config,
    observer: Arc<Observer>,
) -> anyhow::Result<(
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
)> {
    let listen = config.http.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("http.listen {listen}: cannot listen"))?;
    let address = listener
        .local_addr()
        .context("the endpoint's bound address")?;
    tracing::info!(%address, "serving /healthz, /readyz and /metrics");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(lookout::serve_operator_endpoint(
        listener,
        observer,
        async {
            drop(stopped.await);
        },
    ));
    Ok((stop, task))
}

/// This instance's leases and the task keeping them: kept across reloads.
struct Member {
    sharing: lookout::Sharing,
    maintaining: tokio::task::JoinHandle<()>,
}

impl Member {
    /// Joins the instances of the deployment and keeps the leases in a task of their own.
    async fn join(
        config: &Config,
        engine: &Engine,
        rules: &[Rule],
        observer: &Arc<Observer>,
    ) -> Member {
        let sharing = lookout::Sharing::join(config, engine, rules, Some(observer)).await;
        let maintaining = tokio::spawn({
            let sharing = sharing.clone();
            let observer = Arc::clone(observer);
            async move { sharing.maintain(Some(&observer)).await }
        });
        Member {
            sharing,
            maintaining,
        }
    }

    /// The member for a round under `loaded`: the one kept from the round before when it fits
    /// the configuration (its leases stay held), else a new one.
    async fn for_round(
        kept: Option<Member>,
        loaded: &Loaded,
        engine: &Engine,
        observer: &Arc<Observer>,
    ) -> Member {
        match kept {
            Some(kept) if kept.sharing.fits(&loaded.config) => {
                kept.sharing.reload(&loaded.rules, Some(observer)).await;
                kept
            }
            Some(other) => {
                tracing::info!(
                    "the leases move with the new configuration: giving them back first"
                );
                other.leave(observer).await;
                Member::join(&loaded.config, engine, &loaded.rules, observer).await
            }
            None => Member::join(&loaded.config, engine, &loaded.rules, observer).await,
        }
    }

    /// Stops keeping the leases and gives them all back.
    async fn leave(self, observer: &Observer) {
        self.maintaining.abort();
        drop(self.maintaining.await);
        self.sharing.leave(Some(observer)).await;
    }
}

/// One round: connect (retrying until the server answers or a signal comes) unless a reload
/// already did, then schedule until a signal, which it returns. `member`: the leases, kept from
/// the round before (a reload) and kept for the next one unless the signal is a stop.
async fn run_round(
    loaded: &Loaded,
    connected: Option<Engine>,
    clock: &dyn Clock,
    observer: &Arc<Observer>,
    shutdown: impl Future<Output = Signal>,
    member: &mut Option<Member>,
) -> anyhow::Result<Signal> {
    let config = &loaded.config;
    let mut by_type: std::collections::BTreeMap<&str, usize> = Default::default();
    for rule in &loaded.rules {
        *by_type.entry(rule.rule_type().as_str()).or_default() += 1;
    }
    observer.metrics.set_rules_loaded(by_type);
    observer.health.set_rules_loaded(!loaded.rules.is_empty());
    tokio::pin!(shutdown);
    let engine = match connected {
        Some(engine) => engine,
        None => tokio::select! {
            engine = lookout::connect(config, clock, Backoff::default()) => engine?,
            signal = &mut shutdown => return Ok(signal),
        },
    };
    observer.health.set_server_reachable(true);
    observer.health.set_templates_installed(true);
    lookout::warn_unmapped_fields(&engine, &loaded.rules).await;
    let options = Options {
        concurrency: config.engine.concurrency,
        grace: config.engine.shutdown_grace,
    };
    tracing::info!(
        rules = loaded.rules.len(),
        concurrency = options.concurrency,
        "scheduling rules"
    );
    let notifier = lookout::notifier(config, &engine, Some(Arc::clone(observer)))?;
    // Several instances share the rules through leases; this one runs those it holds.
    let joined = Member::for_round(member.take(), loaded, &engine, observer).await;
    let sharing = &joined.sharing;
    let observed = Observed {
        engine: &engine,
        observer,
        sharing,
    };
    let received = std::cell::Cell::new(None);
    let shutdown = async {
        let signal = shutdown.await;
        if signal == Signal::Stop {
            sharing.stop();
        }
        received.set(Some(signal));
    };
    let scheduling = lookout::schedule_shared(
        &observed,
        loaded.rules.clone(),
        clock,
        options,
        sharing.ownership(),
        shutdown,
    );
    // Alerts rollover and execution record retention, beside the scheduler (hourly).
    let housekeeping = lookout::Housekeeping::new(engine.client().clone(), config);
    tokio::select! {
        () = lookout::schedule_and_deliver(scheduling, &notifier, clock) => {}
        () = housekeeping.run(clock) => {}
        () = lookout::keep_server_clock(engine.client(), config, clock) => {}
    }
    // The scheduler returns once the shutdown completed (or when it has no rule to schedule).
    let signal = received.get().unwrap_or(Signal::Stop);
    if signal == Signal::Reload {
        *member = Some(joined);
    } else {
        joined.leave(observer).await;
    }
    Ok(signal)
}

/// The engine, with every execution reported to the metrics and readiness.
struct Observed<'a> {
    engine: &'a Engine,
    observer: &'a Observer,
    sharing: &'a lookout::Sharing,
}

impl Executor for Observed<'_> {
    fn execute<'a>(
        &'a self,
        rule: &'a Rule,
        at: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(async move {
            // `None`: the rule's lease moved to another instance just before; nothing ran.
            let Some(report) = self.sharing.execute(self.engine, rule, at).await else {
                return true;
            };
            observe_report(self.observer, &report);
            if let Some(offset) = self.engine.client().clock_offset() {
                self.observer.metrics.set_clock_offset(offset.seconds());
            }
            !report.failed()
        })
    }

    fn started_late(&self, _rule: &Rule, delay: Duration) {
        self.observer.metrics.record_schedule_delay(delay);
    }

    fn coverage(&self) -> Pin<Box<dyn Future<Output = Option<lookout::Coverage>> + '_>> {
        Box::pin(lookout::coverage(self.engine))
    }
}

/// Records one execution's numbers, its gap, and whether the server answered.
pub fn observe_report(observer: &Observer, report: &ExecutionReport) {
    let record = &report.record;
    let millis = Duration::from_millis;
    observer.metrics.record_execution(&ExecutionSample {
        rule_id: &record.rule_id,
        status: StatusLabel::from(record.status),
        hits: record.hits,
        alerts_created: record.alerts_created,
        duplicates: record.duplicates,
        dead_letters: record.dead_letters,
        search: millis(record.search_ms),
        write: millis(record.write_ms),
        total: millis(record.total_ms),
    });
    if let Some(gap) = &record.gap {
        let length = (gap.to - gap.from).to_std().unwrap_or_default();
        observer.metrics.record_gap(&record.rule_id, length);
    }
    let unreachable = record
        .error
        .as_deref()
        .is_some_and(|e| e.contains("server unreachable"));
    observer.health.set_server_reachable(!unreachable);
}

/// Loads the first configuration and rules for `lookout run` (not `--once`).
pub fn first_load(global: &GlobalArgs) -> anyhow::Result<Loaded> {
    let config = common::load(global)?;
    let set = lookout::load_rules(&config.rules);
    if set.runnable.is_empty() {
        anyhow::bail!("no runnable rule in the configured rule folders");
    }
    Ok(Loaded {
        config,
        rules: set.runnable,
    })
}
