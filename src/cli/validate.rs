//! `lookout validate [PATH...] [--format text|json]`: loads the exception lists and the rule
//! files and folders, prints one line per problem (`path:line:col: message`: a broken rule,
//! exception list or value list file, a rule naming a list that is not there) and a summary;
//! exit status 1 when any error, or with `--strict` any warning. With a server (`--server`, or
//! `--es-url`), fields a rule's query names that its indices do not map are warnings too.

use super::common::{self, GlobalArgs};
use super::output::Format;
use lookout::{Diagnostic, LoadReport, Summary};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `lookout validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rule files or folders (searched recursively for *.toml); default: the configured rules
    /// folders (`rules.folders`, `LOOKOUT_RULES_FOLDERS` or `--rules`; `rules/` out of the box).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Check each rule's query against the mappings of the indices it searches on the server
    /// the configuration names (also when `--es-url` is given): fields no index maps, index
    /// patterns that match no index. Each is a warning.
    #[arg(long)]
    pub server: bool,
    /// Warnings fail too (exit status 1): for a rules repository's CI, where an unknown key is
    /// most often a misspelled one that silently changes what the rule does.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = common::load(global)?;
    let paths = if args.paths.is_empty() {
        config.rules.folders.clone()
    } else {
        args.paths
    };
    let catalog = lookout::ExceptionCatalog::load(&config.rules.exception_folders);
    let mut report = lookout::load_paths_with(&paths, &catalog);
    let lists = catalog.counts();
    if args.server || global.es_url.is_some() {
        report
            .warnings
            .extend(mapping_warnings(&config, &report.rules)?);
    }
    sort(&mut report.errors);
    sort(&mut report.warnings);
    let output = match args.format {
        Format::Text => text(&report, lists),
        Format::Json => {
            let json = serde_json::to_string_pretty(&summary_json(&report, lists))?;
            lookout::printable_json(&json).into_owned() + "\n"
        }
    };
    print!("{output}");
    let failing = !report.errors.is_empty() || (args.strict && !report.warnings.is_empty());
    Ok(if !failing {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The rules' fields that the mappings of their indices lack, as warnings at each rule's file.
fn mapping_warnings(
    config: &lookout::Config,
    rules: &[lookout::Rule],
) -> anyhow::Result<Vec<Diagnostic>> {
    let client = common::client(config)?;
    let problems = common::runtime()?.block_on(lookout::unmapped_fields(
        &client,
        &lookout::FieldCapsCache::for_one_command(),
        rules,
    ))?;
    Ok(problems
        .into_iter()
        .map(|problem| Diagnostic {
            message: problem.message(),
            line: problem.position.0,
            column: problem.position.1,
            path: problem.path,
        })
        .collect())
}

fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
}

/// Counts per name, largest first (ties by name), as `name count` pairs.
fn counts(rules: &[Summary], key: impl Fn(&Summary) -> &'static str) -> Vec<(&'static str, usize)> {
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for rule in rules {
        *by_name.entry(key(rule)).or_default() += 1;
    }
    let mut counts: Vec<_> = by_name.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts
}

pub fn by_type(rules: &[Summary]) -> Vec<(&'static str, usize)> {
    counts(rules, |rule| rule.rule_type.as_str())
}

fn by_language(rules: &[Summary]) -> Vec<(&'static str, usize)> {
    counts(rules, |rule| rule.language.as_str())
}

fn joined(counts: &[(&str, usize)]) -> String {
    if counts.is_empty() {
        return "none".to_string();
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    parts.join(", ")
}

fn text(report: &LoadReport, (lists, items): (usize, usize)) -> String {
    let mut out = String::new();
    for error in &report.errors {
        out += &format!("{error}\n");
    }
    for warning in &report.warnings {
        out += &common::warning_line(warning);
        out.push('\n');
    }
    let rules = &report.summaries();
    let deprecated = rules.iter().filter(|r| r.deprecated).count();
    let runnable = report.rules.len();
    out += &format!("rules loaded: {}\n", rules.len());
    out += &format!("by type: {}\n", joined(&by_type(rules)));
    out += &format!("by language: {}\n", joined(&by_language(rules)));
    out += &format!("deprecated: {deprecated}\n");
    out += &format!("exception lists: {lists} ({items} items)\n");
    out += &format!(
        "runnable now (query, threshold, new_terms, threat_match and eql rules): {runnable}\n"
    );
    out += &format!(
        "problems: {} errors, {} warnings\n",
        report.errors.len(),
        report.warnings.len()
    );
    out
}

fn counts_json(counts: &[(&str, usize)]) -> Value {
    let object: Map<String, Value> = counts
        .iter()
        .map(|(name, n)| (name.to_string(), Value::from(*n)))
        .collect();
    Value::Object(object)
}

fn summary_json(report: &LoadReport, (lists, items): (usize, usize)) -> Value {
    let rules = &report.summaries();
    json!({
        "exception_lists": lists,
        "exception_items": items,
        "rules": rules.len(),
        "by_type": counts_json(&by_type(rules)),
        "by_language": counts_json(&by_language(rules)),
        "deprecated": rules.iter().filter(|r| r.deprecated).count(),
        "runnable": report.rules.len(),
        "errors": report.errors,
        "warnings": report.warnings,
    })
}
