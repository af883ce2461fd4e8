//! The daemon on the live server with a manual clock: each rule runs at start + its stagger and
//! then every interval, every execution is recorded, and shutdown ends the loop.

mod engine_support;

use chrono::{DateTime, Utc};
use engine_support::*;
use lookout::Rule;
use lookout::{Engine, ExecutionReport, ManualClock};
use lookout::{Executor, SchedulerOptions as Options, stagger};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The real engine, passing each report to the test as it finishes.
struct Reporting<'a> {
    engine: &'a Engine,
    reports: mpsc::UnboundedSender<ExecutionReport>,
}

impl Executor for Reporting<'_> {
    fn execute<'a>(
        &'a self,
        rule: &'a Rule,
        at: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = bool> + 'a>> {
        Box::pin(async move {
            let report = self.engine.execute(rule, at).await;
            let failed = report.failed();
            self.reports.send(report).expect("the test listens");
            !failed
        })
    }
}

#[tokio::test]
async fn daemon_runs_each_rule_every_interval_from_its_stagger_until_shutdown() {
    let env = Env::new().await;
    let rule = env.rule(ADD_USER_TO_GROUP, &[]);
    let first = t0() + stagger(&rule.rule_id, rule.schedule.interval);
    env.index(&[
        add_user(first - minutes(3), "first"),
        add_user(first + minutes(2), "second"),
        add_user(first + minutes(7), "third"),
    ])
    .await;
    let clock = ManualClock::new(t0());
    let (sender, mut reports) = mpsc::unbounded_channel();
    let executor = Reporting {
        engine: &env.engine,
        reports: sender,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let options = Options {
        concurrency: 2,
        grace: Duration::from_secs(30),
    };
    let shutdown = async {
        let _ = stopped.await;
    };
    let daemon = lookout::schedule_rules(&executor, vec![rule], &clock, options, shutdown);
    let driver = async {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let deadline = clock.next_sleeper().await;
            clock.set(deadline);
            seen.push(reports.recv().await.expect("an execution report"));
        }
        stop.send(()).expect("the daemon listens");
        seen
    };
    let ((), seen) = tokio::join!(daemon, driver);

    let starts: Vec<_> = seen.iter().map(|r| r.record.started_at).collect();
    assert_eq!(starts, vec![first, first + minutes(5), first + minutes(10)]);
    let created: Vec<u64> = seen.iter().map(|r| r.record.alerts_created).collect();
    assert_eq!(created, vec![1, 1, 1]);
    assert_eq!(marks(&env.alerts().await), vec!["first", "second", "third"]);
}
