//! The native path: one `_eql/search` per window, as Kibana's EQL executor sends it (built by
//! `eql::native`), its events written as a query rule's alerts and its sequences as a shell
//! alert plus building blocks. Shard failures fail the chunk once what came back is written.

use super::{Chunk, PlannedSearch, event_alerts, sequence_alerts};
use crate::alert::{SharedFields, SourceEvent};
use crate::engine::ExecutionError;
use crate::engine::plan;
use crate::engine::sink::AlertSink;
use crate::eql::native::{self, EqlAnswer, EqlHits, QUERY_PARAMETERS, RequestInput};
use crate::es::ServerInfo;
use crate::rule::{DEFAULT_TIMESTAMP, Rule};
use crate::schedule::Window;
use serde_json::Value;

/// The first Elasticsearch version whose `_eql/search` accepts `allow_partial_search_results`
/// (elastic/elasticsearch#116388); earlier ones refuse a request that has it.
const PARTIAL_RESULTS_SINCE: (u32, u32) = (8, 18);

/// Searches the window with `_eql/search` and writes its alerts; returns the events found (for
/// sequences, the events of the sequences).
pub(super) async fn run(
    chunk: &Chunk<'_>,
    sink: &mut AlertSink<'_>,
) -> Result<u64, ExecutionError> {
    let answer = search(chunk.search, chunk.rule, &chunk.window).await?;
    if answer.reached_max_signals(chunk.rule.max_signals) {
        sink.limit_reached();
    }
    let shared = SharedFields::new(chunk.alert);
    let found = match &answer.hits {
        EqlHits::Events(events) => {
            let sources = events.iter().map(|event| SourceEvent {
                index: &event.index,
                id: &event.id,
                source: &event.source,
            });
            sink.offer(event_alerts(chunk, &shared, sources)).await?;
            events.len()
        }
        EqlHits::Sequences(sequences) => {
            let mut alerts = Vec::with_capacity(sequences.len());
            let mut events = 0;
            for sequence in sequences {
                let present: Vec<SourceEvent<'_>> = (sequence.present_events())
                    .map(|event| SourceEvent {
                        index: &event.index,
                        id: &event.id,
                        source: &event.source,
                    })
                    .collect();
                events += present.len();
                alerts.extend(sequence_alerts(chunk, &shared, &present));
            }
            sink.offer_sequences(alerts).await?;
            events
        }
    };
    let failures = (answer.shard_failures.iter())
        .map(|failure| failure.reason.clone())
        .collect();
    (chunk.search).fail_on_shard_failures(&chunk.rule.search.index, failures)?;
    Ok(found as u64)
}

/// The `_eql/search` of one window, read.
pub(in crate::engine) async fn search(
    search: &crate::engine::search::Searcher<'_>,
    rule: &Rule,
    window: &Window,
) -> Result<EqlAnswer, ExecutionError> {
    let server = search.server_info().await?;
    let body = request(rule, window, accepts_partial_results(&server));
    let bytes = search
        .eql(&rule.search.index, &QUERY_PARAMETERS, body)
        .await?;
    native::read_answer(&bytes).map_err(|error| search.failure(error.to_string()))
}

/// The request body of one window.
fn request(rule: &Rule, window: &Window, partial_results: bool) -> Value {
    let (time_range, filter) = plan::eql_filters(&rule.search, window);
    let timestamp = &rule.search.timestamp;
    let fields = super::fields(rule);
    native::request_body(&RequestInput {
        query: rule.kind.query().text(),
        max_signals: rule.max_signals,
        time_range: &time_range,
        filter: filter.as_ref(),
        primary_timestamp: timestamp.primary(),
        secondary_timestamp: timestamp.falls_back().then_some(DEFAULT_TIMESTAMP),
        timestamp_field: fields.timestamp,
        event_category_field: fields.category,
        tiebreaker_field: fields.tiebreaker,
        runtime_mappings: None,
        allow_partial_search_results: partial_results,
    })
}

/// Whether the server's `_eql/search` accepts `allow_partial_search_results` (an unparsable
/// version is assumed recent).
fn accepts_partial_results(server: &ServerInfo) -> bool {
    let mut parts = server
        .version
        .split('.')
        .map(|part| part.parse::<u32>().ok());
    match (parts.next(), parts.next()) {
        (Some(Some(major)), Some(Some(minor))) => (major, minor) >= PARTIAL_RESULTS_SINCE,
        _ => true,
    }
}

