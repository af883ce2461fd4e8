//! Problems found while loading rule files, each pinned to `path:line:col`, and the translation
//! of byte offsets into 1-based lines and character columns. Pure: no I/O.

use serde::Serialize;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in one file: an error (the file is skipped) or a warning (it still loads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            printable(&self.path.display().to_string()),
            self.line,
            self.column,
            printable(&self.message)
        )
    }
}

/// Diagnostics print file names and messages through the one escaping function every command
/// uses, so that a file or key name cannot start a new output line or drive the terminal.
use crate::terminal::printable;

/// What loading one or more paths produced: the rules that loaded (those lookout runs and those
/// it cannot) and every problem found.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub rules: Vec<super::Rule>,
    pub not_runnable: Vec<super::NotRunnable>,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

/// The type, language and maturity of one loaded rule, whether lookout runs it or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub rule_type: super::RuleType,
    pub language: super::Language,
    pub deprecated: bool,
}

impl LoadReport {
    /// Every rule that loaded, runnable or not, in that order.
    pub fn summaries(&self) -> Vec<Summary> {
        let runnable = self.rules.iter().map(|rule| Summary {
            rule_type: rule.rule_type(),
            language: rule.kind.query().language(),
            deprecated: rule.is_deprecated(),
        });
        let not_runnable = self.not_runnable.iter().map(|rule| Summary {
            rule_type: rule.rule_type,
            language: rule.language,
            deprecated: rule.maturity == super::Maturity::Deprecated,
        });
        runnable.chain(not_runnable).collect()
    }
}

/// The 1-based line and character column of a byte offset (one function for every file
/// lookout reads).
pub use crate::files::line_column;

/// One file being read: turns spans into diagnostics and collects them.
#[derive(Debug)]
pub struct FileProblems<'t> {
    path: &'t Path,
    text: &'t str,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl<'t> FileProblems<'t> {
    pub fn new(path: &'t Path, text: &'t str) -> Self {
        Self {
            path,
            text,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub fn text(&self) -> &'t str {
        self.text
    }

    /// The 1-based line and character column of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        line_column(self.text, offset)
    }

    /// A diagnostic at the start of a span.
    pub fn at(&self, span: &Range<usize>, message: impl Into<String>) -> Diagnostic {
        let (line, column) = self.position(span.start);
        Diagnostic {
            path: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    pub fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let diagnostic = self.at(span, message);
        self.errors.push(diagnostic);
    }

    pub fn warning(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let diagnostic = self.at(span, message);
        self.warnings.push(diagnostic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "ab\nçé = 1\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 2), (1, 3));
        assert_eq!(line_column(text, 3), (2, 1));
        let equals = text.find('=').expect("has =");
        assert_eq!(line_column(text, equals), (2, 4));
        assert_eq!(line_column(text, equals - 1), (2, 3));
        assert_eq!(line_column(text, text.len() + 5), (3, 1));
    }

    #[test]
    fn display_is_path_line_column_message() {
        let diagnostic = Diagnostic {
            path: PathBuf::from("rules/a.toml"),
            line: 3,
            column: 7,
            message: "bad".into(),
        };
        assert_eq!(diagnostic.to_string(), "rules/a.toml:3:7: bad");
    }
}
