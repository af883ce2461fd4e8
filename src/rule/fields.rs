//! Typed reads from a spanned TOML table (`toml::de::DeTable`): each read either yields a value or
//! records a diagnostic at the offending key or value (a missing key is reported at the table's
//! header). Also turns TOML values into JSON for `Rule.raw`. Knows nothing about rule semantics.

use super::diagnostic::FileProblems;
use serde_json::{Map, Number, Value};
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A TOML table with the dotted name and span used in messages about it.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a, 'i> {
    pub name: &'a str,
    /// The header (`[rule]`) or the key that opened the table; the start of the file for the root.
    pub span: (usize, usize),
    pub entries: &'a DeTable<'i>,
}

/// A value read from a file and the span it came from.
pub type Located<T> = Spanned<T>;

/// Whether a missing key is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
}

impl<'a, 'i> Table<'a, 'i> {
    pub fn span(&self) -> Range<usize> {
        self.span.0..self.span.1
    }

    /// The dotted name of one of this table's keys, for messages.
    pub fn key_name(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.name)
        }
    }

    /// The raw value of a key, reporting it as missing when required.
    pub fn get(
        &self,
        problems: &mut FileProblems<'_>,
        key: &str,
        need: Need,
    ) -> Option<&'a Spanned<DeValue<'i>>> {
        let value = self.entries.get(key);
        if value.is_none() && need == Need::Required {
            let name = self.key_name(key);
            problems.error(&self.span(), format!("missing required key `{name}`"));
        }
        value
    }

    /// Warns about every key not in `known`, at the key itself, with the closest known key
    /// when one is a likely typo of it.
    pub fn warn_unknown_keys(&self, problems: &mut FileProblems<'_>, known: &[&str]) {
        for key in self.entries.keys() {
            let written: &str = key.get_ref().as_ref();
            if known.contains(&written) {
                continue;
            }
            let name = self.key_name(written);
            let hint = crate::suggest::closest(written, known.iter().copied())
                .map(|close| format!(" (did you mean `{}`?)", self.key_name(close)))
                .unwrap_or_default();
            problems.warning(&key.span(), format!("unknown key `{name}`{hint}"));
        }
    }

    pub fn string(
        &self,
        problems: &mut FileProblems<'_>,
        key: &str,
        need: Need,
    ) -> Option<Located<&'a str>> {
        let value = self.get(problems, key, need)?;
        match value.get_ref() {
            DeValue::String(text) => Some(Spanned::new(value.span(), text.as_ref())),
            other => self.wrong_type(problems, key, value.span(), "a string", other),
        }
    }

    pub fn owned_string(
        &self,
        problems: &mut FileProblems<'_>,
        key: &str,
        need: Need,
    ) -> Option<String> {
        self.string(problems, key, need)
            .map(|text| text.into_inner().to_string())
    }

    pub fn integer(
        &self,
        problems: &mut FileProblems<'_>,
        key: &str,
        need: Need,
    ) -> Option<Located<i64>> {
        let value = self.get(problems, key, need)?;
        let DeValue::Integer(integer) = value.get_ref() else {
            return self.wrong_type(problems, key, value.span(), "an integer", value.get_ref());
        };
        match i64::from_str_radix(integer.as_str(), integer.radix()) {
            Ok(number) => Some(Spanned::new(value.span(), number)),
            Err(_) => {
                let name = self.key_name(key);
                problems.error(&value.span(), format!("`{name}` is too large"));
                None
            }
        }
    }

    pub fn boolean(&self, problems: &mut FileProblems<'_>, key: &str) -> Option<bool> {
        let value = self.get(problems, key, Need::Optional)?;
        match value.get_ref() {
            DeValue::Boolean(flag) => Some(*flag),
            other => self.wrong_type(problems, key, value.span(), "true or false", other),
        }
    }

    /// An array of strings; a wrong element is reported at the element.
    pub fn strings(
        &self,
        problems: &mut FileProblems<'_>,
        key: &str,
        need: Need,
    ) -> Option<Located<Vec<String>>> {
        let value = self.get(problems, key, need)?;
        let DeValue::Array(items) = value.get_ref() else {
            let expected = "an array of strings";
            return self.wrong_type(problems, key, value.span(), expected, value.get_ref());
        };
        let mut strings = Vec::with_capacity(items.len());
        for item in items {
            match item.get_ref() {
                DeValue::String(text) => strings.push(text.to_string()),
                other => {
                    let name = self.key_name(key);
                    let found = other.type_str();
                    let message = format!("`{name}` must hold strings only, found {found}");
                    problems.error(&item.span(), message);
                    return None;
                }
            }
        }
        Some(Spanned::new(value.span(), strings))
    }

    /// A string or an array of strings (`integration`, `machine_learning_job_id`).
    pub fn string_or_strings(
        &self,
        problems: &mut FileProblems<'_>,
        key: &str,
        need: Need,
    ) -> Option<Vec<String>> {
        let value = self.get(problems, key, need)?;
        if let DeValue::String(text) = value.get_ref() {
            return Some(vec![text.to_string()]);
        }
        self.strings(problems, key, need).map(Spanned::into_inner)
    }

    /// A sub-table, whether written as `[a.b]`, a dotted key or an inline table.
    pub fn table(
        &self,
        problems: &mut FileProblems<'_>,
        name: &'a str,
        key: &str,
        need: Need,
    ) -> Option<Table<'a, 'i>> {
        let value = self.get(problems, key, need)?;
        match value.get_ref() {
            DeValue::Table(entries) => Some(Table {
                name,
                span: (value.span().start, value.span().end),
                entries,
            }),
            other => self.wrong_type(problems, key, value.span(), "a table", other),
        }
    }

    /// An array of tables (`[[a.b]]` or an inline array of inline tables); absent means empty.
    pub fn tables(
        &self,
        problems: &mut FileProblems<'_>,
        name: &'a str,
        key: &str,
        need: Need,
    ) -> Option<Vec<Table<'a, 'i>>> {
        let value = self.get(problems, key, need)?;
        let DeValue::Array(items) = value.get_ref() else {
            let expected = "an array of tables";
            return self.wrong_type(problems, key, value.span(), expected, value.get_ref());
        };
        let mut tables = Vec::with_capacity(items.len());
        for item in items {
            let DeValue::Table(entries) = item.get_ref() else {
                let message = format!(
                    "`{}` must hold tables only, found {}",
                    self.key_name(key),
                    item.get_ref().type_str()
                );
                problems.error(&item.span(), message);
                return None;
            };
            let span = (item.span().start, item.span().end);
            tables.push(Table {
                name,
                span,
                entries,
            });
        }
        Some(tables)
    }

    fn wrong_type<T>(
        &self,
        problems: &mut FileProblems<'_>,
        key: &str,
        span: Range<usize>,
        expected: &str,
        found: &DeValue<'_>,
    ) -> Option<T> {
        let name = self.key_name(key);
        let found = found.type_str();
        problems.error(&span, format!("`{name}` must be {expected}, found {found}"));
        None
    }
}

