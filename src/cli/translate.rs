//! `lookout translate`: prints the query DSL that a KQL query (`--kql`) or a rule file's query
//! becomes, as JSON on stdout. With field types (`--mapping FILE` offline, or the field caps of
//! the rule's indices from the server the configuration names (`--es-url`, `LOOKOUT_ES_URL`,
//! `elasticsearch.url`; `--server` for the default one, `--url URL`)) it translates as Kibana
//! does for those types and names the query's fields those indices do not map; without, it uses
//! the untyped form and says on stderr how to get the typed one. The
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
    /// Fetch field types (`_field_caps`) from the configured server even when it is the
    /// default http://localhost:9200 (a server named by --es-url, LOOKOUT_ES_URL or
    /// elasticsearch.url is used without this flag).
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
    // Loaded once, when first needed: a rule file needs the rule and exception folders, a
    // server the connection settings.
    let mut config = None;
    let source = match (&args.kql, &args.rule) {
        (Some(text), _) => Source {
            text: text.clone(),
            language: Language::Kuery,
            kql: None,
            indices: Vec::new(),
        },
        (None, Some(path)) => match read_rule(path, config.insert(load_config(&args, global)?))? {
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
    let fields = field_types(&args, &source, &query, global, config)?;
    if fields.is_none() {
        eprintln!(
            "translated without field types: for the form typed as Kibana types it, name a \
             server (--es-url URL, or elasticsearch.url in the configuration) or a mapping \
             (--mapping FILE)"
        );
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

/// The field types to translate with: from `--mapping`, from the server (asked for, or named by
/// the configuration, `config` when already loaded), or none. Fields of `query` that the
/// server's indices do not map are reported on stderr.
fn field_types(
    args: &Args,
    source: &Source,
    query: &kql::Query,
    global: &GlobalArgs,
    config: Option<Config>,
) -> anyhow::Result<Option<FieldMap>> {
    if let Some(path) = &args.mapping {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the mapping file {}", path.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        return Ok(Some(FieldMap::from_mappings(&json)));
    }
    let indices = if args.indices.is_empty() {
        &source.indices
    } else {
        &args.indices
    };
    let asked = args.url.is_some() || args.server;
    if indices.is_empty() {
        if !asked {
            return Ok(None);
        }
        bail!(
            "fetching field types needs index patterns: the rule has no `index`, so pass --index PATTERN"
        );
    }
    let config = match config {
        Some(config) => config,
        None => load_config(args, global)?,
    };
    if !asked && !names_a_server(&config) {
        return Ok(None);
    }
    let client = Client::new(&config.elasticsearch)?;
    match fetch_field_caps(&client, indices) {
        Ok(caps) => {
            let map = FieldMap::from_field_caps(&caps);
            warn_unmapped(query, &map, &caps, indices);
            Ok(Some(map))
        }
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

/// Whether a server is named beyond the built-in default: `--es-url`, `--es-cloud-id`, the
/// environment or the configuration file.
fn names_a_server(config: &Config) -> bool {
    let es = &config.elasticsearch;
    es.cloud_id.is_some() || es.url != lookout::ElasticsearchConfig::default().url
}

/// Says on stderr which fields of the query the indices do not map, or that no index matches.
fn warn_unmapped(query: &kql::Query, map: &FieldMap, caps: &serde_json::Value, indices: &[String]) {
    let indices = indices.join(",");
    if caps["indices"].as_array().is_some_and(Vec::is_empty) {
        eprintln!("warning: no index matches {}", printable(&indices));
        return;
    }
    let missing: Vec<String> = query
        .field_names()
        .into_iter()
        .filter(|name| !map.can_hold(name))
        .collect();
    if !missing.is_empty() {
        let line = format!(
            "warning: not in the mapping of {indices}: {} (the query cannot match on them)",
            missing.join(", ")
        );
        eprintln!("{}", printable(&line));
    }
}

/// The configuration with `--url` (when given) as the server's URL, logging set up from it.
fn load_config(args: &Args, global: &GlobalArgs) -> anyhow::Result<Config> {
    let config = server_config(args, global)?;
    lookout::init_logging(&config.log, global.log_level.as_deref())?;
    Ok(config)
}

/// The configured connection, with `--url` (when given) as the server's URL: a flag layered
/// like `--es-url`, so its userinfo is checked the same way.
fn server_config(args: &Args, global: &GlobalArgs) -> anyhow::Result<Config> {
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
    Ok(Config::load_layered(
        global.config_path(&env).as_deref(),
        env,
        &overrides,
    )?)
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
fn read_rule(path: &Path, config: &Config) -> anyhow::Result<Result<Source, Vec<Diagnostic>>> {
    if !path.is_file() {
        bail!("{} is not a rule file", path.display());
    }
    let report = super::common::load_rule_paths(config, &[path.to_path_buf()]);
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
