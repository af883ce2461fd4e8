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
  lookout translate rules/aws_iam_user_addition_to_group.toml --url http://localhost:9200";