/// A TOML value as JSON: datetimes become their text, non-finite floats become strings.
pub fn to_json(value: &DeValue<'_>) -> Value {
    match value {
        DeValue::String(text) => Value::String(text.to_string()),
        DeValue::Integer(integer) => match i64::from_str_radix(integer.as_str(), integer.radix()) {
            Ok(number) => Value::from(number),
            Err(_) => Value::String(integer.to_string()),
        },
        DeValue::Float(float) => float_to_json(float.as_str()),
        DeValue::Boolean(flag) => Value::Bool(*flag),
        DeValue::Datetime(datetime) => Value::String(datetime.to_string()),
        DeValue::Array(items) => Value::Array(items.iter().map(|i| to_json(i.get_ref())).collect()),
        DeValue::Table(entries) => table_to_json(entries),
    }
}

/// A TOML table as a JSON object.
pub fn table_to_json(entries: &DeTable<'_>) -> Value {
    let object: Map<String, Value> = entries
        .iter()
        .map(|(key, value)| (key.get_ref().to_string(), to_json(value.get_ref())))
        .collect();
    Value::Object(object)
}

fn float_to_json(text: &str) -> Value {
    let cleaned = text.replace('_', "");
    cleaned
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::String(cleaned), Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Spanned<DeTable<'_>> {
        DeTable::parse(text).expect("valid toml")
    }

    fn root<'a, 'i>(table: &'a Spanned<DeTable<'i>>) -> Table<'a, 'i> {
        Table {
            name: "",
            span: (0, 0),
            entries: table.get_ref(),
        }
    }

    #[test]
    fn wrong_types_are_reported_at_the_value() {
        let text = "a = 1\nb = \"x\"\n";
        let doc = parse(text);
        let mut problems = FileProblems::new(Path::new("f.toml"), text);
        assert!(
            root(&doc)
                .string(&mut problems, "a", Need::Required)
                .is_none()
        );
        assert!(
            root(&doc)
                .integer(&mut problems, "b", Need::Required)
                .is_none()
        );
        let messages: Vec<String> = problems.errors.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            messages,
            [
                "f.toml:1:5: `a` must be a string, found integer",
                "f.toml:2:5: `b` must be an integer, found string"
            ]
        );
    }

    #[test]
    fn missing_keys_are_reported_at_the_table_header() {
        let text = "[x]\n\n[rule]\nname = \"n\"\n";
        let doc = parse(text);
        let mut problems = FileProblems::new(Path::new("f.toml"), text);
        let rule = root(&doc)
            .table(&mut problems, "rule", "rule", Need::Required)
            .expect("table");
        assert!(
            rule.string(&mut problems, "rule_id", Need::Required)
                .is_none()
        );
        assert_eq!(
            problems.errors[0].to_string(),
            "f.toml:3:1: missing required key `rule.rule_id`"
        );
    }

    #[test]
    fn json_keeps_every_value() {
        let text = "a = [1, 2.5, true, \"s\", 1979-05-27]\n[t]\nb = { c = 0x10 }\n";
        let doc = parse(text);
        assert_eq!(
            table_to_json(doc.get_ref()),
            serde_json::json!({"a": [1, 2.5, true, "s", "1979-05-27"], "t": {"b": {"c": 16}}})
        );
    }
}
