//! `lookout translate`: prints the query DSL that a KQL query (`--kql`) or a rule file's query
//! becomes, as JSON on stdout. With field types (`--mapping FILE` offline, or the field caps of
//! the rule's indices from the server: `--server`, or `--url URL` to name it) it translates as
//! Kibana does for those types; without, it uses the untyped form and says so on stderr. The
//! server is reached with the same connection settings as every other command (configuration
//! file, `LOOKOUT_*` environment, flags: credentials, CA, TLS verification). An invalid query
//! prints `line:col: reason` on stderr and exits 2.
//!
//! It prints Kibana's form (what people compare with Kibana); `--sent` prints the smallest
//! equivalent form lookout sends instead.

use super::common::GlobalArgs;
use anyhow::{Context, bail};
use lookout::kql::{self, FieldMap};
use lookout::{Client, Diagnostic, Query};
use lookout::{Config, Override, printable, printable_json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit status for an invalid query.
const EXIT_INVALID_QUERY: u8 = 2;

/// Flags of `lookout translate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A rule file (TOML) whose `[rule] query` to translate.
    #[arg(required_unless_present = "kql", conflicts_with = "kql")]
    pub rule: Option<PathBuf>,
    /// A KQL query to translate instead of a rule file.
    #[arg(long, value_name = "TEXT")]
    pub kql: Option<String>,
    /// Indent the JSON.
    #[arg(long)]
    pub pretty: bool,
    /// Print the query as lookout sends it: the same documents as Kibana's form in fewer
    /// clauses (one-clause wrappers collapsed, nested filter lists flattened). In a search the
    /// engine puts its clauses after the time range in the same filter list.
    #[arg(long)]
    pub sent: bool,
    /// Field types from an index template or mappings JSON file (offline typed translation).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["url", "server"])]
    pub mapping: Option<PathBuf>,
    /// Fetch field types (`_field_caps`) from the configured server (elasticsearch.url,
    /// LOOKOUT_ES_URL or --es-url, with the configured credentials and TLS settings).
    #[arg(long)]
    pub server: bool,
    /// Fetch field types from the server at this URL (replaces elasticsearch.url; credentials,
    /// CA and TLS settings still come from the configuration). A password in it is refused.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Index patterns whose field types to fetch (default: the rule's `index`).
    #[arg(long = "index", value_name = "PATTERN")]
    pub indices: Vec<String>,
}

/// The query languages this command translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    Kuery,
    Lucene,
}

