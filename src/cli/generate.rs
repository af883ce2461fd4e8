//! `lookout generate`: writes realistic CloudTrail events (ECS documents, one JSON object a line)
//! to stdout or a file, optionally as `_bulk` request lines; or prints the index template for
//! them. All the work is in the `lookout-generator` crate; this file turns flags into a configuration.

use anyhow::{Context, bail};
use chrono::{DateTime, TimeDelta, Utc};
use lookout::parse_duration;
use lookout::{DateMath, Rounding, parse_date};
use lookout_generator::mapping::{Flavor, index_template};
use lookout_generator::{
    CATALOG, DEFAULT_FAILURE_RATE, DEFAULT_SEED_ACTIONS_RATE, DEFAULT_SEED_FAILURE_RATE,
    GeneratedEvent, Generator, GeneratorConfig, LagModel, SEED_ACTIONS,
};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  lookout generate --count 2000 --start now-1h --end now > events.ndjson
  lookout generate --count 100000 --seed 7 --out big.ndjson
  lookout generate --bulk logs-aws.cloudtrail-default --start now-1h \\
      | curl -s -H 'Content-Type: application/x-ndjson' --data-binary @- localhost:9200/_bulk
  lookout generate --actions AddUserToGroup,CreateGroup --count 10 --seed-failure-rate 0.5
  lookout generate --template elasticsearch > logs-aws.cloudtrail.json";

/// Flags of `lookout generate`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// How many events.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Random seed: the same seed and flags give the same events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// First event time: RFC 3339 or date math (now-1h).
    #[arg(long, default_value = "now-1h")]
    start: String,
    /// Last event time: RFC 3339 or date math.
    #[arg(long, default_value = "now")]
    end: String,
    /// What `now` means in --start/--end/--ingested-until (RFC 3339; default: the current time).
    #[arg(long)]
    now: Option<String>,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o')]
    out: Option<PathBuf>,
    /// Emit `_bulk` lines ({"create":{"_index":INDEX}} before each document), ready to POST.
    #[arg(long, value_name = "INDEX")]
    bulk: Option<String>,
    /// Share of events that are the seed actions AddUserToGroup and CreateGroup (0 to 1).
    #[arg(long, default_value_t = DEFAULT_SEED_ACTIONS_RATE)]
    seed_rate: f64,
    /// Share of ordinary events that fail (0 to 1).
    #[arg(long, default_value_t = DEFAULT_FAILURE_RATE)]
    failure_rate: f64,
    /// Share of seed actions that fail (0 to 1).
    #[arg(long, default_value_t = DEFAULT_SEED_FAILURE_RATE)]
    seed_failure_rate: f64,
    /// Share of events that belong to the activity the AWS CloudTrail EQL rules look for, with
    /// its near misses (0 to 1; docs/eql.md lists the rules). 0 leaves it out.
    #[arg(long, default_value_t = 0.0)]
    eql_rate: f64,
    /// Only these actions, comma-separated (see --list-actions).
    #[arg(long, value_delimiter = ',')]
    actions: Option<Vec<String>>,
    /// Median delay between the event and its arrival in the index (event.ingested).
    #[arg(long, default_value = "5m")]
    lag_median: String,
    /// Longest delay.
    #[arg(long, default_value = "20m")]
    lag_max: String,
    /// Shortest delay.
    #[arg(long, default_value = "45s")]
    lag_min: String,
    /// Events that would arrive later than this are stamped as arriving then (date math), so
    /// that no event.ingested is in the future; `never` keeps every arrival time as drawn.
    #[arg(long, value_name = "TIME", default_value = "now")]
    ingested_until: String,
    /// Keep the raw CloudTrail record in event.original (tag preserve_original_event).
    #[arg(long)]
    original: bool,
    /// Print a summary (events per seed action and outcome) on stderr.
    #[arg(long)]
    summary: bool,
    /// Print the index template for these documents instead (elasticsearch or opensearch).
    #[arg(long, value_name = "FLAVOR")]
    template: Option<String>,
    /// List the known actions with their services and weights, and exit.
    #[arg(long)]
    list_actions: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.list_actions {
        return list_actions();
    }
    if let Some(flavor) = &args.template {
        let template = index_template(parse_flavor(flavor)?);
        let mut out = output(args.out.as_ref())?;
        serde_json::to_writer_pretty(&mut out, &template)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let generator = Generator::new(config(&args)?)?;
    let mut out = output(args.out.as_ref())?;
    let mut summary = Summary::default();
    for event in generator.events() {
        summary.add(&event);
        write_event(&mut out, &event, args.bulk.as_deref())?;
    }
    out.flush().context("writing the events")?;
    if args.summary {
        eprintln!("{summary}");
    }
    Ok(ExitCode::SUCCESS)
}

