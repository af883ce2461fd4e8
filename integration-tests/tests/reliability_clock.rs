//! The host's clock against the server's, on the live server: lookout reads the server's time
//! from the `Date` header of the answers it receives anyway, or, from a server that sends none
//! (Elasticsearch before elastic/elasticsearch#157422, noida-db), from a search of its own,
//! and never records coverage past the server's now, so a host clock ahead of the server's
//! cannot mark as covered a window whose events have not arrived yet. (A backward step of the
//! host's clock is the scheduler's, tested with the injected clock in
//! `src/service/scheduler/tests.rs`.)

mod engine_support;

use chrono::{TimeDelta, Utc};
use engine_support::*;
use integration_tests::server::Capability;
use std::time::Duration;

/// On a server whose answers carry no `Date` header, the reading the daemon takes every
/// minute (here on the test's source index, which maps `@timestamp`).
async fn read_the_clock_unless_the_server_sends_dates(env: &Env) {
    if env.server.has(Capability::DateHeader).await {
        return;
    }
    let client = env.engine.client();
    assert_eq!(
        client.clock_offset(),
        None,
        "no Date header, no reading yet"
    );
    let measured = (client.read_server_clock(&env.source, "@timestamp").await)
        .expect("the reading's search succeeds");
    assert!(measured, "the reading answers the server's now");
}

#[tokio::test]
async fn the_clock_offset_is_measured_from_the_date_header_or_a_reading_of_its_own() {
    let env = Env::new().await;
    let client = env.engine.client();
    let header = env.server.has(Capability::DateHeader).await;
    read_the_clock_unless_the_server_sends_dates(&env).await;
    let offset = client.clock_offset().expect("the server's clock was read");
    // The server runs on this host: the same clock, within the header's one-second resolution
    // (a reading's: one millisecond) and the answer's latency.
    assert!(offset.low <= TimeDelta::zero(), "{offset:?}");
    assert!(offset.high >= TimeDelta::zero(), "{offset:?}");
    let width = if header { 2 } else { 1 };
    assert!(
        offset.high - offset.low < TimeDelta::seconds(width),
        "{offset:?}"
    );
    assert!(!offset.beyond(client.clock_tolerance()), "{offset:?}");
    if header {
        // A server that sends `Date` headers is never asked for its time.
        let asked = (client.read_server_clock(&env.source, "@timestamp").await).expect("no error");
        assert!(!asked);
    }
}

#[tokio::test]
async fn a_host_clock_ahead_of_the_server_never_covers_time_the_server_has_not_reached() {
    let env = Env::new().await;
    read_the_clock_unless_the_server_sends_dates(&env).await;
    let rule = env.rule(ADD_USER_TO_GROUP, &[]);
    // lookout's clock is ten minutes ahead of the server's (which is this host's).
    let ahead = minutes(10);
    let first = env.execute(&rule, Utc::now() + ahead).await;
    let covered = first.record.window_to;
    assert!(
        covered <= Utc::now(),
        "the window ends at {covered}, past the server's now"
    );
    assert!(
        (first.record.warnings.iter()).any(|w| w.contains("ahead of the server's")),
        "{:?}",
        first.record.warnings
    );
    // An event that reaches the server just after that execution, stamped with the server's
    // time (after the covered end) ...
    let stamped = covered + TimeDelta::milliseconds(1);
    env.index(&[add_user(stamped, "after")]).await;
    // ... (once the server's whole-second Date header has moved past it) ...
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // ... is found by the next execution, five minutes later on lookout's clock. Had the first
    // window ended at lookout's now, its coverage would reach ten minutes into the server's
    // future and the event would never be searched.
    let second = env.execute(&rule, Utc::now() + ahead + minutes(5)).await;
    assert!(second.record.window_to <= Utc::now());
    assert_eq!(marks(&env.alerts().await), vec!["after".to_string()]);
    assert_eq!(second.record.alerts_created, 1, "{:?}", second.record);
}