/// The `_eql/search` of a window, as people read it (for a recent server).
pub(super) fn planned(rule: &Rule, window: Window) -> PlannedSearch {
    PlannedSearch {
        purpose: "the window's EQL search (on servers with _eql/search)",
        index: rule.search.index.clone(),
        body: request(rule, &window, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eql::native::eql_search_double::{EqlSearchDouble, SEQUENCES};
    use crate::es::Distribution;
    use crate::rule::{Loaded, parse_rule_bytes};
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    const QUERY: &str = "sequence by user.name [iam where event.action == \"CreateUser\"] [iam where event.action == \"AttachUserPolicy\"]";

    /// An EQL rule with a timestamp override, a category override and a tiebreaker.
    fn eql_rule() -> Rule {
        let text = format!(
            "[metadata]\nmaturity = \"production\"\n[rule]\nauthor = [\"t\"]\ndescription = \"d\"\n\
             index = [\"logs-aws.cloudtrail-*\"]\nlanguage = \"eql\"\nname = \"n\"\nrisk_score = 21\n\
             rule_id = \"eql-native\"\nseverity = \"low\"\ntype = \"eql\"\nmax_signals = 50\n\
             timestamp_override = \"event.ingested\"\nevent_category_override = \"event.type\"\n\
             tiebreaker_field = \"event.sequence\"\nquery = '''{QUERY}'''\n"
        );
        match parse_rule_bytes(std::path::Path::new("r.toml"), text.as_bytes()) {
            Ok((Loaded::Runnable(rule), _)) => *rule,
            other => panic!("an EQL rule: {other:?}"),
        }
    }

    fn window() -> Window {
        Window {
            from: Utc.with_ymd_and_hms(2026, 1, 10, 11, 54, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap(),
        }
    }

    #[test]
    fn the_window_request_is_kibanas_and_the_eql_search_test_double_accepts_it() {
        let rule = eql_rule();
        let body = request(&rule, &window(), false);
        assert_eq!(body["query"], QUERY, "the query is sent unchanged");
        assert_eq!(body["size"], 50, "max_signals");
        assert_eq!(body["event_category_field"], "event.type");
        assert_eq!(body["tiebreaker_field"], "event.sequence");
        assert!(body.get("timestamp_field").is_none(), "not the override");
        assert!(body.get("allow_partial_search_results").is_none());
        let range = &body["filter"]["bool"]["filter"][0];
        let primary = &range["bool"]["should"][0]["range"]["event.ingested"];
        assert_eq!(primary["gte"], "2026-01-10T11:54:00.000Z");
        assert_eq!(primary["lte"], "2026-01-10T12:00:00.000Z");
        assert_eq!(
            body["fields"],
            json!([
                {"field": "*", "include_unmapped": true},
                {"field": "event.ingested", "format": "strict_date_optional_time"},
                {"field": "@timestamp", "format": "strict_date_optional_time"},
            ])
        );
        let double = EqlSearchDouble::default().answering(QUERY, SEQUENCES);
        let answer = double
            .search(&body)
            .expect("a body the EQL search API accepts");
        let answer = native::read_answer(answer.as_bytes()).expect("a documented answer");
        let EqlHits::Sequences(sequences) = answer.hits else {
            panic!("sequences expected");
        };
        assert_eq!(sequences[0].present_events().count(), 2);
        assert!(request(&rule, &window(), true)["allow_partial_search_results"] == true);
    }

    fn server(version: &str) -> ServerInfo {
        ServerInfo {
            distribution: Distribution::Elasticsearch,
            version: version.to_string(),
        }
    }

    #[test]
    fn partial_results_are_asked_from_elasticsearch_8_18_on() {
        assert!(!accepts_partial_results(&server("8.15.0")));
        assert!(!accepts_partial_results(&server("8.17.9")));
        assert!(accepts_partial_results(&server("8.18.0")));
        assert!(accepts_partial_results(&server("9.1.2")));
        assert!(accepts_partial_results(&server("unknown")));
    }
}