fn config(args: &Args) -> anyhow::Result<GeneratorConfig> {
    let now = match &args.now {
        Some(text) => {
            parse_date(text).with_context(|| format!("--now {text:?} is not an RFC 3339 time"))?
        }
        None => Utc::now(),
    };
    let start = resolve("--start", &args.start, now)?;
    let end = resolve("--end", &args.end, now)?;
    let mut config = GeneratorConfig::new(args.seed, start, end, args.count);
    config.seed_actions_rate = args.seed_rate;
    config.failure_rate = args.failure_rate;
    config.seed_failure_rate = args.seed_failure_rate;
    config.eql_activity_rate = args.eql_rate;
    config.actions = args.actions.clone();
    config.preserve_original = args.original;
    config.lag = LagModel {
        min: duration("--lag-min", &args.lag_min)?,
        median: duration("--lag-median", &args.lag_median)?,
        max: duration("--lag-max", &args.lag_max)?,
    };
    config.ingested_not_after = match args.ingested_until.as_str() {
        "never" => None,
        text => Some(resolve("--ingested-until", text, now)?),
    };
    Ok(config)
}

fn resolve(flag: &str, text: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    let math = DateMath::parse(text).map_err(|e| anyhow::anyhow!("{flag} {text:?}: {e}"))?;
    math.resolve(now, Rounding::Down)
        .with_context(|| format!("{flag} {text:?} is out of range"))
}

fn duration(flag: &str, text: &str) -> anyhow::Result<TimeDelta> {
    // Rule durations are positive; a lag of zero is fine.
    if text.trim().trim_end_matches(char::is_alphabetic) == "0" {
        return Ok(TimeDelta::zero());
    }
    parse_duration(text).map_err(|e| anyhow::anyhow!("{flag} {text:?}: {e}"))
}

fn parse_flavor(text: &str) -> anyhow::Result<Flavor> {
    match text.to_ascii_lowercase().as_str() {
        "elasticsearch" | "es" => Ok(Flavor::Elasticsearch),
        "opensearch" | "os" => Ok(Flavor::OpenSearch),
        _ => bail!("--template {text:?}: expected elasticsearch or opensearch"),
    }
}

fn output(path: Option<&PathBuf>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            Box::new(BufWriter::new(file))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    })
}

fn write_event(
    out: &mut dyn Write,
    event: &GeneratedEvent,
    bulk: Option<&str>,
) -> anyhow::Result<()> {
    if let Some(index) = bulk {
        let action = serde_json::json!({"create": {"_index": index}});
        serde_json::to_writer(&mut *out, &action)?;
        out.write_all(b"\n")?;
    }
    serde_json::to_writer(&mut *out, &event.to_document())?;
    out.write_all(b"\n").context("writing an event")?;
    Ok(())
}

