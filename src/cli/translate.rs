//! `lookout translate`: prints the query DSL that a KQL query (`--kql`) or a rule file's query
//! becomes, as JSON on stdout. With field types (`--mapping FILE` offline, or the field caps of
//! the rule's indices from a server) it translates as Kibana does for those types; without, it
//! uses the untyped form and says so on stderr. An invalid query prints `line:col: reason` on
//! stderr and exits 2.

use crate::kql::{self, FieldMap};
use anyhow::{Context, bail};
use serde::Deserialize;
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

/// The query language of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    Kuery,
    Lucene,
}

/// What to translate: the text, its language, the index patterns it searches, and where the
/// text sits in its file (for error positions).
#[derive(Debug)]
struct Source {
    text: String,
    language: Language,
    indices: Vec<String>,
    origin: Option<Origin>,
}

/// Where a rule's query text starts in its file.
#[derive(Debug)]
struct Origin {
    path: PathBuf,
    /// 1-based line and column of the query's first character in the file.
    line: usize,
    column: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let source = match (&args.kql, &args.rule) {
        (Some(text), _) => Source {
            text: text.clone(),
            language: Language::Kuery,
            indices: Vec::new(),
            origin: None,
        },
        (None, Some(path)) => read_rule(path)?,
        (None, None) => bail!("give a rule file or --kql TEXT"),
    };
    if source.language == Language::Lucene {
        print_json(&kql::lucene_to_dsl(&source.text), args.pretty)?;
        return Ok(ExitCode::SUCCESS);
    }
    let query = match kql::parse(&source.text) {
        Ok(query) => query,
        Err(error) => {
            eprintln!("{}", describe_error(&error, source.origin.as_ref()));
            return Ok(ExitCode::from(EXIT_INVALID_QUERY));
        }
    };
    let fields = field_types(&args, &source)?;
    if fields.is_none() {
        eprintln!("translated without field types");
    }
    print_json(&kql::to_dsl(&query, fields.as_ref()), args.pretty)?;
    Ok(ExitCode::SUCCESS)
}

fn print_json(value: &serde_json::Value, pretty: bool) -> anyhow::Result<()> {
    let text = if pretty {
        serde_json::to_string_pretty(value)?
    } else {
        serde_json::to_string(value)?
    };
    println!("{text}");
    Ok(())
}

/// `line:col: reason`; for a rule file `path:line:col: reason` in file coordinates, plus the
/// position within the query (which the positions inside the reason refer to).
fn describe_error(error: &kql::ParseError, origin: Option<&Origin>) -> String {
    let Some(origin) = origin else {
        return error.to_string();
    };
    let (line, column) = if error.line == 1 {
        (origin.line, origin.column + error.column - 1)
    } else {
        (origin.line + error.line - 1, error.column)
    };
    format!(
        "{}:{line}:{column}: {} (at {error_line}:{error_column} of the query)",
        origin.path.display(),
        error.message,
        error_line = error.line,
        error_column = error.column,
    )
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

/// MERGE GAP (es stream): fetch `_field_caps` for `indices` with
/// `crate::es::Client::field_caps` (client built from `url`, or from the configured server when
/// no `--url` is given). Until the es module is merged, this reports that it cannot, and the
/// translation falls back to the untyped form.
fn fetch_field_caps(url: &str, indices: &[String]) -> anyhow::Result<serde_json::Value> {
    let _ = (url, indices);
    bail!("this build has no Elasticsearch client yet")
}

/// The keys of a rule file this command reads (the rest of the file is ignored here).
#[derive(Debug, Deserialize)]
struct RuleFile {
    rule: RuleTable,
}

#[derive(Debug, Deserialize)]
struct RuleTable {
    query: Option<toml::Spanned<String>>,
    language: Option<String>,
    #[serde(default)]
    index: Vec<String>,
    rule_id: Option<String>,
}

/// Reads `[rule] query`, `language` and `index` from a rule file.
fn read_rule(path: &Path) -> anyhow::Result<Source> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the rule file {}", path.display()))?;
    let file: RuleFile =
        toml::from_str(&text).with_context(|| format!("{} is not a rule file", path.display()))?;
    let rule = file.rule;
    let name = rule.rule_id.as_deref().unwrap_or("(no rule_id)");
    let language = match rule.language.as_deref().unwrap_or("kuery") {
        "kuery" => Language::Kuery,
        "lucene" => Language::Lucene,
        other => bail!(
            "{}: rule {name} is written in {other}, not KQL or Lucene",
            path.display()
        ),
    };
    let Some(query) = rule.query else {
        bail!("{}: rule {name} has no query", path.display());
    };
    let (line, column) = content_start(&text, query.span().start);
    Ok(Source {
        text: query.into_inner(),
        language,
        indices: rule.index,
        origin: Some(Origin {
            path: path.to_path_buf(),
            line,
            column,
        }),
    })
}

/// The line and column (1-based) where a TOML string's content starts, given the offset of its
/// opening quote: after `'''`/`"""` and the newline that may follow them, or after `'`/`"`.
/// Exact for literal strings; strings with escapes shift columns on their line.
fn content_start(text: &str, quote: usize) -> (usize, usize) {
    let rest = &text[quote.min(text.len())..];
    let mut start = quote;
    if rest.starts_with("'''") || rest.starts_with("\"\"\"") {
        start += 3;
        let after = &text[start..];
        if after.starts_with("\r\n") {
            start += 2;
        } else if after.starts_with('\n') {
            start += 1;
        }
    } else if !rest.is_empty() {
        start += 1;
    }
    let before = &text[..start];
    let line = 1 + before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_start_skips_triple_quotes_and_the_newline_after_them() {
        let text = "[rule]\nquery = '''\nevent.action: x\n'''\n";
        let quote = text.find("'''").expect("quote");
        assert_eq!(content_start(text, quote), (3, 1));
        let text = "[rule]\nquery = \"a: b\"\n";
        let quote = text.find('"').expect("quote");
        assert_eq!(content_start(text, quote), (2, 10));
    }

    #[test]
    fn errors_in_rule_files_are_reported_in_file_coordinates() {
        let origin = Origin {
            path: PathBuf::from("r.toml"),
            line: 10,
            column: 9,
        };
        let error = kql::parse("a: (b").expect_err("invalid");
        assert_eq!(
            describe_error(&error, Some(&origin)),
            "r.toml:10:14: unbalanced parenthesis opened at 1:4 (at 1:6 of the query)"
        );
        let error = kql::parse("a: b and\n c:").expect_err("invalid");
        assert_eq!(
            describe_error(&error, Some(&origin)),
            "r.toml:11:4: expected a value after ':', found the end of the query (at 2:4 of the query)"
        );
    }
}