/// What to translate: the query, its language and the index patterns it searches.
#[derive(Debug)]
struct Source {
    text: String,
    language: Language,
    /// The syntax tree, when the rule loader already parsed it.
    kql: Option<kql::Query>,
    indices: Vec<String>,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let source = match (&args.kql, &args.rule) {
        (Some(text), _) => Source {
            text: text.clone(),
            language: Language::Kuery,
            kql: None,
            indices: Vec::new(),
        },
        (None, Some(path)) => match read_rule(path, global)? {
            Ok(source) => source,
            Err(problems) => {
                for problem in problems {
                    eprintln!("{problem}");
                }
                return Ok(ExitCode::from(EXIT_INVALID_QUERY));
            }
        },
        (None, None) => bail!("give a rule file or --kql TEXT"),
    };
    if source.language == Language::Lucene {
        print_json(&kql::lucene(&source.text), &args)?;
        return Ok(ExitCode::SUCCESS);
    }
    let query = match source
        .kql
        .clone()
        .map_or_else(|| kql::parse(&source.text), Ok)
    {
        Ok(query) => query,
        Err(error) => {
            eprintln!("{}", printable(&error.to_string()));
            return Ok(ExitCode::from(EXIT_INVALID_QUERY));
        }
    };
    let fields = field_types(&args, &source, global)?;
    if fields.is_none() {
        eprintln!("translated without field types");
    }
    print_json(&kql::translate(&query, fields.as_ref()), &args)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints Kibana's form, or with `--sent` the form lookout sends.
fn print_json(dsl: &kql::Dsl, args: &Args) -> anyhow::Result<()> {
    let mut json = serde_json::to_value(dsl)?;
    if args.sent {
        json = lookout::simplify_filter(json);
    }
    let text = if args.pretty {
        serde_json::to_string_pretty(&json)?
    } else {
        serde_json::to_string(&json)?
    };
    println!("{}", printable_json(&text));
    Ok(())
}

/// The field types to translate with: from `--mapping`, from the server, or none.
fn field_types(
    args: &Args,
    source: &Source,
    global: &GlobalArgs,
) -> anyhow::Result<Option<FieldMap>> {
    if let Some(path) = &args.mapping {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the mapping file {}", path.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        return Ok(Some(FieldMap::from_mappings(&json)));
    }
    if args.url.is_none() && !args.server {
        return Ok(None);
    }
    let indices = if args.indices.is_empty() {
        &source.indices
    } else {
        &args.indices
    };
    if indices.is_empty() {
        bail!(
            "fetching field types needs index patterns: the rule has no `index`, so pass --index PATTERN"
        );
    }
    let client = server_client(args, global)?;
    match fetch_field_caps(&client, indices) {
        Ok(caps) => Ok(Some(FieldMap::from_field_caps(&caps))),
        Err(error) => {
            let message = format!(
                "could not read field types from {}: {error:#}",
                client.endpoint()
            );
            eprintln!("{}", printable(&message));
            Ok(None)
        }
    }
}

/// The client of the configured connection, with `--url` (when given) as the server's URL: a
/// flag layered like `--es-url`, so its userinfo is checked the same way.
fn server_client(args: &Args, global: &GlobalArgs) -> anyhow::Result<Client> {
    let env = |name: &str| std::env::var(name).ok();
    let mut overrides = global.overrides();
    if let Some(url) = &args.url {
        overrides.retain(|o| o.env_var != "LOOKOUT_ES_URL");
        overrides.push(Override {
            env_var: "LOOKOUT_ES_URL",
            flag: "--url",
            value: url.clone(),
        });
    }
    let config = Config::load_layered(global.config_path(&env).as_deref(), env, &overrides)?;
    lookout::init_logging(&config.log, global.log_level.as_deref())?;
    Ok(Client::new(&config.elasticsearch)?)
}

/// Fetches `_field_caps` for `indices` with `client`.
fn fetch_field_caps(client: &Client, indices: &[String]) -> anyhow::Result<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(client.field_caps(indices))?)
}

/// Loads a rule file with the rule loader, so that problems (bad KQL included) are reported as
/// `path:line:col: message` in file coordinates, exactly as `lookout validate` does.
/// The rule's exception lists are resolved as for running it (a rule naming a missing list is
/// an error here too), from the configured exception folders.
fn read_rule(
    path: &Path,
    global: &super::common::GlobalArgs,
) -> anyhow::Result<Result<Source, Vec<Diagnostic>>> {
    if !path.is_file() {
        bail!("{} is not a rule file", path.display());
    }
    let report = super::common::load_rule_paths(global, &[path.to_path_buf()])?;
    if !report.errors.is_empty() {
        return Ok(Err(report.errors));
    }
    if let Some(rule) = report.not_runnable.first() {
        bail!(
            "{}: rule {} is written in {}, not KQL or Lucene",
            path.display(),
            rule.rule_id,
            rule.language.as_str()
        );
    }
    let Some(rule) = report.rules.into_iter().next() else {
        bail!("{} holds no rule", path.display());
    };
    let indices = rule.search.index;
    Ok(Ok(match rule.kind.query() {
        Query::Kql { text, tree } => Source {
            text: text.clone(),
            language: Language::Kuery,
            kql: Some(tree.clone()),
            indices,
        },
        Query::Lucene { text } => Source {
            text: text.clone(),
            language: Language::Lucene,
            kql: None,
            indices,
        },
        Query::Eql { .. } => bail!(
            "{}: rule {} is written in EQL; `lookout translate` reads KQL or Lucene \
             (`lookout test` runs an EQL rule over a window)",
            path.display(),
            printable(&rule.rule_id)
        ),
    }))
}
