//! `lookout translate`: prints the query DSL that a KQL query (`--kql`) or a rule file's query
//! becomes, as JSON on stdout. With field types (`--mapping FILE` offline, or the field caps of
//! the rule's indices from a server) it translates as Kibana does for those types; without, it
//! uses the untyped form and says so on stderr. It prints Kibana's form (what people compare
//! with Kibana); `--sent` prints the smallest equivalent form lookout sends instead. An invalid
//! query prints `line:col: reason` on stderr and exits 2.

use anyhow::{Context, bail};
use lookout::kql::{self, FieldMap};
use lookout::{Client, Diagnostic, ElasticsearchConfig, Query};
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
    #[arg(long, value_name = "FILE", conflicts_with = "url")]
    pub mapping: Option<PathBuf>,
    /// Fetch field types (`_field_caps`) from this Elasticsearch server.
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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let source = match (&args.kql, &args.rule) {
        (Some(text), _) => Source {
            text: text.clone(),
            language: Language::Kuery,
            kql: None,
            indices: Vec::new(),
        },
        (None, Some(path)) => match read_rule(path)? {
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
            eprintln!("{error}");
            return Ok(ExitCode::from(EXIT_INVALID_QUERY));
        }
    };
    let fields = field_types(&args, &source)?;
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
    println!("{text}");
    Ok(())
}

/// The field types to translate with: from `--mapping`, from a server, or none.
fn field_types(args: &Args, source: &Source) -> anyhow::Result<Option<FieldMap>> {
    if let Some(path) = &args.mapping {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the mapping file {}", path.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        return Ok(Some(FieldMap::from_mappings(&json)));
    }
    let Some(url) = &args.url else {
        return Ok(None);
    };
    let indices = if args.indices.is_empty() {
        &source.indices
    } else {
        &args.indices
    };
    if indices.is_empty() {
        bail!("--url needs index patterns: the rule has no `index`, so pass --index PATTERN");
    }
    match fetch_field_caps(url, indices) {
        Ok(caps) => Ok(Some(FieldMap::from_field_caps(&caps))),
        Err(error) => {
            eprintln!("could not read field types from {url}: {error:#}");
            Ok(None)
        }
    }
}

/// Fetches `_field_caps` for `indices` from the server at `url`.
fn fetch_field_caps(url: &str, indices: &[String]) -> anyhow::Result<serde_json::Value> {
    let config = ElasticsearchConfig {
        url: url.to_string(),
        ..ElasticsearchConfig::default()
    };
    let client = Client::new(&config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(client.field_caps(indices))?)
}

/// Loads a rule file with the rule loader, so that problems (bad KQL included) are reported as
/// `path:line:col: message` in file coordinates, exactly as `lookout validate` does.
fn read_rule(path: &Path) -> anyhow::Result<Result<Source, Vec<Diagnostic>>> {
    if !path.is_file() {
        bail!("{} is not a rule file", path.display());
    }
    let report = lookout::load_path(path);
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
    }))
}