fn list_actions() -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    for def in CATALOG {
        let seed = if SEED_ACTIONS.contains(&def.name) {
            " (seed action)"
        } else {
            ""
        };
        writeln!(
            stdout,
            "{:<32} {:<26} weight {:>3}{seed}",
            def.name,
            def.service.provider(),
            def.weight
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Counts of what was written, for --summary.
#[derive(Default)]
struct Summary {
    total: u64,
    failures: u64,
    seed: BTreeMap<(String, &'static str), u64>,
}

impl Summary {
    fn add(&mut self, event: &GeneratedEvent) {
        self.total += 1;
        let outcome = event.spec.outcome.as_str();
        if outcome == "failure" {
            self.failures += 1;
        }
        if SEED_ACTIONS.contains(&event.spec.action.as_str()) {
            *self
                .seed
                .entry((event.spec.action.clone(), outcome))
                .or_default() += 1;
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "generated {} events ({} failures)",
            self.total, self.failures
        )?;
        for ((action, outcome), count) in &self.seed {
            write!(f, "; {action} {outcome}: {count}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(flags: &[&str]) -> Args {
        let mut argv = vec!["generate"];
        argv.extend_from_slice(flags);
        Cli::try_parse_from(argv).expect("valid flags").args
    }

    fn time(text: &str) -> DateTime<Utc> {
        parse_date(text).expect("valid test time")
    }

    #[test]
    fn by_default_no_event_arrives_after_now() {
        let now = ["--now", "2024-05-01T12:00:00Z"];
        let default = config(&args(&now)).expect("valid");
        assert_eq!(
            default.ingested_not_after,
            Some(time("2024-05-01T12:00:00Z"))
        );
        let never = config(&args(&[&now[..], &["--ingested-until", "never"]].concat()));
        assert_eq!(never.expect("valid").ingested_not_after, None);
    }

    #[test]
    fn date_math_resolves_against_the_given_now() {
        let config = config(&args(&[
            "--now",
            "2024-05-01T12:00:00Z",
            "--start",
            "now-1h",
        ]))
        .expect("valid");
        assert_eq!(config.start, time("2024-05-01T11:00:00Z"));
        assert_eq!(config.end, time("2024-05-01T12:00:00Z"));
    }

    #[test]
    fn a_bad_time_names_its_flag() {
        let error = config(&args(&["--start", "yesterday-ish"])).expect_err("invalid");
        assert!(error.to_string().contains("--start"), "{error}");
    }

    #[test]
    fn lag_flags_become_the_lag_model_and_zero_is_allowed() {
        let flags = ["--lag-min", "0s", "--lag-median", "2m", "--lag-max", "1h"];
        let config = config(&args(&flags)).expect("valid");
        assert_eq!(config.lag.min, TimeDelta::zero());
        assert_eq!(config.lag.median, TimeDelta::minutes(2));
        assert_eq!(config.lag.max, TimeDelta::hours(1));
    }

    #[test]
    fn the_eql_rate_plants_the_activity_of_the_aws_eql_rules() {
        let flags = [
            "--now",
            "2024-05-01T12:00:00Z",
            "--start",
            "now-3h",
            "--count",
            "400",
        ];
        let count_planted = |extra: &[&str]| {
            let settings = config(&args(&[&flags[..], extra].concat())).expect("valid");
            (Generator::new(settings).expect("valid").events())
                .filter(|event| event.planted_for.is_some())
                .count()
        };
        assert_eq!(count_planted(&[]), 0);
        assert!(count_planted(&["--eql-rate", "0.5"]) > 0);
    }

    #[test]
    fn actions_are_comma_separated() {
        let config = config(&args(&["--actions", "AddUserToGroup,CreateGroup"])).expect("valid");
        assert_eq!(
            config.actions,
            Some(vec![
                "AddUserToGroup".to_string(),
                "CreateGroup".to_string()
            ])
        );
    }

    #[test]
    fn bulk_output_puts_a_create_action_before_each_document() {
        let now = "2024-05-01T12:00:00Z";
        let settings = config(&args(&["--now", now, "--count", "2"])).expect("valid");
        let generator = Generator::new(settings).expect("valid");
        let mut out = Vec::new();
        for event in generator.events() {
            write_event(&mut out, &event, Some("logs-aws.cloudtrail-default")).expect("written");
        }
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            r#"{"create":{"_index":"logs-aws.cloudtrail-default"}}"#
        );
        assert!(lines[1].starts_with(r#"{"@timestamp":"#), "{}", lines[1]);
    }

    #[test]
    fn template_flavors_have_short_names() {
        assert_eq!(parse_flavor("ES").expect("valid"), Flavor::Elasticsearch);
        assert_eq!(
            parse_flavor("opensearch").expect("valid"),
            Flavor::OpenSearch
        );
        assert!(parse_flavor("solr").is_err());
    }
}
