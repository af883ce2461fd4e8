//! The "Examples:" text shown at the end of each command's `--help`, kept together so they are
//! easy to review and keep in step with the flags.

/// `lookout --help`.
pub const LOOKOUT: &str = "\
Examples:
  lookout setup --es-url https://es.example:9200 --es-username lookout --es-password-file /run/secrets/es
  lookout run --config /etc/lookout/lookout.toml
  lookout status
  lookout completions bash > /etc/bash_completion.d/lookout

Configuration: built-in defaults < config file (--config, LOOKOUT_CONFIG, or ./config/lookout.toml)
< LOOKOUT_* environment variables < command-line flags.";

/// `lookout setup --help`.
pub const SETUP: &str = "\
Examples:
  lookout setup                                    # index templates only
  lookout setup --kibana http://localhost:5601     # and Kibana data views and saved searches
  LOOKOUT_ES_API_KEY_FILE=/run/secrets/key lookout setup --kibana https://kibana.example";

/// `lookout status --help`.
pub const STATUS: &str = "\
Examples:
  lookout status
  lookout status --es-url http://localhost:9200 --alerts-index lookout-alerts-soc

Exit status: 0 when the server answers, 1 when it cannot be reached, 2 on a configuration error.";

/// `lookout completions --help`.
pub const COMPLETIONS: &str = "\
Examples:
  lookout completions bash > /etc/bash_completion.d/lookout
  lookout completions zsh > \"${fpath[1]}/_lookout\"
  lookout completions fish > ~/.config/fish/completions/lookout.fish";

/// `lookout translate --help`.
pub const TRANSLATE: &str = "\
Examples:
  lookout translate --kql 'event.action: \"AddUserToGroup\" and event.outcome: success' --pretty
  lookout translate rules/aws_iam_user_addition_to_group.toml --mapping index-template.json
  lookout translate rules/aws_iam_user_addition_to_group.toml --server   # the configured server
  lookout translate rules/aws_iam_user_addition_to_group.toml --url http://localhost:9200
  lookout translate rules/aws_iam_user_addition_to_group.toml --mapping index-template.json --sent";

/// `lookout run --help`.
pub const RUN: &str = "\
Examples:
  lookout run                                          # daemon; SIGHUP reloads, SIGTERM stops
  lookout run --once                                   # every rule one time, then a summary
  lookout run --once --format json | jq .alerts_created
  lookout run --once --now 2026-01-10T12:00:00Z        # replay one instant
  lookout run --log-format json --http-listen 0.0.0.0:9464

Signals: SIGTERM/SIGINT stop scheduling and let running executions finish within
engine.shutdown_grace; SIGHUP reloads the configuration and rules (a broken reload keeps the old
ones and logs why). /healthz, /readyz and /metrics are served on http.listen.

Exit status of --once: 0 when every rule ran and no execution failed; 1 when an execution failed,
a rule file has errors or no rule ran (a mistyped --rules folder, only broken files); 2 when
lookout could not run at all (a configuration error, the server unreachable after 5 attempts).
Without --once: 0 after SIGTERM/SIGINT, 2 when it cannot start.";

/// `lookout rules --help`.
pub const RULES: &str = "\
Examples:
  lookout rules
  lookout rules --building-blocks        # building-block rules too
  lookout rules --rules /etc/lookout/rules --es-url https://es.example:9200";

/// `lookout test --help`.
pub const TEST: &str = "\
Examples:
  lookout test rules/aws_iam_user_addition_to_group.toml --from now-24h
  lookout test rules/aws_iam_group_creation.toml --from 2026-01-10T00:00:00Z --to 2026-01-11T00:00:00Z
  lookout test rules/aws_iam_group_creation.toml --from now-24h --explain   # why nothing matches
  lookout test rules/aws_iam_group_creation.toml --from now-24h --format json";

/// `lookout backfill --help`.
pub const BACKFILL: &str = "\
Examples:
  lookout backfill --from now-7d                                  # every runnable rule
  lookout backfill --from 2026-01-01T00:00:00Z --to 2026-01-02T00:00:00Z --rule RULE_ID
  lookout backfill --gaps                                         # fill every recorded gap

Run the same command again after an interruption: it resumes after the last finished chunk.";

/// `lookout validate --help`.
pub const VALIDATE: &str = "\
Examples:
  lookout validate                       # the rules/ folder, lists from exceptions/
  lookout validate rules/ more-rules/ --format json
  lookout validate rules/ --exceptions kibana-export/
  lookout validate rules/aws_iam_group_creation.toml
  lookout validate rules/ --strict       # in CI: warnings (a misspelled key) fail too
  lookout validate --es-url http://localhost:9200   # and fields the indices do not map

Exit status: 0 when every file loads (with --strict: and nothing warns), 1 otherwise, 2 on a
configuration error.";

/// `lookout generate --help`.
pub const GENERATE: &str = "\
Examples:
  lookout generate > events.ndjson";

/// `lookout alerts --help`.
pub const ALERTS: &str = "\
Examples:
  lookout alerts                                   # the 20 newest alerts
  lookout alerts --from now-24h --severity high    # high and critical, last day
  lookout alerts --rule RULE_ID --limit 100 --format json";

/// `lookout notify --help`.
pub const NOTIFY: &str = "\
Examples:
  lookout notify test soc                # send a sample message to the connector with id soc

Connectors and routes are configured under [notify] (docs/notifications.md).";

#[cfg(test)]
mod tests {
    use super::super::Cli;
    use clap::{CommandFactory, Parser};

    #[test]
    fn every_command_has_examples_in_its_help() {
        let command = Cli::command();
        assert!(
            command
                .get_after_help()
                .is_some_and(|h| h.to_string().contains("Examples:"))
        );
        for sub in command.get_subcommands() {
            let help = sub
                .get_after_help()
                .map(ToString::to_string)
                .unwrap_or_default();
            assert!(
                help.contains("Examples:"),
                "lookout {} --help has no examples",
                sub.get_name()
            );
        }
    }

    #[test]
    fn each_command_shows_its_own_options_before_the_shared_ones_without_repeated_defaults() {
        // `-h`: the short help, where a default written in the doc and clap's own would meet
        // on one line.
        let help_of = |name: &str| match Cli::try_parse_from(["lookout", name, "-h"]) {
            Err(help) => help.to_string(),
            Ok(_) => panic!("--help prints the help"),
        };
        let help = help_of("test");
        let own = help.find("--from").expect("--from is listed");
        let heading = help
            .find(super::super::common::SHARED_HEADING)
            .expect("the shared heading");
        let shared = help.find("--es-url").expect("--es-url is listed");
        assert!(own < heading && heading < shared, "{help}");
        for sub in Cli::command().get_subcommands() {
            let help = help_of(sub.get_name());
            for line in help.lines() {
                assert!(
                    line.matches("[default:").count() <= 1,
                    "lookout {}: {line}",
                    sub.get_name()
                );
            }
        }
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_flags_do_not_collide_with_the_global_flags() {
        let lines: &[&[&str]] = &[
            &[
                "backfill", "--rule", "r1", "--from", "now-1h", "--rules", "rules",
            ],
            &[
                "test",
                "rule.toml",
                "--from",
                "now-1h",
                "--config",
                "c.toml",
            ],
            &["run", "--once", "--es-url", "http://x:9200"],
            &[
                "translate",
                "--kql",
                "a: b",
                "--url",
                "http://x:9200",
                "--es-url",
                "http://y:9200",
            ],
            &[
                "validate",
                "rules",
                "--format",
                "json",
                "--log-format",
                "json",
            ],
            &["setup", "--kibana", "http://k:5601", "--namespace", "soc"],
            &["rules", "--alerts-index", "a"],
            &["status", "--insecure"],
            &["completions", "bash"],
            &[
                "alerts", "--rule", "r", "--rules", "rules", "--from", "now-1h",
            ],
        ];
        for line in lines {
            let argv = std::iter::once("lookout").chain(line.iter().copied());
            if let Err(error) = Cli::try_parse_from(argv) {
                panic!("lookout {line:?}: {error}");
            }
        }
    }
}
